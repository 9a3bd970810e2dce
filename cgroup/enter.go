//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// EnterCommand is the hidden first argument that makes initbox the
// trampoline that joins a leaf and execs the program (see Prepare). The
// command must call Enter before anything else, signal handlers included:
// a signal ignored there would stay ignored in the program.
const EnterCommand = "__cgroup-exec"

// cloneIntoCgroup reports whether clone3 can start a process inside a
// cgroup. clone3 with a zero size fails with EINVAL where the kernel has
// it; Docker's default seccomp profile answers ENOSYS for clone3 to
// processes without CAP_SYS_ADMIN (moby #42681), and Go's UseCgroupFD
// forces clone3 with no fallback (src/syscall/exec_linux.go). Kernels
// 5.3–5.6 have clone3 without CLONE_INTO_CGROUP; Prepare's caller retries
// a start that fails there through the trampoline.
func cloneIntoCgroup() bool {
	_, _, errno := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	return errno != unix.ENOSYS
}

// Prepare makes the start described by path, argv and attr begin inside
// the leaf, never outside it for a moment (a process moved after fork
// could fork first and leave children behind: Horust's bug). With
// clone3 it sets attr.Sys.UseCgroupFD; the returned release closes the
// leaf's fd and must be called after the start. Otherwise it rewrites the
// start to run initbox itself (self, e.g. /proc/self/exe) as a trampoline
// that joins the leaf, then drops to attr's credential and working
// directory, then execs path, so that the program's first instruction
// already runs in the leaf.
func (g *Group) Prepare(self, path string, argv []string, attr *syscall.ProcAttr) (string, []string, func(), error) {
	if attr.Sys == nil {
		attr.Sys = &syscall.SysProcAttr{}
	}
	if g.t.CloneInto {
		fd, err := unix.Open(g.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", nil, nil, &os.PathError{Op: "open", Path: g.path, Err: err}
		}
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, fd
		return path, argv, func() { unix.Close(fd) }, nil
	}
	// Joining a cgroup takes write access to cgroup.procs there and at the
	// common ancestor: initbox's credential, not the service's. So the
	// trampoline starts with initbox's and drops to the service's itself.
	uid, gid, groups, dir := "-", "-", "-", "-"
	if c := attr.Sys.Credential; c != nil {
		uid, gid = strconv.FormatUint(uint64(c.Uid), 10), strconv.FormatUint(uint64(c.Gid), 10)
		if !c.NoSetGroups {
			s := make([]string, len(c.Groups))
			for i, g := range c.Groups {
				s[i] = strconv.FormatUint(uint64(g), 10)
			}
			groups = "," + strings.Join(s, ",")
		}
		attr.Sys.Credential = nil
	}
	if attr.Dir != "" {
		dir, attr.Dir = attr.Dir, ""
	}
	args := append([]string{filepath.Base(self), EnterCommand, g.path, uid, gid, groups, dir, path, "--"}, argv...)
	return self, args, func() {}, nil
}

// Enter is the trampoline's body: args are what Prepare put after
// EnterCommand. It joins the leaf, sets the credential and directory,
// and execs the program; it returns only the status to exit with when one
// of these fails, after saying why on stderr (126: could not be run, 127:
// not found, as a shell).
func Enter(args []string) int {
	err := enter(args)
	fmt.Fprintf(os.Stderr, "initbox: %v\n", err)
	var errno syscall.Errno
	if errors.As(err, &errno) && errno == syscall.ENOENT && errors.Is(err, errExec) {
		return 127
	}
	return 126
}

var errExec = errors.New("exec")

func enter(args []string) error {
	if len(args) < 7 || args[6] != "--" {
		return fmt.Errorf("%s: want LEAF UID GID GROUPS DIR PATH -- ARGV, got %q", EnterCommand, args)
	}
	leaf, uid, gid, groups, dir, path, argv := args[0], args[1], args[2], args[3], args[4], args[5], args[7:]
	if err := write(filepath.Join(leaf, "cgroup.procs"), "0"); err != nil {
		return fmt.Errorf("cannot join cgroup %s: %w", leaf, err)
	}
	if groups != "-" {
		var gs []int
		for _, s := range strings.Split(groups[1:], ",") {
			if s == "" {
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("%s: bad group %q", EnterCommand, s)
			}
			gs = append(gs, n)
		}
		if err := syscall.Setgroups(gs); err != nil {
			return os.NewSyscallError("setgroups", err)
		}
	}
	// Group before user: once the uid is dropped, the gid cannot change.
	if gid != "-" {
		n, err := strconv.Atoi(gid)
		if err != nil {
			return fmt.Errorf("%s: bad gid %q", EnterCommand, gid)
		}
		if err := syscall.Setgid(n); err != nil {
			return os.NewSyscallError("setgid", err)
		}
	}
	if uid != "-" {
		n, err := strconv.Atoi(uid)
		if err != nil {
			return fmt.Errorf("%s: bad uid %q", EnterCommand, uid)
		}
		if err := syscall.Setuid(n); err != nil {
			return os.NewSyscallError("setuid", err)
		}
	}
	if dir != "-" {
		if err := syscall.Chdir(dir); err != nil {
			return &os.PathError{Op: "chdir", Path: dir, Err: err}
		}
	}
	err := syscall.Exec(path, argv, os.Environ())
	return fmt.Errorf("%w %s: %w", errExec, path, err)
}
