//go:build linux

// Package supervisor runs the services of a configuration: it starts them
// in dependency order, restarts them with backoff within their limits,
// stops them in reverse order within the shutdown budget, and chooses
// initbox's exit status.
//
// All state lives in one goroutine, the one that calls Run; exits (from the
// reaper), timers and signals reach it as events. Nothing polls: an idle
// supervisor is blocked in a select (DESIGN: "Idle is idle"). Processes are
// started only through the Starter, whose Start holds the reaper's lock
// across the fork (DESIGN: "One owner of wait").
package supervisor

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/cgroup"
	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/launch"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/notify"
	"github.com/initbox/initbox/output"
	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
)

// Starter starts processes and signals them; *reaper.Reaper is one.
type Starter interface {
	Start(fork func() (int, error)) (int, <-chan reaper.Exit, error)
	Signal(pid int, sig syscall.Signal) error
}

// Options configure a Supervisor.
type Options struct {
	Config  *config.Config
	Starter Starter
	// Sweep, if not nil, stops what is left once every service has
	// stopped (reaper.Reaper.Sweep); it runs only when Config.Init.Grace
	// is positive and initbox is PID 1 or a subreaper.
	Sweep func(grace time.Duration, cut <-chan os.Signal) reaper.SweepResult
	// Fork wraps every fork (*signals.Intake); nil forks as is.
	Fork launch.Forker
	// Env is initbox's own environment, what services inherit from.
	Env []string
	// Stdout and Stderr are initbox's own; services' prefixed lines go
	// there.
	Stdout, Stderr io.Writer
	Log            *logging.Logger
	// ImplicitMain marks the "main" service added by `initbox run --
	// PROGRAM`: it starts only once every other enabled service is ready
	// or has failed for good, as s6-overlay's CMD does.
	ImplicitMain string
	// Clock is the supervisor's time; nil is the real one. Tests set it.
	Clock Clock
	// Cgroups, if not nil, gives each service a cgroup of its own.
	Cgroups *cgroup.Tree
	// Reload, if not nil, reads the configuration again, validated, for
	// SIGHUP and Supervisor.Reload.
	Reload func() (*config.Config, error)
	// Worked, if not nil, is called on Run's goroutine after each piece
	// of work (an event, a request, a signal): `initbox run` gives memory
	// back a while after work (mem.Trimmer, issue #17).
	Worked func()
}

// A Supervisor runs one configuration once.
type Supervisor struct {
	opts     Options
	launcher *launch.Launcher
	log      *logging.Logger
	cfg      *config.Config
	order    []string
	svcs     map[string]*service
	events   chan event
	out      *output.Sink
	errOut   *output.Sink
	// copies counts the goroutines copying services' output; Run waits
	// for them before it returns. Add is called only by Run's goroutine.
	copies sync.WaitGroup
	clock  Clock

	// reqs carries calls from other goroutines (api.go); ended is closed
	// when Run returns, so that no call waits for it forever.
	reqs  chan request
	ended chan struct{}
	// orphaned is told (coalesced) when the reaper reaps an orphan.
	orphaned chan struct{}
	waiters  []*waiter

	gens int // runs started, of all services: a run's gen is never reused

	shuttingDown bool
	byUser       bool // the stop was asked for by a signal
	deadline     *time.Timer
	deadlineAt   time.Time // when deadline fires
	stopBy       time.Time // when the shutdown_timeout of the stop ends
	exitSet      bool
	exitCode     int
	exitWhy      string
}

type event struct {
	name string
	gen  int
	kind eventKind
	exit reaper.Exit
	pgid int            // evLeftoverKill: the process group to kill
	cg   *cgroup.Group  // evLeftoverKill: the leaf to kill, instead
	msg  notify.Message // evNotify
	err  error          // evReady, evHealth: the check's failure
	// evGroupCheck: the wait before this check, doubled for the next
	delay time.Duration
	tick  int      // evJobTime
	proc  *Process // evExecExit
}

// send hands ev to Run's loop, or drops it once Run has returned: a timer
// or an exit that comes late must not block its goroutine forever (issue
// #15).
func (s *Supervisor) send(ev event) {
	select {
	case s.events <- ev:
	case <-s.ended:
		if ev.msg.BarrierFD != nil {
			ev.msg.BarrierFD.Close() // its sender waits for this
		}
	}
}

// after sends ev to the loop once d has passed, unless stopped before.
func (s *Supervisor) after(d time.Duration, ev event) Timer {
	return s.clock.AfterFunc(d, func() { s.send(ev) })
}

