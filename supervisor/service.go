//go:build linux

package supervisor

import (
	"fmt"
	"math"
	"os"
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
)

type state int

const (
	waiting  state = iota // for its dependencies, or for its restart
	running               // its process runs
	backoff               // waiting for the restart delay
	stopping              // the stop signal was sent
	stopped               // stopped by the supervisor, or never started
	finished              // exited for good on its own
	// unstarted: its fork or exec failed, and the failure is on its way
	// through the loop as an exit. It has no process, so it is not
	// "started" for its dependents, yet it is not settled either.
	unstarted
	// scheduled: a job (a oneshot with a schedule) between its runs,
	// waiting for its next time (issue #18).
	scheduled
	// killing: stopping, and SIGKILL was sent (its stop timeout passed,
	// or killAll): nothing is left to wait for but its exit, which leads
	// where a stopping one's does (then).
	killing
	// draining: its process exited and what it left in its cgroup (or
	// its process group, without one) is being stopped; it goes to
	// afterDrain once that is empty, and may not start again until then
	// (issue #15: not stopped while anything of it is left).
	draining
)

// live reports whether the service's process lives: started, and its
// exit not yet handled.
func (st state) live() bool {
	return st == running || st == stopping || st == killing
}

type service struct {
	cfg *config.Service
	// cred and env are those of the current run, for its checks too.
	cred  *syscall.Credential
	env   []string
	state state     // change it with set
	since time.Time // when it entered state
	pid   int
	gen   int // incremented by each start; events of earlier runs are dropped
	timer Timer

	startedAt time.Time
	starts    int         // processes started
	window    []time.Time // start times within limit_interval
	delay     time.Duration
	neverRan  bool // stopped before it ever started

	exit      *reaper.Exit
	succeeded bool // the last exit was a success
	failed    bool // failed for good
	doomed    bool // can never start: a dependency failed for good
	cleanStop bool // stopped cleanly: success code, or death by its stop signal

	// limits are what its cgroup gets: its resources, less what the host
	// cannot apply (checkResources).
	limits cgroup.Limits
	// cg is its leaf while it has one: from the start until the leaf is
	// empty after the exit.
	cg *cgroup.Group
	// afterDrain is where its exit led, while draining: the state it
	// goes to once nothing of it is left.
	afterDrain state
	// pgid is the process group an exited run left processes in, while
	// they are being stopped (draining, without a cgroup).
	pgid      int
	oomSeen   int  // the leaf's OOM kill count already logged
	oomKilled bool // the OOM killer struck during the current run

	// logs keeps its last lines of output for `initbox ctl logs` (those
	// that pass through initbox: prefixed output, not files).
	logs *output.Ring
	// held: stopped by `initbox ctl stop`; it stays stopped, and initbox
	// stays up, until `initbox ctl start`.
	held   bool
	reason string // why it is in its state, for its status

	notify      *notify.Socket // its NOTIFY_SOCKET, made on first use
	pendingPipe *notify.Pipe   // fd readiness, between prepare and start
	checks      *checks        // readiness and health of the current run
	// removed: a reload dropped it; it is forgotten once stopped.
	removed bool

	// A job's schedule: the timer of its next time (always armed while
	// the job is not stopped, so that a time that comes during a run is
	// seen, and skipped), which tick is current, when the next run is,
	// whether the current waiting is a run (its time, or ctl start), and
	// how the last run went.
	jobTimer   Timer
	jobTick    int
	nextRun    time.Time
	runNow     bool
	lastRunAt  time.Time
	lastRunFor time.Duration
	// then is what its exit leads to while it is stopping: one field
	// instead of a flag per cause (issue #15).
	then afterStop
	// execs are the programs `initbox exec` started as this service,
	// until they exit (exec.go).
	execs []*Process
}

// afterStop is what a stopping service's exit leads to.
type afterStop int

const (
	// thenStay: stopped, as asked (ctl stop, a reload's removal), or as
	// every service is when initbox stops.
	thenStay afterStop = iota
	// thenRestart: waiting again, to start at once (ctl restart, a
	// reload's change).
	thenRestart
	// thenFail: its run failed (not ready in time): the exit is a
	// failure, and its restart policy applies.
	thenFail
	// thenFailRestart: unhealthy, action restart: a failure restarted
	// whatever its policy, with its backoff and start limit.
	thenFailRestart
	// thenFailForGood: unhealthy, action stop: failed for good.
	thenFailForGood
)

