package config

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Three files as an image built on an image built on a base would have
// them; the tests below look at different parts of their merge.
const (
	baseFile = "/etc/initbox/initbox.toml"
	dropA    = "/etc/initbox/initbox.d/10-a.toml"
	dropB    = "/etc/initbox/initbox.d/20-b.toml"
)

var threeFiles = []File{
	{baseFile, []byte(`
[init]
shutdown_timeout = "9s"
log_prefix = false

[services.db]
command = ["db", "--base"]
ready = { tcp = "127.0.0.1:5432" }

[services.web]
command = ["web", "--base"]
env = { A = "base", B = "base" }
env_file = ["base.env", "-more.env"]
depends_on = { db = "ready" }
restart = { policy = "always", delay = "1s" }

[services.cron]
shell = "cron -f"
`)},
	{dropA, []byte(`
[init]
shutdown_timeout = "20s"

[services.web]
command = ["web", "--a"]
env.B = "a"
env.C = "a"
restart.max_delay = "40s"
stdout = "file:web.log"

[services.cache]
command = ["cache"]

[services.cron]
enabled = false
`)},
	{dropB, []byte(`
init.shutdown_timeout = "30s"

[services.web]
env = { C = "b" }
env_file = "b.env"
depends_on.cache = "started"

[services.web.restart]
delay = "2s"
`)},
}

func parseThree(t *testing.T) *Config {
	t.Helper()
	c, err := ParseFiles(threeFiles, noEnv)
	if err != nil {
		t.Fatalf("ParseFiles: %v", err)
	}
	return c
}

// TestMergeOverride: later files win key by key, whichever way they write
// the key (a table, an inline table, dotted keys).
func TestMergeOverride(t *testing.T) {
	c := parseThree(t)
	web := c.Services["web"]
	for _, tc := range []struct {
		what      string
		got, want any
	}{
		{"init.shutdown_timeout, set by all three", c.Init.ShutdownTimeout, 30 * time.Second},
		{"init.log_prefix, set by the base only", c.Init.LogPrefix, false},
		{"web.command, replaced by 10-a", web.Command, []string{"web", "--a"}},
		{"web.env, merged key by key", web.Env, map[string]string{"A": "base", "B": "a", "C": "b"}},
		{"web.env_file, an array replaced by a string", web.EnvFile, []EnvFile{{Path: "/etc/initbox/initbox.d/b.env"}}},
		{"web.depends_on, merged", web.DependsOn, map[string]Condition{"db": ConditionReady, "cache": ConditionStarted}},
		{"web.restart.policy, from the base", web.Restart.Policy, RestartAlways},
		{"web.restart.delay, from 20-b", web.Restart.Delay, 2 * time.Second},
		{"web.restart.max_delay, from 10-a", web.Restart.MaxDelay, 40 * time.Second},
		{"web.stdout, relative to 10-a's directory", web.Stdout, Output{Kind: OutputFile, Path: "/etc/initbox/initbox.d/web.log"}},
		{"db, untouched", c.Services["db"].Command, []string{"db", "--base"}},
		{"cron, disabled by 10-a", c.Services["cron"].Enabled, false},
		{"cron keeps its shell", c.Services["cron"].Shell, "cron -f"},
		{"services in order of first definition", c.Order, []string{"db", "web", "cron", "cache"}},
		{"Files", c.Files, []string{baseFile, dropA, dropB}},
		{"File", c.File, baseFile},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.what, tc.got, tc.want)
		}
	}
	if got, want := c.StartOrder(), [][]string{{"db", "cache"}, {"web"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("StartOrder = %v, want %v (cron is disabled)", got, want)
	}
}

