// Package config reads initbox's TOML configuration: the schema, its
// defaults, ${VAR} expansion, env files, and validation that reports every
// problem at once as FILE:LINE:COL: message.
//
// Load and Parse decode and validate in one go and return either a usable
// *Config or an *Errors listing everything wrong with the file. Values are
// final when they return: defaults are filled in, ${VAR} references are
// expanded from the environment function given, relative paths are made
// relative to the config file's directory. Env files are the exception:
// they are read when a service starts ([Service.Environ]), because secrets
// may appear after initbox does.
//
// The package never touches processes; it reads the config file, and env
// files when asked to.
package config

import (
	"fmt"
	"syscall"
	"time"

	"github.com/initbox/initbox/schedule"
)

// Config is a whole configuration file.
type Config struct {
	// File is the name the config was parsed under, as errors print it:
	// the first of Files.
	File string
	// Files are the config files merged into this config, in merge order
	// (the base file, then drop-ins).
	Files []string
	Init  Init
	// Services holds every service by name, enabled or not.
	Services map[string]*Service
	// Order is the service names in the order the file defines them; it
	// breaks ties wherever an order is needed (StartOrder, logs).
	Order []string

	meta *meta // positions in the parsed files; nil for a Config built in code
}

// Init is the [init] table: initbox's own settings.
type Init struct {
	// ShutdownTimeout bounds the whole ordered stop (docker stop waits 10 s).
	// ShutdownTimeoutEnv overrides it.
	ShutdownTimeout time.Duration
	// LogFormat is the format of initbox's own log lines.
	LogFormat LogFormat
	// LogPrefix makes service output lines reach initbox's stdout and
	// stderr as "NAME | line".
	LogPrefix bool
	// Grace is how long processes left after the stop get between SIGTERM
	// and SIGKILL, as --grace.
	Grace   time.Duration
	Cgroups Cgroups
	// ControlSocket is the unix socket of `initbox ctl`: ControlSocketAuto
	// (the default), an absolute path, or "" for none.
	ControlSocket string
	// HTTPListen is the "host:port" or ":port" of /healthz, /readyz and
	// /metrics; "" (the default) serves none.
	HTTPListen string
	// Timezone is the location of the services' schedules; nil is $TZ, or
	// the local time of the machine (time.Local).
	Timezone *time.Location
}

// Cgroups is the [init.cgroups] table.
//
// Under the cgroup initbox starts in, Init and Services are siblings:
// cgroup v2 allows processes only in leaves once controllers are enabled
// for children, so initbox cannot stay where it is when that cgroup is its
// own (PID 1 of a container) and moves itself into Init. On a host, where
// the cgroup is not initbox's, Services goes under a new initbox-PID
// directory instead, which initbox removes on exit.
type Cgroups struct {
	Mode CgroupMode
	// Init is the leaf initbox moves itself into when it owns its cgroup.
	Init string
	// Services holds one leaf cgroup per service, named as the service.
	Services string
}

// CgroupMode says how much initbox insists on cgroups.
type CgroupMode string

// Cgroup modes.
const (
	// CgroupAuto uses what the host offers and logs one line about each
	// limit or cgroup it cannot have.
	CgroupAuto CgroupMode = "auto"
	// CgroupRequired makes a cgroup or a limit the host cannot give an
	// error: nothing starts.
	CgroupRequired CgroupMode = "required"
	// CgroupOff uses no cgroups: services are process groups only.
	CgroupOff CgroupMode = "off"
)

// LogFormat is the format of initbox's own log lines.
type LogFormat string

// Log formats.
const (
	LogConsole LogFormat = "console"
	LogJSON    LogFormat = "json"
)

