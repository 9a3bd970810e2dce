//go:build linux

// Package pid1 runs one program under initbox as tini does: it starts the
// program in its own process group, hands it the terminal, forwards signals,
// reaps every zombie, and returns the program's exit status.
//
// Beyond tini, a grace period (Config.Grace) stops what the program left
// behind in order: SIGTERM to every remaining descendant, SIGKILL to what is
// still there when the period ends (krallin/tini#180, #236; Yelp/dumb-init#80,
// #212).
package pid1

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/launch"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/mem"
	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
)

// Exit statuses initbox returns for itself, following the shell.
const (
	ExitFailure    = launch.ExitFailure    // initbox could not start the program for a reason of its own
	ExitCannotExec = launch.ExitCannotExec // the program exists but cannot be executed
	ExitNotFound   = launch.ExitNotFound   // the program was not found
)

// Config describes one run.
type Config struct {
	// Argv is the program and its arguments; Argv[0] is looked up in PATH
	// when it holds no slash.
	Argv []string
	// Env is the program's environment.
	Env []string
	// Subreaper registers initbox as a child subreaper (-s).
	Subreaper bool
	// Group forwards signals to the program's process group (-g).
	Group bool
	// ZeroCodes are exit codes reported as 0 (-e).
	ZeroCodes []int
	// ParentDeath, when not 0, is the signal initbox asks to receive when
	// its parent dies (-p); like any signal, it is then forwarded.
	ParentDeath syscall.Signal
	// WarnOnReap logs each orphan reaped, as tini's -w does.
	WarnOnReap bool
	// Grace, when positive, is how long the processes left behind after
	// the program exits get between SIGTERM and SIGKILL (--grace).
	Grace time.Duration
	// Log receives initbox's own lines; nil discards them.
	Log *logging.Logger
}

// releaseAfter is how long the program runs before initbox lets go of the
// pages of its binary that start-up alone used (mem.ReleaseStartup).
const releaseAfter = time.Second

// Run starts cfg.Argv as the only child and returns the status initbox
// should exit with. The intake must have been started before anything else
// (signals.Notify), and r must be the process's reaper.
func Run(cfg Config, in *signals.Intake, r *reaper.Reaper) int {
	log := cfg.Log
	self := os.Getpid()

	if cfg.ParentDeath != 0 {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(cfg.ParentDeath), 0, 0, 0); err != nil {
			log.Error("cannot set the parent-death signal", logging.Err(os.NewSyscallError("prctl(PR_SET_PDEATHSIG)", err)))
			return ExitFailure
		}
	}
	subreaper := false
	if cfg.Subreaper {
		if err := reaper.SetSubreaper(); err != nil {
			log.Error("cannot register as a child subreaper", logging.Err(err))
			return ExitFailure
		}
		subreaper = true
	} else if self != 1 {
		subreaper, _ = reaper.IsSubreaper()
	}
	if self != 1 && !subreaper {
		// tini's text, word for word, since users and scripts search for it.
		log.Warn("Tini is not running as PID 1 and isn't registered as a child subreaper.\n" +
			"Zombie processes will not be re-parented to Tini, so zombie reaping won't work.\n" +
			"To fix the problem, use the -s option or set the environment variable TINI_SUBREAPER to register Tini as a child subreaper, or run Tini as PID 1.")
	}

	if cfg.WarnOnReap {
		r.SetOrphan(func(e reaper.Exit) {
			log.Warn(fmt.Sprintf("Reaped zombie process with pid=%d", e.Pid))
		})
	}
	pid, exited, err := start(cfg, in, r)
	if err != nil {
		log.Error(err.Error())
		return launch.ExitStatus(err)
	}
	// The signals taken beside the start (issue #17) are taken by now,
	// or soon: a Go start-up and an exec take longer.
	in.TakeRest()
	// Forwarded from the thread that takes them, where it can: one thread
	// woken per signal, as under tini (issue #17).
	in.Direct(func(sig syscall.Signal) { Forward(log, r, pid, cfg.Group, sig) })
	log.Info("started", logging.Int("pid", pid), logging.Strings("argv", cfg.Argv))
	// The init holds no directory busy; the program keeps its own
	// (openSUSE/catatonit#28).
	_ = os.Chdir("/")
	// Idle from here on: what start-up alone touched of the binary need
	// not stay mapped (issue #17: 4.2 -> 2.3-2.7 MiB resident). Not at once:
	// a program that exits within releaseAfter would have initbox fault
	// its exit path back in (+1.8 ms to `initbox -s -- /bin/true`).
	defer mem.ReleaseStartupAfter(releaseAfter, func(err error) {
		log.Debug("start-up pages kept", logging.Err(err))
	}).Stop()

	var e reaper.Exit
