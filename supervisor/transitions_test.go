//go:build linux

package supervisor

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/reaper"
)

// Issue #15, item 6: every move of docs/states.md's diagram made by the
// supervisor itself, on the fake starter and the fake clock, one row per
// move; TestTransitionsCovered checks that the rows name every move of the
// table.

// machine is a Supervisor running on a fakeStarter and a fakeClock, whose
// moves are recorded.
type machine struct {
	t    *testing.T
	s    *Supervisor
	st   *fakeStarter
	clk  *fakeClock
	sigc chan os.Signal
	done chan int
	log  *syncBuffer
	dir  string

	mu    sync.Mutex
	moves map[[2]state]bool
	// status is Run's result, once a step saw it return.
	status   int
	returned bool
}

// newMachine runs config on a fake starter and clock; opts, if not nil,
// changes the Options first. The cleanup stops it, moving the fake clock
// until Run returns.
func newMachine(t *testing.T, text string, dieOn syscall.Signal, opts func(*Options)) *machine {
	t.Helper()
	m := &machine{
		t:     t,
		st:    &fakeStarter{exits: map[int]chan reaper.Exit{}, dieOn: dieOn},
		clk:   &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		sigc:  make(chan os.Signal, 8),
		done:  make(chan int, 1),
		log:   &syncBuffer{},
		dir:   t.TempDir(),
		moves: map[[2]state]bool{},
	}
	o := Options{Config: parse(t, m.dir, text), Starter: m.st, Env: os.Environ(), Stdout: io.Discard, Stderr: io.Discard,
		Log: logging.New(m.log, logging.Console, logging.DebugLevel), Clock: m.clk}
	if opts != nil {
		opts(&o)
	}
	m.s = New(o)
	// Every move still goes through checkMoves (TestMain), and is noted
	// for this machine. Set before Run starts, restored after it
	// returned: the loop is the only caller of set.
	prev := transitionSeen
	transitionSeen = func(from, to state) {
		prev(from, to)
		m.mu.Lock()
		m.moves[[2]state{from, to}] = true
		m.mu.Unlock()
	}
	go func() { m.done <- m.s.Run(m.sigc) }()
	t.Cleanup(func() {
		m.stop()
		transitionSeen = prev
		if t.Failed() {
			t.Logf("log:\n%s", m.log.String())
		}
	})
	return m
}

// stop ends Run: SIGTERM, then the fake clock moved until it returns (the
// stop timeouts run on it).
func (m *machine) stop() {
	if m.returned {
		return
	}
	select {
	case m.sigc <- syscall.SIGTERM:
	default:
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		m.clk.Advance(time.Hour)
		select {
		case code := <-m.done:
			m.status, m.returned = code, true
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.t.Errorf("Run did not return after SIGTERM and hours of fake time")
			return
		}
	}
}

// wait waits for Run to return on its own and gives its status.
func (m *machine) wait(what string) int {
	m.t.Helper()
	if m.returned {
		return m.status
	}
	select {
	case code := <-m.done:
		m.status, m.returned = code, true
		return code
	case <-time.After(10 * time.Second):
		m.t.Fatalf("%s: Run did not return", what)
	}
	return 0
}

func (m *machine) saw(from, to state) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.moves[[2]state{from, to}]
}

func (m *machine) pidOf(name string) int {
	for _, x := range m.s.Status() {
		if x.Name == name {
			return x.Pid
		}
	}
	return 0
}

