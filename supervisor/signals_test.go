//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/reaper"
)

// Signals to initbox on the fake starter: which ones reach which
// services, SIGHUP's reload, a second stop signal, the final sweep.

// signalled reports whether the fake starter sent sig to pid.
func (f *fakeStarter) signalled(pid int, sig syscall.Signal) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.signals, fmt.Sprintf("%d:%d", pid, sig))
}

// TestSignalForwarding: a signal initbox forwards reaches the main service
// and those with forward_signals, running or stopping, and no other; one
// it does not forward reaches none.
func TestSignalForwarding(t *testing.T) {
	m := newMachine(t, `
[init]
shutdown_timeout = "1h"
[services.app]
main = true
command = ["true"]
stop = { mode = "process" }
[services.fw]
command = ["true"]
forward_signals = true
stop = { mode = "process" }
[services.other]
command = ["true"]
stop = { mode = "process" }
[services.fwstopping]
command = ["true"]
forward_signals = true
stop = { mode = "process", timeout = "1h" }
[services.fwfailed]
command = ["true"]
forward_signals = true
restart = { policy = "never" }
stop = { mode = "process" }`, 0, nil)
	m.run([]step{{"", "app=running fw=running other=running fwstopping=running fwfailed=running"}})
	pids := map[string]int{}
	for _, n := range []string{"app", "fw", "other", "fwstopping", "fwfailed"} {
		pids[n] = m.pidOf(n)
	}
	m.run([]step{{"stop fwstopping", "fwstopping=stopping"}, {"exit fwfailed 1", "fwfailed=failed"}})
	// SIGCHLD first: the loop takes signals in order, so once USR1 has
	// reached app, CHLD has been handled (and, rightly, dropped).
	m.run([]step{{"signal CHLD", ""}, {"signal USR1", ""}})
	waitFor(t, "USR1 to reach app", func() bool { return m.st.signalled(pids["app"], syscall.SIGUSR1) })
	for name, want := range map[string]bool{"app": true, "fw": true, "fwstopping": true, "other": false, "fwfailed": false} {
		if got := m.st.signalled(pids[name], syscall.SIGUSR1); got != want {
			t.Errorf("%s got USR1: %v, want %v", name, got, want)
		}
		if m.st.signalled(pids[name], syscall.SIGCHLD) {
			t.Errorf("%s got SIGCHLD, which initbox never forwards", name)
		}
	}
}

// TestSignalHUPReloads: with a configuration to read again, SIGHUP reloads
// it and reaches no service; a configuration with errors changes nothing.
func TestSignalHUPReloads(t *testing.T) {
	const base = `
[services.app]
main = true
command = ["true"]
stop = { mode = "process" }
`
	var mu sync.Mutex
	next := func() (*config.Config, error) { return nil, errors.New("initbox.toml:9:1: broken") }
	m := newMachine(t, base, 0, func(o *Options) {
		o.Reload = func() (*config.Config, error) {
			mu.Lock()
			defer mu.Unlock()
			return next()
		}
	})
	m.run([]step{{"", "app=running"}})
	app := m.pidOf("app")
	m.run([]step{{"signal HUP", ""}})
	waitFor(t, "the refused reload", func() bool { return strings.Contains(m.log.String(), "reload refused") })
	if len(m.s.Status()) != 1 {
		t.Fatalf("a refused reload changed the services: %v", m.s.Status())
	}
	// Parsed here: the reload runs on Run's goroutine, where t.Fatal
	// may not be called.
	added := parse(t, t.TempDir(), base+"[services.added]\ncommand = [\"true\"]\nstop = { mode = \"process\" }\n")
	mu.Lock()
	next = func() (*config.Config, error) { return added, nil }
	mu.Unlock()
	m.run([]step{{"signal HUP", "added=running app=running"}})
	if m.st.signalled(app, syscall.SIGHUP) {
		t.Error("SIGHUP reached the main service instead of reloading only")
	}
	if m.pidOf("app") != app {
		t.Error("the reload restarted the unchanged main service")
	}
}

// TestSecondStopSignalKills: a second SIGTERM during the ordered stop
// kills every service at once. The services here ignore SIGTERM, and
// neither their stop timeouts (fake clock, never moved) nor the shutdown
// timeout (an hour) can end the stop: only the SIGKILL can.
func TestSecondStopSignalKills(t *testing.T) {
	m := newMachine(t, `
[init]
shutdown_timeout = "1h"
[services.db]
command = ["true"]
stop = { mode = "process", timeout = "1h" }
[services.web]
command = ["true"]
depends_on = { db = "started" }
stop = { mode = "process", timeout = "1h" }`, 0, nil)
	m.run([]step{{"", "db=running web=running"}})
	db, web := m.pidOf("db"), m.pidOf("web")
	m.run([]step{{"signal TERM", "web=stopping db=running"}, {"signal TERM", ""}, {"end 1", ""}})
	for name, pid := range map[string]int{"db": db, "web": web} {
		if !m.st.signalled(pid, syscall.SIGKILL) {
			t.Errorf("%s got no SIGKILL", name)
		}
	}
	if !strings.Contains(m.log.String(), "second stop signal: killing every service") {
		t.Error("the log does not say why everything was killed")
	}
}

