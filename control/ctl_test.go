package control

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runCtl(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Ctl(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCtl(t *testing.T) {
	path, api, _ := startServer(t)
	sock := "--socket=" + path
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring; "=" prefix: the whole output; "^": its start
		stderr string // substring
		call   string
	}{
		{"status", []string{sock, "status"}, 0, "NAME    STATE    PID  UPTIME", "", ""},
		{"status row", []string{sock, "status"}, 0, "web     running  42   ", "", ""},
		{"status unknowns", []string{sock, "status"}, 0, "worker  backoff  -    -       0         -      -        -        signal: killed  killed by the OOM killer at memory_max=64MiB\n", "", ""},
		{"status one", []string{"--socket", path, "status", "web"}, 0, "12.3MiB  exit status 3  -\n", "", ""},
		{"status --json", []string{sock, "--json", "status"}, 0, `^{"services":[{"name":"web",`, "", ""},
		{"status one --json after", []string{sock, "status", "worker", "--json"}, 0, `^{"name":"worker","state":"backoff"`, "", ""},
		{"status unknown", []string{sock, "status", "nope"}, 1, "=", `initbox ctl: unknown service "nope"`, ""},
		{"start", []string{sock, "start", "web"}, 0, "=", "", "start web"},
		{"stop", []string{sock, "stop", "worker"}, 0, "=", "", "stop worker"},
		{"restart --json", []string{sock, "--json", "restart", "web"}, 0, "={\"ok\":true}\n", "", "restart web"},
		{"start unknown", []string{sock, "start", "nope"}, 1, "=", `unknown service "nope"`, "start nope"},
		{"stop fails", []string{sock, "stop", "broken"}, 1, "=", "the supervisor is shutting down", "stop broken"},
		{"signal", []string{sock, "signal", "HUP", "web"}, 0, "=", "", "signal 1 web"},
		{"signal dash", []string{sock, "signal", "-KILL", "web"}, 0, "=", "", "signal 9 web"},
		{"signal rt", []string{sock, "signal", "SIGRTMIN+2", "web"}, 0, "=", "", "signal 36 web"},
		{"signal unknown service", []string{sock, "signal", "TERM", "nope"}, 1, "=", "unknown service", "signal 15 nope"},
		{"reload", []string{sock, "reload"}, 0, "=", "", "reload "},
		{"logs", []string{sock, "logs", "web"}, 0, "=one\ntwo \"quoted\"\nthree\tTab \x01 \uFFFD\n", "", "logs 100 web"},
		{"logs -n", []string{sock, "logs", "-n", "1", "web"}, 0, "=three\tTab \x01 \uFFFD\n", "", "logs 1 web"},
		{"logs -n2 after", []string{sock, "logs", "web", "-n2"}, 0, "=two \"quoted\"\nthree\tTab \x01 \uFFFD\n", "", "logs 2 web"},
		{"logs --lines=", []string{sock, "logs", "--lines=3", "web"}, 0, "^one\n", "", "logs 3 web"},
		{"logs unknown", []string{sock, "logs", "nope"}, 1, "=", "unknown service", ""},
		{"help", []string{"--help"}, 0, "Usage: initbox ctl", "", ""},

		{"no command", []string{sock}, 2, "=", "no command", ""},
		{"unknown command", []string{sock, "explode"}, 2, "=", `unknown command "explode"`, ""},
		{"start without name", []string{sock, "start"}, 2, "=", "start takes one or more service names", ""},
		{"stop two names", []string{sock, "stop", "web", "worker"}, 0, "=", "", "stop worker"},
		{"stop two names, one unknown", []string{sock, "stop", "nope", "worker"}, 1, "=", `unknown service "nope"`, "stop nope"},
		{"stop --wait", []string{sock, "stop", "--wait", "web", "worker"}, 0, "=", "", "wait stopped 0s worker"},
		{"restart --wait --timeout", []string{sock, "restart", "--wait", "--timeout", "5s", "web"}, 0, "=", "", "wait up 5s web"},
		{"start --wait --timeout= --json", []string{sock, "--json", "start", "web", "--timeout=1m", "--wait"}, 0, "={\"ok\":true}\n", "", "wait up 1m0s web"},
		{"start --wait fails", []string{sock, "start", "--wait", "worker"}, 1, "=", "worker failed: killed by the OOM killer", "wait up 0s worker"},
		{"--timeout without --wait", []string{sock, "stop", "--timeout", "5s", "web"}, 2, "=", "--timeout goes with --wait", ""},
		{"bad --timeout", []string{sock, "stop", "--wait", "--timeout", "soon", "web"}, 2, "=", "--timeout: want a duration", ""},
		{"--timeout missing", []string{sock, "stop", "--wait", "web", "--timeout"}, 2, "=", "--timeout needs a duration", ""},
		{"stop unknown flag", []string{sock, "stop", "-f", "web"}, 2, "=", "stop: unknown flag -f", ""},
		{"status two names", []string{sock, "status", "a", "b"}, 2, "=", "at most one", ""},
		{"signal without name", []string{sock, "signal", "HUP"}, 2, "=", "signal takes a signal and a service name", ""},
		{"signal bad", []string{sock, "signal", "NOPE", "web"}, 2, "=", "unknown name", ""},
		{"reload with args", []string{sock, "reload", "web"}, 2, "=", "reload takes no arguments", ""},
		{"logs bad -n", []string{sock, "logs", "-n", "x", "web"}, 2, "=", "-n: want a number", ""},
		{"logs -n too many", []string{sock, "logs", "-n", "10001", "web"}, 2, "=", "-n: want a number", ""},
		{"logs -n missing", []string{sock, "logs", "web", "-n"}, 2, "=", "-n needs a number", ""},
		{"logs unknown flag", []string{sock, "logs", "-f", "web"}, 2, "=", "unknown flag -f", ""},
		{"unknown flag", []string{sock, "status", "--all"}, 2, "=", "unknown flag --all", ""},
		{"socket without path", []string{"status", "--socket"}, 2, "=", "--socket needs a path", ""},
		{"empty socket", []string{"--socket=", "status"}, 2, "=", "--socket needs a path", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCtl(tc.args...)
			okOut := strings.Contains(out, tc.stdout)
			if exact, ok := strings.CutPrefix(tc.stdout, "="); ok {
				okOut = out == exact
			} else if prefix, ok := strings.CutPrefix(tc.stdout, "^"); ok {
				okOut = strings.HasPrefix(out, prefix)
			}
			if code != tc.code || !okOut || !strings.Contains(errOut, tc.stderr) || tc.stderr == "" && errOut != "" {
				t.Errorf("Ctl %q = %d\nstdout %q\nstderr %q\nwant %d, stdout %q, stderr ...%q...", tc.args, code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
			if code == 2 && !strings.Contains(errOut, "Usage: initbox ctl") {
				t.Errorf("usage error without the usage")
			}
			if tc.call != "" && api.lastCall() != tc.call {
				t.Errorf("last API call %q, want %q", api.lastCall(), tc.call)
			}
		})
	}
}

func TestCtlJSONIsValid(t *testing.T) {
	path, _, _ := startServer(t)
	_, out, _ := runCtl("--socket", path, "--json", "status")
	if !json.Valid([]byte(out)) {
		t.Errorf("--json output is not JSON: %q", out)
	}
}

func TestCtlCannotConnect(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	code, out, errOut := runCtl("--socket", missing, "status")
	if code != 3 || out != "" || !strings.Contains(errOut, missing) || !strings.Contains(errOut, "control_socket") ||
		!strings.Contains(errOut, "--socket") {
		t.Errorf("got %d %q %q", code, out, errOut)
	}

	// The environment names the socket when --socket does not.
	t.Setenv(SocketEnv, missing)
	if code, _, errOut := runCtl("reload"); code != 3 || !strings.Contains(errOut, missing) {
		t.Errorf("with $%s: got %d %q", SocketEnv, code, errOut)
	}
	t.Setenv(SocketEnv, "")
	// A request that changes nothing, in case a real initbox of this
	// machine listens at the default (a demo, another suite).
	if _, _, errOut := runCtl("status", "initbox-test-no-such-service"); !strings.Contains(errOut, DefaultSocket) && !strings.Contains(errOut, "unknown") {
		// Either nothing listens at the default (the usual case), or a real
		// initbox does and answered; both are fine, a third socket is not.
		t.Errorf("without $%s: %q does not name %s", SocketEnv, errOut, DefaultSocket)
	}
}

func TestStatusTable(t *testing.T) {
	now := since.Add(3*time.Minute + 12*time.Second)
	got := statusTable(newFake().services, now)
	want := `NAME    STATE    PID  UPTIME  RESTARTS  READY  HEALTH   MEMORY   LAST-EXIT       REASON
web     running  42   3m12s   2         ready  healthy  12.3MiB  exit status 3   -
worker  backoff  -    -       0         -      -        -        signal: killed  killed by the OOM killer at memory_max=64MiB
broken  stopped  -    -       0         -      -        -        -               -
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {0, "0s"}, {59 * time.Second, "59s"}, {192 * time.Second, "3m12s"},
		{2*time.Hour + 5*time.Minute + 9*time.Second, "2h5m"}, {76 * time.Hour, "3d4h"},
	} {
		if got := formatAge(tc.d); got != tc.want {
			t.Errorf("formatAge(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0B"}, {1023, "1023B"}, {1024, "1.0KiB"}, {12897485, "12.3MiB"}, {3 << 30, "3.0GiB"}, {5 << 40, "5.0TiB"}, {5 << 50, "5120.0TiB"},
	} {
		if got := formatBytes(tc.n); got != tc.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestParseResponse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code int
		body string
		ok   bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 200, "hi", true},
		{"HTTP/1.1 404 Not Found\r\n\r\nbody", 404, "body", true},
		{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi-and-more", 200, "hi", true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi", 0, "", false},
		{"HTTP/1.1 200 OK\r\n", 0, "", false},
		{"SSH-2.0\r\n\r\n", 0, "", false},
		{"HTTP/1.1 abc OK\r\n\r\n", 0, "", false},
	} {
		code, body, err := parseResponse([]byte(tc.in))
		if (err == nil) != tc.ok || code != tc.code || string(body) != tc.body {
			t.Errorf("parseResponse(%q) = %d %q %v", tc.in, code, body, err)
		}
	}
}