wait:
	for {
		select {
		case sig := <-in.C:
			Forward(log, r, pid, cfg.Group, sig.(syscall.Signal))
		case e = <-exited:
			break wait
		}
	}
	// A second SIGTERM in the grace period is initbox's, not the dead
	// program's: through C to sweep.
	in.Direct(nil)
	code := e.Code()
	log.Info("program exited", logging.Int("pid", pid), logging.String("status", e.String()))
	for _, z := range cfg.ZeroCodes {
		if code == z {
			code = 0
			break
		}
	}
	if cfg.Grace > 0 {
		sweep(log, in, r, cfg.Grace)
	}
	return code
}

// sweep runs r.Sweep, and a second SIGTERM, SIGINT or SIGQUIT meanwhile
// cuts the grace period short.
func sweep(log *logging.Logger, in *signals.Intake, r *reaper.Reaper, grace time.Duration) {
	cut, stop := signals.Watch(in.C, unix.SIGTERM, unix.SIGINT, unix.SIGQUIT)
	res := r.Sweep(grace, cut)
	stop()
	if res.Cut != nil {
		log.Warn("grace period cut short", logging.String("signal", signals.Name(res.Cut.(syscall.Signal))))
	}
	if res.Termed > 0 {
		log.Info("sent SIGTERM to the processes left", logging.Int("count", res.Termed), logging.Duration("grace", grace))
	}
	if res.Killed > 0 {
		log.Warn("grace period over: sent SIGKILL to the processes left", logging.Int("count", res.Killed))
	}
	if res.Left {
		log.Warn("processes remain after SIGKILL")
	}
}

// Forward passes sig on to pid, or to its process group when group is set,
// if signals.Classify says it is forwarded, and logs what happened.
func Forward(log *logging.Logger, r *reaper.Reaper, pid int, group bool, sig syscall.Signal) {
	if a := signals.Classify(sig); a != signals.Forward {
		log.Debug("not forwarded", logging.String("signal", signals.Name(sig)), logging.Stringer("action", a))
		return
	}
	var err error
	if group {
		err = reaper.KillGroup(pid, sig)
	} else {
		err = r.Signal(pid, sig)
	}
	switch {
	case errors.Is(err, os.ErrProcessDone):
		log.Debug("child was dead when forwarding signal", logging.String("signal", signals.Name(sig)))
	case err != nil:
		log.Warn("cannot forward signal", logging.String("signal", signals.Name(sig)), logging.Err(err))
	default:
		log.Debug("forwarded", logging.String("signal", signals.Name(sig)), logging.Int("pid", pid))
	}
}

// start starts the program with the signal state initbox was given, in a
// process group of its own, with the terminal when initbox has it.
func start(cfg Config, in *signals.Intake, r *reaper.Reaper) (int, <-chan reaper.Exit, error) {
	if len(cfg.Argv) == 0 {
		return 0, nil, errors.New("no program to run")
	}
	c := launch.New(r, in).Cmd(&launch.Cmd{
		Path:       cfg.Argv[0],
		Args:       cfg.Argv,
		Env:        cfg.Env,
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		Setpgid:    true,
		Foreground: true,
		Signals:    launch.InheritSignals,
	})
	if err := c.Start(); err != nil {
		return 0, nil, err
	}
	return c.Pid, c.Exited(), nil
}
