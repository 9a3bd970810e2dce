//go:build linux

package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/launch"
	"github.com/initbox/initbox/notify"
)

// What the kernel does for the supervisor without cgroups (process groups,
// descriptors), with real sh services; and what the fake starter stands
// in for when nothing dies.

// TestProcessGroupLeftovers: without cgroups, what a service's process
// leaves in its process group when it exits gets SIGTERM, then SIGKILL
// after stop.timeout if it is still there; the service counts as stopping
// until the group is empty.
func TestProcessGroupLeftovers(t *testing.T) {
	for _, c := range []struct {
		trap    string // the worker's TERM trap
		timeout string // stop.timeout
		killed  bool   // whether the SIGKILL is needed
	}{
		{`""`, "300ms", true},
		// An hour: only the SIGTERM can have ended the worker, however
		// slow the machine.
		{`"exit 0"`, "1h", false},
	} {
		t.Run("trap "+c.trap, func(t *testing.T) {
			s, _, _, dir, logBuf := startIn(t, nil, fmt.Sprintf(`
[services.d]
shell = '''sh -c 'trap %s TERM; echo $$$$ >@D@/worker; while :; do sleep 0.05; done' & while [ ! -s @D@/worker ]; do sleep 0.01; done; exit 3'''
restart = { policy = "never" }
stop = { mode = "group", timeout = "%s" }
[services.keep]
command = ["sleep", "1000"]
`, c.trap, c.timeout))
			worker := readPid(t, filepath.Join(dir, "worker"))
			waitFor(t, "d failed, its group empty", func() bool { return statusOf(t, s, "d").State == "failed" })
			if !gone(worker) {
				t.Errorf("the worker %d outlived its service", worker)
			}
			if got := strings.Contains(logBuf.String(), "ignored SIGTERM: sending SIGKILL"); got != c.killed {
				t.Errorf("SIGKILL logged: %v, want %v", got, c.killed)
			}
		})
	}
}

