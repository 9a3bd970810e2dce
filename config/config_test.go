package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envOf returns an env function over m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

var noEnv = envOf(nil)

func mustParse(t *testing.T, src string, env map[string]string) *Config {
	t.Helper()
	c, err := Parse("/etc/initbox/t.toml", []byte(src), envOf(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, `
[services.a]
command = ["a"]
[services.b]
shell = "b"
type = "oneshot"
`, nil)
	if want := DefaultInit(); c.Init != want {
		t.Errorf("Init = %+v, want %+v", c.Init, want)
	}
	if c.Init.ShutdownTimeout != 9*time.Second || c.Init.LogFormat != LogConsole || !c.Init.LogPrefix || c.Init.Grace != 0 ||
		c.Init.Cgroups != (Cgroups{Mode: CgroupAuto, Init: "init", Services: "services"}) ||
		c.Init.ControlSocket != "auto" || c.Init.HTTPListen != "" {
		t.Errorf("DefaultInit() = %+v, not what the issues say", c.Init)
	}
	want := &Service{
		Name:       "a",
		Command:    []string{"a"},
		Type:       TypeSimple,
		Enabled:    true,
		InheritEnv: InheritEnv{All: true},
		Stdout:     Output{Kind: OutputInherit},
		Stderr:     Output{Kind: OutputInherit},
		Restart: Restart{
			Policy:           RestartOnFailure,
			Delay:            100 * time.Millisecond,
			Multiplier:       2.0,
			MaxDelay:         30 * time.Second,
			ResetAfter:       60 * time.Second,
			LimitBurst:       5,
			LimitInterval:    10 * time.Second,
			SuccessExitCodes: []int{0},
		},
		Stop:      Stop{Signal: syscall.SIGTERM, Timeout: 5 * time.Second, Mode: StopCgroup},
		Resources: Resources{OOMGroup: true},
		Ready:     Ready{Interval: 200 * time.Millisecond, Timeout: 60 * time.Second},
		Health: Health{
			Interval: 10 * time.Second, Timeout: 5 * time.Second,
			FailureThreshold: 3, SuccessThreshold: 1, Action: HealthRestart,
		},
	}
	if got := c.Services["a"]; !reflect.DeepEqual(got, want) {
		t.Errorf("service a =\n%+v\nwant\n%+v", got, want)
	}
	if got := c.Services["b"].Restart.Policy; got != RestartNever {
		t.Errorf("oneshot default policy = %q, want never", got)
	}
	if a := c.Services["a"]; a.Ready.Method() != "" || a.Health.Method() != "" || a.Health.Watchdog != 0 {
		t.Errorf("a service without ready or health tables has checks: %+v %+v", a.Ready, a.Health)
	}
	if !reflect.DeepEqual(c.Order, []string{"a", "b"}) {
		t.Errorf("Order = %v", c.Order)
	}
}

func TestParseEveryKey(t *testing.T) {
	src := `
[init]
shutdown_timeout = "20s"
log_format = "json"
log_prefix = false
grace = "2s"
control_socket = "${SOCK:-/run/ctl.sock}"
http_listen = "127.0.0.1:9090"

[init.cgroups]
mode = "required"
init = "initbox"
services = "${SVC:-svc}"

[services.db]
command = ["/usr/bin/db", "--port", "${PORT:-5432}"]
type = "notify"
essential = true
user = "postgres"
group = 70
working_dir = "data"
env = { PGDATA = "/var/lib/pg", N = 3, YES = true, HOME = "${HOME}" }
env_file = ["/etc/db.env", "-secrets/db.env"]
inherit_env = ["PATH", "TZ"]
stdout = "append:/var/log/db.log"
stderr = "stdout"
forward_signals = true

[services.db.restart]
policy = "always"
delay = "1s"
multiplier = 3
max_delay = "1m"
reset_after = "5m"
limit_burst = 10
limit_interval = "1m"
success_exit_codes = [0, 143]

[services.db.stop]
signal = "INT"
timeout = "30s"
mode = "process"

[services.db.resources]
memory_max = "1.5G"
memory_high = 1073741824
memory_swap_max = "max"
cpu_max = 1.5
cpu_weight = 200
pids_max = 100
io_weight = 50
oom_group = false
oom_score_adj = -500

[services.db.ready]
timeout = "2m"

[services.db.health]
exec = ["pg_isready", "-q"]
start_period = "30s"
interval = "15s"
timeout = "3s"
failure_threshold = 5
success_threshold = 2
action = "stop"
watchdog = "1m"

[services.migrate]
shell = "echo $$HOME $HOME"
type = "oneshot"
depends_on = { db = "ready" }
stdout = "file:out.log"
stderr = "null"
inherit_env = false
restart.policy = "on-failure"
stop.mode = "cgroup"
resources = { cpu_max = "50%", pids_max = "max", oom_score_adj = 0 }

[services.web]
command = ["web"]
main = true
enabled = true
depends_on = { migrate = "succeeded", db = "healthy" }
env_file = "-/run/web.env"
stop = { signal = "RTMIN+3", timeout = "1s" }
ready = { http = "http://127.0.0.1:8080/ready", interval = "1s" }
health.tcp = "localhost:8080"

[services.off]
command = ["off"]
enabled = false
stop.signal = 1
stop.mode = "group"
`
	c := mustParse(t, src, map[string]string{"HOME": "/root"})
	wantInit := Init{
		ShutdownTimeout: 20 * time.Second, LogFormat: LogJSON, LogPrefix: false, Grace: 2 * time.Second,
		Cgroups:       Cgroups{Mode: CgroupRequired, Init: "initbox", Services: "svc"},
		ControlSocket: "/run/ctl.sock", HTTPListen: "127.0.0.1:9090",
	}
	if c.Init != wantInit {
		t.Errorf("Init = %+v", c.Init)
	}
	db := c.Services["db"]
	wantDB := &Service{
		Name:       "db",
		Command:    []string{"/usr/bin/db", "--port", "5432"},
		Type:       TypeNotify,
		Essential:  true,
		Enabled:    true,
		User:       "postgres",
		Group:      "70",
		WorkingDir: "/etc/initbox/data",
		Env:        map[string]string{"PGDATA": "/var/lib/pg", "N": "3", "YES": "true", "HOME": "/root"},
		EnvFile: []EnvFile{
			{Path: "/etc/db.env"},
			{Path: "/etc/initbox/secrets/db.env", Optional: true},
		},
		InheritEnv:     InheritEnv{Names: []string{"PATH", "TZ"}},
		Stdout:         Output{Kind: OutputAppend, Path: "/var/log/db.log"},
		Stderr:         Output{Kind: OutputStdout},
		ForwardSignals: true,
		Restart: Restart{
			Policy: RestartAlways, Delay: time.Second, Multiplier: 3, MaxDelay: time.Minute,
			ResetAfter: 5 * time.Minute, LimitBurst: 10, LimitInterval: time.Minute,
			SuccessExitCodes: []int{0, 143},
		},
		Stop: Stop{Signal: syscall.SIGINT, Timeout: 30 * time.Second, Mode: StopProcess},
		Resources: Resources{
			MemoryMax: 1536 << 20, MemoryHigh: 1 << 30, MemorySwapMax: Unlimited,
			CPUMax: 1.5, CPUWeight: 200, PidsMax: 100, IOWeight: 50,
			OOMGroup: false, OOMScoreAdj: -500, OOMScoreAdjSet: true,
		},
		Ready: Ready{Notify: true, Interval: 200 * time.Millisecond, Timeout: 2 * time.Minute},
		Health: Health{
			Exec: []string{"pg_isready", "-q"}, StartPeriod: 30 * time.Second, Interval: 15 * time.Second,
			Timeout: 3 * time.Second, FailureThreshold: 5, SuccessThreshold: 2, Action: HealthStop,
			Watchdog: time.Minute,
		},
	}
	if !reflect.DeepEqual(db, wantDB) {
		t.Errorf("db =\n%+v\nwant\n%+v", db, wantDB)
	}
	m := c.Services["migrate"]
	if m.Shell != "echo $HOME $HOME" {
		t.Errorf("shell = %q: $$ must become $ and a bare $HOME stay", m.Shell)
	}
	if m.Restart.Policy != RestartOnFailure {
		t.Errorf("oneshot with an explicit policy: %q", m.Restart.Policy)
	}
	if m.Stdout != (Output{Kind: OutputFile, Path: "/etc/initbox/out.log"}) || m.Stderr.Kind != OutputNull {
		t.Errorf("migrate stdout %+v stderr %+v", m.Stdout, m.Stderr)
	}
	if m.InheritEnv.All || len(m.InheritEnv.Names) != 0 {
		t.Errorf("inherit_env = false gave %+v", m.InheritEnv)
	}
	if m.Stop.Mode != StopCgroup {
		t.Errorf("migrate stop mode = %q", m.Stop.Mode)
	}
	wantRes := Resources{CPUMax: 0.5, PidsMax: Unlimited, OOMGroup: true, OOMScoreAdj: 0, OOMScoreAdjSet: true}
	if m.Resources != wantRes {
		t.Errorf("migrate resources = %+v, want %+v", m.Resources, wantRes)
	}
	web := c.Services["web"]
	if !web.Main || web.Stop.Signal != syscall.Signal(37) || web.Stop.Timeout != time.Second || web.Stop.Mode != StopCgroup {
		t.Errorf("web = %+v", web)
	}
	if want := (Ready{HTTP: "http://127.0.0.1:8080/ready", Interval: time.Second, Timeout: time.Minute}); !reflect.DeepEqual(web.Ready, want) {
		t.Errorf("web.Ready = %+v, want %+v", web.Ready, want)
	}
	if web.Health.TCP != "localhost:8080" || web.Health.Method() != "tcp" || web.Ready.Method() != "http" {
		t.Errorf("web.Health = %+v", web.Health)
	}
	if !reflect.DeepEqual(web.DependsOn, map[string]Condition{"migrate": ConditionSucceeded, "db": ConditionHealthy}) {
		t.Errorf("web.DependsOn = %v", web.DependsOn)
	}
	if !reflect.DeepEqual(web.EnvFile, []EnvFile{{Path: "/run/web.env", Optional: true}}) {
		t.Errorf("web.EnvFile = %v", web.EnvFile)
	}
	if off := c.Services["off"]; off.Enabled || off.Stop.Signal != syscall.SIGHUP || off.Stop.Mode != StopGroup {
		t.Errorf("off = %+v", off)
	}
	if !reflect.DeepEqual(c.Order, []string{"db", "migrate", "web", "off"}) {
		t.Errorf("Order = %v", c.Order)
	}
	if got, want := c.StartOrder(), [][]string{{"db"}, {"migrate"}, {"web"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("StartOrder = %v, want %v", got, want)
	}
}

// TestErrors covers every class of config error with its exact position
// and message. Sources are written so that the position is easy to check
// by eye: the offending text is marked in a comment where it helps.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		env  map[string]string
		want []string // "LINE:COL: message"
	}{
		{
			name: "syntax",
			src:  "[services.a]\ncommand = [\"a\"\nshell = 1\n",
			want: []string{`3:1: TOML syntax: expected a comma (',') or array terminator (']'), but got 's'`},
		},
		{
			name: "syntax/duplicate key",
			src:  "[services.a]\ncommand = [\"a\"]\n  command = [\"b\"]\n",
			want: []string{`3:3: TOML syntax: Key 'services.a.command' has already been defined.`},
		},
		{
			name: "syntax/byte order mark",
			src:  "\xef\xbb\xbfa = \n",
			want: []string{`1:5: TOML syntax: expected value but found '\n' instead`},
		},
		{
			name: "unknown key",
			src:  "[services.web]\ncomand = [\"a\"]\n",
			want: []string{`2:1: unknown key "comand" in [services.web]; did you mean "command"?`},
		},
		{
			name: "unknown key/dotted",
			src:  "[services.web]\nshell = \"x\"\nrestart.polcy = \"always\"\n",
			want: []string{`3:9: unknown key "polcy" in [services.web.restart]; did you mean "policy"?`},
		},
		{
			name: "unknown key/in sub-table header",
			src:  "[services.web]\nshell = \"x\"\n[services.web.stop]\n  singal = \"TERM\"\n",
			want: []string{`4:3: unknown key "singal" in [services.web.stop]; did you mean "signal"?`},
		},
		{
			name: "unknown key/top level, no suggestion",
			src:  "verbose = true\n",
			want: []string{`1:1: unknown key "verbose"`},
		},
		{
			name: "unknown key/init",
			src:  "[init]\nshutdown-timeout = \"5s\"\n",
			want: []string{`2:1: unknown key "shutdown-timeout" in [init]; did you mean "shutdown_timeout"?`},
		},
		{
			name: "unknown key/inline table",
			src:  "[services.web]\nshell = \"x\"\nstop = { signal = \"TERM\", timeuot = \"1s\" }\n",
			want: []string{`3:27: unknown key "timeuot" in [services.web.stop]; did you mean "timeout"?`},
		},
		{
			name: "wrong type",
			src: "[init]\nlog_prefix = \"yes\"\n[services.web]\ncommand = \"ls -l\"\nmain = 1\n" +
				"[services.web.restart]\nlimit_burst = 2.5\nsuccess_exit_codes = [0, \"1\"]\n",
			want: []string{
				`2:14: init.log_prefix: want true or false, not a string`,
				`4:11: services.web.command: want an array of strings (for a command line, use shell), not a string`,
				`5:8: services.web.main: want true or false, not an integer`,
				`7:15: services.web.restart.limit_burst: want an integer, not a float`,
				`8:26: services.web.restart.success_exit_codes[1]: want an integer, not a string`,
			},
		},
		{
			name: "wrong type/table",
			src:  "services = 3\ninit = []\n",
			want: []string{`1:12: services: want a table, not an integer`, `2:8: init: want a table, not an array`},
		},
		{
			name: "wrong type/array of tables",
			src:  "[[services]]\ncommand = [\"a\"]\n",
			want: []string{`1:3: services: want a table of services such as [services.web], not an array of tables [[services]]`},
		},
		{
			name: "wrong type/array element",
			src:  "[services.a]\ncommand = [\n  \"a\",\n  2,\n]\n",
			want: []string{`4:3: services.a.command[1]: want a string, not an integer`},
		},
		{
			name: "command and shell",
			src:  "[services.a]\ncommand = [\"a\"]\nshell = \"a\"\n",
			want: []string{`3:1: services.a.shell: set either command or shell, not both`},
		},
		{
			name: "neither command nor shell",
			src:  "[services.a]\ntype = \"oneshot\"\n",
			want: []string{`1:11: services.a: set command (an argv array) or shell (a command line for /bin/sh -c)`},
		},
		{
			name: "neither command nor shell/inline",
			src:  "services.a = {}\n",
			want: []string{`1:10: services.a: set command (an argv array) or shell (a command line for /bin/sh -c)`},
		},
		{
			name: "empty command",
			src:  "[services.a]\ncommand = []\n[services.b]\ncommand = [\"\", \"x\"]\n[services.c]\nshell = \"  \"\n",
			want: []string{
				`2:11: services.a.command: empty command`,
				`4:12: services.b.command[0]: empty program name`,
				`6:9: services.c.shell: empty shell command line`,
			},
		},
		{
			name: "bad duration",
			src:  "[init]\ngrace = \"5\"\nshutdown_timeout = \"ten seconds\"\n[services.a]\nshell = \"a\"\nstop.timeout = 5\n",
			want: []string{
				`2:9: init.grace: bad duration "5": missing unit; did you mean "5s"?`,
				`3:20: init.shutdown_timeout: bad duration "ten seconds" (want a number with a unit: ns, us, ms, s, m, h; e.g. "1m30s")`,
				`6:16: services.a.stop.timeout: want a duration string with a unit, such as "5s", not a number`,
			},
		},
		{
			name: "bad signal",
			src:  "[services.a]\nshell = \"a\"\n[services.a.stop]\nsignal = \"SIGTREM\"\n[services.b]\nshell = \"b\"\nstop.signal = 99\n",
			want: []string{
				`4:10: services.a.stop.signal: unknown signal "SIGTREM" (want a name such as SIGTERM or TERM, a number from 1 to 64, or RTMIN+N)`,
				`7:15: services.b.stop.signal: unknown signal "99" (want a name such as SIGTERM or TERM, a number from 1 to 64, or RTMIN+N)`,
			},
		},
		{
			// Issue #18: a job's schedule and the time zone of schedules.
			name: "bad schedule",
			src: "[init]\ntimezone = \"Mars/Base\"\n[services.a]\ntype = \"oneshot\"\nshell = \"a\"\nschedule = \"61 * * * *\"\n" +
				"[services.b]\nshell = \"b\"\nschedule = \"@daily\"\n[services.c]\ntype = \"oneshot\"\nshell = \"c\"\nschedule = \"@every 1h\"\n" +
				"[services.d]\nshell = \"d\"\ndepends_on = { c = \"completed\" }\n[services.e]\ntype = \"oneshot\"\nshell = \"e\"\nmain = true\nschedule = \"@hourly\"\n",
			want: []string{
				`2:12: init.timezone: time zone "Mars/Base": unknown time zone Mars/Base (a name of the tz database, such as "Europe/Paris"; the image needs /usr/share/zoneinfo, or use "UTC")`,
				`6:12: services.a.schedule: bad schedule "61 * * * *": minute: 61 is out of 0-59`,
				`9:1: services.b.schedule: a schedule needs type = "oneshot": a job that runs to completion at each time (this service is simple)`,
				`16:16: services.d.depends_on.c: c is a scheduled job: it runs at its times, not at start, so nothing can wait for it`,
				`21:1: services.e.schedule: the main service cannot have a schedule: its exit ends initbox`,
			},
		},
		{
			name: "bad enum",
			src: "[init]\nlog_format = \"text\"\n[services.a]\nshell = \"a\"\ntype = \"one-shot\"\nstdout = \"files:/x\"\nstderr = \"sdtout\"\n" +
				"restart = { policy = \"allways\" }\nstop = { mode = \"cgroups\" }\n[services.b]\nshell = \"b\"\ndepends_on = { a = \"readdy\" }\n",
			want: []string{
				`2:14: init.log_format: unknown log format "text" (want console or json)`,
				`5:8: services.a.type: unknown type "one-shot" (want simple, oneshot or notify); did you mean "oneshot"?`,
				`6:10: services.a.stdout: unknown output "files:/x" (want inherit, null, file:PATH or append:PATH); did you mean "file:PATH"?`,
				`7:10: services.a.stderr: unknown output "sdtout" (want inherit, null, file:PATH, append:PATH or stdout); did you mean "stdout"?`,
				`8:22: services.a.restart.policy: unknown restart policy "allways" (want never, on-failure or always); did you mean "always"?`,
				`9:17: services.a.stop.mode: unknown stop mode "cgroups" (want cgroup, group, process or mixed); did you mean "cgroup"?`,
				`12:20: services.b.depends_on.a: unknown condition "readdy" (want started, ready, healthy, completed or succeeded); did you mean "ready"?`,
			},
		},
		{
			name: "bad enum/stdout for stdout",
			src:  "[services.a]\nshell = \"a\"\nstdout = \"stdout\"\nstderr = \"file:\"\n",
			want: []string{
				`3:10: services.a.stdout: unknown output "stdout" (want inherit, null, file:PATH or append:PATH)`,
				`4:10: services.a.stderr: "file:": wants a path after the colon`,
			},
		},
		{
			name: "unknown dependency",
			src:  "[services.web]\nshell = \"a\"\ndepends_on = { databse = \"ready\" }\n[services.database]\nshell = \"b\"\n",
			want: []string{`3:16: services.web.depends_on: unknown service "databse"; did you mean "database"?`},
		},
		{
			name: "dependency cycle",
			src: "[services.a]\nshell = \"a\"\ndepends_on = { b = \"started\" }\n[services.b]\nshell = \"b\"\ndepends_on = { c = \"started\" }\n" +
				"[services.c]\nshell = \"c\"\ndepends_on = { a = \"ready\" }\n[services.d]\nshell = \"d\"\ndepends_on = { d = \"started\" }\n",
			want: []string{
				`3:16: services.a.depends_on.b: dependency cycle: a -> b -> c -> a`,
				`12:16: services.d.depends_on.d: dependency cycle: d -> d`,
			},
		},
		{
			name: "dependency cycle/named from the first service in the file",
			src:  "[services.b]\nshell = \"b\"\ndepends_on.a = \"started\"\n[services.a]\nshell = \"a\"\ndepends_on.b = \"started\"\n",
			want: []string{`3:12: services.b.depends_on.a: dependency cycle: b -> a -> b`},
		},
		{
			name: "dependency on a disabled service or with a oneshot condition",
			src: "[services.db]\nshell = \"a\"\nenabled = false\n[services.srv]\nshell = \"s\"\n" +
				"[services.web]\nshell = \"b\"\ndepends_on = { db = \"started\", srv = \"completed\" }\n",
			want: []string{
				`8:16: services.web.depends_on.db: db is disabled, so web would never start (enable db or disable web)`,
				`8:38: services.web.depends_on.srv: condition completed needs a oneshot service; srv is simple (use started, ready or healthy)`,
			},
		},
		{
			name: "more than one main",
			src:  "[services.a]\nshell = \"a\"\nmain = true\n[services.b]\nshell = \"b\"\nmain = true\n[services.c]\nshell = \"c\"\nmain = true\nenabled = false\n",
			want: []string{
				`6:8: services.b.main: more than one main service ("a" is main too)`,
				`9:8: services.c.main: more than one main service ("a" is main too)`,
				`10:11: services.c.enabled: a main service cannot be disabled`,
			},
		},
		{
			name: "unset variable",
			src:  "[services.a]\ncommand = [\"/bin/app\", \"--db=${DB_HOST}:${DB_PORT:-5432}\", \"${LEVEL}\"]\nuser = \"${USER:-app}\"\n",
			env:  map[string]string{"LEVEL": "debug"},
			want: []string{`2:30: services.a.command[1]: variable DB_HOST is not set (write ${DB_HOST:-default} to give a default)`},
		},
		{
			name: "unset variable/second reference and escapes",
			src:  "[services.a]\nshell = \"echo \\t$${X} ${A} ${B}\"\nworking_dir = '''\n${C}'''\n",
			env:  map[string]string{"A": "a"},
			want: []string{
				`2:28: services.a.shell: variable B is not set (write ${B:-default} to give a default)`,
				`4:1: services.a.working_dir: variable C is not set (write ${C:-default} to give a default)`,
			},
		},
		{
			name: "unset variable/inside a default",
			src:  "[services.a]\nshell = \"${A:-${B}}\"\n",
			want: []string{`2:15: services.a.shell: variable B is not set (write ${B:-default} to give a default)`},
		},
		{
			name: "bad reference",
			src:  "[services.a]\nshell = \"x ${A-b} y\"\n[services.b]\nshell = \"${OPEN\"\n",
			want: []string{
				`2:12: services.a.shell: bad reference ${A-b} (want ${NAME} or ${NAME:-default}; write $$ for a literal $)`,
				`4:10: services.b.shell: unterminated ${ (want ${NAME} or ${NAME:-default}; write $$ for a literal $)`,
			},
		},
		{
			name: "expanded values are not shown",
			src:  "[services.a]\nshell = \"a\"\ntype = \"${T}\"\nstop.timeout = \"${T}\"\n",
			env:  map[string]string{"T": "hunter2"},
			want: []string{
				`3:8: services.a.type: unknown type "${T}" (expanded) (want simple, oneshot or notify)`,
				`4:16: services.a.stop.timeout: bad duration "${T}" (expanded) (want a number with a unit: ns, us, ms, s, m, h; e.g. "1m30s")`,
			},
		},
		{
			name: "ranges",
			src: "[init]\nshutdown_timeout = \"0s\"\ngrace = \"-1s\"\n[services.a]\nshell = \"a\"\n[services.a.restart]\n" +
				"delay = \"-1s\"\nmultiplier = 0.5\nreset_after = \"-1s\"\nlimit_burst = 0\nlimit_interval = \"0s\"\nsuccess_exit_codes = [0, 256, -1]\n" +
				"[services.a.stop]\ntimeout = \"0s\"\n[services.b]\nshell = \"b\"\nrestart = { delay = \"10s\", max_delay = \"1s\", multiplier = inf }\n",
			want: []string{
				`2:20: init.shutdown_timeout: must be positive`,
				`3:9: init.grace: must not be negative`,
				`7:9: services.a.restart.delay: must not be negative`,
				`8:14: services.a.restart.multiplier: must be at least 1 (1 keeps every delay the same), not 0.5`,
				`9:15: services.a.restart.reset_after: must not be negative`,
				`10:15: services.a.restart.limit_burst: must be at least 1, not 0`,
				`11:18: services.a.restart.limit_interval: must be positive`,
				`12:26: services.a.restart.success_exit_codes[1]: exit code 256 is outside 0..255`,
				`12:31: services.a.restart.success_exit_codes[2]: exit code -1 is outside 0..255`,
				`14:11: services.a.stop.timeout: must be positive (SIGKILL follows it)`,
				`17:40: services.b.restart.max_delay: is less than delay (1s < 10s)`,
				`17:59: services.b.restart.multiplier: must be a finite number`,
			},
		},
		{
			name: "cgroups",
			src: "[init.cgroups]\nmode = \"requried\"\ninit = \"cgroup-init\"\nservices = \"a/b\"\nnames = 1\n" +
				"[services.a]\nshell = \"a\"\n",
			want: []string{
				`2:8: init.cgroups.mode: unknown cgroup mode "requried" (want auto, required or off); did you mean "required"?`,
				`3:8: init.cgroups.init: bad cgroup name "cgroup-init": use letters, digits, '_' and '-' (at most 255, not starting with "cgroup")`,
				`4:12: init.cgroups.services: bad cgroup name "a/b": use letters, digits, '_' and '-' (at most 255, not starting with "cgroup")`,
				`5:1: unknown key "names" in [init.cgroups]`,
			},
		},
		{
			name: "cgroups/same name",
			src:  "[init]\ncgroups = { init = \"services\" }\n[init.x]\n",
			want: []string{
				`2:20: init.cgroups.init: init and services must be different cgroups`,
				`3:7: unknown key "x" in [init]`,
			},
		},
		{
			name: "cgroups/same name, both set, and wrong types",
			src: "[init.cgroups]\ninit = \"x\"\nservices = \"x\"\n[services.a]\nshell = \"a\"\n[services.b]\nshell = \"b\"\nresources = 1\n" +
				"[init]\nlog_prefix = true\n",
			want: []string{
				`3:12: init.cgroups.services: init and services must be different cgroups`,
				`8:13: services.b.resources: want a table, not an integer`,
			},
		},
		{
			name: "resources/unknown key",
			src:  "[services.web]\nshell = \"x\"\n[services.web.resources]\nmemory_mx = \"1G\"\ncpus = 2\n",
			want: []string{
				`4:1: unknown key "memory_mx" in [services.web.resources]; did you mean "memory_max"?`,
				`5:1: unknown key "cpus" in [services.web.resources]`,
			},
		},
		{
			name: "resources/sizes",
			src: "[services.a]\nshell = \"a\"\n[services.a.resources]\nmemory_max = 0\nmemory_high = \"-1G\"\nmemory_swap_max = \"0.1B\"\n" +
				"[services.b]\nshell = \"b\"\n[services.b.resources]\nmemory_max = \"64XB\"\nmemory_high = \"1.5\"\nmemory_swap_max = \"9000000T\"\n" +
				"[services.c]\nshell = \"c\"\n[services.c.resources]\nmemory_max = 1.5\nmemory_high = \"lots\"\nmemory_swap_max = true\n" +
				"[services.d]\nshell = \"d\"\nresources = { memory_max = \"1gig\", memory_high = \"0M\", memory_swap_max = \"${S}\" }\n",
			env: map[string]string{"S": "1 hunter2"},
			want: []string{
				`4:14: services.a.resources.memory_max: want a size of at least 1 byte (or "max"), not 0`,
				`5:15: services.a.resources.memory_high: want a size of at least 1 byte (or "max"), not "-1G"`,
				`6:19: services.a.resources.memory_swap_max: bad size "0.1B": a fraction of a byte (use a larger unit, such as "1.5K")`,
				`10:14: services.b.resources.memory_max: bad size "64XB": unknown unit "XB" (want B, K, M, G or T, all 1024-based; KiB, MiB, GiB and TiB are the same)`,
				`11:15: services.b.resources.memory_high: bad size "1.5": a fraction of a byte (use a larger unit, such as "1.5K")`,
				`12:19: services.b.resources.memory_swap_max: bad size "9000000T": too large (at most 2^63-1 bytes, just under 8EiB)`,
				`16:14: services.c.resources.memory_max: want a size as an integer of bytes or a string such as "1.5G", not a float`,
				`17:15: services.c.resources.memory_high: bad size "lots" (want a number and a unit, such as "512M" or "1.5G", or "max")`,
				`18:19: services.c.resources.memory_swap_max: want a size (an integer of bytes, or a string such as "512M" or "max"), not a boolean`,
				`21:28: services.d.resources.memory_max: bad size "1gig": unknown unit "gig" (want B, K, M, G or T, all 1024-based; KiB, MiB, GiB and TiB are the same); did you mean "GiB"?`,
				`21:50: services.d.resources.memory_high: want a size of at least 1 byte (or "max"), not "0M"`,
				`21:74: services.d.resources.memory_swap_max: bad size "${S}" (expanded) (want a number and a unit, such as "512M" or "1.5G", or "max")`,
			},
		},
		{
			name: "resources/cpu",
			src: "[services.a]\nshell = \"a\"\nresources.cpu_max = 0\n[services.b]\nshell = \"b\"\nresources.cpu_max = -1\n" +
				"[services.c]\nshell = \"c\"\nresources.cpu_max = nan\n[services.d]\nshell = \"d\"\nresources.cpu_max = 0.005\n" +
				"[services.e]\nshell = \"e\"\nresources.cpu_max = \"0.5%\"\n[services.f]\nshell = \"f\"\nresources.cpu_max = 20000\n" +
				"[services.g]\nshell = \"g\"\nresources.cpu_max = \"two\"\n[services.h]\nshell = \"h\"\nresources.cpu_max = \"-1\"\n" +
				"[services.i]\nshell = \"i\"\nresources.cpu_max = [1]\n",
			want: []string{
				`3:21: services.a.resources.cpu_max: want a number of CPUs above 0 ("max" for no limit), not 0`,
				`6:21: services.b.resources.cpu_max: want a number of CPUs above 0 ("max" for no limit), not -1`,
				`9:21: services.c.resources.cpu_max: want a number of CPUs above 0 ("max" for no limit), not NaN`,
				`12:21: services.d.resources.cpu_max: 0.005 is below the kernel's least quota, 0.01 CPU (1ms of every 100ms)`,
				`15:21: services.e.resources.cpu_max: "0.5%" is below the kernel's least quota, 0.01 CPU (1ms of every 100ms)`,
				`18:21: services.f.resources.cpu_max: 20000 is more than 10000 CPUs`,
				`21:21: services.g.resources.cpu_max: bad CPU limit "two" (want a number of CPUs such as 1.5, a percentage of one CPU such as "150%", or "max")`,
				`24:21: services.h.resources.cpu_max: want a number of CPUs above 0 ("max" for no limit), not "-1"`,
				`27:21: services.i.resources.cpu_max: want a number of CPUs, a string such as "150%", or "max", not an array`,
			},
		},
		{
			name: "resources/weights, pids, oom",
			src: "[services.a]\nshell = \"a\"\n[services.a.resources]\ncpu_weight = 0\nio_weight = 10001\npids_max = 0\noom_score_adj = -1001\noom_group = \"yes\"\n" +
				"[services.b]\nshell = \"b\"\n[services.b.resources]\ncpu_weight = \"100\"\nio_weight = 1.5\npids_max = 5000000\noom_score_adj = 1001\n" +
				"[services.c]\nshell = \"c\"\nresources = { pids_max = \"unlimited\" }\n[services.d]\nshell = \"d\"\nresources = { pids_max = 1.0 }\n",
			want: []string{
				`4:14: services.a.resources.cpu_weight: weight 0 is outside 1..10000 (the kernel's default is 100)`,
				`5:13: services.a.resources.io_weight: weight 10001 is outside 1..10000 (the kernel's default is 100)`,
				`6:12: services.a.resources.pids_max: want at least 1 process (or "max"), not 0`,
				`7:17: services.a.resources.oom_score_adj: -1001 is outside -1000..1000`,
				`8:13: services.a.resources.oom_group: want true or false, not a string`,
				`12:14: services.b.resources.cpu_weight: want an integer, not a string`,
				`13:13: services.b.resources.io_weight: want an integer, not a float`,
				`14:12: services.b.resources.pids_max: 5000000 is more than the kernel's limit of 4194304 (use "max" for no limit)`,
				`15:17: services.b.resources.oom_score_adj: 1001 is outside -1000..1000`,
				`18:26: services.c.resources.pids_max: want an integer or "max", not "unlimited"`,
				`21:26: services.d.resources.pids_max: want an integer or "max", not a float`,
			},
		},
		{
			name: "init/control socket and http listener",
			src: "[init]\ncontrol_socket = \"run/ctl.sock\"\nhttp_listen = \"8080\"\n[services.a]\nshell = \"a\"\n" +
				"[init.x]\n",
			want: []string{
				`2:18: init.control_socket: want "auto", an absolute path, or "" for no control socket, not "run/ctl.sock"`,
				`3:15: init.http_listen: bad address "8080": want HOST:PORT or :PORT, such as ":9090" or "127.0.0.1:9090"`,
				`6:7: unknown key "x" in [init]`,
			},
		},
		{
			name: "init/http listener forms and a long socket path",
			src:  "init.http_listen = \":0\"\ninit.control_socket = \"/run/${A:-" + strings.Repeat("x", 103) + "}\"\n",
			want: []string{
				`1:20: init.http_listen: bad address ":0": port 0 is outside 1..65535`,
				`2:23: init.control_socket: "/run/${A:-` + strings.Repeat("x", 103) + `}" (expanded) is longer than 107 bytes, the most a unix socket path can be`,
			},
		},
		{
			name: "init/http listener, IPv6 without brackets",
			src:  "init.http_listen = \"::1:80\"\n",
			want: []string{`1:20: init.http_listen: bad address "::1:80": want HOST:PORT or :PORT, such as ":9090" or "127.0.0.1:9090"`},
		},
		{
			name: "init/http listener, named port",
			src:  "init.http_listen = \"[::1]:http\"\n",
			want: []string{`1:20: init.http_listen: bad address "[::1]:http": port "http" is not a number`},
		},
		{
			name: "init/http listener, bad hosts",
			src:  "[init]\nhttp_listen = \"a b:80\"\n[services.a]\nshell = \"a\"\nready.tcp = \"[localhost]:80\"\n",
			want: []string{
				`2:15: init.http_listen: bad address "a b:80": bad host "a b"`,
				`5:13: services.a.ready.tcp: bad address "[localhost]:80": bad host "localhost"`,
			},
		},
		{
			name: "init/http listener, a name",
			src:  "init.http_listen = \"probes.example.com:9000\"\n",
			want: []string{`1:20: init.http_listen: bad address "probes.example.com:9000": listen on an IP address (or localhost, or none for all), not the name "probes.example.com"`},
		},
		{
			name: "init/expanded addresses are not shown",
			src:  "[init]\nhttp_listen = \"${L}\"\ncontrol_socket = \"${L}\"\n",
			env:  map[string]string{"L": "hunter2:1x"},
			want: []string{
				`2:15: init.http_listen: bad address "${L}" (expanded): want HOST:PORT or :PORT, such as ":9090" or "127.0.0.1:9090"`,
				`3:18: init.control_socket: want "auto", an absolute path, or "" for no control socket, not "${L}" (expanded)`,
			},
		},
		{
			name: "ready/unknown key",
			src:  "[services.web]\nshell = \"x\"\n[services.web.ready]\nintervall = \"1s\"\ntcp = \"x:1\"\n[services.b]\nshell = \"b\"\nready.tpc = \"a:1\"\n",
			want: []string{
				`4:1: unknown key "intervall" in [services.web.ready]; did you mean "interval"?`,
				`8:7: unknown key "tpc" in [services.b.ready]; did you mean "tcp"?`,
			},
		},
		{
			name: "ready/notify without type notify",
			src:  "[services.web]\nshell = \"x\"\n[services.web.ready]\nnotify = true\n",
			want: []string{`4:10: services.web.ready.notify: READY=1 is read only from a service of type notify, and web is simple; set type = "notify"`},
		},
		{
			name: "ready/notify false with type notify",
			src:  "[services.web]\nshell = \"x\"\ntype = \"notify\"\n[services.web.ready]\nnotify = false\n",
			want: []string{`5:10: services.web.ready.notify: false contradicts type = "notify", which waits for READY=1`},
		},
		{
			name: "ready/notify with a bad type",
			src:  "[services.web]\nshell = \"x\"\ntype = \"notfy\"\nready.notify = true\n",
			want: []string{`3:8: services.web.type: unknown type "notfy" (want simple, oneshot or notify); did you mean "notify"?`},
		},
		{
			name: "ready/more than one method",
			src: "[services.web]\nshell = \"x\"\ntype = \"notify\"\nready.tcp = \"localhost:80\"\n" +
				"[services.b]\nshell = \"b\"\nready = { fd = 3, tcp = \"localhost:80\", file = \"/x\" }\n",
			want: []string{
				`4:7: services.web.ready: more than one readiness method: notify (type = "notify") and tcp; keep one`,
				`7:19: services.b.ready: more than one readiness method: fd, tcp and file; keep one`,
			},
		},
		{
			name: "ready/no method",
			src:  "[services.web]\nshell = \"x\"\n[services.web.ready]\ninterval = \"1s\"\n[services.b]\nshell = \"b\"\ntype = \"notify\"\nready.timeout = \"5s\"\n",
			want: []string{`3:15: services.web.ready: no readiness method: set one of fd, tcp, http, exec or file (or type = "notify" for READY=1)`},
		},
		{
			name: "ready/fd",
			src:  "[services.web]\nshell = \"x\"\n[services.web.ready]\nfd = 2\n[services.b]\nshell = \"b\"\nready.fd = 1024\n[services.c]\nshell = \"c\"\nready.fd = \"3\"\n",
			want: []string{
				`4:6: services.web.ready.fd: fd 2 is outside 3..1023 (0, 1 and 2 are stdin, stdout and stderr)`,
				`7:12: services.b.ready.fd: fd 1024 is outside 3..1023 (0, 1 and 2 are stdin, stdout and stderr)`,
				`10:12: services.c.ready.fd: want an integer, not a string`,
			},
		},
		{
			name: "ready/tcp",
			src: "[services.web]\nshell = \"x\"\n[services.web.ready]\ntcp = \":80\"\n[services.b]\nshell = \"b\"\nready.tcp = \"a:99999\"\n" +
				"[services.c]\nshell = \"c\"\nready.tcp = \"\"\n[services.d]\nshell = \"d\"\nready.tcp = \"db:\"\n",
			want: []string{
				`4:7: services.web.ready.tcp: bad address ":80": missing host (127.0.0.1 or localhost for this machine)`,
				`7:13: services.b.ready.tcp: bad address "a:99999": port 99999 is outside 1..65535`,
				`10:13: services.c.ready.tcp: empty address (want HOST:PORT, such as "127.0.0.1:5432")`,
				`13:13: services.d.ready.tcp: bad address "db:": missing port`,
			},
		},
		{
			name: "ready/http",
			src: "[services.web]\nshell = \"x\"\n[services.web.ready]\nhttp = \"https://x/\"\n[services.b]\nshell = \"b\"\nready.http = \"localhost:80\"\n" +
				"[services.c]\nshell = \"c\"\nready.http = \"http:///x\"\n[services.d]\nshell = \"d\"\nready.http = \"http://a:70000/\"\n" +
				"[services.e]\nshell = \"e\"\nready.http = \"http://a b/\"\n",
			want: []string{
				`4:8: services.web.ready.http: https is not supported: use tcp or exec for TLS endpoints`,
				`7:14: services.b.ready.http: want a URL such as "http://127.0.0.1:8080/healthz"`,
				`10:14: services.c.ready.http: bad URL (want a URL such as "http://127.0.0.1:8080/healthz")`,
				`13:14: services.d.ready.http: port 70000 is outside 1..65535`,
				`16:14: services.e.ready.http: bad URL (want a URL such as "http://127.0.0.1:8080/healthz")`,
			},
		},
		{
			name: "ready/exec",
			src:  "[services.web]\nshell = \"x\"\n[services.web.ready]\nexec = []\n[services.b]\nshell = \"b\"\nready.exec = [\"\"]\n[services.c]\nshell = \"c\"\nready.exec = \"true\"\n",
			want: []string{
				`4:8: services.web.ready.exec: empty command`,
				`7:15: services.b.ready.exec[0]: empty program name`,
				`10:14: services.c.ready.exec: want an array of strings (for a command line, use ["/bin/sh", "-c", "..."]), not a string`,
			},
		},
		{
			name: "ready/file and durations",
			src:  "[services.web]\nshell = \"x\"\n[services.web.ready]\nfile = \"\"\ninterval = \"0s\"\ntimeout = \"-1s\"\n",
			want: []string{
				`4:8: services.web.ready.file: empty path`,
				`5:12: services.web.ready.interval: must be positive`,
				`6:11: services.web.ready.timeout: must be positive`,
			},
		},
		{
			name: "ready and health/oneshot",
			src:  "[services.web]\nshell = \"x\"\ntype = \"oneshot\"\n[services.web.ready]\nfile = \"/x\"\n[services.b]\nshell = \"b\"\ntype = \"oneshot\"\nhealth.exec = [\"x\"]\n",
			want: []string{
				`4:15: services.web.ready: a oneshot is done when it exits: it takes no ready table (dependents wait for it with completed or succeeded)`,
				`9:1: services.b.health: a oneshot is done when it exits: it takes no health table`,
			},
		},
		{
			name: "health/unknown key",
			src:  "[services.web]\nshell = \"x\"\n[services.web.health]\nintervall = \"1s\"\nexec = [\"x\"]\n",
			want: []string{`4:1: unknown key "intervall" in [services.web.health]; did you mean "interval"?`},
		},
		{
			name: "health/no check",
			src:  "[services.web]\nshell = \"x\"\n[services.web.health]\ninterval = \"1s\"\n",
			want: []string{`3:15: services.web.health: no health check: set exec, http or tcp, or watchdog (with type = "notify")`},
		},
		{
			name: "health/watchdog without type notify",
			src:  "[services.web]\nshell = \"x\"\n[services.web.health]\nwatchdog = \"1s\"\n",
			want: []string{`4:12: services.web.health.watchdog: WATCHDOG=1 comes by sd_notify, and web is simple; set type = "notify"`},
		},
		{
			name: "health/more than one check",
			src:  "[services.web]\nshell = \"x\"\nhealth = { exec = [\"x\"], tcp = \"a:1\", http = \"https://a/\" }\n",
			want: []string{
				`3:26: services.web.health: more than one health check: exec and tcp; keep one`,
				`3:46: services.web.health.http: https is not supported: use tcp or exec for TLS endpoints`,
			},
		},
		{
			name: "health/ranges",
			src: "[services.web]\nshell = \"x\"\n[services.web.health]\ntcp = \"a:1\"\nstart_period = \"-1s\"\ninterval = \"0s\"\ntimeout = \"0s\"\n" +
				"failure_threshold = 0\nsuccess_threshold = -1\naction = \"restrat\"\nwatchdog = \"0s\"\n",
			want: []string{
				`5:16: services.web.health.start_period: must not be negative`,
				`6:12: services.web.health.interval: must be positive`,
				`7:11: services.web.health.timeout: must be positive`,
				`8:21: services.web.health.failure_threshold: must be at least 1, not 0`,
				`9:21: services.web.health.success_threshold: must be at least 1, not -1`,
				`10:10: services.web.health.action: unknown health action "restrat" (want restart, stop, shutdown or none); did you mean "restart"?`,
				`11:12: services.web.health.watchdog: must be positive (leave watchdog out for none)`,
			},
		},
		{
			name: "health/wrong types",
			src:  "[services.web]\nshell = \"x\"\nhealth = { tcp = 80, interval = 5, failure_threshold = \"3\" }\n[services.b]\nshell = \"b\"\nhealth = true\n[services.c]\nshell = \"c\"\nready = \"tcp\"\n",
			want: []string{
				`3:18: services.web.health.tcp: want a string, not an integer`,
				`3:33: services.web.health.interval: want a duration string with a unit, such as "5s", not a number`,
				`3:56: services.web.health.failure_threshold: want an integer, not a string`,
				`6:10: services.b.health: want a table, not a boolean`,
				`9:9: services.c.ready: want a table, not a string`,
			},
		},
		{
			name: "bad service name",
			src:  "[services.\"web server\"]\nshell = \"a\"\n[services.\"..\"]\nshell = \"b\"\n[services.ok-1_x]\nshell = \"c\"\n",
			want: []string{
				`1:11: services."web server": bad service name: use letters, digits, '_', '.' and '-' (and not . or ..)`,
				`3:11: services."..": bad service name: use letters, digits, '_', '.' and '-' (and not . or ..)`,
			},
		},
		{
			name: "env names",
			src:  "[services.a]\nshell = \"a\"\nenv = { \"1X\" = \"a\", OK = 1.5 }\ninherit_env = [\"PATH\", \"A-B\"]\n",
			want: []string{
				`3:9: services.a.env: "1X" is not a valid variable name (letters, digits and _, not starting with a digit)`,
				`3:26: services.a.env.OK: want a string, not a float`,
				`4:24: services.a.inherit_env[1]: "A-B" is not a valid variable name (letters, digits and _, not starting with a digit)`,
			},
		},
		{
			name: "all at once, in file order",
			src: "[services.web]\ncomand = [\"x\"]\ntype = \"daemon\"\ndepends_on = { dbb = \"ready\" }\n[services.web.stop]\nsignal = \"NOPE\"\n" +
				"[init]\ngrace = \"x\"\n",
			want: []string{
				`2:1: unknown key "comand" in [services.web]; did you mean "command"?`,
				`3:8: services.web.type: unknown type "daemon" (want simple, oneshot or notify)`,
				`4:16: services.web.depends_on: unknown service "dbb"`,
				`6:10: services.web.stop.signal: unknown signal "NOPE" (want a name such as SIGTERM or TERM, a number from 1 to 64, or RTMIN+N)`,
				`8:9: init.grace: bad duration "x" (want a number with a unit: ns, us, ms, s, m, h; e.g. "1m30s")`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.toml", []byte(tt.src), envOf(tt.env))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if c != nil {
				t.Errorf("Parse returned a config with an error")
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, not *Errors: %v", err, err)
			}
			var got []string
			for _, e := range errs.List {
				if e.File != "t.toml" {
					t.Errorf("File = %q", e.File)
				}
				got = append(got, strings.TrimPrefix(e.Error(), "t.toml:"))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("an expanded value leaked into the message: %v", err)
			}
		})
	}
}