// outcome is where its last exit led: its state, or, draining, the one
// it goes to once drained. Dependents and a wait for up go by it: what a
// run left behind does not change how the run ended.
func (v *service) outcome() state {
	if v.state == draining {
		return v.afterDrain
	}
	return v.state
}

// moveTo moves the service to st, or, while it drains, makes st where it
// goes once drained.
func (v *service) moveTo(st state, now time.Time) {
	if v.state == draining {
		v.afterDrain = st
		return
	}
	v.set(st, now)
}

// set moves the service to st, noting when for its status.
func (v *service) set(st state, now time.Time) {
	if v.state != st {
		if transitionSeen != nil {
			transitionSeen(v.state, st)
		}
		v.state, v.since = st, now
	}
}

func (v *service) stopTimer() {
	if v.timer != nil {
		v.timer.Stop()
		v.timer = nil
	}
}

// schedule starts every waiting service whose dependencies hold, and
// fails those whose dependencies never will.
func (s *Supervisor) schedule() {
	for changed := true; changed && !s.shuttingDown; {
		changed = false
		for _, name := range s.order {
			v := s.svcs[name]
			if v.state != waiting || v.doomed {
				continue
			}
			if !v.cfg.Enabled {
				v.set(stopped, s.now())
				v.neverRan = true
				v.cleanStop = true
				changed = true
				continue
			}
			if v.cfg.Schedule != nil && !v.runNow {
				s.toSchedule(name, v)
				continue
			}
			ok, why := s.dependenciesHold(name, v)
			if why != "" {
				v.doomed = true
				v.failed = true
				v.set(finished, s.now())
				s.log.Error("cannot start: dependency failed", logging.String("service", name), logging.String("reason", why))
				if v.cfg.Essential || v.cfg.Main {
					s.shutdown(fmt.Sprintf("essential service %s cannot start: %s", name, why), 1, true)
					return
				}
				changed = true
				continue
			}
			if ok {
				s.start(name, v)
				changed = true
			}
		}
	}
}

// dependenciesHold reports whether name's dependencies hold now; why is set when one
// can never hold.
func (s *Supervisor) dependenciesHold(name string, v *service) (ok bool, why string) {
	ok = true
	for dep, cond := range v.cfg.DependsOn {
		d := s.svcs[dep]
		if d == nil {
			continue // validated away
		}
		holds, never := condition(d, cond)
		if never {
			return false, fmt.Sprintf("%s did not reach %q", dep, cond)
		}
		if !holds {
			ok = false
		}
	}
	if ok && name == s.opts.ImplicitMain {
		// As s6-overlay's CMD: after every other enabled service is up
		// (a oneshot: completed) or has failed for good.
		for other, o := range s.svcs {
			if other == name || !o.cfg.Enabled {
				continue
			}
			up := o.up() && o.cfg.Type != config.TypeOneshot
			if st := o.outcome(); !up && !o.failed && st != finished && st != stopped {
				return false, ""
			}
		}
	}
	return ok, ""
}

// condition says whether dependency d satisfies cond now, and whether it
// never will. Readiness and health checks arrive with issue #7; until then
// "ready" and "healthy" hold when the service runs.
func condition(d *service, cond config.Condition) (holds, never bool) {
	oneshot := d.cfg.Type == config.TypeOneshot
	// A oneshot that completed has completed, whatever it left behind.
	ended := d.outcome() == finished
	switch cond {
	case config.ConditionStarted, config.ConditionReady, config.ConditionHealthy:
		if !oneshot {
			switch {
			case cond == config.ConditionStarted && d.state == running,
				cond == config.ConditionReady && d.up(),
				cond == config.ConditionHealthy && d.isHealthy():
				return true, false
			}
		}
		if oneshot && ended {
			return d.succeeded, !d.succeeded
		}
		if !d.cfg.Enabled {
			return false, true
		}
		return false, d.failed || ended
	case config.ConditionCompleted:
		if ended {
			return !d.doomed, d.doomed
		}
		return false, !d.cfg.Enabled
	case config.ConditionSucceeded:
		if ended {
			return d.succeeded, !d.succeeded
		}
		return false, !d.cfg.Enabled || d.failed
	}
	return false, true
}