func (s *Supervisor) now() time.Time { return s.clock.Now() }

// Clock is the time the supervisor's decisions go by: real, or a fake one
// that tests move by hand.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is what Clock.AfterFunc returns; *time.Timer is one.
type Timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

type eventKind int

const (
	evExit eventKind = iota
	evRestart
	evStopTimeout
	evLeftoverKill
	evNotify       // an sd_notify message (any run: the socket outlives them)
	evReady        // the ready check ended (err: it failed for good)
	evReadyTimeout // not ready within ready.timeout
	evHealth       // one health check's result
	evWatchdog     // no WATCHDOG=1 within health.watchdog
	evGroupCheck   // is the process group a run left empty yet?
	evJobTime      // a job's time came (tick: which arming)
	evExecExit     // a program started by Exec exited (proc)
)

// What `initbox ctl logs` can show of each service: 20 services take at
// most 1.3 MiB for it (issue #8's budget is 6 MiB in all).
const (
	logLines = 500
	logBytes = 64 << 10
)

// New returns a Supervisor for opts.Config, which must be valid.
func New(opts Options) *Supervisor {
	s := &Supervisor{
		opts:     opts,
		log:      opts.Log,
		cfg:      opts.Config,
		order:    slices.Clone(opts.Config.Order),
		svcs:     map[string]*service{},
		events:   make(chan event, 64),
		reqs:     make(chan request),
		ended:    make(chan struct{}),
		orphaned: make(chan struct{}, 1),
		out:      output.NewSink(opts.Stdout),
		errOut:   output.NewSink(opts.Stderr),
		clock:    opts.Clock,
	}
	if s.clock == nil {
		s.clock = realClock{}
	}
	// s.cfg is the running configuration: after a reload, the first one
	// must not stay alive in s.opts.
	s.opts.Config = nil
	s.launcher = launch.New(opts.Starter, opts.Fork)
	for _, name := range s.order {
		c := s.cfg.Services[name]
		s.svcs[name] = &service{cfg: c, delay: c.Restart.Delay, logs: output.NewRing(logLines, logBytes)}
	}
	return s
}

// Run starts the services and returns initbox's exit status once all have
// stopped: the main service's status (128+N for signal N); else that of an
// essential service that failed for good; else, after a stop by signal, 0
// when every service stopped cleanly and 1 otherwise; else, when every
// service simply finished, 0 if all succeeded and 1 otherwise.
//
// SIGTERM and SIGINT from sigs stop everything in reverse dependency order;
// a second one kills everything at once. Other signals that initbox
// forwards go to the main service and to services with forward_signals.
func (s *Supervisor) Run(sigs <-chan os.Signal) int {
	defer close(s.ended)
	enabled := 0
	for _, name := range s.order {
		if s.cfg.Services[name].Enabled {
			enabled++
		}
	}
	s.log.Info("supervisor starting", logging.Int("enabled", enabled), logging.Int("disabled", len(s.order)-enabled))
	if !s.checkResources() {
		return 1
	}
	cloexecInherited()
	if o, ok := s.opts.Starter.(interface{ SetOrphan(func(reaper.Exit)) }); ok {
		// A leftover's exit may empty the process group a service is
		// draining; the loop looks. Coalesced: never blocks the reaper.
		o.SetOrphan(func(reaper.Exit) {
			select {
			case s.orphaned <- struct{}{}:
			default:
			}
		})
	}
	var cgEvents <-chan struct{}
	if s.opts.Cgroups != nil {
		cgEvents = s.opts.Cgroups.Events()
	}
	var giveUp <-chan time.Time
	panics := 0
	step := func(f func()) {
		// A bug must not take PID 1 down with every service (DESIGN: "an
		// internal error shuts down in order"): the panic is logged and
		// everything stops; a second one, amid the stop, kills everything.
		defer func() {
			if v := recover(); v != nil {
				panics++
				s.log.Error("internal error: recovered from panic; stopping everything", logging.String("panic", fmt.Sprint(v)), logging.String("stack", string(debug.Stack())))
				if panics > 1 || s.shuttingDown {
					s.killAll()
				}
				s.shutdown(fmt.Sprintf("internal error: %v", v), 1, true)
			}
		}()
		f()
	}
	step(func() {
		s.schedule()
		s.checkFinished()
	})
	for !s.done() && panics < maxPanics {
		var deadline <-chan time.Time
		if s.deadline != nil {
			deadline = s.deadline.C
		}
		step(func() {
			select {
			case ev := <-s.events:
				s.handle(ev)
			case <-cgEvents:
				s.cgroupEvents()
			case <-s.orphaned:
				// Most orphans empty no group: the services are walked
				// again only when one drained.
				if s.checkGroups() {
					s.schedule()
					s.checkFinished()
				}
			case r := <-s.reqs:
				defer close(r.done)
				r.fn()
			case sig := <-sigs:
				s.signal(sig.(syscall.Signal))
			case <-deadline:
				s.deadline = nil
				s.log.Warn("shutdown timeout reached: killing every service left", logging.Duration("shutdown_timeout", s.cfg.Init.ShutdownTimeout))
				s.killAll()
				giveUp = time.After(drainGiveUp)
			case <-giveUp:
				giveUp = nil
				s.abandonDrains()
			}
			s.checkWaiters()
		})
		if s.opts.Worked != nil {
			s.opts.Worked()
		}
	}
	// Also when the loop ended by giving up on processes that survived
	// SIGKILL, or on panics: the status is still settled.
	s.finishStatus()
	if s.deadline != nil {
		s.deadline.Stop()
	}
	for _, v := range s.svcs {
		v.stopChecks()
		if v.notify != nil {
			v.notify.Close()
		}
	}
	s.sweep(sigs)
	s.drainOutput()
	s.log.Info("supervisor done", logging.Int("status", s.exitCode), logging.String("reason", s.exitWhy))
	return s.exitCode
}

