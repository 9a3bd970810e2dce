package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseEnvFile(t *testing.T) {
	src := "# comment\n" +
		"\n" +
		"   \t\n" +
		"  # indented comment\n" +
		"PLAIN=value with spaces  \n" +
		"EMPTY=\n" +
		"export EXPORTED=1\n" +
		"export\tTABBED=2\n" +
		"SPACED = around  \n" +
		"HASH=a # not a comment\n" +
		"SINGLE='it s \\n literal'\n" +
		"SQ='a # b'  # comment\n" +
		"DOUBLE=\"tab\\tnl\\ncr\\rq\\\"bs\\\\dollar\\$\"\n" +
		"MULTI=\"line1\nline2\"\n" +
		"MULTISQ='x\ny'\n" +
		"EQ=a=b=c\n" +
		"CRLF=value\r\n" +
		"CRLFQ=\"v\"\r\n" +
		"export=not a prefix\n" +
		"PLAIN=again\n" +
		"LAST=no newline"
	got, err := ParseEnvFile("t.env", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []EnvVar{
		{"PLAIN", "value with spaces"},
		{"EMPTY", ""},
		{"EXPORTED", "1"},
		{"TABBED", "2"},
		{"SPACED", "around"},
		{"HASH", "a # not a comment"},
		{"SINGLE", `it s \n literal`},
		{"SQ", "a # b"},
		{"DOUBLE", "tab\tnl\ncr\rq\"bs\\dollar$"},
		{"MULTI", "line1\nline2"},
		{"MULTISQ", "x\ny"},
		{"EQ", "a=b=c"},
		{"CRLF", "value"},
		{"CRLFQ", "v"},
		{"export", "not a prefix"},
		{"PLAIN", "again"},
		{"LAST", "no newline"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}

	got, err = ParseEnvFile("bom.env", []byte("\xef\xbb\xbfA=1\n"))
	if err != nil || !reflect.DeepEqual(got, []EnvVar{{"A", "1"}}) {
		t.Errorf("with a byte order mark: %q, %v", got, err)
	}
}

func TestParseEnvFileErrors(t *testing.T) {
	const secret = "hunter2"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"no equals", "A=1\n  hunter2\n", []string{`2:3: want NAME=VALUE`}},
		{"bad name", "1A=hunter2\nA B=hunter2\n", []string{
			`1:1: bad variable name (letters, digits and _, not starting with a digit)`,
			`2:1: want NAME=VALUE`,
		}},
		{"bad name after export", "export A-B=hunter2\n", []string{`1:8: bad variable name (letters, digits and _, not starting with a digit)`}},
		{"empty name", "=hunter2\n", []string{`1:1: bad variable name (letters, digits and _, not starting with a digit)`}},
		{"unterminated double", "A=1\nB=\"hunter2\nC=3\n", []string{`2:3: unterminated double-quoted value of B`}},
		{"unterminated single", "B='hunter2", []string{`1:3: unterminated single-quoted value of B`}},
		{"unknown escape", "A=\"hunter2\\q\" # c\nB=\"\\x\"\nC=ok\n", []string{
			`1:11: unknown escape in the value of A (want \n \t \r \" \\ or \$)`,
			`2:4: unknown escape in the value of B (want \n \t \r \" \\ or \$)`,
		}},
		{"text after quote", "A='hunter2' hunter2\nB=\"x\"y\n", []string{
			`1:13: text after the closing quote of A`,
			`2:6: text after the closing quote of B`,
		}},
		{"NUL", "A=hunter2\x00\n", []string{`1:1: value of A contains a NUL byte`}},
		{"every line", "x\ny\nOK=1\nz\n", []string{`1:1: want NAME=VALUE`, `2:1: want NAME=VALUE`, `4:1: want NAME=VALUE`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars, err := ParseEnvFile("s.env", []byte(tt.src))
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, %v; want an *Errors", vars, err)
			}
			if vars != nil {
				t.Errorf("variables returned with an error: %q", vars)
			}
			var got []string
			for _, e := range errs.List {
				got = append(got, strings.TrimPrefix(e.Error(), "s.env:"))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("a value leaked into the message: %v", err)
			}
		})
	}
}

func TestEnviron(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := write("first.env", "FROM_FILE=1\nSHARED=file1\nPATH=/file/bin\n")
	second := write("second.env", "SHARED=file2\n")
	bad := write("bad.env", "OK=1\nSECRET=\"hunter2\n")
	base := []string{"PATH=/usr/bin", "HOME=/root", "SECRET_TOKEN=x", "noequals", "=weird"}

	tests := []struct {
		name    string
		inherit InheritEnv
		files   []EnvFile
		env     map[string]string
		want    []string
		wantErr string
	}{
		{
			name:    "inherit all, files in order, env last",
			inherit: InheritEnv{All: true},
			files:   []EnvFile{{Path: first}, {Path: filepath.Join(dir, "missing.env"), Optional: true}, {Path: second}},
			env:     map[string]string{"SHARED": "table", "Z": "z", "A": "a"},
			want:    []string{"PATH=/file/bin", "HOME=/root", "SECRET_TOKEN=x", "FROM_FILE=1", "SHARED=table", "A=a", "Z=z"},
		},
		{
			name:    "inherit none",
			inherit: InheritEnv{},
			env:     map[string]string{"A": "a"},
			want:    []string{"A=a"},
		},
		{
			name:    "inherit a list",
			inherit: InheritEnv{Names: []string{"HOME", "NOT_SET"}},
			want:    []string{"HOME=/root"},
		},
		{
			name:    "missing required file",
			inherit: InheritEnv{All: true},
			files:   []EnvFile{{Path: filepath.Join(dir, "missing.env")}},
			wantErr: filepath.Join(dir, "missing.env") + ": cannot read env file: no such file or directory",
		},
		{
			name:    "bad optional file is still an error",
			inherit: InheritEnv{All: true},
			files:   []EnvFile{{Path: bad, Optional: true}},
			wantErr: bad + ":2:8: unterminated double-quoted value of SECRET",
		},
		{
			name:    "a directory",
			inherit: InheritEnv{All: true},
			files:   []EnvFile{{Path: dir, Optional: true}},
			wantErr: dir + ": cannot read env file: is a directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewService("svc")
			s.InheritEnv, s.EnvFile, s.Env = tt.inherit, tt.files, tt.env
			got, err := s.Environ(base)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("a secret leaked: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Environ =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}

	s := NewService("svc")
	s.EnvFile = []EnvFile{{Path: filepath.Join(dir, "missing.env")}}
	if _, err := s.Environ(nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) is false for %v", err)
	}
}

func TestEnvironTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.env")
	if err := os.WriteFile(p, []byte("A="+strings.Repeat("x", maxEnvFile)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewService("svc")
	s.EnvFile = []EnvFile{{Path: p}}
	if _, err := s.Environ(nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v", err)
	}
}

func TestInherits(t *testing.T) {
	if !(InheritEnv{All: true}).Inherits("X") || (InheritEnv{}).Inherits("X") ||
		!(InheritEnv{Names: []string{"X"}}).Inherits("X") || (InheritEnv{Names: []string{"X"}}).Inherits("Y") {
		t.Error("Inherits is wrong")
	}
}