// TestStdio: a service's stdout and stderr go where its config says: a
// file truncated or appended to, nowhere, or stdout's way; a file that
// cannot be opened fails the start.
func TestStdio(t *testing.T) {
	dir := t.TempDir()
	for f, text := range map[string]string{"trunc": "old\n", "app": "old\n"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _, log := run(t, strings.ReplaceAll(`
[services.trunc]
type = "oneshot"
shell = "echo out; echo err >&2"
stdout = "file:@X@/trunc"
stderr = "stdout"
[services.app]
type = "oneshot"
shell = "echo out; echo err >&2"
stdout = "append:@X@/app"
stderr = "file:@X@/app.err"
[services.null]
type = "oneshot"
shell = "echo null-out; echo null-err >&2"
stdout = "null"
stderr = "null"
[services.bad]
type = "oneshot"
shell = "echo never"
stdout = "file:@X@/no/such/dir/out"
`, "@X@", dir))
	if code != 1 {
		t.Errorf("status %d, want 1 (bad cannot start)", code)
	}
	for f, want := range map[string]string{"trunc": "out\nerr\n", "app": "old\nout\n", "app.err": "err\n"} {
		if b, _ := os.ReadFile(filepath.Join(dir, f)); string(b) != want {
			t.Errorf("%s: %q, want %q", f, b, want)
		}
	}
	// The null service's lines are nowhere.
	if strings.Contains(out, "null-out") || strings.Contains(out, "never") {
		t.Errorf("output: %q", out)
	}
	if !strings.Contains(log, "no/such/dir/out") {
		t.Error("the log does not say which file could not be opened")
	}
}

// TestReadyFD: a service is ready once it writes a newline to its ready
// fd, whichever number it has; one that closes it without one is not, and
// fails its start.
func TestReadyFD(t *testing.T) {
	s, _, _, dir := start(t, `
[services.three]
shell = '''while [ ! -e @D@/go ]; do sleep 0.02; done; echo >&3; exec sleep 1000'''
ready = { fd = 3, timeout = "1h" }
[services.five]
shell = '''echo >&5; exec sleep 1000'''
ready = { fd = 5, timeout = "1h" }
[services.closes]
shell = '''exec 3>&-; exec sleep 1000'''
ready = { fd = 3, timeout = "1h" }
restart = { policy = "never" }
`)
	waitFor(t, "five ready", func() bool { return statusOf(t, s, "five").State == "running" })
	waitFor(t, "closes failed", func() bool { return statusOf(t, s, "closes").State == "failed" })
	if st := statusOf(t, s, "closes"); !strings.Contains(st.Reason, "not ready: notify: readiness pipe closed without a newline") {
		t.Errorf("closes: reason %q", st.Reason)
	}
	if st := statusOf(t, s, "three"); st.State != "starting" || st.Ready != "not ready" {
		t.Fatalf("three before its newline: %+v", st)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three ready", func() bool { return statusOf(t, s, "three").State == "running" })
	if st := statusOf(t, s, "three"); st.Ready != "ready" {
		t.Errorf("three: ready %q", st.Ready)
	}
}

// TestImplicitMain: the main service of `initbox run -- PROGRAM` starts
// once every other enabled service is up or has failed for good, says so
// while it waits, and stops first.
func TestImplicitMain(t *testing.T) {
	m := newMachine(t, `
[services.db]
type = "notify"
command = ["true"]
ready = { timeout = "1h" }
stop = { mode = "process" }
[services.bad]
command = ["true"]
env_file = "@D@/absent.env"
restart = { policy = "never" }
[services.off]
command = ["true"]
enabled = false
[services.main]
main = true
command = ["true"]
stop = { mode = "process" }`, syscall.SIGTERM, func(o *Options) { o.ImplicitMain = "main" })
	m.run([]step{{"", "db=starting bad=failed off=stopped main=waiting"}})
	if st := statusOf(t, m.s, "main"); st.Reason != "waiting for the other services to be up" {
		t.Errorf("main waits with reason %q", st.Reason)
	}
	m.notifyMsg("db", notifyReady(m.pidOf("db")))
	m.run([]step{{"", "db=running main=running"}, {"signal TERM", ""}, {"end 143", ""}}) // main's status: 128+SIGTERM
	log := m.log.String()
	if i, j := strings.Index(log, `stopping	{"service": "main"`), strings.Index(log, `stopping	{"service": "db"`); i < 0 || j < 0 || i > j {
		t.Errorf("stop order: main at %d, db at %d; want main first", i, j)
	}
}

// immortal is a fake starter whose processes survive SIGKILL, as one stuck
// in the kernel does.
type immortal struct{ *fakeStarter }

func (f immortal) Signal(pid int, sig syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, fmt.Sprintf("%d:%d", pid, sig))
	return nil
}

// TestShutdownDeadline: at init.shutdown_timeout everything left gets
// SIGKILL; a process that survives even that is given up after a while,
// and Run returns instead of hanging PID 1. The deadline and the grace
// after it are real time (200 ms and 2 s).
func TestShutdownDeadline(t *testing.T) {
	m := newMachine(t, `
[init]
shutdown_timeout = "200ms"
[services.stuck]
command = ["true"]
stop = { mode = "process", timeout = "1h" }`, 0, func(o *Options) {
		o.Starter = immortal{o.Starter.(*fakeStarter)}
	})
	m.run([]step{{"", "stuck=running"}})
	pid := m.pidOf("stuck")
	m.run([]step{{"signal TERM", ""}, {"end 1", ""}})
	if !m.st.signalled(pid, syscall.SIGKILL) {
		t.Error("no SIGKILL at the shutdown deadline")
	}
	for _, want := range []string{"shutdown timeout reached", "the service's process survived SIGKILL: not waiting for it"} {
		if !strings.Contains(m.log.String(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

// TestCheckPrivileges: with the privileges this test runs with, a service
// of another user is a config error exactly when initbox could not switch
// to it.
func TestCheckPrivileges(t *testing.T) {
	own, err := launch.Own()
	if err != nil {
		t.Fatal(err)
	}
	noEntry(t, "4242")
	c := parse(t, t.TempDir(), "[services.a]\ncommand = [\"true\"]\nuser = \"4242\"\n")
	err = CheckPrivileges(c)
	if can := own.Has(unix.CAP_SETUID) && own.Has(unix.CAP_SETGID); can != (err == nil) {
		t.Errorf("CAP_SETUID and CAP_SETGID: %v; CheckPrivileges: %v", can, err)
	}
	if err := CheckPrivileges(parse(t, t.TempDir(), "[services.a]\ncommand = [\"true\"]\n")); err != nil {
		t.Errorf("a service as initbox's own user: %v", err)
	}
}

// TestCheckServiceGroups: supplementary groups that differ from initbox's
// own need CAP_SETGID, and the error lists both.
func TestCheckServiceGroups(t *testing.T) {
	noEntry(t, "12345")
	c := parse(t, t.TempDir(), "[services.a]\ncommand = [\"true\"]\ngroup = \"12345\"\n")
	own := launch.Privileges{UID: [3]int{12345, 12345, 12345}, GID: [3]int{12345, 12345, 12345}, Groups: []int{4, 24}, OOMScoreAdjKnown: true}
	list := checkService(own, c.Services["a"])
	if len(list) != 1 || list[0].Key != "group" || !strings.Contains(list[0].Msg, "no supplementary groups (initbox has 4,24)") {
		t.Errorf("%+v", list)
	}
}

// notifyReady is READY=1 from pid.
func notifyReady(pid int) notify.Message { return notify.Message{Pid: pid, Ready: true} }
