// Package control is initbox's control surface: the control socket (HTTP/1.1
// with JSON bodies over a unix stream socket), the probe and metrics listener
// for Kubernetes and Prometheus, and the `initbox ctl` client.
//
// The package holds no service state of its own. Every request is answered by
// calling the supervisor through API, so the socket can do nothing the
// supervisor does not allow (DESIGN: control "must not bypass the
// supervisor's API").
//
// It links neither net/http nor encoding/json nor package net: the binary has
// a size budget (issue #2), and those cost about 2 MB, 385 KB and 525 KB
// respectively on top of what initbox already links. The HTTP subset and the
// JSON shapes served here are small enough to write by hand.
package control

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// API is what the control socket can ask of the supervisor. Implementations
// are safe for use from other goroutines.
type API interface {
	// Status returns every service, in config order.
	Status() []ServiceStatus
	// Start starts a stopped, finished or failed service; it is a no-op if
	// the service is running.
	Start(name string) error
	// Stop stops one service in order (its stop signal, its timeout); it
	// stays stopped until started again.
	Stop(name string) error
	// Restart stops the service in order and starts it again.
	Restart(name string) error
	// Signal sends sig to the service's process.
	Signal(name string, sig syscall.Signal) error
	// Reload re-reads the config; an error describes what is wrong, and
	// then nothing changed.
	Reload() error
	// Logs returns the last lines of the service's output, oldest first.
	Logs(name string, lines int) ([]string, error)
	// Wait returns once every service in names has reached goal (nil),
	// or one cannot any more, or timeout (> 0) has passed: then the error
	// says which and why.
	Wait(names []string, goal Goal, timeout time.Duration) error
	// Exec starts a program as the service's command would start now
	// (`initbox exec`); the service must be running.
	Exec(name string, r ExecRequest) (Process, error)
}

// ExecRequest is a program for API.Exec to start.
type ExecRequest struct {
	// Args is the argv, looked up in the service's PATH.
	Args []string
	// Env entries (KEY=VALUE) are set over the service's environment.
	Env []string
	// Stdin, Stdout and Stderr are the program's 0, 1 and 2, received
	// from the client; the server closes them once Exec returns.
	Stdin, Stdout, Stderr *os.File
	// Terminal: Stdin is a terminal, to be the program's controlling
	// terminal.
	Terminal bool
}

// Process is a program API.Exec started.
type Process interface {
	Pid() int
	// Signal sends sig to the process; os.ErrProcessDone once it has
	// exited.
	Signal(sig syscall.Signal) error
	// Wait returns once the process has exited: its exit code (128+N
	// for signal N) and how it ended ("exit status 3", "signal:
	// killed").
	Wait() (code int, how string)
}

// Goal is what `initbox ctl start|stop|restart --wait` waits for.
type Goal string

// Goals of API.Wait.
const (
	// GoalStopped: nothing of the service is left: no process, and its
	// cgroup (its process group without one) is empty.
	GoalStopped Goal = "stopped"
	// GoalUp: the service runs and is ready, or, a oneshot, has
	// succeeded.
	GoalUp Goal = "up"
)

// ErrUnknownService is wrapped by API errors about a name that is not a
// service. The control socket answers them with 404, and `initbox ctl` exits
// with status 1.
var ErrUnknownService = errors.New("unknown service")

// ErrServiceNotRunning is wrapped by API.Exec's error for a service that
// has no running process to run as; the control socket answers 409.
var ErrServiceNotRunning = errors.New("service not running")

// ExitCoder is implemented by an API.Exec error that has an exit status
// for `initbox exec`: 127 for a program not found, 126 for one that
// cannot be run, as the shell's.
type ExitCoder interface{ ExitCode() int }

// ServiceStatus is one service as `initbox ctl status` shows it.
type ServiceStatus struct {
	Name string
	// State is "running", "starting" (not ready yet), "stopping",
	// "stopped", "exited", "failed", "waiting" or "backoff".
	State string
	// Pid is 0 when the service is not running.
	Pid int
	// Since is when the service entered State.
	Since    time.Time
	Restarts int
	// LastExit is how the last run ended: "exit status 3", "signal:
	// killed"; "" if it never exited.
	LastExit string
	// LastCode is the last exit code, -1 if it never exited.
	LastCode int
	// Reason says why the service is in State, e.g. "killed by the OOM
	// killer at memory_max=64MiB", "start limit hit".
	Reason string
	// Ready is "ready", "not ready", or "" when there is no readiness check.
	Ready string
	// Health is "healthy", "unhealthy", "starting", or "" when there is no
	// health check.
	Health string
	// Status is the last sd_notify STATUS=.
	Status string
	// MemoryBytes is the cgroup's memory.current; -1 when unknown.
	MemoryBytes int64
	// CPU is the cgroup's CPU time; negative when unknown.
	CPU time.Duration
	// Tasks is the cgroup's pids.current; -1 when unknown.
	Tasks    int64
	OOMKills int
	// For a job (a oneshot with a schedule): its schedule as written, when
	// it runs next (zero: not scheduled, e.g. stopped), and when its last
	// run started and how long it took (zero: none yet).
	Schedule     string
	NextRun      time.Time
	LastRun      time.Time
	LastDuration time.Duration
}
