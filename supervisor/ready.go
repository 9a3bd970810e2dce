//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/launch"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/notify"
	"github.com/initbox/initbox/probe"
	"github.com/initbox/initbox/reaper"
)

// Readiness and health (issue #7). A service with a ready check is
// "running" from its start but ready only once the check passes; the
// dependents that wait for "ready" start then. A service with a health
// check is checked for as long as it runs; enough failures in a row make
// it unhealthy, and its health action applies. Checks run on goroutines
// of their own and report to the loop as events, like exits.

// checks is what runs beside one run of a service: its readiness wait,
// its health loop, its watchdog. cancel ends them all.
type checks struct {
	ctx    context.Context
	cancel context.CancelFunc
	// healthFrom is when health failures start to count: ready, plus
	// start_period; zero until ready.
	healthFrom time.Time
	ready      bool // its ready check passed (or it has none)
	healthy    bool // its last health verdict; true until a check fails enough
	checked    bool // a health check has passed at least once
	fails      int  // consecutive failed health checks
	passes     int  // consecutive passed health checks
	watchdog   Timer
	deadline   Timer  // ready timeout
	status     string // the last STATUS= it sent
}

// notifySocket returns the address of the service's NOTIFY_SOCKET, made
// on first use and kept across its restarts. Abstract (no file): images
// FROM scratch have no /run to put a socket in.
func (s *Supervisor) notifySocket(name string, v *service) (string, error) {
	if v.notify != nil {
		return v.notify.Path(), nil
	}
	// Abstract names are per network namespace and every container's
	// initbox is pid 1: a random part keeps two of them sharing a network
	// (a Kubernetes pod) apart, and the name unguessable.
	var rnd [6]byte
	if _, err := unix.Getrandom(rnd[:], 0); err != nil {
		return "", fmt.Errorf("NOTIFY_SOCKET: %w", os.NewSyscallError("getrandom", err))
	}
	sock, err := notify.Listen(fmt.Sprintf("@initbox/%d/%x/%s", os.Getpid(), rnd, name))
	if err != nil {
		return "", fmt.Errorf("NOTIFY_SOCKET: %w", err)
	}
	v.notify = sock
	go func() {
		defer s.log.Recover("notify socket of " + name)
		for m := range sock.Messages() {
			s.send(event{name: name, kind: evNotify, msg: m})
		}
	}()
	return sock.Path(), nil
}

// prepareReady sets up what the service's readiness needs before its
// start: NOTIFY_SOCKET in env, or the pipe handed as its fd N.
func (s *Supervisor) prepareReady(name string, v *service, env []string, extra []*os.File) ([]string, []*os.File, error) {
	r := v.cfg.Ready
	if r.Notify || v.cfg.Health.Watchdog > 0 {
		addr, err := s.notifySocket(name, v)
		if err != nil {
			return nil, nil, err
		}
		env = append(env, "NOTIFY_SOCKET="+addr)
	}
	if r.FD > 0 {
		p, err := notify.NewPipe()
		if err != nil {
			return nil, nil, fmt.Errorf("ready.fd: %w", err)
		}
		for len(extra) <= r.FD-3 {
			extra = append(extra, nil) // closed in the child
		}
		extra[r.FD-3] = p.W()
		v.pendingPipe = p
	}
	return env, extra, nil
}