// TestResources decodes each resources key alone, in the forms it takes.
func TestResources(t *testing.T) {
	def := NewService("x").Resources
	with := func(f func(r *Resources)) Resources {
		r := def
		f(&r)
		return r
	}
	tests := []struct {
		src  string // the inside of resources = { ... }
		want Resources
	}{
		{``, def},
		{`memory_max = 67108864`, with(func(r *Resources) { r.MemoryMax = 64 << 20 })},
		{`memory_max = "64MiB"`, with(func(r *Resources) { r.MemoryMax = 64 << 20 })},
		{`memory_max = "64M"`, with(func(r *Resources) { r.MemoryMax = 64 << 20 })},
		{`memory_max = "512m"`, with(func(r *Resources) { r.MemoryMax = 512 << 20 })},
		{`memory_max = "512mb"`, with(func(r *Resources) { r.MemoryMax = 512 << 20 })},
		{`memory_max = "1.5G"`, with(func(r *Resources) { r.MemoryMax = 1536 << 20 })},
		{`memory_max = " 2 GiB "`, with(func(r *Resources) { r.MemoryMax = 2 << 30 })},
		{`memory_max = "1T"`, with(func(r *Resources) { r.MemoryMax = 1 << 40 })},
		{`memory_max = "1000"`, with(func(r *Resources) { r.MemoryMax = 1000 })},
		{`memory_max = "max"`, with(func(r *Resources) { r.MemoryMax = Unlimited })},
		{`memory_high = "100k"`, with(func(r *Resources) { r.MemoryHigh = 100 << 10 })},
		{`memory_swap_max = "${SWAP:-1G}"`, with(func(r *Resources) { r.MemorySwapMax = 1 << 30 })},
		{`memory_swap_max = "max"`, with(func(r *Resources) { r.MemorySwapMax = Unlimited })},
		{`cpu_max = 2`, with(func(r *Resources) { r.CPUMax = 2 })},
		{`cpu_max = 0.25`, with(func(r *Resources) { r.CPUMax = 0.25 })},
		{`cpu_max = 0.01`, with(func(r *Resources) { r.CPUMax = 0.01 })},
		{`cpu_max = 10000`, with(func(r *Resources) { r.CPUMax = 10000 })},
		{`cpu_max = "150%"`, with(func(r *Resources) { r.CPUMax = 1.5 })},
		{`cpu_max = "150 %"`, with(func(r *Resources) { r.CPUMax = 1.5 })},
		{`cpu_max = "1.5"`, with(func(r *Resources) { r.CPUMax = 1.5 })},
		{`cpu_max = "max"`, with(func(r *Resources) { r.CPUMax = Unlimited })},
		{`cpu_weight = 1`, with(func(r *Resources) { r.CPUWeight = 1 })},
		{`cpu_weight = 10000`, with(func(r *Resources) { r.CPUWeight = 10000 })},
		{`io_weight = 500`, with(func(r *Resources) { r.IOWeight = 500 })},
		{`pids_max = 1`, with(func(r *Resources) { r.PidsMax = 1 })},
		{`pids_max = 4194304`, with(func(r *Resources) { r.PidsMax = 4194304 })},
		{`pids_max = "max"`, with(func(r *Resources) { r.PidsMax = Unlimited })},
		{`oom_group = false`, with(func(r *Resources) { r.OOMGroup = false })},
		{`oom_group = true`, def},
		{`oom_score_adj = -1000`, with(func(r *Resources) { r.OOMScoreAdj, r.OOMScoreAdjSet = -1000, true })},
		{`oom_score_adj = 0`, with(func(r *Resources) { r.OOMScoreAdjSet = true })},
		{`oom_score_adj = 1000`, with(func(r *Resources) { r.OOMScoreAdj, r.OOMScoreAdjSet = 1000, true })},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			c := mustParse(t, "[services.x]\nshell = \"x\"\nresources = { "+tt.src+" }\n", nil)
			if got := c.Services["x"].Resources; got != tt.want {
				t.Errorf("Resources = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCgroups decodes [init.cgroups] in its forms.
func TestCgroups(t *testing.T) {
	tests := []struct {
		src  string
		want Cgroups
	}{
		{"", Cgroups{Mode: CgroupAuto, Init: "init", Services: "services"}},
		{"[init.cgroups]\nmode = \"off\"\n", Cgroups{Mode: CgroupOff, Init: "init", Services: "services"}},
		{"[init]\ncgroups.mode = \"required\"\n", Cgroups{Mode: CgroupRequired, Init: "init", Services: "services"}},
		{"[init]\ncgroups = { init = \"self\", services = \"svc_1-a\" }\n", Cgroups{Mode: CgroupAuto, Init: "self", Services: "svc_1-a"}},
		{"[init.cgroups]\nmode = \"auto\"\ninit = \"services2\"\n", Cgroups{Mode: CgroupAuto, Init: "services2", Services: "services"}},
	}
	for _, tt := range tests {
		c := mustParse(t, tt.src, nil)
		if c.Init.Cgroups != tt.want {
			t.Errorf("%q: Cgroups = %+v, want %+v", tt.src, c.Init.Cgroups, tt.want)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "f.toml", Line: 3, Col: 7, Msg: "m"}, "f.toml:3:7: m"},
		{Error{File: "f.toml", Line: 3, Msg: "m"}, "f.toml:3: m"},
		{Error{File: "f.toml", Msg: "m"}, "f.toml: m"},
		{Error{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.e, got, tt.want)
		}
	}
	errs := &Errors{List: []Error{{File: "a", Line: 1, Col: 2, Msg: "x"}, {File: "a", Line: 3, Col: 4, Msg: "y", Err: fs.ErrNotExist}}}
	if got := errs.Error(); got != "a:1:2: x\na:3:4: y" {
		t.Errorf("Errors.Error() = %q", got)
	}
	if !errors.Is(errs, fs.ErrNotExist) {
		t.Errorf("errors.Is does not see through *Errors")
	}
}

func TestSuggest(t *testing.T) {
	keys := append(append([]string(nil), serviceKeys...), serviceLater...)
	tests := []struct{ word, want string }{
		{"comand", "command"},
		{"Command", "command"},
		{"workdir", ""},
		{"working-dir", "working_dir"},
		{"dependson", "depends_on"},
		{"enviroment", ""},
		{"evn", "env"},
		{"usr", "user"},
		{"xyz", ""},
		{"", ""},
		{"forward_signal", "forward_signals"},
	}
	for _, tt := range tests {
		if got := suggest(tt.word, keys); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "abc", 0}, {"abc", "acb", 1}, {"polcy", "policy", 1}, {"kitten", "sitting", 3}, {"", "abc", 3}} {
		if got := editDistance(tt.a, tt.b); got != tt.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "initbox.toml")
	src := "[services.a]\ncommand = [\"a\"]\nenv_file = [\"a.env\"]\nworking_dir = \"..\"\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Services["a"]
	if a.EnvFile[0].Path != filepath.Join(dir, "a.env") || a.WorkingDir != filepath.Dir(dir) {
		t.Errorf("relative paths: env_file %q working_dir %q", a.EnvFile[0].Path, a.WorkingDir)
	}
	if c.File != path {
		t.Errorf("File = %q", c.File)
	}

	_, err = Load(filepath.Join(dir, "missing.toml"), noEnv)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	if err := os.WriteFile(path, []byte("[services.a]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path, noEnv)
	if err == nil || !strings.HasPrefix(err.Error(), path+":1:11: ") {
		t.Errorf("bad file: %v", err)
	}
}

func TestEnvDefaultsToProcessEnvironment(t *testing.T) {
	t.Setenv("INITBOX_CONFIG_TEST", "from-env")
	c, err := Parse("t.toml", []byte("[services.a]\ncommand = [\"${INITBOX_CONFIG_TEST}\"]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Services["a"].Command[0]; got != "from-env" {
		t.Errorf("nil env: got %q", got)
	}
}

func TestAddAndValidate(t *testing.T) {
	c := mustParse(t, "[services.web]\nshell = \"w\"\nmain = true\n", nil)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate of a parsed config: %v", err)
	}
	if err := c.Add(NewService("web")); err == nil {
		t.Errorf("Add accepted a duplicate name")
	}
	m := NewService("main")
	m.Command = []string{"prog", "arg"}
	m.Main = true
	m.DependsOn = map[string]Condition{"nope": ConditionReady}
	if err := c.Add(m); err != nil {
		t.Fatal(err)
	}
	err := c.Validate()
	want := "services.main.depends_on: unknown service \"nope\"\n" +
		"services.main.main: more than one main service (\"web\" is main too)"
	if err == nil || err.Error() != want {
		t.Errorf("Validate after Add:\n%v\nwant:\n%s", err, want)
	}

	// A config built in code, without a file.
	c = New()
	s := NewService("x")
	if err := c.Add(s); err != nil {
		t.Fatal(err)
	}
	s.Restart.LimitBurst = 0
	s.Stop.Signal = 0
	s.Type = "bogus"
	s.Stdout = Output{Kind: OutputFile}
	s.Stderr = Output{Kind: "tty"}
	s.Env = map[string]string{"A=B": "x"}
	s.Resources = Resources{MemoryMax: -2, MemorySwapMax: Unlimited, CPUMax: 0.001, CPUWeight: 10001, PidsMax: -5, OOMScoreAdj: 2000, OOMScoreAdjSet: true}
	c.Init.Cgroups = Cgroups{Mode: "on", Init: "", Services: "a.b"}
	err = c.Validate()
	want = `init.cgroups.mode: unknown cgroup mode "on" (want auto, required or off)
init.cgroups.init: bad cgroup name "": use letters, digits, '_' and '-' (at most 255, not starting with "cgroup")
init.cgroups.services: bad cgroup name "a.b": use letters, digits, '_' and '-' (at most 255, not starting with "cgroup")
services.x: set command (an argv array) or shell (a command line for /bin/sh -c)
services.x.type: unknown type "bogus" (want simple, oneshot or notify)
services.x.stdout: file: wants a path
services.x.stderr: unknown output "tty"
services.x.env."A=B": not a valid variable name (letters, digits and _, not starting with a digit)
services.x.restart.limit_burst: must be at least 1, not 0
services.x.stop.signal: signal 0 is outside 1..64
services.x.resources.memory_max: want a size of at least 1 byte (or "max"), not -2
services.x.resources.cpu_max: 0.001 is below the kernel's least quota, 0.01 CPU (1ms of every 100ms)
services.x.resources.cpu_weight: weight 10001 is outside 1..10000 (the kernel's default is 100)
services.x.resources.pids_max: want at least 1 process (or "max"), not -5
services.x.resources.oom_score_adj: 2000 is outside -1000..1000`
	if err == nil || err.Error() != want {
		t.Errorf("Validate of a config built in code:\n%v\nwant:\n%s", err, want)
	}
}

func TestStartOrder(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want [][]string
	}{
		{"none", "", nil},
		{"independent", "[services.b]\nshell=\"b\"\n[services.a]\nshell=\"a\"\n", [][]string{{"b", "a"}}},
		{
			"diamond",
			`[services.web]
shell = "w"
depends_on = { api = "ready", static = "started" }
[services.api]
shell = "a"
depends_on = { db = "healthy" }
[services.static]
shell = "s"
depends_on = { db = "started" }
[services.db]
shell = "d"
[services.cron]
shell = "c"
`,
			[][]string{{"db", "cron"}, {"api", "static"}, {"web"}},
		},
		{
			"disabled services are left out",
			"[services.a]\nshell=\"a\"\nenabled=false\n[services.b]\nshell=\"b\"\n[services.c]\nshell=\"c\"\ndepends_on={b=\"started\"}\n",
			[][]string{{"b"}, {"c"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.src, nil)
			if got := c.StartOrder(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("StartOrder = %v, want %v", got, tt.want)
			}
		})
	}

	// A cycle built in code: StartOrder leaves it out, Validate reports it.
	c := New()
	for _, n := range []string{"a", "b", "c"} {
		s := NewService(n)
		s.Shell = n
		c.Add(s)
	}
	c.Services["a"].DependsOn = map[string]Condition{"b": ConditionStarted}
	c.Services["b"].DependsOn = map[string]Condition{"a": ConditionStarted}
	if got := c.StartOrder(); !reflect.DeepEqual(got, [][]string{{"c"}}) {
		t.Errorf("StartOrder with a cycle = %v", got)
	}
	if err := c.Validate(); err == nil || err.Error() != "services.a.depends_on.b: dependency cycle: a -> b -> a" {
		t.Errorf("Validate: %v", err)
	}
}

func TestRestartSuccess(t *testing.T) {
	r := NewService("x").Restart
	r.SuccessExitCodes = []int{0, 143}
	for code, want := range map[int]bool{0: true, 143: true, 1: false} {
		if r.Success(code) != want {
			t.Errorf("Success(%d) = %v", code, !want)
		}
	}
}

func TestArgv(t *testing.T) {
	s := NewService("x")
	s.Shell = "echo $HOME"
	if got := s.Argv(); !reflect.DeepEqual(got, []string{"/bin/sh", "-c", "echo $HOME"}) {
		t.Errorf("shell Argv = %q", got)
	}
	s.Command = []string{"ls", "-l"}
	if got := s.Argv(); !reflect.DeepEqual(got, []string{"ls", "-l"}) {
		t.Errorf("command Argv = %q", got)
	}
}

func TestOutputString(t *testing.T) {
	for o, want := range map[Output]string{
		{Kind: OutputInherit}:                  "inherit",
		{Kind: OutputAppend, Path: "/var/log"}: "append:/var/log",
		{Kind: OutputStdout}:                   "stdout",
	} {
		if got := o.String(); got != want {
			t.Errorf("%+v.String() = %q", o, got)
		}
	}
}

// TestLoadRefusesWorldWritable: a config file anybody may write is refused
// with the fix; group-writable is the admin's choice and loads.
func TestLoadRefusesWorldWritable(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o644, true}, {0o664, true}, {0o666, false}, {0o602, false}} {
		f := filepath.Join(t.TempDir(), "initbox.toml")
		if err := os.WriteFile(f, []byte("[services.a]\nshell = \"true\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(f, tc.mode)
		_, err := Load(f, noEnv)
		if tc.ok != (err == nil) {
			t.Errorf("mode %04o: %v", tc.mode, err)
		}
		if !tc.ok && (!errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "chmod o-w "+f)) {
			t.Errorf("mode %04o: %v, want ErrInsecure and the fix", tc.mode, err)
		}
	}
}

// TestCapabilities: names with or without CAP_, any case, come out as
// CAP_X; [] keeps none (not nil); unknown names are errors at their
// position, with a suggestion.
func TestCapabilities(t *testing.T) {
	c, err := Parse("initbox.toml", []byte(`
[services.a]
shell = "true"
no_new_privs = true
capabilities = ["CAP_NET_BIND_SERVICE", "net_raw", "Sys_Nice"]
[services.b]
shell = "true"
capabilities = []
[services.c]
shell = "true"
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	a, b, cc := c.Services["a"], c.Services["b"], c.Services["c"]
	if !a.NoNewPrivs || !slices.Equal(a.Capabilities, []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_NICE"}) {
		t.Errorf("a: no_new_privs %v, capabilities %q", a.NoNewPrivs, a.Capabilities)
	}
	if b.Capabilities == nil || len(b.Capabilities) != 0 || cc.Capabilities != nil || cc.NoNewPrivs {
		t.Errorf("b: %#v (want empty, not nil); c: %#v (want nil)", b.Capabilities, cc.Capabilities)
	}
	_, err = Parse("initbox.toml", []byte("[services.a]\nshell = \"true\"\ncapabilities = [\"CAP_NET_BIND_SERVIC\", 3]\n"), noEnv)
	want := []string{
		`initbox.toml:3:17: services.a.capabilities[0]: unknown capability "CAP_NET_BIND_SERVIC"; did you mean "CAP_NET_BIND_SERVICE"?`,
		`initbox.toml:3:40: services.a.capabilities[1]: want a string, not an integer`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("errors:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	for i, n := range capabilities {
		if got, ok := Capability(strings.ToLower(strings.TrimPrefix(n, "CAP_"))); !ok || got != i {
			t.Errorf("Capability(%q) = %d, %v; want %d", n, got, ok, i)
		}
	}
}

// TestMainHealthStop: the main service's health action cannot be "stop"
// (it is never stopped alone: its exit is initbox's).
func TestMainHealthStop(t *testing.T) {
	_, err := Parse("initbox.toml", []byte("[services.app]\nmain = true\nshell = \"true\"\nhealth = { exec = [\"true\"], action = \"stop\" }\n"), noEnv)
	want := `initbox.toml:4:38: services.app.health.action: the main service cannot be stopped alone; use "shutdown" (everything stops) or "restart"`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

// TestStopModes: every stop mode parses, "mixed" too (issue #15); a bad one
// is an error at its file:line:col.
func TestStopModes(t *testing.T) {
	for _, c := range []struct{ mode, err string }{
		{"cgroup", ""}, {"group", ""}, {"process", ""}, {"mixed", ""},
		{"mixd", `initbox.toml:3:17: services.a.stop.mode: unknown stop mode "mixd" (want cgroup, group, process or mixed); did you mean "mixed"?`},
	} {
		t.Run(c.mode, func(t *testing.T) {
			cfg, err := Parse("initbox.toml", []byte("[services.a]\nshell = \"a\"\nstop = { mode = \""+c.mode+"\" }\n"), noEnv)
			switch {
			case c.err == "" && err != nil:
				t.Fatal(err)
			case c.err == "" && cfg.Services["a"].Stop.Mode != StopMode(c.mode):
				t.Fatalf("mode %q, want %q", cfg.Services["a"].Stop.Mode, c.mode)
			case c.err != "" && (err == nil || err.Error() != c.err):
				t.Fatalf("got:\n%v\nwant:\n%s", err, c.err)
			}
		})
	}
}