// run does the steps: TestMachine's actions, and "signal SIG" (to Run,
// not waited for), "reload" (Supervisor.Reload), "end CODE" (Run returns
// on its own, with CODE). An expected state "gone" is a service no longer
// in the status.
func (m *machine) run(steps []step) {
	t := m.t
	t.Helper()
	for i, sp := range steps {
		f := strings.Fields(sp.do)
		switch {
		case len(f) == 0:
		case f[0] == "exit":
			var code int
			fmt.Sscan(f[2], &code)
			pid := m.pidOf(f[1])
			if pid == 0 {
				t.Fatalf("step %d (%s): %s has no process", i, sp.do, f[1])
			}
			m.st.exit(pid, code)
		case f[0] == "advance":
			d, _ := time.ParseDuration(f[1])
			m.s.Status() // the loop has taken what came before
			m.clk.Advance(d)
		case f[0] == "stop":
			if err := m.s.StopService(f[1]); err != nil {
				t.Fatalf("step %d (%s): %v", i, sp.do, err)
			}
		case f[0] == "start":
			if err := m.s.StartService(f[1]); err != nil {
				t.Fatalf("step %d (%s): %v", i, sp.do, err)
			}
		case f[0] == "restart":
			if err := m.s.RestartService(f[1]); err != nil {
				t.Fatalf("step %d (%s): %v", i, sp.do, err)
			}
		case f[0] == "reload":
			if err := m.s.Reload(); err != nil {
				t.Fatalf("step %d (%s): %v", i, sp.do, err)
			}
		case f[0] == "signal":
			sig := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "CHLD": syscall.SIGCHLD}[f[1]]
			if sig == 0 {
				t.Fatalf("step %d: unknown signal %s", i, f[1])
			}
			m.sigc <- sig
		case f[0] == "leave":
			m.leave(f[1])
		case f[0] == "drain":
			m.drain(f[1])
		case f[0] == "end":
			var want int
			fmt.Sscan(f[1], &want)
			if got := m.wait(fmt.Sprintf("step %d", i)); got != want {
				t.Fatalf("step %d: Run returned %d, want %d", i, got, want)
			}
			continue
		default:
			t.Fatalf("step %d: unknown action %q", i, sp.do)
		}
		for _, e := range strings.Fields(sp.expect) {
			name, want, _ := strings.Cut(e, "=")
			waitFor(t, fmt.Sprintf("step %d (%s): %s %s", i, sp.do, name, want), func() bool {
				for _, x := range m.s.Status() {
					if x.Name == name {
						return x.State == want
					}
				}
				return want == "gone"
			})
		}
	}
}

// leave makes the service's fake process leave a real one behind: a sleep
// in a process group of its own, whose leader's pid the fake process's
// exit gives, as a leader's exit does.
func (m *machine) leave(name string) {
	t := m.t
	t.Helper()
	pid := m.pidOf(name)
	if pid == 0 {
		t.Fatalf("leave: %s has no process", name)
	}
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Reaped here (or by the shared reaper of other tests), so that the
	// group empties once the supervisor kills it.
	go cmd.Wait()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	m.st.mu.Lock()
	if m.st.reports == nil {
		m.st.reports = map[int]int{}
	}
	m.st.reports[pid] = cmd.Process.Pid
	m.st.mu.Unlock()
}

// drain waits for the service to drain (its exit, on its way through the
// loop, left a process), then moves the fake clock in small steps until it
// no longer drains: its process group's recheck runs on that clock, its
// emptying on the real one.
func (m *machine) drain(name string) {
	t := m.t
	t.Helper()
	waitFor(t, name+" draining", func() bool { return m.stateOf(name) == draining })
	for deadline := time.Now().Add(30 * time.Second); m.stateOf(name) == draining; {
		if time.Now().After(deadline) {
			t.Fatalf("%s still draining", name)
		}
		m.clk.Advance(10 * time.Millisecond)
		time.Sleep(5 * time.Millisecond)
	}
}

// A move of the diagram, and a run of the supervisor that makes it.
type transitionCase struct {
	from, to state
	why      string // the diagram's label for it
	config   string
	dieOn    syscall.Signal
	reload   string // the configuration Reload reads, if any
	steps    []step
}

// Configurations the rows share. Stop mode "process": the fake pids are
// signalled through the fake starter, which records it.
const (
	oneService = `
[services.a]
command = ["true"]
restart = { delay = "1s" }
stop = { mode = "process", timeout = "5s" }
[services.keep]
command = ["true"]
stop = { mode = "process" }`
	neverRestarted = `
[services.a]
command = ["true"]
restart = { policy = "never" }
stop = { mode = "process" }
[services.keep]
command = ["true"]
stop = { mode = "process" }`
	// The fork fails before the starter is asked: its env file is missing.
	cannotStart = `
[services.a]
command = ["true"]
env_file = "@D@/absent.env"
restart = { policy = "%s", delay = "1s" }
[services.keep]
command = ["true"]
stop = { mode = "process" }`
	aJob = `
[services.job]
type = "oneshot"
command = ["true"]
schedule = "@every 1s"
stop = { mode = "process" }
[services.keep]
command = ["true"]
stop = { mode = "process" }`
	// web depends on db; stop timeouts and the shutdown's are an hour, so
	// only a signal to initbox ends the stop.
	webOnDB = `
[init]
shutdown_timeout = "1h"
[services.db]
command = ["true"]
stop = { mode = "process", timeout = "1h" }
[services.web]
command = ["true"]
depends_on = { db = "started" }
stop = { mode = "process", timeout = "1h" }`
	// What its process leaves in its process group gets SIGKILL at once
	// (stop mode mixed, without a cgroup); its restart waits an hour.
	leaves = `
[services.a]
command = ["true"]
restart = { policy = "%s", delay = "1h", max_delay = "1h" }
stop = { mode = "mixed", timeout = "5s" }
[services.keep]
command = ["true"]
stop = { mode = "process" }`
	// Not ready within ready.timeout: stopped, and its exit is a failure.
	notReady = `
[services.a]
type = "notify"
command = ["true"]
ready = { timeout = "1s" }
restart = { policy = "%s", delay = "1s" }
stop = { mode = "process", timeout = "5s" }
[services.keep]
command = ["true"]
stop = { mode = "process" }`
)

