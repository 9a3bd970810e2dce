//go:build linux

package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/cgroup"
	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/notify"
)

// Services in cgroups of their own, on the host's cgroup v2 tree: what the
// kernel does with a leaf (who is in it, its emptying, cgroup.kill) is the
// point, so these run real processes (sharedReaper).

// skipOrFail skips with the reason, or fails when CI is set: CI's host
// has what these tests need, so a skip there would hide a broken setup.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set, so this fails instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}

// openTree lays out a services tree as `initbox run` does (openCgroups),
// removed at the end of the test; it skips (fails under CI) without root
// or a writable cgroup v2.
func openTree(t *testing.T) *cgroup.Tree {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "requires root to make cgroups")
	}
	info := cgroup.Detect()
	if info.Err != nil {
		skipOrFail(t, "no writable cgroup v2 here: %v", info.Err)
	}
	tr, err := cgroup.Open(info, cgroup.Options{Services: "supervisor-test"})
	if err != nil {
		skipOrFail(t, "cannot lay out a cgroup tree at %s: %v", info.Path, err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("removing the test's cgroups: %v", err)
		}
	})
	return tr
}

// startIn is start (api_test.go) with the services in cgroups of tr.
func startIn(t *testing.T, tr *cgroup.Tree, text string) (*Supervisor, chan os.Signal, chan int, string, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	var out, logBuf syncBuffer
	s := New(Options{Config: parse(t, dir, text), Starter: sharedReaper(), Env: os.Environ(), Stdout: &out, Stderr: &out,
		Log: logging.New(&logBuf, logging.Console, logging.DebugLevel), Cgroups: tr})
	sigc := make(chan os.Signal, 2)
	done := make(chan int, 1)
	go func() { done <- s.Run(sigc) }()
	t.Cleanup(func() {
		select {
		case sigc <- syscall.SIGTERM:
		default:
		}
		<-done
		if t.Failed() {
			t.Logf("log:\n%s", logBuf.String())
		}
	})
	return s, sigc, done, dir, &logBuf
}

// gone reports whether pid has exited (a zombie the shared reaper has yet
// to collect counts).
func gone(pid int) bool { st := procState(pid); return st == 0 || st == 'Z' }

// readPid waits for a pid written to file.
func readPid(t *testing.T, file string) int {
	t.Helper()
	var pid int
	waitFor(t, file, func() bool {
		b, _ := os.ReadFile(file)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return pid > 0
	})
	return pid
}

// TestCgroupLeftovers: what a service's process leaves in its cgroup when
// it exits (here a daemon out of its process group and session, which
// only the cgroup finds) is stopped as its stop mode says, and the service
// is stopping until the leaf is empty; then the leaf is removed.
func TestCgroupLeftovers(t *testing.T) {
	tr := openTree(t)
	for _, c := range []struct {
		mode string
		// the daemon's TERM trap
		trap string
		// stop.timeout: an hour where only the signal the case is about
		// can end the daemon, however slow the machine
		timeout string
		// the log line that shows how the daemon went
		log string
	}{
		// Its stop signal, then cgroup.kill after stop.timeout.
		{"cgroup", `""`, "300ms", "ignored the stop signal: killing the cgroup"},
		// Its stop signal, which it obeys: no kill.
		{"cgroup", `"exit 0"`, "1h", "stopping processes the service left in its cgroup"},
		// SIGKILL at once, its main process being gone.
		{"mixed", `""`, "1h", "killing the processes the service's main process left in its cgroup"},
	} {
		t.Run(c.mode+" trap "+c.trap, func(t *testing.T) {
			s, _, _, dir, log := startIn(t, tr, fmt.Sprintf(`
[services.d]
shell = '''setsid sh -c 'trap %s TERM; echo $$$$ >@D@/daemon; while :; do sleep 0.05; done' </dev/null & while [ ! -s @D@/daemon ]; do sleep 0.01; done; exit 3'''
restart = { policy = "never" }
stop = { mode = "%s", timeout = "%s" }
[services.keep]
command = ["sleep", "1000"]
`, c.trap, c.mode, c.timeout))
			daemon := readPid(t, filepath.Join(dir, "daemon"))
			leaf := filepath.Join(tr.Path(), "d")
			waitFor(t, "d's process to exit", func() bool { return statusOf(t, s, "d").Pid == 0 })
			if gone(daemon) {
				t.Logf("the daemon was gone before the test looked: the state is not checked")
			} else if st := statusOf(t, s, "d"); st.State != "stopping" && !gone(daemon) {
				t.Errorf("state %q while its daemon %d lives, want stopping", st.State, daemon)
			}
			waitFor(t, "d failed, its leaf empty", func() bool { return statusOf(t, s, "d").State == "failed" })
			if !gone(daemon) {
				t.Errorf("the daemon %d outlived its service", daemon)
			}
			if exists(leaf) {
				t.Errorf("leaf %s left after the service stopped", leaf)
			}
			if !strings.Contains(log.String(), c.log) {
				t.Errorf("the log lacks %q", c.log)
			}
			if st := statusOf(t, s, "d"); st.Reason != "exited with exit status 3" {
				t.Errorf("reason %q, want its exit", st.Reason)
			}
		})
	}
}