// start forks the service's process, or fails the start as an exit with
// status 127 or 126 when the program cannot be run, so the restart policy
// applies as it does to any failure.
func (s *Supervisor) start(name string, v *service) {
	now := s.now()
	lim := v.cfg.Restart
	cut := 0
	for cut < len(v.window) && now.Sub(v.window[cut]) >= lim.LimitInterval {
		cut++
	}
	v.window = v.window[cut:]
	if len(v.window) >= lim.LimitBurst {
		s.failForGood(name, v, fmt.Sprintf("start limit hit: %d starts within %s", lim.LimitBurst, lim.LimitInterval), exitCodeOf(v))
		return
	}
	v.window = append(v.window, now)
	v.reason = "" // a new run: what ended the last one is in its LAST-EXIT
	s.gens++
	v.gen = s.gens
	v.starts++
	gen := v.gen
	pid, exited, err := s.fork(v)
	if err != nil {
		code := launch.ExitStatus(err)
		s.log.Error("cannot start", logging.String("service", name), logging.Err(err))
		v.reason = fmt.Sprintf("cannot start: %v (exit status %d)", err, code)
		v.startedAt = now
		// Deliver the failure as an exit through the loop, like any other,
		// so that the restart policy applies; not at once, since schedule,
		// which called start, is still walking the services.
		go func() {
			s.send(event{name: name, gen: gen, kind: evExit, exit: reaper.Exit{Pid: 0, Status: unix.WaitStatus(code << 8)}})
		}()
		v.set(unstarted, s.now())
		return
	}
	v.pid, v.startedAt = pid, now
	v.set(running, now)
	s.log.Info("started", logging.String("service", name), logging.Int("pid", pid), logging.Int("start", v.starts))
	go func() {
		e := <-exited
		s.send(event{name: name, gen: gen, kind: evExit, exit: e})
	}()
}

func exitCodeOf(v *service) int {
	if v.exit != nil {
		if c := v.exit.Code(); c != 0 {
			return c
		}
	}
	return 1
}

