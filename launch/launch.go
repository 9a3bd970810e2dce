//go:build linux

// Package launch is the one way initbox starts a process (DESIGN: "One way
// to start a process"): Cmd, shaped like os/exec.Cmd, for tini mode's
// program, services, their checks and spawn's inner init, registered with
// the reaper.
//
// What syscall.ForkExec cannot do in the child (join a cgroup where clone3
// is refused, set no_new_privs, shrink the capability bounding set, give a
// user ambient capabilities, ignore the signals the child must start
// ignoring) is done by the trampoline: initbox re-executed between the
// fork and the program's exec, which then drops to the user and directory
// and execs the program, so that none of the program's instructions runs
// before all of that is in place. Nothing else in initbox forks.
package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/signals"
)

// Command is the hidden first argument that makes initbox the trampoline
// (see init).
const Command = "__launch"

// Every binary that links launch is its own trampoline: a start that needs
// one re-executes the running binary (/proc/self/exe) with Command, and
// this init takes over before main, before the packages that launch does
// not depend on are even initialised, and before any signal handler of
// initbox's is in place. So a test binary that starts processes through
// launch needs nothing of its own for it; without this, it would run its
// tests again in each child, each starting more.
func init() {
	if len(os.Args) > 1 && os.Args[1] == Command {
		os.Exit(Main(os.Args[2:]))
	}
}

// Spec is what the trampoline does before the exec.
type Spec struct {
	// Cgroup is a cgroup directory to join first; "" joins none.
	Cgroup string
	// NoNewPrivs sets no_new_privs: no exec of the program or its children
	// gains privileges (setuid binaries, file capabilities).
	NoNewPrivs bool
	// Bounding, if not nil, is the capability bounding set to keep; every
	// other capability is dropped from it. Empty drops all.
	Bounding []int
	// Ambient are capabilities a non-root Cred keeps across the exec
	// (ambient set); each must be in Bounding when that is set.
	Ambient []int
	// Cred and Dir are the program's; Wrap takes them from the start.
	Cred *syscall.Credential
	Dir  string
	// Signals is the signal state to exec the program with, when
	// SetSignals is true; the trampoline's own dispositions otherwise.
	Signals    signals.State
	SetSignals bool
	// ErrFD, when > 0, is a descriptor of the trampoline's on which it
	// reports why it could not exec the program; closed by a successful
	// exec (close-on-exec), so EOF means the program runs.
	ErrFD int
}

// Needed reports whether the spec asks for anything ForkExec cannot do.
func (s Spec) Needed() bool {
	return s.Cgroup != "" || s.NoNewPrivs || s.Bounding != nil || len(s.Ambient) > 0
}

// Wrap rewrites the start of path with argv and attr to run self (initbox,
// e.g. /proc/self/exe) as the trampoline with spec, and returns what to
// start; attr itself is left as it was. The credential and the directory
// move from attr into the spec: joining a cgroup and dropping capabilities
// need initbox's privileges, so the switch to the service's user happens
// in the trampoline, last.
func Wrap(self string, spec Spec, path string, argv []string, attr *syscall.ProcAttr) (string, []string, *syscall.ProcAttr) {
	a := *attr
	if attr.Sys != nil {
		sys := *attr.Sys
		a.Sys = &sys
		if sys.Credential != nil {
			spec.Cred, sys.Credential = sys.Credential, nil
		}
	}
	if a.Dir != "" {
		spec.Dir, a.Dir = a.Dir, ""
	}
	args := []string{filepath.Base(self), Command}
	if spec.Cgroup != "" {
		args = append(args, "--cgroup="+spec.Cgroup)
	}
	if spec.NoNewPrivs {
		args = append(args, "--no-new-privs")
	}
	if spec.Bounding != nil {
		args = append(args, "--bounding="+ints(spec.Bounding))
	}
	if len(spec.Ambient) > 0 {
		args = append(args, "--ambient="+ints(spec.Ambient))
	}
	if c := spec.Cred; c != nil {
		args = append(args, fmt.Sprintf("--uid=%d", c.Uid), fmt.Sprintf("--gid=%d", c.Gid))
		if !c.NoSetGroups {
			g := make([]int, len(c.Groups))
			for i, x := range c.Groups {
				g[i] = int(x)
			}
			args = append(args, "--groups="+ints(g))
		}
	}
	if spec.Dir != "" {
		args = append(args, "--dir="+spec.Dir)
	}
	if spec.SetSignals {
		args = append(args, fmt.Sprintf("--sigign=%#x", uint64(spec.Signals.Ignored)), fmt.Sprintf("--sigmask=%#x", uint64(spec.Signals.Blocked)))
	}
	if spec.ErrFD > 0 {
		args = append(args, fmt.Sprintf("--errfd=%d", spec.ErrFD))
	}
	return self, append(append(args, "--", path), argv...), &a
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// errExec marks a failure of the exec itself.
var errExec = errors.New("exec")

// Main is the trampoline's body: args are what Wrap put after Command. It
// execs the program, or returns the status to exit with after saying why
// on stderr: 127 when the program is not found, 126 for any other failure,
// as a shell.
func Main(args []string) int {
	err := run(args)
	if fd := errFD(args); fd > 0 {
		// The starter reads this and makes it Start's error, as
		// ForkExec's own child reports a failed exec.
		var errno syscall.Errno
		errors.As(err, &errno)
		kind := "setup"
		if errors.Is(err, errExec) {
			kind = "exec"
		}
		f := os.NewFile(uintptr(fd), "errfd")
		fmt.Fprintf(f, "%s %d %v", kind, int(errno), err)
		f.Close()
	} else {
		fmt.Fprintf(os.Stderr, "initbox: %v\n", err)
	}
	if errors.Is(err, errExec) && errors.Is(err, syscall.ENOENT) {
		return 127
	}
	return 126
}

// errFD is the --errfd of the trampoline's arguments, or 0.
func errFD(args []string) int {
	for _, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--errfd="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 2 {
				return n
			}
		}
	}
	return 0
}