// TestSweep: once every service has stopped, what is left is swept with
// init.grace, and only with a grace.
func TestSweep(t *testing.T) {
	for _, c := range []struct {
		grace string
		swept bool
	}{{"0s", false}, {"2s", true}} {
		t.Run("grace "+c.grace, func(t *testing.T) {
			var got []time.Duration
			m := newMachine(t, `
[init]
grace = "`+c.grace+`"
[services.a]
command = ["true"]
stop = { mode = "process" }`, syscall.SIGTERM, func(o *Options) {
				o.Sweep = func(grace time.Duration, cut <-chan os.Signal) reaper.SweepResult {
					got = append(got, grace) // on Run's goroutine, read after it returned
					return reaper.SweepResult{Termed: 2, Killed: 1}
				}
			})
			m.run([]step{{"", "a=running"}, {"signal TERM", ""}, {"end 0", ""}})
			if c.swept != (len(got) == 1) || c.swept && got[0] != 2*time.Second {
				t.Fatalf("sweeps %v, want one with 2s: %v", got, c.swept)
			}
			if logged := strings.Contains(m.log.String(), "swept the processes left"); logged != c.swept {
				t.Errorf("sweep logged: %v, want %v", logged, c.swept)
			}
		})
	}
}

// TestResourcesWithoutCgroups: a limit without cgroups is a warning, or,
// with init.cgroups.mode = "required", an error: nothing starts and Run
// returns 1.
func TestResourcesWithoutCgroups(t *testing.T) {
	for _, c := range []struct {
		mode string
		ends bool
		log  string
	}{
		{"auto", false, "limit not applied"},
		{"required", true, "limit cannot be applied and init.cgroups.mode is required"},
		{"off", false, ""},
	} {
		t.Run(c.mode, func(t *testing.T) {
			m := newMachine(t, `
[init]
cgroups = { mode = "`+c.mode+`" }
[services.a]
command = ["true"]
resources = { memory_max = "64M" }
stop = { mode = "process" }`, syscall.SIGTERM, nil)
			if c.ends {
				m.run([]step{{"end 1", ""}})
				if m.st.next != 0 {
					t.Errorf("%d processes started", m.st.next)
				}
			} else {
				m.run([]step{{"", "a=running"}})
			}
			log := m.log.String()
			if c.log != "" && !strings.Contains(log, c.log) {
				t.Errorf("the log lacks %q", c.log)
			}
			if c.log == "" && strings.Contains(log, "limit") {
				t.Errorf("with cgroups off, the log speaks of limits:\n%s", log)
			}
		})
	}
}

// TestStopRestartEveryState: ctl stop and ctl restart of a service in each
// state: what each leads to.
func TestStopRestartEveryState(t *testing.T) {
	const cfg = `
[init]
shutdown_timeout = "1h"
[services.a]
command = ["true"]
restart = { delay = "1s" }
stop = { mode = "process", timeout = "5s" }
[services.b]
command = ["true"]
depends_on = { gate = "ready" }
stop = { mode = "process" }
[services.gate]
type = "notify"
command = ["true"]
ready = { timeout = "1h" }
stop = { mode = "process" }
[services.job]
type = "oneshot"
command = ["true"]
schedule = "@every 1h"
stop = { mode = "process" }
[services.bad]
command = ["true"]
env_file = "@D@/absent.env"
restart = { policy = "never" }
`
	for _, c := range []struct {
		name  string
		steps []step
	}{
		// waiting: stop holds it; restart leaves it on its way.
		{name: "stop waiting", steps: []step{{"", "b=waiting"}, {"stop b", "b=stopped"}}},
		{name: "restart waiting", steps: []step{{"", "b=waiting"}, {"restart b", "b=waiting"}}},
		// backoff: restart leaves it to its delay.
		{name: "restart backoff", steps: []step{{"exit a 1", "a=backoff"}, {"restart a", "a=backoff"}, {"advance 1s", "a=running"}}},
		// scheduled: restart runs the job now.
		{name: "restart scheduled", steps: []step{{"", "job=scheduled"}, {"restart job", "job=running"}}},
		// stopping: restart starts it again once stopped; stop makes a
		// restart end stopped.
		{name: "restart stopping", steps: []step{{"stop a", "a=stopping"}, {"restart a", "a=stopping"}, {"advance 5s", "a=running"}}},
		// stopping after ctl stop: start starts it once stopped.
		{name: "start stopping", steps: []step{{"stop a", "a=stopping"}, {"start a", "a=stopping"}, {"advance 5s", "a=running"}}},
		{name: "stop restarting", steps: []step{{"restart a", "a=stopping"}, {"stop a", "a=stopping"}, {"advance 5s", "a=stopped"}}},
		// stopped, finished: restart starts it; stop leaves it.
		{name: "restart stopped", steps: []step{{"stop a", "a=stopping"}, {"advance 5s", "a=stopped"}, {"restart a", "a=running"}}},
		{name: "stop failed", steps: []step{{"", "bad=failed"}, {"stop bad", "bad=failed"}}},
		{name: "restart failed", steps: []step{{"", "bad=failed"}, {"restart bad", "bad=failed"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t, cfg, 0, nil)
			m.run(append([]step{{"", "a=running gate=starting"}}, c.steps...))
		})
	}
}