// startChecks begins the readiness wait and the health loop of the run
// that has just started (gen).
func (s *Supervisor) startChecks(name string, v *service, env []string) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checks{ctx: ctx, cancel: cancel, healthy: true}
	v.checks = c
	gen := v.gen
	r := v.cfg.Ready
	switch r.Method() {
	case "":
		c.ready = true
	case "notify":
		// READY=1 arrives as an evNotify.
	case "fd":
		p := v.pendingPipe
		v.pendingPipe = nil
		p.W().Close() // the service has its copy
		go func() {
			defer s.log.Recover("ready fd of " + name)
			err := p.Wait(ctx)
			p.Close()
			if ctx.Err() == nil {
				s.send(event{name: name, gen: gen, kind: evReady, err: err})
			}
		}()
	default:
		chk := s.check(v, r.TCP, r.HTTP, r.File, r.Exec)
		go func() {
			defer s.log.Recover("ready check of " + name)
			t := time.NewTicker(r.Interval)
			defer t.Stop()
			for {
				cctx, ccancel := context.WithTimeout(ctx, max(r.Interval, time.Second))
				err := chk.Run(cctx)
				ccancel()
				if err == nil {
					s.send(event{name: name, gen: gen, kind: evReady})
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	if !c.ready {
		c.deadline = s.after(r.Timeout, event{name: name, gen: gen, kind: evReadyTimeout})
	}
	if c.ready {
		s.startHealth(name, v)
	}
	if h := v.cfg.Health; h.Watchdog > 0 {
		// From the start, as systemd's WatchdogSec: WATCHDOG=1 may come
		// before READY=1.
		c.watchdog = s.after(h.Watchdog, event{name: name, gen: gen, kind: evWatchdog})
	}
}

// startHealth begins the health checks of a run that has just become
// ready: a check before would fail against a daemon still loading, and
// those failures would restart it forever (issue #15). start_period
// counts from now.
func (s *Supervisor) startHealth(name string, v *service) {
	c := v.checks
	if c.healthFrom != (time.Time{}) {
		return // ready again after RELOADING=1: the checks go on
	}
	c.healthFrom = s.now().Add(v.cfg.Health.StartPeriod)
	h := v.cfg.Health
	if h.Method() == "" {
		return
	}
	ctx, gen := c.ctx, v.gen
	chk := s.check(v, h.TCP, h.HTTP, "", h.Exec)
	go func() {
		defer s.log.Recover("health check of " + name)
		t := time.NewTicker(h.Interval)
		defer t.Stop()
		for {
			cctx, ccancel := context.WithTimeout(ctx, h.Timeout)
			err := chk.Run(cctx)
			ccancel()
			if ctx.Err() != nil {
				return
			}
			s.send(event{name: name, gen: gen, kind: evHealth, err: err})
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// check builds a probe of the service's run; a check program starts as
// the service's command did (see command).
func (s *Supervisor) check(v *service, tcp, http, file string, argv []string) probe.Check {
	c := probe.Check{TCP: tcp, HTTP: http, File: file, Exec: argv}
	if len(argv) > 0 {
		// The run's command, taken here on Run's goroutine: the check runs
		// on its own, and the service's next start rewrites what command
		// reads (its credential, environment and cgroup).
		run := *s.command(v)
		c.Command = func() *launch.Cmd {
			cmd := run
			return &cmd
		}
	}
	return c
}

// stopChecks ends the checks of the service's run, when it exits.
func (v *service) stopChecks() {
	if v.pendingPipe != nil {
		v.pendingPipe.Close()
		v.pendingPipe = nil
	}
	c := v.checks
	if c == nil {
		return
	}
	c.cancel()
	if c.watchdog != nil {
		c.watchdog.Stop()
	}
	if c.deadline != nil {
		c.deadline.Stop()
	}
}

// up reports whether the service runs and is ready: its process lives and
// its ready check (if any) has passed.
func (v *service) up() bool {
	if v.state != running {
		return false
	}
	return v.cfg.Ready.Method() == "" || v.checks != nil && v.checks.ready
}

// isHealthy reports whether the service runs, is ready, and its health
// check (if any) has passed at least once and not failed enough since.
func (v *service) isHealthy() bool {
	if !v.up() {
		return false
	}
	if v.cfg.Health.Method() == "" {
		return true
	}
	return v.checks.checked && v.checks.healthy
}

// readyEvent handles the end of a readiness wait: err nil is ready.
func (s *Supervisor) readyEvent(name string, v *service, err error) {
	switch v.state {
	case running:
	default:
		// Stopping, killing: its checks run until it exits, and its
		// readiness no longer matters; others: it exited meanwhile.
		return
	}
	c := v.checks
	if c == nil || c.ready {
		return
	}
	if err != nil {
		s.notReady(name, v, "not ready: "+err.Error())
		return
	}
	c.ready = true
	if c.deadline != nil {
		c.deadline.Stop()
	}
	s.log.Info("ready", logging.String("service", name), logging.String("by", v.cfg.Ready.Method()), logging.Duration("after", s.now().Sub(v.startedAt).Round(time.Millisecond)))
	s.startHealth(name, v)
	s.schedule()
}

// notReady fails the start of a service that did not get ready.
func (s *Supervisor) notReady(name string, v *service, why string) {
	s.log.Error("failed to start: "+why, logging.String("service", name))
	s.failRun(name, v, why, thenFail)
}

// failRun stops a run that failed while its process lives (not ready in
// time, unhealthy): its exit then goes through its restart policy as a
// failure, with why as its reason, not the status its stop gave it.
func (s *Supervisor) failRun(name string, v *service, why string, then afterStop) {
	v.reason = why
	s.beginStop(name, v, then)
}

// notifyEvent handles one sd_notify message.
func (s *Supervisor) notifyEvent(name string, v *service, m notify.Message) {
	if m.BarrierFD != nil {
		// Handled in order: the sender learns its messages were taken.
		defer m.BarrierFD.Close()
	}
	switch v.state {
	case running:
	default:
		// Stopping, killing: readiness, status and watchdog no longer
		// matter; others: no process of it runs. The message is still
		// checked, for the log.
		s.notifyFrom(name, v, m)
		return
	}
	if !s.notifyFrom(name, v, m) {
		return
	}
	c := v.checks
	if c == nil {
		return
	}
	if m.Status != "" {
		c.status = m.Status
		s.log.Debug("status", logging.String("service", name), logging.String("status", m.Status))
	}
	if m.MainPid > 0 {
		// Noted, not followed: initbox watches the process it started,
		// and the service's cgroup holds both.
		s.log.Debug("main pid reported", logging.String("service", name), logging.Int("mainpid", m.MainPid))
	}
	if m.ExtendTimeout > 0 && c.deadline != nil && !c.ready {
		gen := v.gen
		c.deadline.Stop()
		c.deadline = s.after(m.ExtendTimeout, event{name: name, gen: gen, kind: evReadyTimeout})
	}
	if m.Watchdog && c.watchdog != nil {
		c.watchdog.Reset(v.cfg.Health.Watchdog)
	}
	if m.Reloading && v.cfg.Ready.Notify {
		// Only READY=1 can end it, and it counts only for notify.
		c.ready = false
		s.log.Info("reloading", logging.String("service", name))
	}
	if m.Stopping {
		s.log.Info("stopping, says the service", logging.String("service", name))
	}
	if m.Ready && v.cfg.Ready.Notify {
		s.readyEvent(name, v, nil)
	}
}

// notifyFrom reports whether m comes from a process of the service's
// current run, and logs it when it does not, or is malformed.
func (s *Supervisor) notifyFrom(name string, v *service, m notify.Message) bool {
	if m.Pid == 0 || !s.belongs(v, m.Pid) {
		s.log.Warn("notify message refused: its sender is not a process of the service", logging.String("service", name), logging.Int("sender_pid", m.Pid))
		return false
	}
	if m.Err != nil {
		s.log.Warn("bad notify message", logging.String("service", name), logging.Err(m.Err))
	}
	return true
}

// belongs reports whether pid is a process of the service's current run:
// in its cgroup, or its main process or a descendant of it.
func (s *Supervisor) belongs(v *service, pid int) bool {
	return v.cg != nil && v.cg.Has(pid) || v.pid > 0 && reaper.Descends(pid, v.pid)
}

// healthEvent counts one health check's result and acts on a verdict.
func (s *Supervisor) healthEvent(name string, v *service, err error) {
	switch v.state {
	case running:
	default:
		// Stopping, killing: its checks run until it exits, and a stop
		// under way needs no health action; others: it exited meanwhile.
		return
	}
	c := v.checks
	if c == nil {
		return
	}
	h := v.cfg.Health
	if err == nil {
		c.fails, c.passes = 0, c.passes+1
		if !c.healthy && c.passes >= h.SuccessThreshold {
			c.healthy = true
			s.log.Info("healthy again", logging.String("service", name))
		}
		if !c.checked {
			c.checked = true
			s.log.Info("healthy", logging.String("service", name))
			s.schedule()
		}
		return
	}
	if s.now().Before(c.healthFrom) {
		s.log.Debug("health check failed within start_period: not counted", logging.String("service", name), logging.Err(err))
		return
	}
	c.passes, c.fails = 0, c.fails+1
	s.log.Warn("health check failed", logging.String("service", name), logging.Int("failures", c.fails), logging.Err(err))
	if c.healthy && c.fails >= h.FailureThreshold {
		c.healthy = false
		s.unhealthy(name, v, fmt.Sprintf("unhealthy: %d health checks failed in a row, the last: %v", c.fails, err))
	}
}

// unhealthy applies the service's health action.
func (s *Supervisor) unhealthy(name string, v *service, why string) {
	v.reason = why
	action := v.cfg.Health.Action
	s.log.Error(why, logging.String("service", name), logging.String("action", string(action)))
	switch action {
	case config.HealthRestart:
		// A failure like any other: its restart policy, its backoff and
		// its start limit apply (issue #15), not a restart by request.
		if v.state == running && !s.shuttingDown {
			s.failRun(name, v, why, thenFailRestart)
		}
	case config.HealthStop:
		// Stopped, then failed for good (docs/config.md): an essential
		// service then stops everything.
		if err := s.stopOne(name, false, "its health action"); err != nil {
			s.log.Warn("cannot stop", logging.String("service", name), logging.Err(err))
			break
		}
		v.held, v.then = false, thenFailForGood
	case config.HealthShutdown:
		s.shutdown("service "+name+" "+why, 1, true)
	}
}
