//go:build linux

package supervisor

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/reaper"
)

// The state machine driven without processes: a fake starter whose
// "processes" exit when the test says (or on a signal, as told), and a
// fake clock the test moves by hand.

// fakeStarter hands out pids above the kernel's pid_max (2^22), so that a
// group kill the supervisor sends itself finds no one.
type fakeStarter struct {
	mu      sync.Mutex
	next    int
	exits   map[int]chan reaper.Exit
	signals []string
	// dieOn: a signal a fake process dies of (0: none).
	dieOn syscall.Signal
	// reports: the pid a fake process's exit gives instead of its own,
	// that of a real process group it "left" (machine's "leave").
	reports map[int]int
}

func (f *fakeStarter) Start(func() (int, error)) (int, <-chan reaper.Exit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	pid := 1<<22 + f.next
	ch := make(chan reaper.Exit, 1)
	f.exits[pid] = ch
	return pid, ch, nil
}

func (f *fakeStarter) Signal(pid int, sig syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, fmt.Sprintf("%d:%d", pid, sig))
	if sig == f.dieOn || sig == syscall.SIGKILL {
		f.exitLocked(pid, syscall.WaitStatus(sig))
	}
	return nil
}

func (f *fakeStarter) exit(pid, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exitLocked(pid, syscall.WaitStatus(code<<8))
}

func (f *fakeStarter) exitLocked(pid int, ws syscall.WaitStatus) {
	// reaper.Exit holds x/sys/unix's WaitStatus, the same bits.
	if ch := f.exits[pid]; ch != nil {
		as := pid
		if r := f.reports[pid]; r != 0 {
			as = r
		}
		ch <- reaper.Exit{Pid: as, Status: unix.WaitStatus(ws)}
		delete(f.exits, pid)
	}
}