// Service is one [services.NAME] table.
type Service struct {
	Name string
	// Command is the argv; Command[0] is looked up in PATH when it has no
	// slash. Exactly one of Command and Shell is set.
	Command []string
	// Shell is a command line run as /bin/sh -c Shell.
	Shell string
	Type  Type
	// Main: when it exits, everything stops and initbox exits with its
	// status. At most one service is main.
	Main bool
	// Essential: when it fails for good, everything stops and initbox exits
	// with its status.
	Essential bool
	// Schedule, on a oneshot, makes it a scheduled job: started at each
	// time the schedule gives, not at boot (issue #18).
	Schedule *schedule.Schedule
	// Enabled services are started; disabled ones are defined but left alone.
	Enabled bool
	// User is a user name or a numeric uid; "" keeps initbox's. Its primary
	// and supplementary groups follow it.
	User string
	// Group overrides the primary group (name or gid); "" keeps User's.
	Group string
	// WorkingDir is absolute or relative to the config file's directory;
	// "" keeps initbox's.
	WorkingDir string
	// Env is the env table, already expanded; it overrides everything else.
	Env map[string]string
	// EnvFile lists env files to read, in order, when the service starts.
	EnvFile    []EnvFile
	InheritEnv InheritEnv
	Stdout     Output
	Stderr     Output
	// ForwardSignals makes signals sent to initbox that it forwards (HUP,
	// USR1, USR2, WINCH...) reach this service too. The main service always
	// gets them.
	ForwardSignals bool
	// NoNewPrivs sets no_new_privs for the service: neither it nor its
	// children gain privileges by exec (setuid binaries, file
	// capabilities).
	NoNewPrivs bool
	// Capabilities, if not nil, is the capability bounding set the service
	// keeps ("CAP_NET_BIND_SERVICE"); empty keeps none. A service with a
	// User other than root gets them as ambient capabilities too, so that
	// it can use them.
	Capabilities []string
	// DependsOn maps each service this one waits for to the condition it
	// waits for.
	DependsOn map[string]Condition
	Restart   Restart
	Stop      Stop
	Resources Resources
	Ready     Ready
	Health    Health
}

// Type is how a service's start and end are understood.
type Type string

// Service types.
const (
	// TypeSimple is running once its process has started.
	TypeSimple Type = "simple"
	// TypeOneshot runs to completion; dependents may wait for its exit.
	TypeOneshot Type = "oneshot"
	// TypeNotify says it is ready with sd_notify READY=1 (Ready.Notify).
	TypeNotify Type = "notify"
)

// Condition is what a dependent waits for in a service it depends on.
type Condition string

// Dependency conditions.
const (
	// ConditionStarted: the process is running.
	ConditionStarted Condition = "started"
	// ConditionReady: its readiness check passed; with none, as started.
	ConditionReady Condition = "ready"
	// ConditionHealthy: its first health check passed; with none, as ready.
	ConditionHealthy Condition = "healthy"
	// ConditionCompleted: a oneshot exited, whatever its status.
	ConditionCompleted Condition = "completed"
	// ConditionSucceeded: a oneshot exited with a success code; if it
	// failed, its dependents fail.
	ConditionSucceeded Condition = "succeeded"
)

// EnvFile is one entry of env_file.
type EnvFile struct {
	// Path is absolute or relative to the config file's directory.
	Path string
	// Optional (written with a leading '-') makes a missing file fine; any
	// other problem with it is still an error.
	Optional bool
}

// InheritEnv says which of initbox's environment variables a service gets.
type InheritEnv struct {
	// All passes everything; Names is then nil.
	All bool
	// Names, when All is false, are the only variables passed; none when
	// empty.
	Names []string
}

// Inherits reports whether the variable name passes.
func (ie InheritEnv) Inherits(name string) bool {
	if ie.All {
		return true
	}
	for _, n := range ie.Names {
		if n == name {
			return true
		}
	}
	return false
}

// Output is where a service's stdout or stderr goes.
type Output struct {
	Kind OutputKind
	// Path is the file for OutputFile and OutputAppend.
	Path string
}

// String returns o as the config writes it.
func (o Output) String() string {
	if o.Kind == OutputFile || o.Kind == OutputAppend {
		return string(o.Kind) + ":" + o.Path
	}
	return string(o.Kind)
}