// TestMergeReplaces: what is not a table on both sides is replaced whole,
// including a table that meets a scalar.
func TestMergeReplaces(t *testing.T) {
	for _, tc := range []struct {
		name        string
		base, later string
		check       func(*Service) bool
	}{
		{"array by a shorter array", `command = ["a", "b", "c"]`, `command = ["x"]`,
			func(s *Service) bool { return slices.Equal(s.Command, []string{"x"}) }},
		{"array by an empty array", "command = [\"a\"]\ncapabilities = [\"CAP_CHOWN\"]", "capabilities = []",
			func(s *Service) bool { return s.Capabilities != nil && len(s.Capabilities) == 0 }},
		{"array of integers", "command = [\"a\"]\nrestart.success_exit_codes = [0, 1, 2]", "restart.success_exit_codes = [3]",
			func(s *Service) bool { return slices.Equal(s.Restart.SuccessExitCodes, []int{3}) }},
		{"array by a string", "command = [\"a\"]\ninherit_env = [\"PATH\"]", "inherit_env = true",
			func(s *Service) bool { return s.InheritEnv.All }},
		{"string by an array", "command = [\"a\"]\nenv_file = \"/x.env\"", "env_file = [\"/y.env\", \"/z.env\"]",
			func(s *Service) bool { return len(s.EnvFile) == 2 && s.EnvFile[0].Path == "/y.env" }},
		{"inline table merged with a table", "command = [\"a\"]\nstop = { signal = \"INT\", timeout = \"1s\" }", "[services.s.stop]\ntimeout = \"2s\"",
			func(s *Service) bool { return s.Stop.Signal == 2 && s.Stop.Timeout == 2*time.Second }},
		{"deeply nested", "command = [\"a\"]\nready.exec = [\"x\"]\nready.timeout = \"5s\"", "ready.timeout = \"6s\"",
			func(s *Service) bool {
				return slices.Equal(s.Ready.Exec, []string{"x"}) && s.Ready.Timeout == 6*time.Second
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			later := tc.later
			if !strings.HasPrefix(later, "[") {
				later = "[services.s]\n" + later
			}
			c, err := ParseFiles([]File{
				{"/a/base.toml", []byte("[services.s]\n" + tc.base + "\n")},
				{"/a/later.toml", []byte(later + "\n")},
			}, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c.Services["s"]) {
				t.Errorf("service = %+v", c.Services["s"])
			}
		})
	}
}

// TestMergeErrors: each error is at the file, line and column of the key
// that caused it, the key a drop-in set being in the drop-in; the files'
// errors come in the files' order.
func TestMergeErrors(t *testing.T) {
	base := File{baseFile, []byte("[services.db]\ncommand = [\"db\"]\n\n[services.web]\ncommand = [\"web\"]\ndepends_on = { db = \"ready\" }\n")}
	for _, tc := range []struct {
		name string
		drop string
		want []string
	}{
		{"unknown key in a drop-in", "[services.web]\ncomand = [\"x\"]\n",
			[]string{dropA + `:2:1: unknown key "comand" in [services.web]; did you mean "command"?`}},
		{"bad value in a drop-in", "[services.web.stop]\ntimeout = \"5\"\n",
			[]string{dropA + `:2:11: services.web.stop.timeout: bad duration "5": missing unit; did you mean "5s"?`}},
		{"a base service disabled under its dependent", "[services.db]\nenabled = false\n",
			[]string{baseFile + `:6:16: services.web.depends_on.db: db is disabled, so web would never start (enable db or disable web)`}},
		{"shell added to a base command", "[services.web]\nshell = \"web\"\n",
			[]string{dropA + `:2:1: services.web.shell: set either command or shell, not both`}},
		{"dependency on an unknown service", "services.web.depends_on.cache = \"started\"\n",
			[]string{dropA + `:1:25: services.web.depends_on: unknown service "cache"`}},
		{"cycle closed by a drop-in", "[services.db]\ndepends_on = { web = \"started\" }\n",
			[]string{dropA + `:2:16: services.db.depends_on.web: dependency cycle: db -> web -> db`}},
		{"${VAR} unset in a drop-in", "[services.web]\ncommand = [\"web\", \"x${NOPE}\"]\n",
			[]string{dropA + `:2:21: services.web.command[1]: variable NOPE is not set`}},
		{"errors in both, base first", "[services.web]\ntype = \"forking\"\n[services.db]\nuser = 1.5\n",
			[]string{
				dropA + `:2:8: services.web.type: unknown type "forking" (want simple, oneshot or notify)`,
				dropA + `:4:8: services.db.user: want a string, not a float`,
			}},
		{"syntax error", "[services.web\n", []string{dropA + ":1:14: TOML syntax: expected '.' or ']' to end table name, but got '\\n' instead"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFiles([]File{base, {dropA, []byte(tc.drop)}}, noEnv)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want *Errors", err)
			}
			var got []string
			for _, e := range errs.List {
				got = append(got, e.Error())
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					t.Errorf("no error %q in\n%s", w, err)
				}
			}
		})
	}
}

