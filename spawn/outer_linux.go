//go:build linux

package spawn

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/cgroup"
	"github.com/initbox/initbox/launch"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/pid1"
	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
)

// Run is the outer process of `initbox spawn`: it starts the inner init in
// new namespaces through the reaper, forwards every signal it receives to
// it, and returns its exit status (its code, or 128+N when it died from
// signal N). It must be called on the main goroutine of a process whose
// intake and reaper were created first thing in main.
func Run(o Options, in *signals.Intake, r *reaper.Reaper, log *logging.Logger) int {
	if !o.UserSet {
		o.User = os.Geteuid() != 0
	}
	// The inner init asks for SIGKILL when the thread that created it dies
	// (PR_SET_PDEATHSIG, see Inner): the kernel ties the parent-death
	// signal to the creating *thread*, not the process (golang/go#27505),
	// and the Go runtime may retire an idle thread at any time. So the
	// goroutine that forks stays locked to its thread, and never unlocks,
	// for the lifetime of the child: that thread ends only when the whole
	// outer process does, by return from main or by SIGKILL alike, and
	// then the kernel kills the inner PID 1, which kills its namespace.
	runtime.LockOSThread()

	// The handshake pipe: the inner init gets the read end as fd 3 and the
	// outer process keeps the write end (close-on-exec, so nothing else
	// inherits it). The inner init sets its parent-death signal and then
	// polls the pipe: a hang-up means the outer process died before that,
	// and the signal would never come, so it exits.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		log.Error("initbox spawn: cannot make the handshake pipe", logging.Err(os.NewSyscallError("pipe2", err)))
		return pid1.ExitFailure
	}
	rd, wr := p[0], p[1]
	defer unix.Close(wr)

	flags := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNS)
	for _, ns := range o.optionalNS() {
		flags |= cloneFlag(ns)
	}
	sys := &syscall.SysProcAttr{Cloneflags: flags}
	if o.User {
		sys.Cloneflags |= unix.CLONE_NEWUSER
		sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		// An unprivileged process may write a gid map only after denying
		// setgroups (user_namespaces(7)).
		sys.GidMappingsEnableSetgroups = false
	}
	// Not sys.Pdeathsig: after setting it, Go's child checks that getppid()
	// is still the parent's pid and SIGKILLs itself otherwise; in a new PID
	// namespace getppid() is 0, so the child would always kill itself. The
	// inner init sets PR_SET_PDEATHSIG itself (see Inner).
	scope, release, err := makeScope(o, sys, log)
	if err != nil {
		unix.Close(rd)
		fmt.Fprintf(os.Stderr, "initbox spawn: %v\n", err)
		return pid1.ExitFailure
	}
	if scope != nil {
		defer func() {
			// The PID namespace died with its init: what is left in the
			// scope is exiting, and rmdir waits for it.
			if err := scope.Remove(); err != nil {
				log.Warn("cannot remove the tree's cgroup", logging.Err(err))
			}
		}()
	}
	hs := os.NewFile(uintptr(rd), "handshake")
	// The inner init is initbox again: its entry point sees the signal
	// state initbox was given, and passes it on to the program.
	c := launch.New(r, in).Cmd(&launch.Cmd{
		Path:        "/proc/self/exe",
		Args:        append([]string{"initbox", InnerMarker}, o.Args()...),
		Env:         os.Environ(),
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		ExtraFiles:  []*os.File{hs},
		SysProcAttr: sys,
		Signals:     launch.InheritSignals,
	})
	err = c.Start()
	release()
	hs.Close()
	pid, exited := c.Pid, c.Exited()
	if err != nil {
		fmt.Fprintf(os.Stderr, "initbox spawn: %v\n", explainClone(err, o))
		return pid1.ExitFailure
	}
	in.TakeRest()
	log.Debug("inner init started", logging.Int("pid", pid))
	for {
		select {
		case sig := <-in.C:
			pid1.Forward(log, r, pid, false, sig.(syscall.Signal))
		case e := <-exited:
			log.Debug("inner init exited", logging.String("status", e.String()))
			return e.Code()
		}
	}
}