// OutputKind is the kind of an Output.
type OutputKind string

// Output kinds.
const (
	// OutputInherit copies lines to initbox's own stream, prefixed with
	// the service's name when init.log_prefix is set.
	OutputInherit OutputKind = "inherit"
	// OutputNull discards the output (/dev/null).
	OutputNull OutputKind = "null"
	// OutputFile truncates Path and writes to it.
	OutputFile OutputKind = "file"
	// OutputAppend appends to Path.
	OutputAppend OutputKind = "append"
	// OutputStdout, for stderr only, sends it where stdout goes.
	OutputStdout OutputKind = "stdout"
)

// Restart is the [services.NAME.restart] table.
type Restart struct {
	Policy RestartPolicy
	// Delay is the wait before the first restart; each further one waits
	// Multiplier times longer, up to MaxDelay.
	Delay      time.Duration
	Multiplier float64
	MaxDelay   time.Duration
	// ResetAfter: a run this long resets the delay to Delay.
	ResetAfter time.Duration
	// LimitBurst starts at most within LimitInterval; the next start is
	// refused and the service fails for good.
	LimitBurst    int
	LimitInterval time.Duration
	// SuccessExitCodes are the exit codes that count as success.
	SuccessExitCodes []int
}

// RestartPolicy says when a service that exited is started again.
type RestartPolicy string

// Restart policies.
const (
	RestartNever     RestartPolicy = "never"
	RestartOnFailure RestartPolicy = "on-failure"
	RestartAlways    RestartPolicy = "always"
)

// Stop is the [services.NAME.stop] table.
type Stop struct {
	Signal syscall.Signal
	// Timeout is the wait for the service to exit after Signal before
	// SIGKILL; never more than what is left of Init.ShutdownTimeout.
	Timeout time.Duration
	Mode    StopMode
}

// StopMode says which processes the stop signal reaches.
type StopMode string

// Stop modes.
const (
	// StopCgroup signals every process of the service's cgroup, then
	// writes cgroup.kill after the timeout and waits until the cgroup is
	// empty: a daemon that left its process group is reached too. Where
	// the service has no cgroup (cgroups off or unusable) it acts as
	// StopGroup.
	StopCgroup StopMode = "cgroup"
	// StopGroup signals the service's whole process group.
	StopGroup StopMode = "group"
	// StopProcess signals the service's process only.
	StopProcess StopMode = "process"
	// StopMixed, systemd's KillMode=mixed, signals the service's process
	// only; once it has exited, or after the timeout, what is left of the
	// service (its cgroup, else its process group) gets SIGKILL. For
	// daemons that stop their own workers: PostgreSQL, nginx, gunicorn
	// (issue #15).
	StopMixed StopMode = "mixed"
)

// Allowed values of each enumeration, in the order messages list them.
var (
	logFormats  = []string{string(LogConsole), string(LogJSON)}
	types       = []string{string(TypeSimple), string(TypeOneshot), string(TypeNotify)}
	conditions  = []string{string(ConditionStarted), string(ConditionReady), string(ConditionHealthy), string(ConditionCompleted), string(ConditionSucceeded)}
	policies    = []string{string(RestartNever), string(RestartOnFailure), string(RestartAlways)}
	stopModes   = []string{string(StopCgroup), string(StopGroup), string(StopProcess), string(StopMixed)}
	cgroupModes = []string{string(CgroupAuto), string(CgroupRequired), string(CgroupOff)}
	outputKinds = []string{string(OutputInherit), string(OutputNull), "file:PATH", "append:PATH"}
)

