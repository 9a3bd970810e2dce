// Package spawn runs a program under initbox as PID 1 of fresh namespaces:
// `initbox spawn [flags] -- PROGRAM ARGS`.
//
// Two processes take part. The outer one (Run) parses the flags and
// re-executes initbox itself, through /proc/self/exe, with the argv marker
// InnerMarker ("__spawn-inner") followed by the options serialised back
// into flags (Options.Args), into new namespaces (clone flags, and uid/gid
// maps for a user namespace). The inner one (Inner), PID 1 of the new PID
// namespace, sets up its mounts, hostname and loopback, pivots into the
// root file system if one was given, and then runs the program in tini mode
// (package pid1) in-process, so the program gets a real init. The outer
// process forwards every signal it receives to the inner init, returns the
// inner exit status, and, if it dies, even by SIGKILL, takes the inner init
// and with it the whole namespace along (see Run and Inner for how).
package spawn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/initbox/initbox/cgroup"
	"github.com/initbox/initbox/pid1"
)

// InnerMarker is argv[1] of the re-executed inner process: `initbox
// __spawn-inner [flags] -- PROGRAM ARGS`. It is internal: Inner refuses to
// run unless it is PID 1 and holds the handshake pipe from Run.
const InnerMarker = "__spawn-inner"

// Bind is one --bind SRC:DST[:ro].
type Bind struct {
	Src, Dst string
	ReadOnly bool
}

func (b Bind) String() string {
	s := b.Src + ":" + b.Dst
	if b.ReadOnly {
		s += ":ro"
	}
	return s
}

// ParseBind reads SRC:DST[:ro]. Both paths must be absolute (DST is a path
// inside the root file system); a missing DST means the same path as SRC.
func ParseBind(spec string) (Bind, error) {
	parts := strings.Split(spec, ":")
	var b Bind
	switch len(parts) {
	case 1:
		b.Src, b.Dst = parts[0], parts[0]
	case 2:
		b.Src, b.Dst = parts[0], parts[1]
	case 3:
		switch parts[2] {
		case "ro":
			b.ReadOnly = true
		case "rw":
		default:
			return b, fmt.Errorf("--bind %q: the third field must be ro or rw, not %q (want SRC:DST[:ro])", spec, parts[2])
		}
		b.Src, b.Dst = parts[0], parts[1]
	default:
		return b, fmt.Errorf("--bind %q: too many ':' (want SRC:DST[:ro]; paths with ':' are not supported)", spec)
	}
	if b.Src == "" || b.Dst == "" {
		return b, fmt.Errorf("--bind %q: empty path (want SRC:DST[:ro])", spec)
	}
	if !strings.HasPrefix(b.Src, "/") || !strings.HasPrefix(b.Dst, "/") {
		return b, fmt.Errorf("--bind %q: both paths must be absolute (want SRC:DST[:ro])", spec)
	}
	for _, e := range strings.Split(b.Dst, "/") {
		if e == ".." {
			return b, fmt.Errorf("--bind %q: DST must not contain '..'", spec)
		}
	}
	return b, nil
}

// Options is what `initbox spawn` was asked to do.
type Options struct {
	// Namespaces beyond the PID and mount ones, which are always new.
	UTS    bool
	IPC    bool
	Net    bool // a new network namespace with lo up; false is --net=host
	Cgroup bool
	// User asks for a user namespace mapping the caller to root inside.
	// UserSet records that --user or --no-user was given; without either,
	// a user namespace is made when the caller is not root.
	User, UserSet bool

	Hostname string
	Rootfs   string
	Binds    []Bind
	Chdir    string
	Env      []string // K=V, applied in order after the inherited environment
	ClearEnv bool

	// Verbosity is initbox's own (tini's -v): 1 warnings (default).
	Verbosity int
	// Grace is pid1.Config.Grace for the init inside (--grace).
	Grace time.Duration

	// Limits for the whole tree (--memory, --pids, --cpus), written to a
	// cgroup made for it; zero fields are unset.
	Limits cgroup.Limits

	// Config, from -c FILE, runs the supervisor inside: the file is read
	// inside the new root. Argv, if given, is then the main service.
	Config string

	Help bool
	Argv []string
}

