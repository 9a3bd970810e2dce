//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/launch"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
)

// `initbox exec SERVICE -- PROGRAM` (issue #18): PROGRAM runs as the
// service's command runs, with the caller's files, and belongs to the
// service: inside its cgroup when it has one, stopped with its stop
// signal, SIGKILLed with it, waited for by the ordered stop.

// Exec is a program to start as a service's command starts.
type Exec struct {
	// Args is the argv; Args[0] is looked up in the service's PATH.
	Args []string
	// Env entries (KEY=VALUE) are set over the service's environment.
	Env []string
	// Stdin, Stdout and Stderr are the program's 0, 1 and 2; the caller
	// closes its copies once ExecService returns.
	Stdin, Stdout, Stderr *os.File
	// Terminal: Stdin is a terminal, to be the program's controlling
	// terminal in a session of its own.
	Terminal bool
}

// A Process is a program started by ExecService.
type Process struct {
	s    *Supervisor
	v    *service // touched on Run's goroutine only
	pid  int
	done chan struct{}
	exit reaper.Exit // set before done is closed
}

// Pid returns the process's pid.
func (p *Process) Pid() int { return p.pid }

// Wait waits for the process to exit and returns how it ended.
func (p *Process) Wait() reaper.Exit {
	<-p.done
	return p.exit
}

// Signal sends sig to the process, unless it has exited already; the
// reaper's lock keeps a reused pid from getting it.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	return p.s.opts.Starter.Signal(p.pid, sig)
}

// ExecService starts x as service name's command would start now: its
// user and groups, environment and env files, working directory,
// privileges, cgroup and oom_score_adj. The service must be running.
func (s *Supervisor) ExecService(name string, x Exec) (*Process, error) {
	var p *Process
	var err error
	if derr := s.do(func() { p, err = s.execOne(name, x) }); derr != nil {
		return nil, derr
	}
	return p, err
}

func (s *Supervisor) execOne(name string, x Exec) (*Process, error) {
	v, err := s.service(name)
	if err != nil {
		return nil, err
	}
	if len(x.Args) == 0 || x.Args[0] == "" {
		return nil, errors.New("no program")
	}
	if s.shuttingDown {
		return nil, errors.New("initbox is stopping")
	}
	if v.state != running {
		// Its cgroup, user and environment are those of a run.
		return nil, fmt.Errorf("%w: %s is %s", ErrServiceNotRunning, name, s.statusOf(name, v).State)
	}
	cmd := s.command(v)
	cmd.Env = execEnv(v.env, x.Env)
	cmd.Path, cmd.Args = x.Args[0], x.Args
	cmd.Stdin, cmd.Stdout, cmd.Stderr = x.Stdin, x.Stdout, x.Stderr
	// A group of its own: its stop signal goes to what it forks too, and
	// a signal to the service's group does not reach it twice.
	cmd.Setpgid, cmd.Terminal = !x.Terminal, x.Terminal
	if err := cmd.Start(); err != nil {
		return nil, execError{err}
	}
	p := &Process{s: s, v: v, pid: cmd.Pid, done: make(chan struct{})}
	v.execs = append(v.execs, p)
	s.log.Info("exec", logging.String("service", name), logging.Int("pid", p.pid), logging.Strings("args", x.Args))
	exited := cmd.Exited()
	go func() {
		p.exit = <-exited
		close(p.done)
		s.send(event{name: name, kind: evExecExit, proc: p})
	}()
	return p, nil
}

// execError is a program that could not be started, with the shell's
// status for it (ExitCode, as control.ExitCoder asks).
type execError struct{ error }

func (e execError) Unwrap() error { return e.error }
func (e execError) ExitCode() int { return launch.ExitStatus(e.error) }

// execEnv is the service's environment with set's entries over it, less
// what would let the program speak for the service to initbox.
func execEnv(service, set []string) []string {
	env := make([]string, 0, len(service)+len(set))
	for _, kv := range service {
		k, _, _ := strings.Cut(kv, "=")
		if k == "NOTIFY_SOCKET" || envHas(set, k) {
			continue
		}
		env = append(env, kv)
	}
	return append(env, set...)
}

// execExited forgets a program started by Exec once it has exited.
func (s *Supervisor) execExited(p *Process) {
	v := p.v
	v.execs = slices.DeleteFunc(v.execs, func(q *Process) bool { return q == p })
	s.log.Info("exec exited", logging.String("service", v.cfg.Name), logging.Int("pid", p.pid), logging.String("exit", p.exit.String()))
}

// signalExecs sends sig to the process groups of the service's execs,
// unless its cgroup's signal reached them already; a stopped one gets
// SIGCONT after it, as the service does.
func (s *Supervisor) signalExecs(v *service, sig syscall.Signal, byCgroup bool) {
	if byCgroup {
		return
	}
	for _, p := range v.execs {
		_ = unix.Kill(-p.pid, sig)
		if sig != unix.SIGKILL && sig != unix.SIGCONT {
			_ = unix.Kill(-p.pid, unix.SIGCONT)
		}
	}
	if len(v.execs) > 0 {
		s.log.Debug("signalled the service's execs", logging.String("service", v.cfg.Name), logging.Int("execs", len(v.execs)), logging.String("signal", signals.Name(sig)))
	}
}

// stopExecs sends their service's stop signal to the execs of services
// that no stop will signal, when initbox stops: those of a service that
// crashed, or finished, while its exec ran on.
func (s *Supervisor) stopExecs() {
	for _, name := range s.order {
		if v := s.svcs[name]; !v.state.live() {
			s.signalExecs(v, v.cfg.Stop.Signal, false)
		}
	}
}
