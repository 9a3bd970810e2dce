//go:build linux

package main

import (
	"errors"
	"syscall"
	"time"

	"github.com/initbox/initbox/control"
	"github.com/initbox/initbox/supervisor"
)

// controlAPI serves a supervisor on the control socket: wiring between the
// core and its transport, which know nothing of each other (DESIGN).
type controlAPI struct{ s *supervisor.Supervisor }

func (a controlAPI) Status() []control.ServiceStatus {
	list := a.s.Status()
	out := make([]control.ServiceStatus, len(list))
	for i, st := range list {
		out[i] = control.ServiceStatus(st)
	}
	return out
}

func (a controlAPI) Start(name string) error   { return controlError(a.s.StartService(name)) }
func (a controlAPI) Stop(name string) error    { return controlError(a.s.StopService(name)) }
func (a controlAPI) Restart(name string) error { return controlError(a.s.RestartService(name)) }
func (a controlAPI) Reload() error             { return a.s.Reload() }

func (a controlAPI) Logs(name string, n int) ([]string, error) {
	lines, err := a.s.Logs(name, n)
	return lines, controlError(err)
}

func (a controlAPI) Signal(name string, sig syscall.Signal) error {
	return controlError(a.s.SignalService(name, sig))
}

func (a controlAPI) Wait(names []string, goal control.Goal, timeout time.Duration) error {
	return controlError(a.s.Wait(names, supervisor.Goal(goal), timeout))
}

func (a controlAPI) Exec(name string, r control.ExecRequest) (control.Process, error) {
	p, err := a.s.ExecService(name, supervisor.Exec{Args: r.Args, Env: r.Env, Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal})
	if err != nil {
		return nil, controlError(err)
	}
	return execProcess{p}, nil
}

// execProcess is a supervisor.Process as control.Process.
type execProcess struct{ *supervisor.Process }

func (p execProcess) Wait() (int, string) {
	e := p.Process.Wait()
	return e.Code(), e.String()
}

// controlError gives the supervisor's sentinel errors the control
// socket's, which choose its status codes (404, 409); the message stays.
func controlError(err error) error {
	switch {
	case errors.Is(err, supervisor.ErrUnknownService):
		return sentinel{err, control.ErrUnknownService}
	case errors.Is(err, supervisor.ErrServiceNotRunning):
		return sentinel{err, control.ErrServiceNotRunning}
	}
	return err
}

// sentinel is err, which also matches is.
type sentinel struct {
	error
	is error
}

func (e sentinel) Is(target error) bool { return target == e.is }
func (e sentinel) Unwrap() error        { return e.error }