var transitionCases = []transitionCase{
	{from: waiting, to: running, why: "dependencies hold, forked", config: `
[services.db]
command = ["true"]
stop = { mode = "process" }
[services.web]
command = ["true"]
depends_on = { db = "started" }
stop = { mode = "process" }`, steps: []step{{"", "db=running web=running"}}},
	{from: waiting, to: unstarted, why: "fork or exec failed", config: fmt.Sprintf(cannotStart, "never"),
		steps: []step{{"", "a=failed keep=running"}}},
	{from: waiting, to: finished, why: "a dependency failed for good", config: `
[services.gate]
type = "oneshot"
command = ["true"]
stop = { mode = "process" }
[services.web]
command = ["true"]
depends_on = { gate = "succeeded" }
stop = { mode = "process" }
[services.keep]
command = ["true"]
stop = { mode = "process" }`, steps: []step{{"", "gate=running web=waiting"}, {"exit gate 1", "gate=failed web=failed"}}},
	{from: waiting, to: stopped, why: "disabled", config: `
[services.a]
command = ["true"]
enabled = false
[services.keep]
command = ["true"]
stop = { mode = "process" }`, steps: []step{{"", "a=stopped keep=running"}}},
	{from: waiting, to: scheduled, why: "a job waits for its time", config: aJob,
		steps: []step{{"", "job=scheduled keep=running"}}},

	{from: unstarted, to: backoff, why: "its failure, restart policy", config: fmt.Sprintf(cannotStart, "on-failure"),
		steps: []step{{"", "a=backoff keep=running"}}},
	{from: unstarted, to: finished, why: "its failure, no restart", config: fmt.Sprintf(cannotStart, "never"),
		steps: []step{{"", "a=failed keep=running"}}},
	// gate's failure, in one pass of schedule: bad (after gate completed)
	// fails its fork, then ess (after gate succeeded) can never start and,
	// essential, stops everything; bad's failure arrives during the stop.
	{from: unstarted, to: stopped, why: "shutdown", config: `
[services.gate]
type = "oneshot"
command = ["true"]
stop = { mode = "process" }
[services.bad]
command = ["true"]
env_file = "@D@/absent.env"
depends_on = { gate = "completed" }
[services.ess]
essential = true
command = ["true"]
depends_on = { gate = "succeeded" }
stop = { mode = "process" }`, steps: []step{{"", "gate=running"}, {"exit gate 1", ""}, {"end 1", ""}}},

	{from: running, to: stopping, why: "ctl stop", config: oneService,
		steps: []step{{"", "a=running"}, {"stop a", "a=stopping"}}},
	{from: running, to: backoff, why: "exited, restart policy", config: oneService,
		steps: []step{{"", "a=running"}, {"exit a 3", "a=backoff"}}},
	{from: running, to: finished, why: "exited, no restart", config: neverRestarted,
		steps: []step{{"", "a=running"}, {"exit a 3", "a=failed"}}},
	// The shutdown stops web (db's dependent) first; db exits on its own
	// meanwhile.
	{from: running, to: stopped, why: "exited while initbox stops", config: `
[init]
shutdown_timeout = "1h"
[services.db]
command = ["true"]
stop = { mode = "process" }
[services.web]
command = ["true"]
depends_on = { db = "started" }
stop = { mode = "process" }`, steps: []step{{"", "db=running web=running"}, {"signal TERM", "web=stopping db=running"}, {"exit db 0", "db=stopped"}}},

	{from: stopping, to: stopped, why: "exited, then = stay", config: oneService,
		steps: []step{{"", "a=running"}, {"stop a", "a=stopping"}, {"exit a 0", "a=stopped"}}},
	{from: stopping, to: waiting, why: "exited, then = restart", config: oneService,
		steps: []step{{"", "a=running"}, {"restart a", "a=stopping"}, {"exit a 0", "a=running"}}},
	{from: stopping, to: backoff, why: "exited after a failed run, restarted", config: fmt.Sprintf(notReady, "on-failure"), dieOn: syscall.SIGTERM,
		steps: []step{{"", "a=starting"}, {"advance 1s", "a=backoff"}}},
	{from: stopping, to: finished, why: "exited after a failed run, not restarted", config: fmt.Sprintf(notReady, "never"), dieOn: syscall.SIGTERM,
		steps: []step{{"", "a=starting"}, {"advance 1s", "a=failed"}}},

	{from: stopping, to: killing, why: "stop.timeout passed", config: oneService,
		steps: []step{{"", "a=running"}, {"stop a", "a=stopping"}, {"advance 4s", "a=stopping"}, {"advance 1s", "a=stopped"}}},
	// The first SIGTERM stops web, db's dependent, which ignores it; the
	// second kills both, db while it still runs.
	{from: running, to: killing, why: "a second SIGTERM", config: webOnDB,
		steps: []step{{"", "db=running web=running"}, {"signal TERM", "web=stopping db=running"}, {"signal TERM", ""}, {"end 1", ""}}},

	{from: killing, to: stopped, why: "exited, then = stay", config: oneService,
		steps: []step{{"", "a=running"}, {"stop a", "a=stopping"}, {"advance 5s", "a=stopped"}}},
	{from: killing, to: waiting, why: "exited, then = restart", config: oneService,
		steps: []step{{"", "a=running"}, {"restart a", "a=stopping"}, {"advance 5s", "a=running"}}},
	{from: killing, to: backoff, why: "exited after a failed run, restarted", config: fmt.Sprintf(notReady, "on-failure"),
		steps: []step{{"", "a=starting"}, {"advance 1s", "a=stopping"}, {"advance 5s", "a=backoff"}}},
	{from: killing, to: finished, why: "exited after a failed run, not restarted", config: fmt.Sprintf(notReady, "never"),
		steps: []step{{"", "a=starting"}, {"advance 1s", "a=stopping"}, {"advance 5s", "a=failed"}}},

	{from: running, to: draining, why: "exited, processes left", config: fmt.Sprintf(leaves, "on-failure"),
		steps: []step{{"", "a=running"}, {"leave a", ""}, {"exit a 3", "a=backoff"}, {"drain a", "a=backoff"}}},
	{from: stopping, to: draining, why: "exited, processes left", config: fmt.Sprintf(leaves, "on-failure"), dieOn: syscall.SIGTERM,
		steps: []step{{"", "a=running"}, {"leave a", ""}, {"stop a", "a=stopping"}, {"drain a", "a=stopped"}}},
	{from: killing, to: draining, why: "exited, processes left", config: fmt.Sprintf(leaves, "on-failure"),
		steps: []step{{"", "a=running"}, {"leave a", ""}, {"stop a", "a=stopping"}, {"advance 5s", "a=stopping"}, {"exit a 137", "a=stopping"}, {"drain a", "a=stopped"}}},
	{from: draining, to: stopped, why: "nothing left, afterDrain = stopped", config: fmt.Sprintf(leaves, "on-failure"), dieOn: syscall.SIGTERM,
		steps: []step{{"", "a=running"}, {"leave a", ""}, {"stop a", "a=stopping"}, {"drain a", "a=stopped"}}},
	{from: draining, to: waiting, why: "nothing left, afterDrain = waiting", config: fmt.Sprintf(leaves, "on-failure"), dieOn: syscall.SIGTERM,
		steps: []step{{"", "a=running"}, {"leave a", ""}, {"restart a", ""}, {"drain a", "a=running"}}},
	{from: draining, to: backoff, why: "nothing left, afterDrain = backoff", config: fmt.Sprintf(leaves, "on-failure"),
		steps: []step{{"", "a=running"}, {"leave a", ""}, {"exit a 3", "a=backoff"}, {"drain a", "a=backoff"}}},
	{from: draining, to: finished, why: "nothing left, afterDrain = finished", config: fmt.Sprintf(leaves, "never"),
		steps: []step{{"", "a=running"}, {"leave a", ""}, {"exit a 0", "a=stopping"}, {"drain a", "a=exited"}}},

	{from: backoff, to: waiting, why: "restart delay passed", config: oneService,
		steps: []step{{"", "a=running"}, {"exit a 3", "a=backoff"}, {"advance 999ms", "a=backoff"}, {"advance 1ms", "a=running"}}},
	{from: backoff, to: stopped, why: "ctl stop", config: oneService,
		steps: []step{{"", "a=running"}, {"exit a 3", "a=backoff"}, {"stop a", "a=stopped"}, {"advance 1h", "a=stopped"}}},

	{from: stopped, to: waiting, why: "ctl start", config: oneService, dieOn: syscall.SIGTERM,
		steps: []step{{"", "a=running"}, {"stop a", "a=stopped"}, {"start a", "a=running"}}},
	{from: finished, to: waiting, why: "ctl start", config: neverRestarted,
		steps: []step{{"", "a=running"}, {"exit a 3", "a=failed"}, {"start a", "a=running"}}},
	{from: finished, to: stopped, why: "removed by a reload", config: neverRestarted, reload: `
[services.keep]
command = ["true"]
stop = { mode = "process" }`,
		steps: []step{{"", "a=running"}, {"exit a 3", "a=failed"}, {"reload", "a=gone keep=running"}}},

	{from: finished, to: scheduled, why: "a job's run ended", config: aJob,
		steps: []step{{"", "job=scheduled"}, {"advance 1s", "job=running"}, {"exit job 0", "job=scheduled"}}},
	{from: scheduled, to: waiting, why: "the job's time came", config: aJob,
		steps: []step{{"", "job=scheduled"}, {"advance 1s", "job=running"}}},
	{from: scheduled, to: stopped, why: "ctl stop", config: aJob,
		steps: []step{{"", "job=scheduled"}, {"stop job", "job=stopped"}, {"advance 5s", "job=stopped"}}},
}

