//go:build linux

package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Black-box tests of readiness, health checks, sd_notify, the control
// socket and the probes (issue #7), with initbox as PID 1.

// opConfig is svConfig with "@BIN@" replaced by the full binary, which
// services call as `initbox notify`.
func opConfig(t *testing.T, text string) (dir, file string) {
	t.Helper()
	return svConfig(t, strings.ReplaceAll(text, "@BIN@", initBin))
}

// TestNotifyGatesDependent: a notify service's dependent waiting for
// "ready" starts only after READY=1, not when the process starts; the gap
// from READY=1 to the dependent's start is logged for the record.
func TestNotifyGatesDependent(t *testing.T) {
	requirePID1(t)
	dir, file := opConfig(t, `
[services.db]
type = "notify"
shell = "sleep 0.5; date +%s%N >@D@/ready_at; @BIN@ notify READY=1 STATUS=accepting; exec sleep 1000"

[services.web]
depends_on = { db = "ready" }
shell = "date +%s%N >@D@/web_at; exec sleep 1000"
`)
	p := svStart(t, file, nil)
	webAt := filepath.Join(dir, "web_at")
	p.waitFile(webAt, 10*time.Second)
	r := p.stopBySIGTERM(5 * time.Second)
	ready, web := readStamp(t, filepath.Join(dir, "ready_at")), readStamp(t, webAt)
	if web.Before(ready) {
		t.Fatalf("web started %v before db said READY=1\n%v", ready.Sub(web), r)
	}
	t.Logf("READY=1 to the dependent's start: %v", web.Sub(ready))
	if !strings.Contains(r.stderr, `"service": "db", "by": "notify"`) {
		t.Errorf("no 'ready' line for db\n%v", r)
	}
}

// TestNotifyTimeoutFailsStart: a notify service that never says READY=1
// fails its start after ready.timeout, and what waits for it fails too.
func TestNotifyTimeoutFailsStart(t *testing.T) {
	requirePID1(t)
	dir, file := opConfig(t, `
[services.db]
type = "notify"
restart = { policy = "never" }
shell = "exec sleep 1000"
[services.db.ready]
timeout = "500ms"

[services.web]
depends_on = { db = "ready" }
shell = "touch @D@/web"
`)
	r := svRun(t, file, nil)
	if !strings.Contains(r.stderr, "not ready within 500ms") {
		t.Errorf("no message about the ready timeout\n%v", r)
	}
	if exists(filepath.Join(dir, "web")) {
		t.Errorf("web started although db never got ready\n%v", r)
	}
	if r.code != 1 {
		t.Errorf("exit status %d, want 1 (services failed)\n%v", r.code, r)
	}
}

// TestNotifyForeignRefused: READY=1 sent to a service's socket by a
// process that is not the service's is refused.
func TestNotifyForeignRefused(t *testing.T) {
	requirePID1(t)
	_, file := opConfig(t, `
[services.db]
type = "notify"
restart = { policy = "never" }
shell = "echo $NOTIFY_SOCKET >@D@/sock; exec sleep 1000"
[services.db.ready]
timeout = "1500ms"

[services.intruder]
type = "oneshot"
shell = "while [ ! -s @D@/sock ]; do sleep 0.05; done; NOTIFY_SOCKET=$(cat @D@/sock) @BIN@ notify READY=1"
`)
	r := svRun(t, file, nil)
	if !strings.Contains(r.stderr, "notify message refused") {
		t.Errorf("the intruder's READY=1 was not refused\n%v", r)
	}
	if !strings.Contains(r.stderr, "not ready within 1.5s") {
		t.Errorf("db became ready on the intruder's word\n%v", r)
	}
}