// makeScope makes the cgroup of the tree, with its limits, when --cgroup
// or a limit asks for one, and arranges for the inner init to start inside
// it; with --cgroup, its cgroup namespace is then rooted there. Limits
// that cannot be had are an error; a plain --cgroup without a cgroup of
// its own keeps the namespace at initbox's current cgroup, and says so.
func makeScope(o Options, sys *syscall.SysProcAttr, log *logging.Logger) (*cgroup.Scope, func(), error) {
	none := func() {}
	limited := o.Limits != cgroup.Limits{}
	if !limited && !o.Cgroup {
		return nil, none, nil
	}
	fail := func(err error) (*cgroup.Scope, func(), error) {
		if limited {
			return nil, none, fmt.Errorf("--memory, --pids and --cpus need a cgroup of the tree's own: %w; run as root on a cgroup v2 host (or in a cgroup delegated to you), or leave the limits out", err)
		}
		log.Warn("--cgroup: no cgroup of the tree's own, its cgroup namespace is rooted at initbox's current cgroup", logging.Err(err))
		return nil, none, nil
	}
	scope, err := cgroup.NewScope(cgroup.Detect(), "initbox-spawn", o.Limits)
	if err != nil {
		return fail(err)
	}
	release, ok, err := scope.Prepare(sys)
	if err == nil && !ok {
		err = errors.New("clone3 is refused here (seccomp?), so the tree cannot start inside its cgroup")
	}
	if err != nil {
		scope.Remove()
		return fail(err)
	}
	log.Debug("tree's cgroup", logging.String("path", scope.Path()))
	return scope, release, nil
}

// explainClone turns a failure to start the inner init into a message
// naming the cause and the fix.
func explainClone(err error, o Options) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("cannot start the inner init: %w", err)
	}
	ns := nsList(o)
	switch errno {
	case unix.EPERM, unix.EACCES:
		if !o.User {
			if os.Geteuid() != 0 {
				what := "new " + ns + " namespaces need"
				if o.Net {
					what = "a new network namespace (--net) needs"
				}
				return fmt.Errorf("%s CAP_SYS_ADMIN (%v): run as root, or drop --no-user so that initbox maps you to root in a user namespace", what, errno)
			}
			return fmt.Errorf("cannot create %s namespaces (%v): initbox runs as root without CAP_SYS_ADMIN (in a container?); run it with CAP_SYS_ADMIN (docker run --cap-add SYS_ADMIN, or --privileged), or try --user", ns, errno)
		}
		if why := userNSDisabled(); why != "" {
			return fmt.Errorf("cannot create a user namespace (%v): %s", errno, why)
		}
		return fmt.Errorf("cannot create a user namespace (%v): user namespaces are refused here (a seccomp or LSM policy, or a container without them?); run as root with --no-user, or allow unprivileged user namespaces", errno)
	case unix.ENOSPC, unix.EUSERS:
		if why := userNSDisabled(); why != "" && o.User {
			return fmt.Errorf("cannot create a user namespace (%v): %s", errno, why)
		}
		return fmt.Errorf("cannot create %s namespaces (%v): a namespace limit is reached; raise the sysctls under /proc/sys/user/ (max_user_namespaces, max_pid_namespaces, ...)", ns, errno)
	case unix.EINVAL:
		if o.User {
			return fmt.Errorf("cannot create %s namespaces (%v): the kernel refused them; a chroot'ed process cannot make a user namespace: run initbox outside the chroot, or as root with --no-user", ns, errno)
		}
		return fmt.Errorf("cannot create %s namespaces (%v): the kernel refused the combination (built without one of them?)", ns, errno)
	case unix.ENOENT:
		return fmt.Errorf("cannot re-execute initbox from /proc/self/exe (%v): is /proc mounted?", errno)
	}
	return fmt.Errorf("cannot start the inner init in %s namespaces: %v", ns, errno)
}

// userNSDisabled says, with the fix, why sysctls forbid user namespaces,
// or returns "".
func userNSDisabled() string {
	if v := readTrim("/proc/sys/kernel/unprivileged_userns_clone"); v == "0" && os.Geteuid() != 0 {
		return "unprivileged user namespaces are disabled by sysctl kernel.unprivileged_userns_clone=0; enable them with `sysctl -w kernel.unprivileged_userns_clone=1`, or run as root"
	}
	if v := readTrim("/proc/sys/user/max_user_namespaces"); v == "0" {
		return "user namespaces are disabled by sysctl user.max_user_namespaces=0; enable them with `sysctl -w user.max_user_namespaces=15000`, or run as root with --no-user"
	}
	if v := readTrim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); v == "1" && os.Geteuid() != 0 {
		return "AppArmor restricts unprivileged user namespaces (sysctl kernel.apparmor_restrict_unprivileged_userns=1); allow them with `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile for initbox, or run as root"
	}
	return ""
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// cloneFlag is the clone(2) flag of each of Options.optionalNS's names.
// A switch, not a package-level map: a map literal is built by init code
// on every start of the binary, tini mode included (issue #13).
func cloneFlag(ns string) uintptr {
	switch ns {
	case "uts":
		return unix.CLONE_NEWUTS
	case "ipc":
		return unix.CLONE_NEWIPC
	case "net":
		return unix.CLONE_NEWNET
	case "cgroup":
		return unix.CLONE_NEWCGROUP
	}
	return 0
}

func nsList(o Options) string {
	l := append([]string{"pid", "mount"}, o.optionalNS()...)
	if o.User {
		l = append(l, "user")
	}
	return strings.Join(l, ", ")
}