// TestTransitions: each row's run makes its move (and, through TestMain,
// no move the table lacks).
func TestTransitions(t *testing.T) {
	for _, c := range transitionCases {
		t.Run(fmt.Sprintf("%s-%s %s", c.from, c.to, c.why), func(t *testing.T) {
			var opts func(*Options)
			if c.reload != "" {
				next := parse(t, t.TempDir(), c.reload)
				opts = func(o *Options) {
					o.Reload = func() (*config.Config, error) { return next, nil }
				}
			}
			m := newMachine(t, c.config, c.dieOn, opts)
			m.run(c.steps)
			// A move is noted before the status shows its end; the loop
			// has made it by the time the last expectation held.
			if !m.saw(c.from, c.to) {
				t.Errorf("no move %s --> %s", c.from, c.to)
			}
		})
	}
}

// TestTransitionsCovered: the rows above make every move of the table,
// so a move added to the diagram needs a row.
func TestTransitionsCovered(t *testing.T) {
	for from, tos := range transitions {
		for _, to := range tos {
			if !slices.ContainsFunc(transitionCases, func(c transitionCase) bool { return c.from == state(from) && c.to == to }) {
				t.Errorf("%s --> %s has no row in transitionCases", state(from), to)
			}
		}
	}
}

// TestReloadRemovesDraining (issue #15): a service a reload removes while
// what its last run left is being stopped, on its way to start again,
// does not start once drained: it is dropped.
func TestReloadRemovesDraining(t *testing.T) {
	next := parse(t, t.TempDir(), "[services.keep]\ncommand = [\"true\"]\nstop = { mode = \"process\" }\n")
	m := newMachine(t, fmt.Sprintf(leaves, "on-failure"), syscall.SIGTERM, func(o *Options) {
		o.Reload = func() (*config.Config, error) { return next, nil }
	})
	m.run([]step{{"", "a=running"}, {"leave a", ""}, {"restart a", ""}})
	waitFor(t, "a draining", func() bool { return m.stateOf("a") == draining })
	m.run([]step{{"reload", ""}, {"drain a", "a=gone keep=running"}})
	if n := strings.Count(m.log.String(), `started	{"service": "a"`); n != 1 {
		t.Errorf("a started %d times, want once", n)
	}
}