type parsed struct {
	spec     Spec
	uid, gid int
	groups   []int
	hasCred  bool
	groupsOK bool
	path     string
	argv     []string
}

func parse(args []string) (p parsed, err error) {
	p.uid, p.gid = -1, -1
	for i, a := range args {
		if a == "--" {
			if len(args) < i+3 {
				return p, fmt.Errorf("%s: want PATH ARGV0 [ARGS] after --, got %q", Command, args[i+1:])
			}
			p.path, p.argv = args[i+1], args[i+2:]
			return p, nil
		}
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "--cgroup":
			p.spec.Cgroup = v
		case "--no-new-privs":
			p.spec.NoNewPrivs = true
		case "--bounding":
			p.spec.Bounding, err = parseInts(v)
			if p.spec.Bounding == nil {
				p.spec.Bounding = []int{}
			}
		case "--ambient":
			p.spec.Ambient, err = parseInts(v)
		case "--uid":
			p.uid, err = strconv.Atoi(v)
			p.hasCred = true
		case "--gid":
			p.gid, err = strconv.Atoi(v)
		case "--groups":
			p.groups, err = parseInts(v)
			p.groupsOK = true
		case "--dir":
			p.spec.Dir = v
		case "--errfd":
			p.spec.ErrFD, err = strconv.Atoi(v)
			if err == nil {
				// Not the program's: gone with the exec.
				_, err = unix.FcntlInt(uintptr(p.spec.ErrFD), unix.F_SETFD, unix.FD_CLOEXEC)
			}
		case "--sigign", "--sigmask":
			var n uint64
			n, err = strconv.ParseUint(v, 0, 64)
			if k == "--sigign" {
				p.spec.Signals.Ignored = signals.Set(n)
			} else {
				p.spec.Signals.Blocked = signals.Set(n)
			}
			p.spec.SetSignals = true
		default:
			return p, fmt.Errorf("%s: unknown argument %q", Command, a)
		}
		if err != nil {
			return p, fmt.Errorf("%s: %s: %w", Command, a, err)
		}
	}
	return p, fmt.Errorf("%s: no -- PATH ARGV", Command)
}