// exited handles the end of a service's process.
func (s *Supervisor) exited(name string, v *service, e reaper.Exit) {
	// What its stop was for decides what its exit leads to; a process
	// that exits on its own had none.
	then, asked := thenStay, false
	switch v.state {
	case running, unstarted:
	case stopping, killing:
		then, asked = v.then, true
	default:
		// No process of this run is left to exit: a second exit of one
		// run would be a bug, and one the shutdown gave up on
		// (abandonDrains) is over.
		s.log.Debug("exit ignored: the service has no process", logging.String("service", name), logging.String("state", v.state.String()), logging.Int("pid", e.Pid))
		return
	}
	v.pid = 0
	v.stopTimer()
	v.stopChecks()
	v.then = thenStay
	failedStart := then == thenFail || then == thenFailRestart
	v.exit = &e
	ran := s.now().Sub(v.startedAt)
	code := e.Code()
	v.succeeded = e.Status.Exited() && v.cfg.Restart.Success(e.Status.ExitStatus()) && !failedStart
	byStopSignal := e.Status.Signaled() && e.Status.Signal() == v.cfg.Stop.Signal
	fields := []logging.Field{logging.String("service", name), logging.Int("pid", e.Pid), logging.String("status", e.String()), logging.Duration("ran", ran.Round(time.Millisecond))}
	if v.cg != nil {
		s.checkOOM(name, v)
		if v.oomKilled {
			fields = append(fields, logging.String("reason", "killed by the OOM killer at memory_max="+v.cfg.Resources.MemoryMax.String()))
		}
	}

	left := false
	switch {
	case e.Pid > 0 && v.cg != nil && (v.cfg.Stop.Mode == config.StopCgroup || v.cfg.Stop.Mode == config.StopMixed):
		left = s.drain(name, v)
	case e.Pid > 0 && v.cfg.Stop.Mode != config.StopProcess && !v.cfg.Main:
		// No cgroup: "cgroup" acts as "group".
		left = s.stopLeftovers(name, v, e.Pid)
	}
	if v.cg != nil && !left {
		s.checkDrained(name, v)
	}
	if left {
		// Where the exit leads (moveTo, below) waits until nothing of
		// it is left.
		v.set(draining, s.now())
	}

	stays := s.shuttingDown || v.held || asked && then == thenStay
	switch {
	case !stays && then == thenRestart:
		s.log.Info("stopped: starting again", fields...)
		v.moveTo(waiting, s.now())
		s.schedule()
		return
	case !stays && then == thenFailForGood:
		s.failForGood(name, v, v.reason, exitCodeOf(v))
		return
	}
	if stays {
		v.moveTo(stopped, s.now())
		v.cleanStop = v.succeeded || byStopSignal
		s.log.Info("stopped", fields...)
		if v.cfg.Main && !s.exitSet {
			s.exitCode, s.exitWhy, s.exitSet = code, "main service "+name+" stopped", true
		}
		return
	}

	if v.cfg.Main && failedStart {
		v.moveTo(finished, s.now())
		v.failed = true
		s.log.Error("main service failed: stopping everything", append(fields, logging.String("reason", v.reason))...)
		s.shutdown("main service "+name+" failed: "+v.reason, max(code, 1), true)
		return
	}
	if v.cfg.Main {
		v.moveTo(finished, s.now())
		v.cleanStop = true
		s.log.Info("main service exited: stopping everything", fields...)
		s.shutdown("main service "+name+" exited", code, true)
		return
	}

	restart := false
	switch v.cfg.Restart.Policy {
	case config.RestartAlways:
		restart = true
	case config.RestartOnFailure:
		restart = !v.succeeded
	}
	if then == thenFailRestart {
		restart = true
	}
	// The failure's own reason, not the status its stop gave it (issue
	// #15: a TERM trap's exit 0 after a ready timeout).
	why := "exited with " + e.String()
	if (failedStart || e.Pid == 0 || v.oomKilled) && v.reason != "" {
		why = v.reason
	}
	if !restart {
		v.moveTo(finished, s.now())
		v.cleanStop = v.succeeded
		if v.succeeded {
			s.log.Info("exited", fields...)
		} else {
			s.failForGood(name, v, why, code)
			return
		}
		s.schedule()
		return
	}
	if !v.succeeded {
		v.reason = why
	}

	var delay time.Duration
	delay, v.delay = backoffDelays(&v.cfg.Restart, v.delay, ran)
	v.moveTo(backoff, s.now())
	s.log.Warn("exited: restarting", append(fields, logging.Duration("delay", delay))...)
	gen := v.gen
	v.timer = s.after(delay, event{name: name, gen: gen, kind: evRestart})
}

// backoffDelays returns how long to wait before restarting a service whose
// run lasted ran, and the delay due at the restart after that. cur is the
// delay that was due: r.Delay at first, multiplied by r.Multiplier at each
// restart up to r.MaxDelay. A run of at least r.ResetAfter starts the
// series again from r.Delay.
func backoffDelays(r *config.Restart, cur, ran time.Duration) (delay, next time.Duration) {
	delay = cur
	if ran >= r.ResetAfter {
		delay = r.Delay
	}
	// In floating point, capped before the conversion: a large delay times
	// the multiplier may not fit a Duration.
	next = time.Duration(math.Min(float64(delay)*r.Multiplier, float64(r.MaxDelay)))
	return delay, max(next, r.Delay)
}

// failForGood marks the service failed with no restart left, fails what
// depends on it, and stops everything if it is essential.
func (s *Supervisor) failForGood(name string, v *service, why string, code int) {
	if code == 0 {
		// A failure is never initbox's success (issue #15), whatever the
		// status of the process it stopped.
		code = 1
	}
	v.moveTo(finished, s.now())
	v.failed, v.reason = true, why
	fields := []logging.Field{logging.String("service", name), logging.String("reason", why)}
	if v.cfg.Essential {
		s.log.Error("essential service failed: stopping everything", fields...)
		s.shutdown("essential service "+name+" failed: "+why, code, true)
		return
	}
	s.log.Error("failed", fields...)
	s.schedule()
}

