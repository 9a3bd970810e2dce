//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/output"
	"github.com/initbox/initbox/signals"
)

// The methods in this file are for other goroutines (the control socket,
// issue #7): each runs its work on Run's goroutine, where all state lives,
// and waits for it.

// ErrNotRunning is returned by calls made when Run is not running: before
// it starts, or after it has returned.
var ErrNotRunning = errors.New("supervisor not running")

type request struct {
	fn   func()
	done chan struct{}
}

// do runs fn on Run's goroutine and waits until it has run.
func (s *Supervisor) do(fn func()) error {
	r := request{fn: fn, done: make(chan struct{})}
	select {
	case s.reqs <- r:
	case <-s.ended:
		return ErrNotRunning
	}
	<-r.done
	return nil
}

// service returns the service name, or an error wrapping
// ErrUnknownService.
func (s *Supervisor) service(name string) (*service, error) {
	if v := s.svcs[name]; v != nil {
		return v, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownService, name)
}

// StartService starts a service that is not running: stopped, finished or
// failed for good (its start limit counts afresh). A running one is left
// alone.
func (s *Supervisor) StartService(name string) error {
	var err error
	if derr := s.do(func() { err = s.startOne(name) }); derr != nil {
		return derr
	}
	return err
}

// StopService stops one service with its stop signal and timeout. It
// stays stopped until StartService, and initbox stays up meanwhile; the
// services that depend on it are not stopped.
func (s *Supervisor) StopService(name string) error {
	var err error
	if derr := s.do(func() { err = s.stopOne(name, false, "the control socket") }); derr != nil {
		return derr
	}
	return err
}

// RestartService stops a running service as StopService does and starts
// it again; one that is not running is started.
func (s *Supervisor) RestartService(name string) error {
	var err error
	if derr := s.do(func() { err = s.stopOne(name, true, "the control socket") }); derr != nil {
		return derr
	}
	return err
}

// SignalService sends sig to a running service's main process, as
// `docker kill -s` does to a container's: a reload signal (HUP) is meant
// for the daemon, not for every helper it runs.
func (s *Supervisor) SignalService(name string, sig syscall.Signal) error {
	var err error
	if derr := s.do(func() {
		var v *service
		if v, err = s.service(name); err != nil {
			return
		}
		if !v.state.live() {
			err = fmt.Errorf("%s is not running", name)
			return
		}
		s.log.Info("signal from the control socket", logging.String("service", name), logging.String("signal", signals.Name(sig)))
		err = s.opts.Starter.Signal(v.pid, sig)
	}); derr != nil {
		return derr
	}
	return err
}

// Logs returns up to n of the last lines the service wrote, oldest first:
// the lines that pass through initbox (prefixed output, not files, not
// the main service's own terminal).
func (s *Supervisor) Logs(name string, n int) ([]string, error) {
	// The lookup on the loop (a reload changes the map); the ring has a
	// lock of its own.
	var ring *output.Ring
	var err error
	if derr := s.do(func() {
		var v *service
		if v, err = s.service(name); err == nil {
			ring = v.logs
		}
	}); derr != nil {
		return nil, derr
	}
	if err != nil {
		return nil, err
	}
	return ring.Last(n), nil
}

func (s *Supervisor) startOne(name string) error {
	v, err := s.service(name)
	if err != nil {
		return err
	}
	if s.shuttingDown {
		return errors.New("initbox is stopping")
	}
	switch v.state {
	case stopped, finished, scheduled:
		// Started below.
	case stopping, killing:
		if v.held {
			// Stopping on ctl stop: it starts once stopped, as
			// ctl start asks last.
			s.log.Info("starting on request once stopped", logging.String("service", name))
			v.held, v.then = false, thenRestart
		}
		return nil
	case waiting, running, backoff, unstarted:
		return nil // running, or on its way to start
	case draining:
		// As where its exit led: it starts once drained.
		if v.afterDrain != stopped && v.afterDrain != finished {
			return nil // on its way to start
		}
	default:
		s.log.Debug("start: a state it does not know", logging.String("service", name), logging.String("state", v.state.String()))
		return nil
	}
	if !v.cfg.Enabled {
		return fmt.Errorf("%s is disabled in the configuration", name)
	}
	s.log.Info("starting on request", logging.String("service", name))
	// A job runs now; its schedule goes on after the run.
	v.runNow = v.cfg.Schedule != nil
	v.held, v.failed, v.doomed, v.succeeded = false, false, false, false
	v.window, v.delay, v.reason = nil, v.cfg.Restart.Delay, ""
	v.moveTo(waiting, s.now())
	s.schedule()
	s.checkFinished()
	return nil
}

