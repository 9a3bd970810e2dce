//go:build linux

package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseRun(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		env   func(string) (string, bool)
		check bool // parseCheck, not parseRun
		want  runOptions
	}{
		{"defaults", nil, fakeEnv(), false, runOptions{}},
		{"one -c", []string{"-c", "/a.toml"}, fakeEnv(), false, runOptions{configs: []string{"/a.toml"}, explicit: true}},
		{"repeated, every form, in order", []string{"-c", "/a.toml", "--config", "/b.d", "--config=/c.toml", "-c/d.d", "--", "prog"}, fakeEnv(), false,
			runOptions{configs: []string{"/a.toml", "/b.d", "/c.toml", "/d.d"}, explicit: true, argv: []string{"prog"}}},
		{"INITBOX_CONFIG", nil, fakeEnv("INITBOX_CONFIG", "/etc/x.d"), false, runOptions{configs: []string{"/etc/x.d"}, explicit: true}},
		{"empty INITBOX_CONFIG is unset", nil, fakeEnv("INITBOX_CONFIG", ""), false, runOptions{}},
		{"-c replaces INITBOX_CONFIG", []string{"-c", "/a", "-c", "/b"}, fakeEnv("INITBOX_CONFIG", "/env"), false,
			runOptions{configs: []string{"/a", "/b"}, explicit: true}},
		{"check --print", []string{"--print", "-c", "/a"}, fakeEnv(), true, runOptions{configs: []string{"/a"}, explicit: true, print: true}},
		{"check: a file called --print", []string{"-c", "--print"}, fakeEnv(), true, runOptions{configs: []string{"--print"}, explicit: true}},
		{"check: --print after -- is a program", []string{"--", "--print"}, fakeEnv(), true, runOptions{argv: []string{"--print"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parse := parseRun
			if tc.check {
				parse = parseCheck
			}
			got, err := parse(tc.args, tc.env)
			if err != nil {
				t.Fatalf("parse(%q): %v", tc.args, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parse(%q)\n got %+v\nwant %+v", tc.args, got, tc.want)
			}
		})
	}
	for _, args := range [][]string{{"--print"}, {"-c"}, {"--config"}} {
		if _, err := parseRun(args, fakeEnv()); err == nil {
			t.Errorf("parseRun(%q) accepted", args)
		}
	}
}

// TestLoadConfig: -c names files and directories, merged in order; what
// is missing is an error when named, never a silent default.
func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := write("initbox.toml", "[services.web]\ncommand = [\"web\"]\n\n[services.db]\ncommand = [\"db\"]\n")
	write("initbox.d/10-off.toml", "[services.db]\nenabled = false\n")
	write("initbox.d/20-web.toml", "[services.web]\ncommand = [\"web\", \"-v\"]\n")
	drop := filepath.Join(dir, "initbox.d")

	for _, tc := range []struct {
		name    string
		configs []string
		argv    []string
		err     error  // or the error wrapped
		errText string // or the error's text holds this
	}{
		{"a file and a directory", []string{base, drop}, nil, nil, ""},
		{"the directory alone: db has no command", []string{drop}, nil, nil, filepath.Join(drop, "10-off.toml") + ":1:11: services.db: set command"},
		{"a program over a file", []string{base}, []string{"prog"}, nil, ""},
		{"a missing file named", []string{base, filepath.Join(dir, "nope.toml")}, []string{"prog"}, fs.ErrNotExist, ""},
		{"a missing directory named", []string{filepath.Join(dir, "nope.d")}, []string{"prog"}, fs.ErrNotExist, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := buildConfig(runOptions{configs: tc.configs, explicit: true, argv: tc.argv})
			switch {
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			case tc.errText != "":
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v, want %q", err, tc.errText)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			got := map[string]any{
				"web command": c.Services["web"].Command,
				"db enabled":  c.Services["db"].Enabled,
				"order":       c.Order,
				"files":       c.Files,
			}
			want := map[string]any{
				"web command": []string{"web", "-v"},
				"db enabled":  false,
				"order":       []string{"web", "db"},
				"files":       []string{base, filepath.Join(drop, "10-off.toml"), filepath.Join(drop, "20-web.toml")},
			}
			if tc.argv != nil {
				want["web command"], want["db enabled"] = []string{"web"}, true
				want["order"], want["files"] = []string{"web", "db", "main"}, []string{base}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}

func TestPresent(t *testing.T) {
	dir := t.TempDir()
	if got := present(filepath.Join(dir, "nope"), dir); !reflect.DeepEqual(got, []string{dir}) {
		t.Errorf("present = %q", got)
	}
	if got := present(strings.Repeat("x", 5000)); len(got) != 1 {
		t.Errorf("a path that cannot be looked up is not dropped silently: %q", got)
	}
}
