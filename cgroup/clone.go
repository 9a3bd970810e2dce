//go:build linux

package cgroup

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// cloneIntoCgroup reports whether clone3 can start a process inside a
// cgroup. clone3 with a zero size fails with EINVAL where the kernel has
// it; Docker's default seccomp profile answers ENOSYS for clone3 to
// processes without CAP_SYS_ADMIN (moby #42681), and Go's UseCgroupFD
// forces clone3 with no fallback (src/syscall/exec_linux.go). Kernels
// 5.3–5.6 have clone3 without CLONE_INTO_CGROUP; the caller of Prepare
// retries a start that fails there the other way.
func cloneIntoCgroup() bool {
	_, _, errno := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	return errno != unix.ENOSYS
}

// Prepare makes a start by syscall.ForkExec with sys begin inside the
// leaf, with clone3(CLONE_INTO_CGROUP): the child runs its first
// instruction there (a process moved after the fork could fork first and
// leave children behind: Horust's bug). release closes the leaf's fd;
// call it after the start. Where clone3 is refused, ok is false and sys is
// unchanged: the caller joins the leaf between fork and exec some other
// way (initbox's trampoline, package launch).
func (g *Group) Prepare(sys *syscall.SysProcAttr) (release func(), ok bool, err error) {
	if !g.t.CloneInto {
		return func() {}, false, nil
	}
	return cloneInto(g.path, sys)
}

// Prepare is Group.Prepare for the scope: a cgroup namespace made by the
// same clone is then rooted at the scope.
func (s *Scope) Prepare(sys *syscall.SysProcAttr) (release func(), ok bool, err error) {
	if !cloneIntoCgroup() {
		return func() {}, false, nil
	}
	return cloneInto(s.path, sys)
}

func cloneInto(dir string, sys *syscall.SysProcAttr) (func(), bool, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	sys.UseCgroupFD, sys.CgroupFD = true, fd
	return func() { unix.Close(fd) }, true, nil
}