// TestStopRefusals: ctl stop, start and restart say why they cannot, and
// Wait after Run says how things ended.
func TestStopRefusals(t *testing.T) {
	m := newMachine(t, `
[init]
shutdown_timeout = "1h"
[services.a]
command = ["true"]
stop = { mode = "process", timeout = "1h" }
[services.off]
command = ["true"]
enabled = false`, 0, nil)
	m.run([]step{{"", "a=running off=stopped"}})
	if err := m.s.StartService("off"); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("start of a disabled service: %v", err)
	}
	m.run([]step{{"signal TERM", "a=stopping"}})
	for what, err := range map[string]error{
		"stop":    m.s.StopService("a"),
		"start":   m.s.StartService("a"),
		"restart": m.s.RestartService("a"),
	} {
		if err == nil || !strings.Contains(err.Error(), "initbox is stopping") {
			t.Errorf("%s during the shutdown: %v", what, err)
		}
	}
	m.stop()
	if err := m.s.Wait([]string{"a"}, GoalStopped, time.Second); err != nil {
		t.Errorf("Wait for stopped after Run: %v", err)
	}
	if err := m.s.Wait([]string{"a"}, GoalUp, time.Second); err == nil || !strings.Contains(err.Error(), "initbox has stopped") {
		t.Errorf("Wait for up after Run: %v", err)
	}
}

// TestOtherGoroutines: the methods other goroutines (the control socket)
// call reach the supervisor's loop, and an exec'd program's status comes
// back through its Process.
func TestOtherGoroutines(t *testing.T) {
	m := newMachine(t, `
[services.a]
command = ["true"]
stop = { mode = "process", timeout = "5s" }
[services.b]
command = ["true"]
stop = { mode = "process" }`, syscall.SIGTERM, func(o *Options) {
		o.Reload = func() (*config.Config, error) { return nil, errors.New("initbox.toml:1:1: broken") }
	})
	s := m.s
	if err := s.Wait([]string{"a", "b"}, GoalUp, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); len(st) != 2 || st[0].Name != "a" || st[0].State != "running" {
		t.Fatalf("Status: %+v", st)
	}
	a := m.pidOf("a")
	if err := s.SignalService("a", syscall.SIGUSR2); err != nil || !m.st.signalled(a, syscall.SIGUSR2) {
		t.Errorf("Signal: %v; delivered %v", err, m.st.signalled(a, syscall.SIGUSR2))
	}
	if err := s.StopService("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait([]string{"a"}, GoalStopped, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.SignalService("a", syscall.SIGUSR2); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("Signal to a stopped service: %v", err)
	}
	if err := s.StartService("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.RestartService("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait([]string{"a"}, GoalUp, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, s, "a"); st.Restarts != 2 {
		t.Errorf("after start and restart: %d restarts, want 2", st.Restarts)
	}
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("Reload of a broken configuration: %v", err)
	}
	if l, err := s.Logs("a", 10); err != nil || len(l) != 0 {
		t.Errorf("Logs of a service that wrote nothing: %q, %v", l, err)
	}
	p, err := s.ExecService("b", Exec{Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	m.st.exit(p.Pid(), 7)
	if e := p.Wait(); e.Code() != 7 || e.String() != "exit status 7" {
		t.Errorf("the exec's status: %v, want exit status 7", e)
	}
	if _, err := s.ExecService("nosuch", Exec{Args: []string{"true"}}); !errors.Is(err, ErrUnknownService) {
		t.Errorf("Exec into an unknown service: %v", err)
	}
}