// stopLeftovers ends what a service's process left in its process group
// when it exited: SIGTERM now, SIGKILL after the service's stop timeout
// (DESIGN: "Nothing escapes"; systemd's KillMode=control-group does the
// same when the main process exits). It reports whether anything was
// left.
func (s *Supervisor) stopLeftovers(name string, v *service, pgid int) bool {
	if unix.Kill(-pgid, 0) != nil {
		return false
	}
	// Until the group is empty the service is not stopped (issue #15),
	// and does not start again: it drains.
	v.pgid = pgid
	if v.cfg.Stop.Mode == config.StopMixed {
		// Its main process is gone, and with it whoever would have
		// stopped the workers in order: as systemd's KillMode=mixed.
		s.log.Info("killing the processes the service's main process left (stop.mode mixed)", logging.String("service", name), logging.Int("pgid", pgid))
		_ = unix.Kill(-pgid, unix.SIGKILL)
		s.after(groupRecheck, event{name: name, kind: evGroupCheck, delay: groupRecheck})
		return true
	}
	s.log.Info("stopping processes the service left", logging.String("service", name), logging.Int("pgid", pgid))
	_ = unix.Kill(-pgid, unix.SIGTERM)
	_ = unix.Kill(-pgid, unix.SIGCONT)
	// The event names the group, not the run: a restart in the meantime
	// must not save the leftovers of the run before.
	s.after(v.cfg.Stop.Timeout, event{name: name, kind: evLeftoverKill, pgid: pgid})
	return true
}

// groupRecheck is the first wait before looking again whether a process
// group that got SIGKILL is empty; it doubles up to a second. The kernel
// tells no one when a process group empties: its members' exits reach
// initbox as orphans (checkGroups), but not those reaped by a parent that
// is itself in the group, nor any when initbox is neither PID 1 nor a
// subreaper.
const groupRecheck = 10 * time.Millisecond

// checkGroups ends the drain of every process group that is now empty,
// and reports whether one did.
func (s *Supervisor) checkGroups() (drained bool) {
	for _, v := range s.svcs {
		if v.pgid != 0 && unix.Kill(-v.pgid, 0) == unix.ESRCH {
			v.pgid = 0
			if v.cg == nil {
				s.drained(v)
			}
			drained = true
		}
	}
	return drained
}

// drained: nothing of the service is left; a draining one goes where its
// exit led.
func (s *Supervisor) drained(v *service) {
	switch v.state {
	case draining:
		v.set(v.afterDrain, s.now())
	default:
		// Its exit is still being handled (exited decides where it goes,
		// and that nothing drains), or it left nothing to drain.
	}
}

// fork starts the service's process with its environment, user, directory
// and output.
func (s *Supervisor) fork(v *service) (int, <-chan reaper.Exit, error) {
	c := v.cfg
	id, err := identify(c.User, c.Group)
	if err != nil {
		return 0, nil, err
	}
	env, err := id.environ(c, s.opts.Env)
	if err != nil {
		return 0, nil, err
	}
	argv := c.Argv()
	cred := id.cred
	files, closeAfter, copies, err := s.stdio(c)
	if err != nil {
		return 0, nil, err
	}
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	closeCopies := func() {
		for _, c := range copies {
			c.r.Close()
		}
	}
	var extra []*os.File
	if env, extra, err = s.prepareReady(c.Name, v, env, extra); err != nil {
		closeCopies()
		return 0, nil, err
	}
	if err := s.prepareCgroup(v); err != nil {
		closeCopies()
		return 0, nil, err
	}
	v.cred, v.env = cred, env
	cmd := s.command(v)
	cmd.Path, cmd.Args = argv[0], argv
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = files[0], files[1], files[2], extra
	cmd.Setpgid, cmd.Foreground = true, c.Main
	err = cmd.Start()
	if cmd.CloneRefused != nil {
		s.log.Warn("clone3 cannot start processes inside cgroups here: using a trampoline that joins the cgroup before exec", logging.Err(cmd.CloneRefused))
		s.opts.Cgroups.CloneInto = false
	}
	if err != nil {
		if v.cg != nil {
			_ = v.cg.Remove()
			v.cg = nil
		}
		v.stopChecks()
		closeCopies()
		return 0, nil, err
	}
	s.startChecks(c.Name, v, env)
	for _, cp := range copies {
		s.copies.Add(1)
		go func() {
			defer s.copies.Done()
			defer s.log.Recover("output of " + c.Name)
			defer cp.r.Close()
			output.Copy(cp.sink, output.Prefix(c.Name), cp.r, v.logs)
		}()
	}
	return cmd.Pid, cmd.Exited(), nil
}