// fakeClock fires its timers when Advance passes them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	f    func()
	live bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f, live: true}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.live
	t.live = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.live
	t.at, t.live = t.c.now.Add(d), true
	return was
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for _, t := range c.timers {
		if t.live && !t.at.After(c.now) {
			t.live = false
			due = append(due, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// step is one move of a machine test: an action, then the states to
// expect (name=state, as `initbox ctl status` names them).
type step struct {
	do     string // "exit NAME CODE", "advance D", "stop NAME", "restart NAME", "start NAME", "term"
	expect string // "a=running b=backoff"
}

func TestMachine(t *testing.T) {
	for _, c := range []struct {
		name, config string
		dieOn        syscall.Signal
		steps        []step
		status       int // Run's result, when the last step ends it
	}{
		{
			name: "restart with backoff, then the start limit",
			config: `
[services.a]
command = ["true"]
restart = { delay = "1s", limit_burst = 2, limit_interval = "1m" }
stop = { mode = "process" }
[services.b]
command = ["true"]
stop = { mode = "process" }`,
			steps: []step{
				{"", "a=running b=running"},
				{"exit a 3", "a=backoff"},
				{"advance 999ms", "a=backoff"},
				{"advance 1ms", "a=running"},
				{"exit a 3", "a=backoff"},
				{"advance 2s", "a=failed"},
			},
		},
		{
			name: "stop timeout then SIGKILL; ctl start; restart",
			config: `
[services.a]
command = ["true"]
stop = { mode = "process", timeout = "5s" }`,
			steps: []step{
				{"", "a=running"},
				{"stop a", "a=stopping"},
				{"advance 4s", "a=stopping"},
				{"advance 1s", "a=stopped"},
				{"start a", "a=running"},
				{"restart a", "a=stopping"},
				{"advance 5s", "a=running"},
			},
		},
		{
			name:   "a stop signal it dies of; oneshot then dependent; shutdown",
			dieOn:  syscall.SIGTERM,
			status: 0,
			config: `
[services.job]
type = "oneshot"
command = ["true"]
stop = { mode = "process" }
[services.web]
command = ["true"]
depends_on = { job = "succeeded" }
stop = { mode = "process" }`,
			steps: []step{
				{"", "job=running web=waiting"},
				{"exit job 0", "job=exited web=running"},
				{"stop web", "web=stopped"},
				{"term", ""},
			},
		},
		{
			// Issue #18: a job between runs is scheduled; its times start
			// it, a time during a run is skipped, seven runs in seven
			// seconds do not hit the start limit (5 in 10 s), a failed run
			// keeps the schedule, ctl stop turns it off and ctl start runs
			// it now and turns it back on.
			name: "a scheduled job",
			config: `
[services.job]
type = "oneshot"
command = ["true"]
schedule = "@every 1s"
stop = { mode = "process" }
[services.app]
command = ["true"]
stop = { mode = "process" }`,
			dieOn:  syscall.SIGTERM,
			status: 0,
			steps: []step{
				{"", "job=scheduled app=running"},
				{"advance 999ms", "job=scheduled"},
				{"advance 1ms", "job=running"},
				{"advance 1s", "job=running"},
				{"advance 1s", "job=running"},
				{"exit job 0", "job=scheduled"},
				{"advance 1s", "job=running"},
				{"exit job 0", "job=scheduled"},
				{"advance 1s", "job=running"},
				{"exit job 0", "job=scheduled"},
				{"advance 1s", "job=running"},
				{"exit job 0", "job=scheduled"},
				{"advance 1s", "job=running"},
				{"exit job 0", "job=scheduled"},
				{"advance 1s", "job=running"},
				{"exit job 0", "job=scheduled"},
				{"advance 1s", "job=running"},
				{"exit job 0", "job=scheduled"},
				{"start job", "job=running"},
				{"exit job 1", "job=scheduled"},
				{"stop job", "job=stopped"},
				{"advance 5s", "job=stopped"},
				{"start job", "job=running"},
				{"exit job 0", "job=scheduled"},
				{"term", ""},
			},
		},
		{
			name: "a dependency failed for good leaves its running dependent alone",
			config: `
[services.db]
command = ["true"]
restart = { policy = "never" }
stop = { mode = "process" }
[services.web]
command = ["true"]
depends_on = { db = "healthy" }
stop = { mode = "process" }
[services.other]
command = ["true"]
stop = { mode = "process" }`,
			steps: []step{
				{"", "db=running web=running"},
				{"exit db 1", "db=failed web=running"},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			st := &fakeStarter{exits: map[int]chan reaper.Exit{}, dieOn: c.dieOn}
			clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			var logBuf syncBuffer
			s := New(Options{Config: parse(t, dir, c.config), Starter: st, Env: os.Environ(), Stdout: io.Discard, Stderr: io.Discard,
				Log: logging.New(&logBuf, logging.Console, logging.DebugLevel), Clock: clk})
			sigc := make(chan os.Signal, 1)
			done := make(chan int, 1)
			go func() { done <- s.Run(sigc) }()
			defer func() {
				select {
				case sigc <- syscall.SIGTERM:
				default:
				}
				// The stop timeouts run on the fake clock: moved until Run
				// returns, since the SIGTERM is taken when the loop gets to it.
				for {
					clk.Advance(time.Hour)
					select {
					case <-done:
					case <-time.After(10 * time.Millisecond):
						continue
					}
					break
				}
				if t.Failed() {
					t.Logf("log:\n%s", logBuf.String())
				}
			}()
			pidOf := func(name string) int {
				for _, x := range s.Status() {
					if x.Name == name {
						return x.Pid
					}
				}
				return 0
			}
			for i, sp := range c.steps {
				f := strings.Fields(sp.do)
				switch {
				case len(f) == 0:
				case f[0] == "exit":
					var code int
					fmt.Sscan(f[2], &code)
					st.exit(pidOf(f[1]), code)
				case f[0] == "advance":
					d, _ := time.ParseDuration(f[1])
					s.Status() // the loop has taken what came before
					clk.Advance(d)
				case f[0] == "stop":
					_ = s.StopService(f[1])
				case f[0] == "start":
					_ = s.StartService(f[1])
				case f[0] == "restart":
					_ = s.RestartService(f[1])
				case f[0] == "term":
					sigc <- syscall.SIGTERM
					select {
					case got := <-done:
						done <- got
						if got != c.status {
							t.Fatalf("step %d: Run returned %d, want %d", i, got, c.status)
						}
					case <-time.After(5 * time.Second):
						t.Fatalf("step %d: Run did not return after SIGTERM", i)
					}
					continue
				}
				for _, e := range strings.Fields(sp.expect) {
					name, want, _ := strings.Cut(e, "=")
					waitFor(t, fmt.Sprintf("step %d (%s): %s %s", i, sp.do, name, want), func() bool {
						return statusOf(t, s, name).State == want
					})
				}
			}
		})
	}
}

// stateOf is the service's state, read on Run's goroutine; -1 once a
// reload dropped it.
func (m *machine) stateOf(name string) state {
	st := state(-1)
	if err := m.s.do(func() {
		if v := m.s.svcs[name]; v != nil {
			st = v.state
		}
	}); err != nil {
		m.t.Fatal(err)
	}
	return st
}

// TestKilling (issue #15): a stop whose stop.timeout passed is killing:
// ctl status still says stopping, its stop timeout sends no second
// SIGKILL, and ctl restart or stop decide what its exit leads to, as for a
// stopping service.
func TestKilling(t *testing.T) {
	m := newMachine(t, oneService, 0, func(o *Options) {
		o.Starter = immortal{o.Starter.(*fakeStarter)}
	})
	m.run([]step{{"", "a=running"}})
	pid := m.pidOf("a")
	m.run([]step{{"stop a", "a=stopping"}, {"advance 5s", "a=stopping"}})
	if st := m.stateOf("a"); st != killing {
		t.Fatalf("state %s after the stop timeout, want killing", st)
	}
	if !m.st.signalled(pid, syscall.SIGKILL) {
		t.Fatal("no SIGKILL at the stop timeout")
	}
	m.run([]step{{"advance 1h", "a=stopping"}, {"restart a", "a=stopping"}})
	m.st.mu.Lock()
	kills := strings.Count(strings.Join(m.st.signals, " "), fmt.Sprintf("%d:%d", pid, syscall.SIGKILL))
	m.st.mu.Unlock()
	if kills != 1 {
		t.Errorf("%d SIGKILLs, want 1", kills)
	}
	// Its exit, at last: ctl restart asked last, so it starts again.
	m.st.exit(pid, 137)
	m.run([]step{{"", "a=running"}})
	if !m.saw(killing, waiting) {
		t.Error("no move killing --> waiting")
	}
	pid = m.pidOf("a")
	m.run([]step{{"restart a", "a=stopping"}, {"advance 5s", "a=stopping"}, {"stop a", "a=stopping"}})
	m.st.exit(pid, 137)
	m.run([]step{{"", "a=stopped"}, {"advance 1h", "a=stopped"}})
	// keep, immortal too, exits on its own once the shutdown began (not
	// after the shutdown deadline's real seconds).
	keep := m.pidOf("keep")
	m.run([]step{{"signal TERM", "keep=stopping"}})
	m.st.exit(keep, 0)
	m.run([]step{{"end 1", ""}})
}

// TestEventsOutOfState (issue #15): a run's event in a state that has no
// use for it (a timer that fired as the state changed, an exit after the
// shutdown gave up on the process) changes nothing: each handler says what
// each state does with it.
func TestEventsOutOfState(t *testing.T) {
	m := newMachine(t, oneService, 0, nil)
	deliver := func(kinds ...eventKind) {
		t.Helper()
		if err := m.s.do(func() {
			v := m.s.svcs["a"]
			for _, k := range kinds {
				m.s.handle(event{name: "a", gen: v.gen, kind: k, exit: reaper.Exit{Pid: 1<<22 + 999}, err: fmt.Errorf("refused")})
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	unchanged := func(want state) {
		t.Helper()
		if st := m.stateOf("a"); st != want {
			t.Fatalf("state %s, want %s", st, want)
		}
	}
	m.run([]step{{"", "a=running"}})
	pid := m.pidOf("a")
	deliver(evRestart, evStopTimeout, evReadyTimeout)
	unchanged(running)
	if m.st.signalled(pid, syscall.SIGKILL) {
		t.Error("a stop timeout killed a running service")
	}
	m.run([]step{{"exit a 3", "a=backoff"}})
	deliver(evStopTimeout, evReadyTimeout, evWatchdog, evHealth)
	unchanged(backoff)
	m.run([]step{{"stop a", "a=stopped"}})
	deliver(evExit, evRestart, evStopTimeout, evReadyTimeout, evWatchdog, evHealth)
	unchanged(stopped)
	if !strings.Contains(m.log.String(), "exit ignored: the service has no process") {
		t.Error("the exit in stopped is not logged")
	}
	m.run([]step{{"advance 1h", "a=stopped"}})
}