// TestMergeErrorOrder: files in merge order, then lines; syntax errors of
// every file come together.
func TestMergeErrorOrder(t *testing.T) {
	_, err := ParseFiles([]File{
		{"/a/1.toml", []byte("[services.a]\ncommand = [\"a\"]\nstop.timeout = \"x\"\n")},
		{"/a/2.toml", []byte("[services.b]\nshell = 1\n")},
		{"/a/3.toml", []byte("[services.a]\nrestart.delay = \"y\"\n")},
	}, noEnv)
	var files []string
	for _, e := range err.(*Errors).List {
		files = append(files, e.File)
	}
	if want := []string{"/a/1.toml", "/a/2.toml", "/a/3.toml"}; !slices.Equal(files, want) {
		t.Errorf("files of the errors = %v, want %v\n%v", files, want, err)
	}
	_, err = ParseFiles([]File{
		{"/a/1.toml", []byte("x = [\n")},
		{"/a/2.toml", []byte("[services.a]\ncommand = [\"a\"]\n")},
		{"/a/3.toml", []byte("= 1\n")},
	}, noEnv)
	files = nil
	for _, e := range err.(*Errors).List {
		files = append(files, e.File)
	}
	if want := []string{"/a/1.toml", "/a/3.toml"}; !slices.Equal(files, want) {
		t.Errorf("syntax errors in %v, want %v\n%v", files, want, err)
	}
}

// TestPrintRoundTrip: what WriteTOML prints parses back, from another
// directory, to the same configuration, and names each key's file.
func TestPrintRoundTrip(t *testing.T) {
	env := envOf(map[string]string{"PORT": "8080", "LOGS": "logs"})
	files := append(slices.Clone(threeFiles), File{"/srv/other/30-c.toml", []byte(`
[services.web]
command = ["web", "--port", "${PORT:-80}", "$${literal}", "tab\there", "quote\"", "\u00e9\u0001"]
working_dir = "${LOGS}/.."
stderr = "append:${LOGS}/web.err"

[services.web.ready]
file = "./ready"
interval = "1s"

[services.web.resources]
cpu_max = 2.0
memory_max = 1000000

[services."dotted.name"]
shell = """
echo 'a script'
echo "of several lines"	$$HOME
"""
env = {}
restart.multiplier = 1.5
`)})
	c, err := ParseFiles(files, env)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.WriteTOML(&out); err != nil {
		t.Fatal(err)
	}
	printed := out.String()
	back, err := Parse("/somewhere/else/printed.toml", out.Bytes(), env)
	if err != nil {
		t.Fatalf("the printed config does not parse: %v\n%s", err, printed)
	}
	sameConfig(t, back, c, printed)
	for _, want := range []string{
		`shutdown_timeout = "30s"  # ` + dropB,
		`log_prefix = false  # ` + baseFile,
		`B = "a"  # ` + dropA,
		`C = "b"  # ` + dropB,
		`enabled = false  # ` + dropA,
		`env_file = "/etc/initbox/initbox.d/b.env"  # ` + dropB,
		`"${PORT:-80}"`,
		`working_dir = "/srv/other"  # /srv/other/30-c.toml`,
		`file = "/srv/other/ready"`,
		`[services."dotted.name".env]`,
		`cpu_max = 2.0`,
		"shell = '''\necho 'a script'\necho \"of several lines\"\t$$HOME\n'''  # /srv/other/30-c.toml",
	} {
		if !strings.Contains(printed, want) {
			t.Errorf("no %q in\n%s", want, printed)
		}
	}
	if strings.Index(printed, "[services.db]") > strings.Index(printed, "[services.web]") {
		t.Errorf("services not in file order:\n%s", printed)
	}
	if err := New().WriteTOML(&out); !errors.Is(err, ErrNoFile) {
		t.Errorf("a Config built in code printed: %v", err)
	}
}

// sameConfig fails unless a and b are the same configuration.
func sameConfig(t *testing.T, got, want *Config, printed string) {
	t.Helper()
	if !reflect.DeepEqual(got.Init, want.Init) {
		t.Errorf("Init after the round trip = %+v, want %+v\n%s", got.Init, want.Init, printed)
	}
	if !slices.Equal(got.Order, want.Order) {
		t.Errorf("Order after the round trip = %v, want %v\n%s", got.Order, want.Order, printed)
	}
	for _, n := range want.Order {
		if !reflect.DeepEqual(got.Services[n], want.Services[n]) {
			t.Errorf("service %s after the round trip =\n%+v\nwant\n%+v\n%s", n, got.Services[n], want.Services[n], printed)
		}
	}
}