// stopOne stops a service for StopService, or for RestartService with
// again set; by says who asked, for the log and the service's reason.
func (s *Supervisor) stopOne(name string, again bool, by string) error {
	v, err := s.service(name)
	if err != nil {
		return err
	}
	if s.shuttingDown {
		return errors.New("initbox is stopping")
	}
	if v.cfg.Main && !again {
		return fmt.Errorf("%s is the main service: stop initbox instead (its exit is initbox's)", name)
	}
	switch v.state {
	case running:
		// Its stop signal, below.
	case waiting, backoff:
		if again {
			return nil // it is on its way to start
		}
		s.hold(v, by)
		return nil
	case scheduled:
		if again {
			return s.startOne(name) // a job: run it now
		}
		s.hold(v, by)
		return nil
	case stopping, killing, unstarted:
		if again {
			// Also after a ctl stop: the restart asked last wins.
			v.held, v.then = false, thenRestart
			return nil
		}
		// Whatever the stop was for (a restart, a failed start), it now
		// ends stopped.
		v.held, v.then = true, thenStay
		v.reason = "stopped by " + by
		return nil
	case stopped, finished:
		if again {
			return s.startOne(name)
		}
		v.held = true
		return nil
	case draining:
		// As where its exit led; what is left of it is being stopped
		// already.
		switch v.afterDrain {
		case waiting, backoff:
			if again {
				return nil // it is on its way to start
			}
			s.hold(v, by)
		default:
			if again {
				return s.startOne(name)
			}
			v.held = true
		}
		return nil
	default:
		s.log.Debug("stop: a state it does not know", logging.String("service", name), logging.String("state", v.state.String()))
		return nil
	}
	what := "stop"
	if again {
		what = "restart"
	} else {
		v.held = true
		if v.reason == "" || by == "the control socket" {
			v.reason = "stopped by " + by
		}
	}
	s.log.Info(what+" by "+by, logging.String("service", name), logging.Int("pid", v.pid))
	then := thenStay
	if again {
		then = thenRestart
	}
	s.beginStop(name, v, then)
	return nil
}

// hold stops a service that has no process (waiting, backoff, scheduled)
// until ctl start.
func (s *Supervisor) hold(v *service, by string) {
	v.stopTimer()
	v.stopJobTimer()
	v.held, v.reason = true, "stopped by "+by
	v.moveTo(stopped, s.now())
	s.checkFinished()
}

// Status returns every service's status, in the configuration's order.
func (s *Supervisor) Status() []ServiceStatus {
	var out []ServiceStatus
	if err := s.do(func() {
		for _, name := range s.order {
			out = append(out, s.statusOf(name, s.svcs[name]))
		}
	}); err != nil {
		return nil
	}
	return out
}