// maxPanics ends Run after this many recovered panics, even with services
// left: their final sweep (PID 1) or initbox's exit ends them.
const maxPanics = 10

// done reports whether nothing runs and nothing will start.
func (s *Supervisor) done() bool {
	if !s.shuttingDown {
		return false
	}
	for _, v := range s.svcs {
		if v.state.live() || v.state == unstarted || v.state == draining || len(v.execs) > 0 {
			return false
		}
	}
	return true
}

func (s *Supervisor) sweep(sigs <-chan os.Signal) {
	if s.cfg.Init.Grace <= 0 || s.opts.Sweep == nil {
		return
	}
	cut, stop := signals.Watch(sigs, unix.SIGTERM, unix.SIGINT)
	res := s.opts.Sweep(s.cfg.Init.Grace, cut)
	stop()
	if res.Termed > 0 || res.Killed > 0 {
		s.log.Info("swept the processes left", logging.Int("termed", res.Termed), logging.Int("killed", res.Killed), logging.Duration("grace", s.cfg.Init.Grace))
	}
}

// outputDrain bounds the wait for services' output after the last service
// has stopped. The normal wait is next to nothing: a pipe reaches EOF when
// its writers exit. A process that escaped its service's stop (it left the
// process group, and no grace sweep ran) may hold a pipe open forever, and
// its lines are not worth more than this much of the exit, nor more than
// what is left of shutdown_timeout (docker stop kills at 10 s) beyond
// outputDrainMin.
const (
	outputDrain    = time.Second
	outputDrainMin = 100 * time.Millisecond
)

// drainOutput waits until every line services wrote before they stopped
// has been copied, so that the last lines of a service that has just exited
// are not lost when initbox exits: its exit can reach the loop before its
// copier has read the pipe to EOF.
func (s *Supervisor) drainOutput() {
	done := make(chan struct{})
	go func() {
		s.copies.Wait()
		close(done)
	}()
	wait := min(outputDrain, max(time.Until(s.stopBy), outputDrainMin))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("output of services still open after they stopped: the rest is dropped", logging.Duration("waited", wait))
	}
}