// ParseArgs reads `initbox spawn` options up to "--" or the first argument
// that is not an option; the rest is the program and its arguments. Values
// are given as --flag VALUE or --flag=VALUE.
func ParseArgs(args []string) (Options, error) {
	o := Options{Verbosity: 1}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.Argv = args[i+1:]
			return o, nil
		}
		if len(a) < 2 || a[0] != '-' {
			o.Argv = args[i:]
			return o, nil
		}
		name, val, hasVal := strings.Cut(a, "=")
		// value returns the option's value, from "=..." or the next argument.
		value := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("option %s needs a value", name)
			}
			i++
			return args[i], nil
		}
		noValue := func() error {
			if hasVal {
				return fmt.Errorf("option %s takes no value", name)
			}
			return nil
		}
		var err error
		switch name {
		case "-h", "--help":
			err = noValue()
			o.Help = true
		case "--pid", "--mount":
			err = noValue() // always on
		case "--uts":
			err = noValue()
			o.UTS = true
		case "--ipc":
			err = noValue()
			o.IPC = true
		case "--cgroup":
			err = noValue()
			o.Cgroup = true
		case "--net":
			switch {
			case !hasVal:
				o.Net = true
			case val == "host":
				o.Net = false
			case val == "none" || val == "new":
				o.Net = true
			default:
				err = fmt.Errorf("--net=%s: want --net (a new network namespace with only lo) or --net=host", val)
			}
		case "--user":
			err = noValue()
			o.User, o.UserSet = true, true
		case "--no-user":
			err = noValue()
			o.User, o.UserSet = false, true
		case "--hostname":
			if o.Hostname, err = value(); err == nil {
				if o.Hostname == "" || len(o.Hostname) > 64 {
					err = fmt.Errorf("--hostname %q: want 1 to 64 characters", o.Hostname)
				}
				o.UTS = true
			}
		case "--rootfs":
			if o.Rootfs, err = value(); err == nil && !strings.HasPrefix(o.Rootfs, "/") {
				err = fmt.Errorf("--rootfs %q: want an absolute path", o.Rootfs)
			}
		case "--bind":
			var spec string
			if spec, err = value(); err == nil {
				var b Bind
				if b, err = ParseBind(spec); err == nil {
					o.Binds = append(o.Binds, b)
				}
			}
		case "--chdir":
			if o.Chdir, err = value(); err == nil && !strings.HasPrefix(o.Chdir, "/") {
				err = fmt.Errorf("--chdir %q: want an absolute path", o.Chdir)
			}
		case "--env":
			var kv string
			if kv, err = value(); err == nil {
				if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
					err = fmt.Errorf("--env %q: want NAME=VALUE", kv)
				} else {
					o.Env = append(o.Env, kv)
				}
			}
		case "--clear-env":
			err = noValue()
			o.ClearEnv = true
		case "--grace":
			var v string
			if v, err = value(); err == nil {
				o.Grace, err = parseDuration(v)
			}
		case "-v", "-vv", "-vvv":
			err = noValue()
			o.Verbosity += len(name) - 1
		case "--memory":
			var v string
			if v, err = value(); err == nil {
				if o.Limits.MemoryMax, err = cgroup.ParseSize(v); err != nil {
					err = fmt.Errorf("--memory %q: %w (want a size such as 512M or 1.5G: %s; or max)", v, err, cgroup.SizeUnitList)
				}
			}
		case "--pids":
			var v string
			if v, err = value(); err == nil {
				if o.Limits.PidsMax, err = parsePids(v); err != nil {
					err = fmt.Errorf("--pids %q: %w", v, err)
				}
			}
		case "--cpus":
			var v string
			if v, err = value(); err == nil {
				o.Limits.CPUMax, err = cgroup.ParseCPUs(v)
				if err == nil && o.Limits.CPUMax != cgroup.Unlimited && !(o.Limits.CPUMax >= cgroup.MinCPUs && o.Limits.CPUMax <= cgroup.MaxCPUs) {
					err = errors.New("out of range")
				}
				if err != nil {
					err = fmt.Errorf("--cpus %q: %w (want a number of CPUs from 0.01 to 10000 such as 1.5, a percentage of one such as 150%%, or max)", v, err)
				}
			}
		case "-c", "--config":
			if o.Config, err = value(); err == nil && o.Config == "" {
				err = fmt.Errorf("%s: empty file name", name)
			}
		default:
			err = fmt.Errorf("unknown option %s", name)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// parsePids reads --pids: a number of processes, at least 1, or "max".