func (s *Supervisor) statusOf(name string, v *service) ServiceStatus {
	st := ServiceStatus{
		Name: name, Pid: v.pid, Since: v.since, Restarts: max(v.starts-1, 0),
		LastCode: -1, Reason: v.reason, MemoryBytes: -1, CPU: -1, Tasks: -1,
	}
	if v.exit != nil {
		st.LastExit, st.LastCode = v.exit.String(), v.exit.Code()
	}
	switch v.state {
	case running:
		st.State = "running"
		if !v.up() {
			st.State = "starting"
		}
	case stopping, killing:
		// killing is a stop whose SIGKILL was sent: to ctl status (and
		// /metrics, /readyz, scripts) still a stop in progress.
		st.State = "stopping"
	case stopped:
		st.State = "stopped"
	case finished:
		st.State = "exited"
		if v.failed {
			st.State = "failed"
		}
	case backoff:
		st.State = "backoff"
	case unstarted:
		st.State = "starting"
	case scheduled:
		st.State = "scheduled"
	case draining:
		// Not stopped while anything of it is left (issue #15); on its
		// way to a start, as where its exit led.
		switch v.afterDrain {
		case waiting:
			st.State = "waiting"
		case backoff:
			st.State = "backoff"
		default:
			st.State = "stopping"
		}
	default:
		st.State = "waiting"
	}
	if v.cfg.Ready.Method() != "" && v.state.live() {
		// Readiness is that of a live process: a stopped service is
		// stopped, not "not ready" (issue #15).
		st.Ready = "not ready"
		if v.checks != nil && v.checks.ready {
			st.Ready = "ready"
		}
	}
	if v.outcome() == waiting && st.Reason == "" {
		st.Reason = s.waitingFor(name, v)
	}
	if v.cfg.Schedule != nil {
		st.Schedule = v.cfg.Schedule.String()
		if v.jobTimer != nil {
			st.NextRun = v.nextRun
		}
		st.LastRun, st.LastDuration = v.lastRunAt, v.lastRunFor
		if v.state == scheduled && st.Reason == "" && !st.NextRun.IsZero() {
			st.Reason = "next run " + st.NextRun.Format("2006-01-02 15:04:05 MST")
		}
	}
	if v.cfg.Health.Method() != "" || v.cfg.Health.Watchdog > 0 {
		switch c := v.checks; {
		case c == nil || v.state != running:
			st.Health = ""
		case !c.healthy:
			st.Health = "unhealthy"
		case !c.checked && v.cfg.Health.Method() != "":
			st.Health = "starting"
		default:
			st.Health = "healthy"
		}
	}
	if v.checks != nil {
		st.Status = v.checks.status
	}
	if v.cg != nil {
		u := v.cg.Usage()
		st.MemoryBytes, st.CPU, st.Tasks = u.MemoryBytes, u.CPU, u.Pids
		st.OOMKills = v.cg.OOMKills()
	}
	return st
}

// waitingFor says what a waiting service waits for: the dependencies that
// do not hold yet, with their conditions.
func (s *Supervisor) waitingFor(name string, v *service) string {
	var deps []string
	for _, dep := range slices.Sorted(maps.Keys(v.cfg.DependsOn)) {
		cond := v.cfg.DependsOn[dep]
		if d := s.svcs[dep]; d != nil {
			if holds, _ := condition(d, cond); !holds {
				deps = append(deps, fmt.Sprintf("%s (%s)", dep, cond))
			}
		}
	}
	if len(deps) > 0 {
		return "waiting for " + strings.Join(deps, ", ")
	}
	if name == s.opts.ImplicitMain {
		return "waiting for the other services to be up"
	}
	return ""
}

// A waiter is a Wait in progress: the loop settles it (checkWaiters).
type waiter struct {
	names []string
	goal  Goal
	done  chan error // buffered: the loop never blocks on it
}

// Wait returns once every service in names has reached goal: stopped,
// with nothing of it left; or up, running and ready (a oneshot: succeeded).
// It fails as soon as one cannot get there (failed, stopped while waited
// for up, initbox stopping), or once timeout (> 0) has passed; the error
// names the service and says why.
func (s *Supervisor) Wait(names []string, goal Goal, timeout time.Duration) error {
	w := &waiter{names: names, goal: goal, done: make(chan error, 1)}
	var err error
	if derr := s.do(func() {
		for _, n := range names {
			if _, err = s.service(n); err != nil {
				return
			}
		}
		if !s.settle(w) {
			s.waiters = append(s.waiters, w)
		}
	}); derr != nil {
		return s.endedWait(goal)
	}
	if err != nil {
		return err
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case err := <-w.done:
		return err
	case <-s.ended:
		return s.endedWait(goal)
	case <-expired:
	}
	var why string
	if derr := s.do(func() {
		s.waiters = slices.DeleteFunc(s.waiters, func(o *waiter) bool { return o == w })
		why = s.pending(w)
	}); derr != nil {
		return s.endedWait(goal)
	}
	select {
	case err := <-w.done: // settled just before the timeout
		return err
	default:
	}
	return fmt.Errorf("timed out after %s: %s", timeout, why)
}