// DefaultInit returns the [init] settings of a file that has none:
// shutdown_timeout 9s, log_format console, log_prefix true, grace 0s,
// cgroups in mode auto with leaves "init" and "services", the control
// socket "auto" (DefaultControlSocket), no HTTP listener.
func DefaultInit() Init {
	return Init{
		ShutdownTimeout: 9 * time.Second,
		LogFormat:       LogConsole,
		LogPrefix:       true,
		Grace:           0,
		Cgroups:         Cgroups{Mode: CgroupAuto, Init: "init", Services: "services"},
		ControlSocket:   DefaultControlSocket,
	}
}

// NewService returns a service with every default filled in and neither
// command nor shell: type simple, enabled, inherit all of the environment,
// stdout and stderr inherit, restart on-failure after 100ms ×2 up to 30s,
// reset after 60s, at most 5 starts in 10s, success exit code 0, stop with
// SIGTERM, SIGKILL after 5s, to the service's cgroup (its process group
// where it has none), no resource limits but the OOM killer taking the
// whole service, no readiness method (ready when running; attempts every
// 200ms, a 60s timeout once one is set) and no health check (once one is
// set: every 10s, 5s each, unhealthy after 3 failures, healthy again after
// 1 success, then restart). A oneshot's default
// restart policy is never: Load and Parse apply it when type is oneshot and
// policy is not given; code that builds a oneshot sets it too.
func NewService(name string) *Service {
	return &Service{
		Name:       name,
		Type:       TypeSimple,
		Enabled:    true,
		InheritEnv: InheritEnv{All: true},
		Stdout:     Output{Kind: OutputInherit},
		Stderr:     Output{Kind: OutputInherit},
		Restart: Restart{
			Policy:           RestartOnFailure,
			Delay:            100 * time.Millisecond,
			Multiplier:       2.0,
			MaxDelay:         30 * time.Second,
			ResetAfter:       60 * time.Second,
			LimitBurst:       5,
			LimitInterval:    10 * time.Second,
			SuccessExitCodes: []int{0},
		},
		Stop: Stop{
			Signal:  syscall.SIGTERM,
			Timeout: 5 * time.Second,
			Mode:    StopCgroup,
		},
		Resources: Resources{OOMGroup: true},
		Ready:     Ready{Interval: 200 * time.Millisecond, Timeout: 60 * time.Second},
		Health: Health{
			Interval:         10 * time.Second,
			Timeout:          5 * time.Second,
			FailureThreshold: 3,
			SuccessThreshold: 1,
			Action:           HealthRestart,
		},
	}
}

// New returns an empty configuration with default [init] settings, for
// running without a config file.
func New() *Config {
	return &Config{Init: DefaultInit(), Services: map[string]*Service{}}
}

// Add appends s to c (as `initbox run -- PROGRAM` adds its "main"). It fails
// when the name is taken; call Validate afterwards for everything else.
// Problems with s have no position in the file.
func (c *Config) Add(s *Service) error {
	if _, ok := c.Services[s.Name]; ok {
		return fmt.Errorf("config: service %q is already defined", s.Name)
	}
	if c.Services == nil {
		c.Services = map[string]*Service{}
	}
	c.Services[s.Name] = s
	c.Order = append(c.Order, s.Name)
	if c.meta != nil {
		c.meta.added[s.Name] = true
	}
	return nil
}

// ForgetPositions drops what c remembers of the files it came from: every
// key's line and column, which for a parsed file weigh about seven times the
// Config itself (1.15 MB of 1.3 MB for 200 services). After it, c is as a
// Config built in code: its errors carry no position and WriteTOML fails.
// A running initbox calls it once a configuration is accepted, so that what
// it keeps for the services' lifetime is the small part.
func (c *Config) ForgetPositions() {
	c.meta = nil
}

// Argv returns what the service executes: Command, or /bin/sh -c Shell.
func (s *Service) Argv() []string {
	if s.Command != nil {
		return s.Command
	}
	return []string{"/bin/sh", "-c", s.Shell}
}

// Success reports whether code is one of the service's success exit codes.
func (r *Restart) Success(code int) bool {
	for _, c := range r.SuccessExitCodes {
		if c == code {
			return true
		}
	}
	return false
}
