//go:build linux

package tests

// Black-box tests of config directories and drop-ins (issue #18, item 1):
// `initbox run` and `check` with -c repeated, -c DIR and INITBOX_CONFIG
// naming a directory, a base file and drop-ins merged key by key, errors
// named in the file they come from, `check --print`, and a reload that
// reads a changed drop-in again.

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dropInFiles writes each name → text under a fresh directory ("@D@" in
// the text is that directory; names may hold a subdirectory) and returns
// the directory.
func dropInFiles(t *testing.T, files [][2]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, f[0])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(f[1], "@D@", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A base file and two drop-ins, as an image built on an image built on a
// base would have them. The base alone gives web "base base"; the drop-ins
// change both variables, in order, disable cron, add extra and make the
// main service wait for it too.
var dropInThree = [][2]string{
	{"initbox.toml", `
[init]
control_socket = ""

[services.web]
shell = 'echo "web $MODE $LEVEL" >@D@/web.out; exec sleep 1000'
env = { MODE = "base", LEVEL = "base" }
ready = { file = "@D@/web.out" }

[services.cron]
shell = "touch @D@/cron.ran; exec sleep 1000"

[services.check]
main = true
shell = "cat @D@/web.out @D@/extra.out"
depends_on = { web = "ready" }
`},
	{"initbox.d/10-a.toml", `
[services.web]
env.MODE = "a"
env.LEVEL = "a"

[services.cron]
enabled = false
`},
	{"initbox.d/20-b.toml", `
[services.web.env]
LEVEL = "b"

[services.extra]
shell = "echo extra >@D@/extra.out; exec sleep 1000"
ready = { file = "@D@/extra.out" }

[services.check]
depends_on.extra = "ready"
`},
	// Not read: not *.toml, or hidden.
	{"initbox.d/README", "not TOML ["},
	{"initbox.d/30-c.toml.off", "not TOML ["},
	{"initbox.d/.10-editor.toml", "not TOML ["},
}

// TestDropInMerge: `run -c FILE -c DIR` merges the three files in order,
// later keys over earlier ones, a drop-in disables a base service, and
// validation (the main service's dependency on a service only a drop-in
// defines) runs on the merged result.
func TestDropInMerge(t *testing.T) {
	dir := dropInFiles(t, dropInThree)
	r := svRun(t, filepath.Join(dir, "initbox.toml"), nil, "-c", filepath.Join(dir, "initbox.d"))
	wantExit(t, r, 0)
	// The main service's output is not prefixed.
	wantLine(t, r, r.stdout, "web a b")
	wantLine(t, r, r.stdout, "extra")
	if exists(filepath.Join(dir, "cron.ran")) {
		t.Errorf("cron ran, though 10-a.toml disables it\n%v", r)
	}
}

// TestDropInDirectory: -c DIR alone, and INITBOX_CONFIG naming a directory,
// read the directory's *.toml files in lexical order (10 before 9: bytes,
// not numbers).
func TestDropInDirectory(t *testing.T) {
	dir := dropInFiles(t, [][2]string{
		{"conf/00-base.toml", `
[init]
control_socket = ""

[services.main]
main = true
shell = "echo $ORDER"
env.ORDER = "base"
`},
		{"conf/10-second.toml", "[services.main]\nenv.ORDER = \"10\"\n"},
		{"conf/9-last.toml", "[services.main]\nenv.ORDER = \"9\"\n"},
	})
	conf := filepath.Join(dir, "conf")
	for _, tc := range []struct {
		name string
		args []string
		env  []string
	}{
		{"-c DIR", []string{"run", "-c", conf}, nil},
		{"INITBOX_CONFIG=DIR", []string{"run"}, []string{"INITBOX_CONFIG=" + conf}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runInit(t, runSpec{mode: pid1, args: tc.args, env: tc.env, timeout: svTimeout})
			wantExit(t, r, 0)
			wantLine(t, r, r.stdout, "9")
		})
	}
	r := runInit(t, runSpec{mode: direct, args: []string{"check"}, env: []string{"INITBOX_CONFIG=" + conf}})
	wantExit(t, r, 0)
	files := []string{filepath.Join(conf, "00-base.toml"), filepath.Join(conf, "10-second.toml"), filepath.Join(conf, "9-last.toml")}
	if want := strings.Join(files, ", ") + ": ok, 1 service (1 enabled, 0 disabled)\n"; r.stdout != want {
		t.Errorf("check printed %q, want %q", r.stdout, want)
	}
}

// TestDropInErrors: an error in a drop-in is named with the drop-in's
// file, line and column, by run and by check alike, and nothing starts; an
// error that validation finds in the merged result is named where its key
// is, whichever file that is.
func TestDropInErrors(t *testing.T) {
	base := `
[init]
control_socket = ""

[services.db]
shell = "exec sleep 1000"

[services.web]
shell = "exec sleep 1000"
depends_on = { db = "ready" }
` + configErrorMarker
	for _, tc := range []struct {
		name, drop string
		file       string // "initbox.toml", or "drop" for the drop-in
		pos, msg   string
	}{
		{"unknown key", "[services.web]\nshel = \"x\"\n", "drop", "2:1", `unknown key "shel" in [services.web]; did you mean "shell"?`},
		{"bad value", "\n[services.db.restart]\npolicy = \"sometimes\"\n", "drop", "3:10", `unknown restart policy "sometimes"`},
		{"syntax", "[services.db\n", "drop", "1:13", "TOML syntax"},
		{"a base service disabled under its dependent", "[services.db]\nenabled = false\n", "initbox.toml", "10:16", "db is disabled, so web would never start"},
		{"command added to a base shell", "[services.web]\ncommand = [\"x\"]\n", "initbox.toml", "9:1", "set either command or shell"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := dropInFiles(t, [][2]string{{"initbox.toml", base}, {"initbox.d/50-drop.toml", tc.drop}})
			file := filepath.Join(dir, "initbox.d", "50-drop.toml")
			if tc.file == "initbox.toml" {
				file = filepath.Join(dir, "initbox.toml")
			}
			args := []string{"-c", filepath.Join(dir, "initbox.toml"), "-c", filepath.Join(dir, "initbox.d")}
			r := runInit(t, runSpec{mode: pid1, args: append([]string{"run"}, args...), timeout: svTimeout})
			wantExit(t, r, 2)
			checkConfigError(t, r, file, tc.pos, tc.msg)
			r = runInit(t, runSpec{mode: direct, args: append([]string{"check"}, args...)})
			wantExit(t, r, 2)
			checkConfigError(t, r, file, tc.pos, tc.msg)
			if exists(filepath.Join(dir, "marker")) {
				t.Fatalf("a service was started despite the config error\n%v", r)
			}
		})
	}
}