func (s *Supervisor) handle(ev event) {
	if ev.kind == evExecExit {
		// Not tied to a run: an exec may outlive the run it joined.
		s.execExited(ev.proc)
		s.checkFinished()
		return
	}
	v := s.svcs[ev.name]
	if v == nil {
		if ev.msg.BarrierFD != nil {
			ev.msg.BarrierFD.Close() // its sender waits for this
		}
		return
	}
	if ev.kind == evNotify {
		s.notifyEvent(ev.name, v, ev.msg)
		s.checkFinished()
		return
	}
	if ev.kind == evGroupCheck {
		drained := s.checkGroups()
		if v.pgid != 0 {
			d := min(2*ev.delay, time.Second)
			s.after(d, event{name: ev.name, kind: evGroupCheck, delay: d})
		}
		if drained {
			s.schedule()
			s.checkFinished()
		}
		return
	}
	if ev.kind == evJobTime {
		// Not tied to a run: a job's times come whatever its runs do.
		if ev.tick == v.jobTick {
			s.jobTime(ev.name, v)
		}
		s.checkFinished()
		return
	}
	if ev.kind == evLeftoverKill {
		// Not tied to a run: what any earlier run left must go.
		if ev.cg != nil {
			s.killDrain(ev.name, ev.cg)
		} else {
			s.killLeftovers(ev.name, ev.pgid)
		}
		// A group found empty ends its drain here: what waited for it
		// (a start, the stop's end) goes on now, not at the next event.
		s.schedule()
		s.checkFinished()
		return
	}
	if ev.gen != v.gen {
		return // a timer or exit of an earlier run
	}
	switch ev.kind {
	case evExit:
		s.exited(ev.name, v, ev.exit)
	case evRestart:
		s.restartDue(v)
	case evReady:
		s.readyEvent(ev.name, v, ev.err)
	case evReadyTimeout:
		s.readyTimedOut(ev.name, v)
	case evHealth:
		s.healthEvent(ev.name, v, ev.err)
	case evWatchdog:
		s.watchdogExpired(ev.name, v)
	case evStopTimeout:
		s.stopTimedOut(ev.name, v)
	}
	s.checkFinished()
}

// The handlers of a run's timers. Each begins with what each state does
// with its event (DESIGN: "every handler switches on the state first"); a
// timer stopped as the state changed may have fired already, so the others
// ignore it.

// restartDue: the restart delay of a service in backoff has passed.
func (s *Supervisor) restartDue(v *service) {
	switch v.state {
	case backoff:
		if s.shuttingDown {
			return // not so: the shutdown moves backoff to stopped
		}
		v.set(waiting, s.now())
		s.schedule()
	case draining:
		// Its exit led to backoff: once drained, it starts.
		if v.afterDrain == backoff && !s.shuttingDown {
			v.afterDrain = waiting
		}
	default:
		// Left backoff meanwhile (ctl stop, ctl start, a reload).
	}
}

// stopTimedOut: stop.timeout has passed since the stop signal.
func (s *Supervisor) stopTimedOut(name string, v *service) {
	switch v.state {
	case stopping:
		s.log.Warn("stop timeout: sending SIGKILL", logging.String("service", name), logging.Int("pid", v.pid), logging.Duration("timeout", v.cfg.Stop.Timeout))
		v.set(killing, s.now())
		s.kill(v, unix.SIGKILL)
	case killing:
		// killAll sent SIGKILL already.
	default:
		// It exited meanwhile.
	}
}

// readyTimedOut: ready.timeout (or a notify EXTEND_TIMEOUT_USEC=) has
// passed since the start.
func (s *Supervisor) readyTimedOut(name string, v *service) {
	switch v.state {
	case running:
		if v.checks != nil && !v.checks.ready {
			s.notReady(name, v, fmt.Sprintf("not ready within %s (ready.timeout)", v.cfg.Ready.Timeout))
		}
	default:
		// Stopping, killing: its readiness no longer matters; others: it
		// exited meanwhile.
	}
}

// watchdogExpired: no WATCHDOG=1 came within health.watchdog.
func (s *Supervisor) watchdogExpired(name string, v *service) {
	switch v.state {
	case running:
		s.unhealthy(name, v, fmt.Sprintf("watchdog: no WATCHDOG=1 within %s", v.cfg.Health.Watchdog))
	default:
		// Stopping, killing: the watchdog runs until the exit, and a
		// stop under way needs no health action; others: it exited
		// meanwhile.
	}
}

// killLeftovers sends SIGKILL to the process group that an exited run of
// service name left behind, if anything is still in it. A group's id is the
// pid of its first leader, which the kernel does not hand out again while
// the group has members; once it is empty, the pid may be reused, and a
// service started since then leads a group of that id itself: that one is
// spared.
func (s *Supervisor) killLeftovers(name string, pgid int) {
	for _, o := range s.svcs {
		if o.pid == pgid {
			return
		}
	}
	if unix.Kill(-pgid, 0) != nil {
		s.checkGroups()
		return
	}
	s.log.Warn("processes left by the service ignored SIGTERM: sending SIGKILL", logging.String("service", name), logging.Int("pgid", pgid))
	_ = unix.Kill(-pgid, unix.SIGKILL)
	s.after(groupRecheck, event{name: name, kind: evGroupCheck, delay: groupRecheck})
}