func parsePids(s string) (int64, error) {
	if s == "max" {
		return cgroup.Unlimited, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > cgroup.MaxPids {
		return 0, fmt.Errorf("want a number of processes from 1 to %d, or max", cgroup.MaxPids)
	}
	return n, nil
}

// parseDuration reads --grace as the tini mode reads it.
func parseDuration(s string) (time.Duration, error) {
	d, err := pid1.ParseGrace(s)
	if err != nil {
		return 0, fmt.Errorf("--grace: %w", err)
	}
	return d, nil
}

// Validate checks what ParseArgs cannot see option by option.
func (o Options) Validate() error {
	if len(o.Argv) == 0 && o.Config == "" && !o.Help {
		return errors.New("no program to run (and no -c FILE)")
	}
	if len(o.Binds) > 0 && o.Rootfs == "" {
		return errors.New("--bind needs --rootfs: binds are made inside the new root file system")
	}
	return nil
}

// optionalNS names, in a fixed order, the namespaces chosen beyond pid and
// mount (and user, which is decided apart): the flags, the clone flags and
// the messages all read this one list.
func (o Options) optionalNS() []string {
	var l []string
	for _, ns := range []struct {
		on   bool
		name string
	}{{o.UTS, "uts"}, {o.IPC, "ipc"}, {o.Net, "net"}, {o.Cgroup, "cgroup"}} {
		if ns.on {
			l = append(l, ns.name)
		}
	}
	return l
}

// Args serialises o back into flags that ParseArgs reads into the same
// Options: the outer process hands them to the inner one this way. The
// user namespace is already decided by then and not repeated; the limits
// are the outer process's to apply and not handed on.
func (o Options) Args() []string {
	var a []string
	for _, ns := range o.optionalNS() {
		a = append(a, "--"+ns)
	}
	if o.UserSet {
		if o.User {
			a = append(a, "--user")
		} else {
			a = append(a, "--no-user")
		}
	}
	if o.Hostname != "" {
		a = append(a, "--hostname="+o.Hostname)
	}
	if o.Rootfs != "" {
		a = append(a, "--rootfs="+o.Rootfs)
	}
	for _, b := range o.Binds {
		a = append(a, "--bind="+b.String())
	}
	if o.Chdir != "" {
		a = append(a, "--chdir="+o.Chdir)
	}
	for _, kv := range o.Env {
		a = append(a, "--env="+kv)
	}
	if o.ClearEnv {
		a = append(a, "--clear-env")
	}
	for v := o.Verbosity; v > 1; v-- {
		a = append(a, "-v")
	}
	if o.Grace > 0 {
		a = append(a, "--grace="+o.Grace.String())
	}
	if o.Config != "" {
		a = append(a, "--config="+o.Config)
	}
	a = append(a, "--")
	return append(a, o.Argv...)
}

// Environ returns the program's environment: base (unless ClearEnv) with
// each --env applied in order, a later NAME replacing an earlier one.
func (o Options) Environ(base []string) []string {
	var env []string
	if !o.ClearEnv {
		env = append(env, base...)
	}
	for _, kv := range o.Env {
		k, _, _ := strings.Cut(kv, "=")
		out := env[:0]
		for _, e := range env {
			if ek, _, _ := strings.Cut(e, "="); ek != k {
				out = append(out, e)
			}
		}
		env = append(out, kv)
	}
	return env
}

// Usage is the help text of `initbox spawn`.
const Usage = `Usage: %[1]s spawn [flags] [--] PROGRAM [ARGS...]
       %[1]s spawn [flags] -c FILE [[--] PROGRAM ARGS...]

Runs PROGRAM under initbox as PID 1 of new PID and mount namespaces (with a
fresh /proc), and returns its exit status (128+N if it died from signal N).

  --uts              new UTS namespace (implied by --hostname)
  --hostname NAME    host name inside
  --ipc              new IPC namespace
  --net              new network namespace with only lo, up
  --net=host         keep the host's network (default)
  --cgroup           new cgroup namespace, rooted at a cgroup made for the
                     tree (where cgroup v2 is writable)
  --memory SIZE      memory limit of the whole tree (512M, 1.5G, max)
  --pids N           process limit of the whole tree
  --cpus N           CPU limit of the whole tree (1.5, 150%%)
  --user             new user namespace mapping you to root inside
                     (automatic when not root; --no-user turns it off)
  --rootfs DIR       pivot_root into DIR, with /proc, a minimal /dev,
                     /sys read-only and a tmpfs /tmp
  --bind SRC:DST[:ro]  bind-mount host SRC at DST inside (repeatable; needs --rootfs)
  --chdir DIR        working directory of PROGRAM
  --env NAME=VALUE   set a variable for PROGRAM (repeatable)
  --clear-env        start PROGRAM with only the --env variables
  -c, --config FILE  run the supervisor inside with FILE (a path inside the
                     new root); PROGRAM, if given, is the main service
  --grace DUR        as initbox --grace, for the init inside
  -v                 more output from initbox
  -h, --help         this text

The limits need a writable cgroup v2 with the controller (root, or a
delegated cgroup); without one initbox says why and runs nothing.
`