// commentRE matches the comment --print puts after a key or a header.
var commentRE = regexp.MustCompile(`  # .*$`)

// TestDropInCheckPrint: `check --print` prints the merged configuration,
// each key with the file it came from; saved to a file elsewhere, it is
// a valid config that prints the same keys and values again.
func TestDropInCheckPrint(t *testing.T) {
	dir := dropInFiles(t, dropInThree)
	base, drops := filepath.Join(dir, "initbox.toml"), filepath.Join(dir, "initbox.d")
	r := runInit(t, runSpec{mode: direct, args: []string{"check", "--print", "-c", base, "-c", drops}, env: []string{"INITBOX_SHUTDOWN_TIMEOUT=25s"}})
	wantExit(t, r, 0)
	a, b := filepath.Join(drops, "10-a.toml"), filepath.Join(drops, "20-b.toml")
	for _, want := range []string{
		"# " + strings.Join([]string{base, a, b}, ", ") + ": ok, 4 services (3 enabled, 1 disabled)",
		"# INITBOX_SHUTDOWN_TIMEOUT=25s overrides init.shutdown_timeout",
		`control_socket = ""  # ` + base,
		`MODE = "a"  # ` + a,
		`LEVEL = "b"  # ` + b,
		`enabled = false  # ` + a,
		`extra = "ready"  # ` + b,
		`web = "ready"  # ` + base,
		`[services.extra]  # ` + b,
	} {
		wantLine(t, r, r.stdout, want)
	}
	if i, j := strings.Index(r.stdout, "[services.web]"), strings.Index(r.stdout, "[services.extra]"); i < 0 || j < i {
		t.Errorf("services not in the order of their first definition\n%v", r)
	}

	printed := filepath.Join(t.TempDir(), "printed.toml")
	if err := os.WriteFile(printed, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	again := runInit(t, runSpec{mode: direct, args: []string{"check", "--print", "-c", printed}, env: []string{"INITBOX_SHUTDOWN_TIMEOUT=25s"}})
	wantExit(t, again, 0)
	body := func(out string) []string {
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if l = commentRE.ReplaceAllString(l, ""); l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		return lines
	}
	if got, want := body(again.stdout), body(r.stdout); !slices.Equal(got, want) {
		t.Errorf("printed again:\n%s\nfirst:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(again.stdout, printed+": ok, 4 services (3 enabled, 1 disabled)") {
		t.Errorf("the printed config, checked:\n%v", again)
	}
}

// TestDropInReload: SIGHUP and `ctl reload` read every file again: a
// changed drop-in restarts the service it changes, a new drop-in adds a
// service, and a broken drop-in changes nothing and is named with its line.
func TestDropInReload(t *testing.T) {
	requirePID1(t)
	dir := dropInFiles(t, [][2]string{
		{"initbox.toml", `
[init]
control_socket = "@D@/control.sock"

[services.web]
shell = 'echo "$MODE" >>@D@/web.out; exec sleep 1000'
env.MODE = "base"

[services.keep]
shell = "echo run >>@D@/keep.out; exec sleep 1000"
`},
		{"initbox.d/10-mode.toml", "[services.web]\nenv.MODE = \"one\"\n"},
	})
	drops := filepath.Join(dir, "initbox.d")
	p := svStart(t, filepath.Join(dir, "initbox.toml"), nil, "-c", drops)
	text := func(f string) string { b, _ := os.ReadFile(filepath.Join(dir, f)); return string(b) }
	waitText := func(f, want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(text(f), want); {
			if time.Now().After(deadline) {
				t.Fatalf("%s = %q, want %q in it\n%s", f, text(f), want, p.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(drops, name), []byte(strings.ReplaceAll(s, "@D@", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitText("web.out", "one\n")
	waitText("keep.out", "run\n")

	write("10-mode.toml", "[services.web]\nenv.MODE = \"two\"\n")
	write("20-add.toml", "[services.added]\nshell = \"echo run >>@D@/added.out; exec sleep 1000\"\n")
	p.signal(syscall.SIGHUP)
	waitText("web.out", "one\ntwo\n")
	waitText("added.out", "run\n")

	write("30-broken.toml", "\n[services.web]\nenv.MODE = 3.5\n")
	sock := filepath.Join(dir, "control.sock")
	out, code := ctl(t, sock, 0, "reload")
	if at := filepath.Join(drops, "30-broken.toml") + ":3:12"; code != 1 || !strings.Contains(out, at) {
		t.Errorf("ctl reload of a broken drop-in = %d, want 1 and %s\n%s", code, at, out)
	}
	if err := os.Remove(filepath.Join(drops, "30-broken.toml")); err != nil {
		t.Fatal(err)
	}
	write("10-mode.toml", "[services.web]\nenv.MODE = \"three\"\n")
	if out, code := ctl(t, sock, 0, "reload"); code != 0 {
		t.Fatalf("ctl reload = %d\n%s", code, out)
	}
	waitText("web.out", "one\ntwo\nthree\n")
	r := p.stopBySIGTERM(5 * time.Second)
	if got := text("keep.out"); got != "run\n" {
		t.Errorf("the unchanged service ran %q, want once\n%v", got, r)
	}
}