// TestLoadFiles: a directory is its *.toml files in lexical order, hidden
// files, other names and subdirectories left out; files and directories
// mix; a missing path is an error; every file and directory is checked for
// world-writability.
func TestLoadFiles(t *testing.T) {
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
	base := write("initbox.toml", "[services.a]\ncommand = [\"base\"]\nworking_dir = \".\"\n")
	d := filepath.Join(dir, "initbox.d")
	write("initbox.d/20-b.toml", "[services.a]\ncommand = [\"20\"]\n")
	write("initbox.d/10-a.toml", "[services.a]\ncommand = [\"10\"]\nworking_dir = \"wd\"\n")
	write("initbox.d/.hidden.toml", "not toml at all [")
	write("initbox.d/30-c.toml.disabled", "not toml at all [")
	write("initbox.d/README", "not toml at all [")
	if err := os.Mkdir(filepath.Join(d, "sub.toml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "linked"), filepath.Join(d, "15-link.toml")); err != nil {
		t.Fatal(err)
	}
	write("linked", "[services.l]\nshell = \"l\"\n")
	extra := write("extra.toml", "[services.a]\ncommand = [\"extra\"]\n")

	files, err := Files(base, d, extra)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{base, filepath.Join(d, "10-a.toml"), filepath.Join(d, "15-link.toml"), filepath.Join(d, "20-b.toml"), extra}
	if !slices.Equal(files, want) {
		t.Errorf("Files = %q, want %q", files, want)
	}
	c, err := LoadFiles([]string{base, d, extra}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Services["a"]; a.Command[0] != "extra" || a.WorkingDir != d+"/wd" {
		t.Errorf("a = %q in %q", a.Command, a.WorkingDir)
	}
	if !slices.Equal(c.Order, []string{"a", "l"}) || !slices.Equal(c.Files, want) {
		t.Errorf("Order %v, Files %v", c.Order, c.Files)
	}
	// Load takes a directory too.
	if c, err := Load(d, noEnv); err != nil || c.Services["a"].Command[0] != "20" || c.File != want[1] {
		t.Errorf("Load(dir): %v, %+v", err, c)
	}

	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadFiles([]string{empty}, noEnv); err != nil || len(c.Order) != 0 || c.File != empty {
		t.Errorf("an empty directory: %v, %+v", err, c)
	}
	if _, err := LoadFiles([]string{base, filepath.Join(dir, "missing.d")}, noEnv); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing directory: %v", err)
	}

	os.Chmod(d, 0o777)
	if _, err := LoadFiles([]string{base, d}, noEnv); !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "chmod o-w "+d) {
		t.Errorf("a world-writable directory: %v", err)
	}
	os.Chmod(d, 0o755)
	os.Chmod(filepath.Join(d, "20-b.toml"), 0o646)
	if _, err := LoadFiles([]string{base, d}, noEnv); !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "20-b.toml") {
		t.Errorf("a world-writable drop-in: %v", err)
	}
}

// TestForgetPositions: a Config that forgot its positions is as one built
// in code: its errors have no position and it no longer prints.
func TestForgetPositions(t *testing.T) {
	c, err := Parse("/etc/initbox/initbox.toml", []byte("[services.a]\ncommand = [\"true\"]\nuser = \"x\"\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	list := []ServiceError{{Service: "a", Key: "user", Msg: "cannot switch"}}
	for _, tc := range []struct {
		forget bool
		want   string
	}{
		{false, "/etc/initbox/initbox.toml:3:8: services.a.user: cannot switch"},
		{true, "services.a.user: cannot switch"},
	} {
		if tc.forget {
			c.ForgetPositions()
		}
		if err := c.ServiceErrors(list); err == nil || err.Error() != tc.want {
			t.Errorf("forgotten %v: %v, want %s", tc.forget, err, tc.want)
		}
	}
	if err := c.WriteTOML(io.Discard); !errors.Is(err, ErrNoFile) {
		t.Errorf("a Config without positions printed: %v", err)
	}
}