// TestCgroupStop: ctl stop in stop mode "cgroup" signals every process of
// the leaf, daemons outside the process group included; the status shows
// the leaf's use while it runs; a notify message from a process of the
// leaf that does not descend from the service's process is its own.
func TestCgroupStop(t *testing.T) {
	tr := openTree(t)
	s, _, _, dir, log := startIn(t, tr, `
[services.d]
type = "notify"
shell = '''setsid sh -c 'trap "exit 0" TERM; echo $$$$ >@D@/daemon; while :; do sleep 0.05; done' </dev/null & trap 'exit 0' TERM; while :; do sleep 0.05; done'''
stop = { mode = "cgroup", timeout = "1h" }
[services.keep]
command = ["sleep", "1000"]
`)
	daemon := readPid(t, filepath.Join(dir, "daemon"))
	pid := statusOf(t, s, "d").Pid
	if p, _ := syscall.Getpgid(daemon); p == pid {
		t.Fatalf("the daemon is in the service's process group: the test proves nothing")
	}
	// cpu.stat is in every cgroup v2 leaf, whatever the controllers.
	if st := statusOf(t, s, "d"); st.CPU < 0 || st.State != "starting" {
		t.Errorf("status %+v: want starting, with the leaf's CPU use", st)
	}
	// The subreaper (the test) adopted the daemon: only the cgroup says
	// it is the service's.
	m := &machine{t: t, s: s}
	m.notifyMsg("d", notify.Message{Pid: daemon, Ready: true})
	waitFor(t, "d ready by its daemon's READY=1", func() bool { return statusOf(t, s, "d").State == "running" })
	if err := s.StopService("d"); err != nil {
		t.Fatal(err)
	}
	// Both obey SIGTERM; with a stop timeout of an hour, only the
	// cgroup's signal can have reached the daemon.
	waitFor(t, "d stopped", func() bool { return statusOf(t, s, "d").State == "stopped" })
	if !gone(daemon) {
		t.Errorf("the daemon %d outlived the stop", daemon)
	}
	if exists(filepath.Join(tr.Path(), "d")) {
		t.Error("the leaf is left after the stop")
	}
	if strings.Contains(log.String(), "stopping processes the service left") {
		t.Error("the leftovers of a stop got a second stop signal")
	}
}