// freePort returns a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestReadyProbes: each kind of ready check holds the dependent until it
// passes, and one that never passes fails the start at its timeout.
func TestReadyProbes(t *testing.T) {
	requirePID1(t)
	requireTool(t, "busybox")
	port := freePort(t)
	for _, tc := range []struct {
		name, ready, becomeReady string
	}{
		{"file", `file = "@D@/up"`, "touch @D@/up"},
		{"exec", `exec = ["test", "-e", "@D@/up"]`, "touch @D@/up"},
		{"tcp", fmt.Sprintf(`tcp = "127.0.0.1:%d"`, port), fmt.Sprintf("busybox nc -l -p %d -e true &", port)},
		{"http", fmt.Sprintf(`http = "http://127.0.0.1:%d/index.html"`, port), fmt.Sprintf("echo ok >@D@/index.html; busybox httpd -f -p 127.0.0.1:%d -h @D@ &", port)},
		{"fd", `fd = 3`, "echo >&3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, file := opConfig(t, fmt.Sprintf(`
[services.db]
shell = '''sleep 0.4; date +%%s%%N >@D@/ready_at; %s
exec sleep 1000'''
[services.db.ready]
%s
interval = "50ms"
timeout = "10s"

[services.web]
depends_on = { db = "ready" }
shell = "date +%%s%%N >@D@/web_at; exec sleep 1000"
`, tc.becomeReady, tc.ready))
			p := svStart(t, file, nil)
			p.waitFile(filepath.Join(dir, "web_at"), 10*time.Second)
			r := p.stopBySIGTERM(5 * time.Second)
			if web, ready := readStamp(t, filepath.Join(dir, "web_at")), readStamp(t, filepath.Join(dir, "ready_at")); web.Before(ready) {
				t.Errorf("web started before db's %s check could pass\n%v", tc.name, r)
			}
		})
		t.Run(tc.name+" never", func(t *testing.T) {
			dir, file := opConfig(t, fmt.Sprintf(`
[services.db]
restart = { policy = "never" }
shell = "exec sleep 1000"
[services.db.ready]
%s
interval = "50ms"
timeout = "700ms"

[services.web]
depends_on = { db = "ready" }
shell = "touch @D@/web"
`, tc.ready))
			r := svRun(t, file, nil)
			if exists(filepath.Join(dir, "web")) || !strings.Contains(r.stderr, "failed to start") {
				t.Errorf("a %s check that never passes did not fail the start\n%v", tc.name, r)
			}
		})
	}
}

// TestHealthRestarts: a health check failing failure_threshold times in
// a row restarts the service; a passing one leaves it alone.
func TestHealthRestarts(t *testing.T) {
	requirePID1(t)
	dir, file := opConfig(t, `
[services.app]
shell = '''echo run >>@D@/runs; touch @D@/healthy; exec sleep 1000'''
[services.app.health]
exec = ["test", "-e", "@D@/healthy"]
interval = "100ms"
timeout = "1s"
failure_threshold = 3
`)
	p := svStart(t, file, nil)
	runs := filepath.Join(dir, "runs")
	p.waitFile(runs, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // healthy checks pass: no restart
	if b, _ := os.ReadFile(runs); strings.Count(string(b), "run") != 1 {
		t.Fatalf("restarted while healthy: %q", b)
	}
	os.Remove(filepath.Join(dir, "healthy"))
	p.waitOut(p.stderr, func(s string) bool {
		return strings.Count(s, "health check failed") >= 3 && strings.Contains(s, "unhealthy")
	}, "unhealthy", 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(runs)
		if strings.Count(string(b), "run") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted after 3 failed checks: %q\n%s", b, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.stopBySIGTERM(5 * time.Second)
}

// TestWatchdog: a notify service that stops sending WATCHDOG=1 is
// restarted when the watchdog expires.
func TestWatchdog(t *testing.T) {
	requirePID1(t)
	dir, file := opConfig(t, `
[services.app]
type = "notify"
shell = '''echo run >>@D@/runs; @BIN@ notify READY=1 WATCHDOG=1; exec sleep 1000'''
[services.app.health]
watchdog = "400ms"
`)
	p := svStart(t, file, nil)
	runs := filepath.Join(dir, "runs")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(runs)
		if strings.Count(string(b), "run") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no restart after the watchdog expired: %q\n%s", b, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := p.stopBySIGTERM(5 * time.Second)
	if !strings.Contains(r.stderr, "watchdog: no WATCHDOG=1 within 400ms") {
		t.Errorf("no watchdog message\n%v", r)
	}
}

// ctl runs `initbox ctl ARGS` against sock, as the test (root) or, with
// uid, as that user.
func ctl(t *testing.T, sock string, uid int, args ...string) (string, int) {
	t.Helper()
	bin := initBin
	if uid > 0 {
		bin = publicCopy(t, initBin)
	}
	cmd := exec.Command(bin, append([]string{"ctl", "--socket", sock}, args...)...)
	if uid > 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("initbox ctl: %v", err)
	}
	return string(out), code
}

// TestCtl: every action of `initbox ctl` against a running supervisor,
// the control socket refused to another uid, /readyz following readiness
// and /metrics in the Prometheus text format.
func TestCtl(t *testing.T) {
	requirePID1(t)
	port := freePort(t)
	dir, file := opConfig(t, fmt.Sprintf(`
[init]
control_socket = "@P@/control.sock"
http_listen = "127.0.0.1:%d"

[services.web]
shell = '''echo run >>@D@/runs; trap 'echo got-hup' HUP; while :; do sleep 0.05; done'''
[services.web.ready]
file = "@D@/web-ready"
interval = "50ms"
timeout = "60s"

[services.db]
command = ["sleep", "1000"]
`, port))
	// A socket other users can reach: refused by the socket's mode and
	// initbox's peer check, not by a private directory on the way.
	public := publicDir(t)
	text, _ := os.ReadFile(file)
	os.WriteFile(file, []byte(strings.ReplaceAll(string(text), "@P@", public)), 0o644)
	sock := filepath.Join(public, "control.sock")
	p := svStart(t, file, nil)
	p.waitExists(sock, 10*time.Second)
	get := func(path string) (int, string) {
		out, err := exec.Command("curl", "-s", "-o", "-", "-w", "\n%{http_code}", fmt.Sprintf("http://127.0.0.1:%d%s", port, path)).Output()
		if err != nil {
			t.Fatalf("curl %s: %v", path, err)
		}
		s := strings.TrimSpace(string(out))
		i := strings.LastIndexByte(s, '\n')
		var code int
		fmt.Sscan(s[i+1:], &code)
		return code, s[:max(i, 0)]
	}
	requireTool(t, "curl")
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("/readyz = %d before web is ready, want 503", code)
	}
	os.WriteFile(filepath.Join(dir, "web-ready"), nil, 0o644)
	deadline := time.Now().Add(5 * time.Second)
	for code, _ := get("/readyz"); code != 200; code, _ = get("/readyz") {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d after web got ready, want 200", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `initbox_service_up{service="web"} 1`) {
		t.Errorf("/metrics = %d\n%s", code, body)
	} else {
		checkPromText(t, body)
	}

	out, code := ctl(t, sock, 0, "status")
	if code != 0 || !strings.Contains(out, "web") || !strings.Contains(out, "running") {
		t.Errorf("ctl status = %d\n%s", code, out)
	}
	if out, code = ctl(t, sock, 0, "--json", "status", "web"); code != 0 || !strings.Contains(out, `"name":"web"`) {
		t.Errorf("ctl --json status web = %d\n%s", code, out)
	}
	if out, code = ctl(t, sock, 0, "stop", "db"); code != 0 {
		t.Errorf("ctl stop db = %d\n%s", code, out)
	}
	if out, _ = ctl(t, sock, 0, "status", "db"); !strings.Contains(out, "stopped") {
		t.Errorf("db after ctl stop:\n%s", out)
	}
	if out, code = ctl(t, sock, 0, "start", "db"); code != 0 {
		t.Errorf("ctl start db = %d\n%s", code, out)
	}
	if out, code = ctl(t, sock, 0, "restart", "web"); code != 0 {
		t.Errorf("ctl restart web = %d\n%s", code, out)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, _ := os.ReadFile(filepath.Join(dir, "runs"))
		if strings.Count(string(b), "run") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web not run again after ctl restart: %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if out, code = ctl(t, sock, 0, "signal", "HUP", "web"); code != 0 {
		t.Errorf("ctl signal HUP web = %d\n%s", code, out)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		out, _ = ctl(t, sock, 0, "logs", "web")
		if strings.Contains(out, "got-hup") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ctl logs web does not show the HUP trap's line:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, code = ctl(t, sock, 0, "stop", "nope"); code != 1 {
		t.Errorf("ctl stop nope = %d, want 1\n%s", code, out)
	}
	// The socket's mode refuses other users before initbox's own peer
	// check (control's unit tests cover that one).
	if out, code = ctl(t, sock, 65534, "status"); code == 0 || !strings.Contains(out, "permission denied") {
		t.Errorf("ctl status as uid 65534 = %d, want refused with permission denied\n%s", code, out)
	}
	p.stopBySIGTERM(5 * time.Second)
}

// checkPromText checks each line of a Prometheus text exposition (format
// 0.0.4): comments, and samples NAME{LABELS} VALUE.
func checkPromText(t *testing.T, body string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
		if strings.HasPrefix(l, "# HELP ") || strings.HasPrefix(l, "# TYPE ") {
			continue
		}
		name, rest, labelled := strings.Cut(l, "{")
		labels, value, ok := strings.Cut(rest, "} ")
		if !labelled {
			name, value, ok = strings.Cut(l, " ")
			labels = `service=""`
		}
		if !ok || name == "" || strings.ContainsAny(name, " \t") || !strings.Contains(labels, `service="`) {
			t.Errorf("/metrics: bad sample line %q", l)
			continue
		}
		var f float64
		if _, err := fmt.Sscan(value, &f); err != nil {
			t.Errorf("/metrics: bad value in %q", l)
		}
	}
}