func (s *Supervisor) signal(sig syscall.Signal) {
	switch sig {
	case unix.SIGTERM, unix.SIGINT:
		if s.shuttingDown && s.byUser {
			s.log.Warn("second stop signal: killing every service", logging.String("signal", signals.Name(sig)))
			s.killAll()
			return
		}
		s.log.Info("stopping on signal", logging.String("signal", signals.Name(sig)))
		s.byUser = true
		s.shutdown("signal "+signals.Name(sig), 0, false)
		return
	}
	if sig == unix.SIGHUP && s.opts.Reload != nil {
		// As systemd and s6-svscan: HUP to the supervisor reloads its
		// configuration. `initbox ctl signal HUP NAME` reaches a service.
		s.log.Info("SIGHUP: reloading the configuration")
		s.reload()
		return
	}
	if signals.Classify(sig) != signals.Forward {
		s.log.Debug("not forwarded", logging.String("signal", signals.Name(sig)))
		return
	}
	for _, name := range s.order {
		v := s.svcs[name]
		if !v.state.live() {
			continue
		}
		if v.cfg.Main || v.cfg.ForwardSignals {
			if err := s.opts.Starter.Signal(v.pid, sig); err != nil {
				s.log.Debug("cannot forward signal", logging.String("service", name), logging.String("signal", signals.Name(sig)), logging.Err(err))
			}
		}
	}
}

// shutdown begins the ordered stop. code and set say what initbox exits
// with unless a main service decides.
func (s *Supervisor) shutdown(why string, code int, set bool) {
	if set && !s.exitSet {
		s.exitCode, s.exitWhy, s.exitSet = code, why, true
	}
	if s.shuttingDown {
		return
	}
	s.shuttingDown = true
	if s.exitWhy == "" {
		s.exitWhy = why
	}
	s.deadline = time.NewTimer(s.cfg.Init.ShutdownTimeout)
	s.deadlineAt = time.Now().Add(s.cfg.Init.ShutdownTimeout)
	s.stopBy = time.Now().Add(s.cfg.Init.ShutdownTimeout)
	for _, name := range s.order {
		v := s.svcs[name]
		v.stopJobTimer()
		switch v.state {
		case waiting, backoff, scheduled:
			v.stopTimer()
			v.set(stopped, s.now())
			v.neverRan = v.starts == 0
			v.cleanStop = v.cleanStop || v.neverRan
		case draining:
			// Where its exit led, as for a service that left nothing.
			if v.afterDrain == waiting || v.afterDrain == backoff {
				v.stopTimer()
				v.afterDrain = stopped
			}
		}
	}
	s.stopLeaves()
	s.stopExecs()
}

// stopLeaves sends the stop signal to every running service that no running
// service depends on: dependents stop before what they depend on.
func (s *Supervisor) stopLeaves() {
	for _, name := range s.order {
		v := s.svcs[name]
		if v.state != running || s.hasRunningDependent(name) {
			continue
		}
		s.beginStop(name, v, thenStay)
	}
}

// beginStop sends the service its stop signal and arms its stop timeout,
// after which it gets SIGKILL; then is what its exit leads to.
func (s *Supervisor) beginStop(name string, v *service, then afterStop) {
	timeout := v.cfg.Stop.Timeout
	if s.shuttingDown {
		// stop.timeout never reaches beyond what is left of
		// init.shutdown_timeout (issue #3): the SIGKILL comes no later
		// than the budget allows, and the log says when it will.
		timeout = min(timeout, max(time.Until(s.deadlineAt), 0))
	}
	v.set(stopping, s.now())
	v.then = then
	s.log.Info("stopping", logging.String("service", name), logging.Int("pid", v.pid), logging.String("signal", signals.Name(v.cfg.Stop.Signal)), logging.Duration("timeout", timeout))
	s.kill(v, v.cfg.Stop.Signal)
	v.stopTimer()
	v.timer = s.after(timeout, event{name: name, gen: v.gen, kind: evStopTimeout})
}

// hasRunningDependent reports whether a running service depends on name,
// directly or through services that have already finished: web needs
// migrate needs db orders db's stop after web's even when migrate, a
// oneshot, is long done. The implicit main service (`run -- PROGRAM`)
// depends on every other one, since it starts only once they are up: it
// stops first, as s6-overlay's CMD does.
func (s *Supervisor) hasRunningDependent(name string) bool {
	if m := s.opts.ImplicitMain; m != "" && m != name {
		if st := s.svcs[m].state; st.live() || st == draining {
			return true
		}
	}
	seen := map[string]bool{name: true}
	queue := []string{name}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, other := range s.order {
			if seen[other] {
				continue
			}
			if _, ok := s.svcs[other].cfg.DependsOn[cur]; !ok {
				continue
			}
			if st := s.svcs[other].state; st.live() || st == draining {
				return true
			}
			seen[other] = true
			queue = append(queue, other)
		}
	}
	return false
}