// endedWait is a wait's end when Run has returned: everything stopped.
func (s *Supervisor) endedWait(goal Goal) error {
	if goal == GoalStopped {
		return nil
	}
	return errors.New("initbox has stopped")
}

// checkWaiters settles the waits whose services got where they wait for,
// or cannot any more; on Run's goroutine, after each event.
func (s *Supervisor) checkWaiters() {
	s.waiters = slices.DeleteFunc(s.waiters, s.settle)
}

// settle sends w its result if it has one, and says so.
func (s *Supervisor) settle(w *waiter) bool {
	for _, n := range w.names {
		v := s.svcs[n]
		if v == nil {
			if w.goal == GoalStopped {
				continue // removed by a reload, once stopped
			}
			w.done <- fmt.Errorf("%s was removed by a reload", n)
			return true
		}
		reached, err := s.reached(n, v, w.goal)
		if err != nil {
			w.done <- err
			return true
		}
		if !reached {
			return false
		}
	}
	w.done <- nil
	return true
}

// reached says whether the service has reached goal, or why it cannot.
func (s *Supervisor) reached(name string, v *service, goal Goal) (bool, error) {
	nothingLeft := v.state == stopped || v.state == finished
	if goal == GoalStopped {
		return nothingLeft, nil
	}
	why := func(what string) error {
		if v.reason != "" {
			return fmt.Errorf("%s %s: %s", name, what, v.reason)
		}
		if v.exit != nil {
			return fmt.Errorf("%s %s (%s)", name, what, v.exit)
		}
		return fmt.Errorf("%s %s", name, what)
	}
	// A wait for up goes by where the exit led: what it left does not
	// make it come up.
	switch st := v.outcome(); {
	case v.up():
		return true, nil
	case st == finished && v.failed:
		return false, why("failed")
	case st == finished && v.succeeded && v.cfg.Type == config.TypeOneshot:
		return true, nil
	case st == finished:
		return false, why("exited")
	case st == stopped:
		return false, why("is stopped")
	case s.shuttingDown:
		return false, fmt.Errorf("%s: initbox is stopping", name)
	}
	return false, nil
}

// pending says what a timed-out wait was still waiting for.
func (s *Supervisor) pending(w *waiter) string {
	var out []string
	for _, n := range w.names {
		v := s.svcs[n]
		if v == nil {
			continue
		}
		if ok, _ := s.reached(n, v, w.goal); ok {
			continue
		}
		st := s.statusOf(n, v)
		msg := n + " is " + st.State
		if st.Reason != "" {
			msg += " (" + st.Reason + ")"
		}
		out = append(out, msg)
	}
	return strings.Join(out, ", ")
}

// Reload re-reads the configuration through Options.Reload and applies
// it: services that are new are started, those that are gone are stopped
// and dropped, those whose definition changed are restarted, and the
// others are left alone. A configuration with errors changes nothing; the
// error says what is wrong.
func (s *Supervisor) Reload() error {
	if s.opts.Reload == nil {
		return errors.New("reload: this initbox has no configuration file to read again")
	}
	c, err := s.opts.Reload()
	if err != nil {
		s.log.Error("reload refused: the configuration has errors, nothing changed", logging.Err(err))
		return err
	}
	var rerr error
	if derr := s.do(func() { rerr = s.apply(c) }); derr != nil {
		return derr
	}
	return rerr
}