// TestReload: SIGHUP, and `initbox ctl reload`, apply a new config: a new
// service starts, a removed one stops, a changed one restarts, and an
// unchanged one keeps running untouched; a config with an error changes
// nothing and says where the error is.
func TestReload(t *testing.T) {
	requirePID1(t)
	dir, file := opConfig(t, `
[init]
control_socket = "@D@/control.sock"

[services.keep]
shell = "echo run >>@D@/keep; exec sleep 1000"
[services.change]
shell = "echo run-a >>@D@/change; exec sleep 1000"
[services.drop]
shell = "echo run >>@D@/drop; trap 'echo stopped >>@D@/drop; exit 0' TERM; while :; do sleep 0.05; done"
`)
	p := svStart(t, file, nil)
	for _, f := range []string{"keep", "change", "drop"} {
		p.waitFile(filepath.Join(dir, f), 10*time.Second)
	}
	text := func(f string) string { b, _ := os.ReadFile(filepath.Join(dir, f)); return string(b) }
	write := func(s string) {
		if err := os.WriteFile(file, []byte(strings.ReplaceAll(s, "@D@", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`
[init]
control_socket = "@D@/control.sock"

[services.keep]
shell = "echo run >>@D@/keep; exec sleep 1000"
[services.change]
shell = "echo run-b >>@D@/change; exec sleep 1000"
[services.add]
shell = "echo run >>@D@/add; exec sleep 1000"
`)
	p.signal(syscall.SIGHUP)
	p.waitFile(filepath.Join(dir, "add"), 10*time.Second)
	p.waitStderr(`"service": "drop"`, 5*time.Second)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(text("change"), "run-b") || !strings.Contains(text("drop"), "stopped"); {
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: change %q, drop %q\n%s", text("change"), text("drop"), p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(text("keep"), "run"); n != 1 {
		t.Errorf("the unchanged service ran %d times, want 1", n)
	}

	// A broken config: nothing changes, the error has its position.
	write("[services.keep]\nshell = \"true\"\ncomand = 1\n")
	out, code := ctl(t, filepath.Join(dir, "control.sock"), 0, "reload")
	if code != 1 || !strings.Contains(out, "initbox.toml:3:1") {
		t.Errorf("ctl reload of a broken config = %d, want 1 and the error's position\n%s", code, out)
	}
	out, _ = ctl(t, filepath.Join(dir, "control.sock"), 0, "status")
	for _, want := range []string{"keep", "change", "add"} {
		if !strings.Contains(out, want) {
			t.Errorf("after a bad reload, status lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "drop") {
		t.Errorf("the removed service is still listed:\n%s", out)
	}
	r := p.stopBySIGTERM(5 * time.Second)
	if n := strings.Count(text("keep"), "run"); n != 1 {
		t.Errorf("the unchanged service ran %d times after the bad reload, want 1\n%v", n, r)
	}
}

// TestHealthActions: what each health action does once the check has
// failed failure_threshold times: stop leaves the service stopped, failed
// for good (initbox stays up for the others, and its status says a
// service failed), shutdown stops everything with status 1, none only
// says so.
func TestHealthActions(t *testing.T) {
	requirePID1(t)
	for _, tc := range []struct {
		action string
		exits  bool // initbox exits by itself
		code   int
		log    string
	}{
		{"stop", false, 1, "stop by its health action"}, // failed for good: status 1 after SIGTERM
		{"shutdown", true, 1, "unhealthy: 2 health checks failed in a row"},
		{"none", false, 0, `"action": "none"`},
	} {
		t.Run(tc.action, func(t *testing.T) {
			dir, file := opConfig(t, fmt.Sprintf(`
[services.app]
shell = "echo run >>@D@/runs; exec sleep 1000"
[services.app.health]
exec = ["false"]
interval = "100ms"
failure_threshold = 2
action = %q

[services.other]
command = ["sleep", "1000"]
`, tc.action))
			p := svStart(t, file, nil)
			if tc.exits {
				r := p.wait()
				if r.code != tc.code || !strings.Contains(r.stderr, tc.log) {
					t.Errorf("exit %d, want %d and %q\n%v", r.code, tc.code, tc.log, r)
				}
				return
			}
			p.waitStderr(tc.log, 10*time.Second)
			time.Sleep(400 * time.Millisecond) // a restart would show by now
			r := p.stopBySIGTERM(5 * time.Second)
			if b, _ := os.ReadFile(filepath.Join(dir, "runs")); strings.Count(string(b), "run") != 1 {
				t.Errorf("action %s: app ran %d times, want once\n%v", tc.action, strings.Count(string(b), "run"), r)
			}
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%v", r.code, tc.code, r)
			}
		})
	}
}

// TestPrivileges: no_new_privs and capabilities are in place when the
// service's program starts: the bounding set holds only what it lists, a
// non-root user gets them as ambient (and so effective) capabilities, and
// a service without the keys keeps initbox's.
func TestPrivileges(t *testing.T) {
	requirePID1(t)
	const probe = `shell = "grep -E '^(Uid|NoNewPrivs|CapEff|CapBnd|CapAmb):' /proc/self/status | tr -s '\\t' ' ' | tr '\\n' ';'; echo"`
	_, file := opConfig(t, `
[services.web]
user = "nobody"
working_dir = "/"
no_new_privs = true
capabilities = ["CAP_NET_BIND_SERVICE"]
`+probe+`

[services.none]
capabilities = []
`+probe+`

[services.plain]
`+probe+`
`)
	r := svRun(t, file, nil)
	own, _ := os.ReadFile("/proc/self/status")
	var ownBnd string
	for _, l := range strings.Split(string(own), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			ownBnd = strings.TrimSpace(v)
		}
	}
	for _, want := range []string{
		"web | Uid: 65534 65534 65534 65534;CapEff: 0000000000000400;CapBnd: 0000000000000400;CapAmb: 0000000000000400;NoNewPrivs: 1;",
		"none | Uid: 0 0 0 0;CapEff: 0000000000000000;CapBnd: 0000000000000000;CapAmb: 0000000000000000;NoNewPrivs: 0;",
	} {
		wantLine(t, r, r.stdout, want)
	}
	if !strings.Contains(r.stdout, "plain | Uid: 0 0 0 0;") || !strings.Contains(r.stdout, "CapBnd: "+ownBnd+";CapAmb: 0000000000000000;NoNewPrivs: 0;") {
		t.Errorf("a service without the keys should keep initbox's bounding set %s\n%v", ownBnd, r)
	}
}

// TestPrivilegesInheritable: a runtime that hands initbox a full
// inheritable set (CVE-2022-24769) does not widen what a service with
// capabilities = [...] gets: root's capabilities after exec are
// inheritable | bounding, so the inheritable set is cut down too.
func TestPrivilegesInheritable(t *testing.T) {
	requirePID1(t)
	requireTool(t, "setpriv")
	_, file := opConfig(t, `
[services.web]
capabilities = ["CAP_NET_BIND_SERVICE"]
shell = "grep -E '^Cap(Inh|Eff):' /proc/self/status | tr -s '\\t' ' ' | tr '\\n' ';'; echo"
`)
	r := startInit(t, runSpec{mode: pid1, bin: "setpriv", args: []string{"--inh-caps=+net_raw,+chown", initBin, "run", "-c", file}, timeout: svTimeout}).wait()
	wantLine(t, r, r.stdout, "web | CapInh: 0000000000000000;CapEff: 0000000000000400;")
}