// killAll sends SIGKILL to every service still running, and to what
// exited services left in their cgroups.
func (s *Supervisor) killAll() {
	for _, name := range s.order {
		v := s.svcs[name]
		if v.state.live() {
			// Its stop timeout has nothing left to do (issue #15).
			v.stopTimer()
			v.set(killing, s.now())
			s.kill(v, unix.SIGKILL)
		} else if v.state == draining && v.cg != nil {
			_ = v.cg.Kill()
		} else if v.pgid != 0 {
			_ = unix.Kill(-v.pgid, unix.SIGKILL)
		}
		if !v.state.live() {
			s.signalExecs(v, unix.SIGKILL, v.state == draining && v.cg != nil)
		}
	}
}

// kill signals the service as its stop mode says: every process of its
// cgroup, its process group (also for "cgroup" without a cgroup), or its
// process alone; "mixed" sends SIGKILL as "cgroup" does and any other
// signal as "process".
func (s *Supervisor) kill(v *service, sig syscall.Signal) {
	if v.pid == 0 {
		return
	}
	mode := v.cfg.Stop.Mode
	send := func(sig syscall.Signal) error {
		switch {
		case mode == config.StopProcess, mode == config.StopMixed && sig != unix.SIGKILL:
			return s.opts.Starter.Signal(v.pid, sig)
		case v.cg != nil && (mode == config.StopCgroup || mode == config.StopMixed) && sig == unix.SIGKILL:
			return v.cg.Kill()
		case v.cg != nil && mode == config.StopCgroup:
			_, err := v.cg.Signal(sig)
			return err
		}
		return reaper.KillGroup(v.pid, sig)
	}
	err := send(sig)
	// Its execs too, where the cgroup's signal did not reach them; they
	// get their SIGCONT there.
	s.signalExecs(v, sig, v.cg != nil && (mode == config.StopCgroup || mode == config.StopMixed && sig == unix.SIGKILL))
	if sig != unix.SIGKILL && sig != unix.SIGCONT {
		// A stopped process acts on any signal but SIGKILL only once
		// continued (issue #15: nginx stops on SIGQUIT). Under "mixed",
		// the workers too: a frozen worker cannot carry out the main
		// process's orderly stop, and SIGCONT changes nothing for the
		// others.
		switch {
		case mode != config.StopMixed:
			_ = send(unix.SIGCONT)
		case v.cg != nil:
			_, _ = v.cg.Signal(unix.SIGCONT)
		default:
			_ = reaper.KillGroup(v.pid, unix.SIGCONT)
		}
	}
	if err != nil && err != os.ErrProcessDone {
		s.log.Warn("cannot signal service", logging.String("service", v.cfg.Name), logging.String("signal", signals.Name(sig)), logging.Err(err))
	}
}

// checkFinished ends the run when nothing runs and nothing can start any
// more: every service finished on its own.
func (s *Supervisor) checkFinished() {
	s.dropRemoved()
	if !s.shuttingDown {
		for _, name := range s.order {
			if v := s.svcs[name]; v.state == finished && v.cfg.Schedule != nil && !v.removed && !v.held {
				s.toSchedule(name, v)
			}
		}
	}
	if s.shuttingDown {
		if s.done() {
			s.finishStatus()
		} else {
			s.stopLeaves()
		}
		return
	}
	for _, v := range s.svcs {
		if v.state.live() || v.state == backoff || v.state == unstarted || v.state == scheduled || v.state == draining || v.held || (v.state == waiting && !v.doomed) {
			return
		}
	}
	failed := false
	for _, v := range s.svcs {
		if v.failed {
			failed = true
		}
	}
	code := 0
	if failed {
		code = 1
	}
	s.shutdown("every service finished", code, true)
	s.finishStatus()
}

// finishStatus settles the exit status once every service has stopped.
func (s *Supervisor) finishStatus() {
	if s.exitSet {
		return
	}
	clean := true
	for _, v := range s.svcs {
		if !v.neverRan && !v.cleanStop {
			clean = false
		}
	}
	s.exitSet = true
	if clean {
		s.exitCode = 0
	} else {
		s.exitCode = 1
	}
}