// command returns a Cmd that runs as the service does: its environment,
// working directory, user, privileges, cgroup and oom_score_adj, from a
// clean signal state. The service's program and its ready and health check
// programs all start from it (issue #14: a check runs as the service's
// command would).
func (s *Supervisor) command(v *service) *launch.Cmd {
	c := v.cfg
	cmd := s.launcher.Cmd(&launch.Cmd{
		Env:        v.env,
		Dir:        c.WorkingDir,
		Credential: v.cred,
		NoNewPrivs: c.NoNewPrivs,
		Signals:    launch.CleanSignals,
	})
	if c.Capabilities != nil {
		cmd.Bounding = []int{}
		for _, name := range c.Capabilities {
			n, _ := config.Capability(name)
			cmd.Bounding = append(cmd.Bounding, n)
		}
		// The bounding set alone gives a user other than root nothing:
		// it keeps its capabilities as ambient ones.
		if v.cred != nil && v.cred.Uid != 0 {
			cmd.Ambient = cmd.Bounding
		}
	}
	if r := c.Resources; r.OOMScoreAdjSet {
		n := r.OOMScoreAdj
		cmd.OOMScoreAdj = &n
	}
	if v.cg != nil {
		cmd.Cgroup = v.cg
	}
	return cmd
}

type copier struct {
	r    *os.File
	sink *output.Sink
}

// stdio opens the service's stdin (/dev/null, or initbox's own for the
// main service), stdout and stderr. It returns the child's files 0, 1 and
// 2, the files to close in initbox once the child has them, and the pipes
// to copy with a prefix.
func (s *Supervisor) stdio(c *config.Service) (files []*os.File, closeAfter []*os.File, copies []copier, err error) {
	// Kept apart from the results: an error return sets those to nil
	// before the deferred cleanup reads them.
	var opened []*os.File
	var pipes []copier
	defer func() {
		if err != nil {
			for _, f := range opened {
				f.Close()
			}
			for _, c := range pipes {
				c.r.Close()
			}
		}
	}()
	open := func(name string, flag int) (*os.File, error) {
		f, err := os.OpenFile(name, flag|syscall.O_CLOEXEC, 0o644)
		if err == nil {
			opened = append(opened, f)
		}
		return f, err
	}
	stdin := os.Stdin
	if !c.Main {
		f, err := open(os.DevNull, os.O_RDONLY)
		if err != nil {
			return nil, nil, nil, err
		}
		stdin = f
	}
	target := func(o config.Output, own *os.File, sink *output.Sink) (*os.File, error) {
		switch o.Kind {
		case config.OutputNull:
			f, err := open(os.DevNull, os.O_WRONLY)
			if err != nil {
				return nil, err
			}
			return f, nil
		case config.OutputFile, config.OutputAppend:
			flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			if o.Kind == config.OutputAppend {
				flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
			}
			f, err := open(o.Path, flag)
			if err != nil {
				return nil, err
			}
			return f, nil
		}
		if c.Main || !s.cfg.Init.LogPrefix {
			return own, nil
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		opened = append(opened, w)
		pipes = append(pipes, copier{r: r, sink: sink})
		return w, nil
	}
	stdout, err := target(c.Stdout, os.Stdout, s.out)
	if err != nil {
		return nil, nil, nil, err
	}
	stderr := stdout
	if c.Stderr.Kind != config.OutputStdout {
		if stderr, err = target(c.Stderr, os.Stderr, s.errOut); err != nil {
			return nil, nil, nil, err
		}
	}
	return []*os.File{stdin, stdout, stderr}, opened, pipes, nil
}