func parseInts(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func run(args []string) error {
	p, err := parse(args)
	if err != nil {
		return err
	}
	// Capabilities, securebits and credentials below are the thread's; the
	// exec keeps the thread that calls it. So it all happens on one
	// thread, with raw system calls: Go's Setuid would change every
	// thread, and the keep-caps bit is only this one's.
	runtime.LockOSThread()
	if p.spec.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", err)
		}
	}
	if p.spec.Bounding != nil {
		keep := map[int]bool{}
		for _, c := range p.spec.Bounding {
			keep[c] = true
		}
		for c := 0; c <= lastCap(); c++ {
			if keep[c] {
				continue
			}
			// PR_CAPBSET_DROP needs CAP_SETPCAP even for a capability
			// that is not in the set: one already gone is left alone,
			// so that a process without CAP_SETPCAP (docker run --user,
			// --cap-drop ALL) can still start a service whose
			// capabilities are all it has.
			if in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err == nil && in == 0 {
				continue
			}
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
				return fmt.Errorf("dropping capability %d from the bounding set: %w", c, os.NewSyscallError("prctl(PR_CAPBSET_DROP)", err))
			}
		}
	}
	if p.spec.Bounding != nil {
		// The bounding set does not limit what the inheritable set
		// passes on (root's permitted set after exec is inheritable |
		// bounding; some runtimes hand containers a full inheritable set,
		// CVE-2022-24769), nor ambient capabilities already raised: both
		// are cut down to what is kept.
		if err := keepOnly(p.spec.Bounding); err != nil {
			return err
		}
	}
	// Last with initbox's privileges: a Go runtime started inside a leaf
	// with a small pids_max could not make its threads.
	if p.spec.Cgroup != "" {
		if err := join(p.spec.Cgroup); err != nil {
			return err
		}
	}
	if p.hasCred {
		if len(p.spec.Ambient) > 0 {
			// Keep the permitted set across the switch of uid, so that
			// the ambient capabilities can be raised from it.
			if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
				return os.NewSyscallError("prctl(PR_SET_KEEPCAPS)", err)
			}
		}
		if p.groupsOK {
			gs := make([]uint32, len(p.groups))
			for i, g := range p.groups {
				gs[i] = uint32(g)
			}
			var ptr unsafe.Pointer
			if len(gs) > 0 {
				ptr = unsafe.Pointer(&gs[0])
			}
			if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gs)), uintptr(ptr), 0); e != 0 {
				return os.NewSyscallError("setgroups", e)
			}
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(p.gid), uintptr(p.gid), uintptr(p.gid)); e != 0 {
			return os.NewSyscallError("setresgid", e)
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(p.uid), uintptr(p.uid), uintptr(p.uid)); e != 0 {
			return os.NewSyscallError("setresuid", e)
		}
	}
	if len(p.spec.Ambient) > 0 {
		if err := raiseAmbient(p.spec.Ambient); err != nil {
			return err
		}
	}
	if p.spec.Dir != "" {
		if err := syscall.Chdir(p.spec.Dir); err != nil {
			return &os.PathError{Op: "chdir", Path: p.spec.Dir, Err: err}
		}
	}
	if p.spec.SetSignals {
		// Last: from here on a signal meets the program's dispositions,
		// not the trampoline's runtime.
		if err := p.spec.Signals.Apply(); err != nil {
			return err
		}
	}
	err = syscall.Exec(p.path, p.argv, os.Environ())
	return fmt.Errorf("%w %s: %w", errExec, p.path, err)
}

// join moves the process into the cgroup dir.
func join(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, "cgroup.procs"), os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString("0")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("cannot join cgroup %s: %w", dir, err)
	}
	return nil
}

// raiseAmbient puts caps in the thread's inheritable, permitted and
// effective sets (they must be permitted: kept across the uid switch) and
// raises them as ambient, which is what survives the exec of a program
// without file capabilities as a non-root user.
func raiseAmbient(caps []int) error {
	m := mask(caps)
	if err := updateCaps(func(d *[2]unix.CapUserData) {
		for i := range d {
			d[i].Inheritable |= m[i]
			d[i].Effective |= m[i]
		}
	}); err != nil {
		return fmt.Errorf("setting capabilities %v: %w", caps, err)
	}
	for _, c := range caps {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raising ambient capability %d: %w", c, os.NewSyscallError("prctl(PR_CAP_AMBIENT_RAISE)", err))
		}
	}
	return nil
}

// keepOnly clears the thread's ambient set and limits its inheritable
// set to caps.
func keepOnly(caps []int) error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", err)
	}
	m := mask(caps)
	return updateCaps(func(d *[2]unix.CapUserData) {
		for i := range d {
			d[i].Inheritable &= m[i]
		}
	})
}

// mask is caps as the two 32-bit words of capget(2).
func mask(caps []int) (m [2]uint32) {
	for _, c := range caps {
		m[c/32] |= 1 << (uint(c) % 32)
	}
	return m
}

// updateCaps reads the thread's capability sets, lets change alter them,
// and writes them back.
func updateCaps(change func(*[2]unix.CapUserData)) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return os.NewSyscallError("capget", err)
	}
	change(&data)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return os.NewSyscallError("capset", err)
	}
	return nil
}

// lastCap is the highest capability the kernel knows.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return unix.CAP_LAST_CAP
}
