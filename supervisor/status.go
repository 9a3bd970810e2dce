//go:build linux

package supervisor

import (
	"errors"
	"time"
)

// What the supervisor reports and answers to other goroutines (api.go).
// Package control serves it; the supervisor does not know the transport
// (DESIGN: it "must not import control").

// ErrUnknownService is wrapped by errors about a name that is not a
// service.
var ErrUnknownService = errors.New("unknown service")

// ErrServiceNotRunning is wrapped by ExecService's error for a service
// that has no running process to run as.
var ErrServiceNotRunning = errors.New("service not running")

// Goal is what Wait waits for.
type Goal string

// Goals of Wait.
const (
	// GoalStopped: nothing of the service is left: no process, and its
	// cgroup (its process group without one) is empty.
	GoalStopped Goal = "stopped"
	// GoalUp: the service runs and is ready, or, a oneshot, has
	// succeeded.
	GoalUp Goal = "up"
)

// ServiceStatus is one service as the supervisor reports it; the control
// socket serves it as is (control.ServiceStatus has the same fields).
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