// TestCgroupLimits: a limit the tree cannot apply (this host's v2 has few
// controllers) is a warning, or with init.cgroups.mode = "required" keeps
// everything from starting, and a reload to such a configuration is
// refused.
func TestCgroupLimits(t *testing.T) {
	tr := openTree(t)
	if _, errs := tr.Fit(limits(config.Resources{PidsMax: 10})); len(errs) == 0 {
		skipOrFail(t, "the pids controller is enabled here: no limit fails on purpose")
	}
	const svc = `
[services.a]
command = ["sleep", "1000"]
resources = { pids_max = 10 }
`
	t.Run("auto", func(t *testing.T) {
		s, _, _, _, log := startIn(t, tr, svc)
		waitFor(t, "a running", func() bool { return statusOf(t, s, "a").State == "running" })
		if !strings.Contains(log.String(), "limit not applied") {
			t.Error("no warning for the limit not applied")
		}
		// A reload that asks for the limit, required.
		dir := t.TempDir()
		s.opts.Reload = func() (*config.Config, error) {
			return parse(t, dir, "[init]\ncgroups = { mode = \"required\" }\n"+svc), nil
		}
		if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "reload refused, init.cgroups.mode is required") {
			t.Errorf("reload to a required limit: %v", err)
		}
	})
	t.Run("required", func(t *testing.T) {
		_, _, done, _, log := startIn(t, tr, "[init]\ncgroups = { mode = \"required\" }\n"+svc)
		select {
		case code := <-done:
			done <- code // for the cleanup
			if code != 1 {
				t.Errorf("status %d, want 1", code)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run started services with a required limit it cannot apply")
		}
		if !strings.Contains(log.String(), "not starting") {
			t.Error("the log does not say why nothing started")
		}
	})
	t.Run("off", func(t *testing.T) {
		s, _, _, _, _ := startIn(t, tr, "[init]\ncgroups = { mode = \"off\" }\n"+svc)
		waitFor(t, "a running", func() bool { return statusOf(t, s, "a").State == "running" })
		if exists(filepath.Join(tr.Path(), "a")) || statusOf(t, s, "a").Tasks != -1 {
			t.Error("a service got a cgroup with init.cgroups.mode off")
		}
	})
}

// TestCgroupOOMLogged: a new OOM kill in a leaf is logged once and is the
// service's reason. The host's cgroup v2 has no memory controller, so no
// kill can be caused here: a count seen below the leaf's (0) stands for
// one.
func TestCgroupOOMLogged(t *testing.T) {
	tr := openTree(t)
	g, err := tr.Create("oom", cgroup.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	var logBuf syncBuffer
	s := New(Options{Config: parse(t, t.TempDir(), "[services.oom]\ncommand = [\"true\"]\nresources = { memory_max = \"64M\" }\n"),
		Starter: sharedReaper(), Log: logging.New(&logBuf, logging.Console, logging.DebugLevel), Cgroups: tr})
	v := s.svcs["oom"]
	v.cg, v.oomSeen = g, -1
	s.checkOOM("oom", v)
	s.checkOOM("oom", v)
	if !v.oomKilled || v.reason != "killed by the OOM killer at memory_max=64MiB" {
		t.Errorf("oomKilled %v, reason %q", v.oomKilled, v.reason)
	}
	if n := strings.Count(logBuf.String(), "killed by the OOM killer"); n != 1 {
		t.Errorf("the kill logged %d times, want once:\n%s", n, logBuf.String())
	}
}

// TestAbandonDrains: past the shutdown deadline's SIGKILL and its grace,
// the stop stops waiting for what did not die (a process stuck in the
// kernel): each kind of wait is given up, and said.
func TestAbandonDrains(t *testing.T) {
	tr := openTree(t)
	g, err := tr.Create("cg", cgroup.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	var logBuf syncBuffer
	s := New(Options{Config: parse(t, t.TempDir(), `
[services.cg]
command = ["true"]
[services.pg]
command = ["true"]
[services.proc]
command = ["true"]
[services.done]
command = ["true"]
`), Starter: sharedReaper(), Log: logging.New(&logBuf, logging.Console, logging.DebugLevel)})
	s.svcs["cg"].state, s.svcs["cg"].afterDrain, s.svcs["cg"].cg = draining, stopped, g
	s.svcs["pg"].state, s.svcs["pg"].afterDrain, s.svcs["pg"].pgid = draining, finished, 1<<22+1
	s.svcs["proc"].state, s.svcs["proc"].pid = killing, 1<<22+2
	s.svcs["done"].state = stopped
	s.shuttingDown = true
	if s.done() {
		t.Fatal("done before the drains are given up: the test proves nothing")
	}
	s.abandonDrains()
	if !s.done() {
		t.Error("still not done after giving up")
	}
	for _, want := range []string{"in the service's cgroup survived SIGKILL", "in the service's process group survived SIGKILL", "the service's process survived SIGKILL"} {
		if !strings.Contains(logBuf.String(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if s.svcs["proc"].state != stopped || s.svcs["pg"].pgid != 0 || s.svcs["cg"].state != stopped || s.svcs["pg"].state != finished {
		t.Errorf("proc is %v, cg %v, pg %v, pg's group %d", s.svcs["proc"].state, s.svcs["cg"].state, s.svcs["pg"].state, s.svcs["pg"].pgid)
	}
}
