//go:build linux

package reaper

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// KillGroup sends sig to the process group pgid, and returns
// os.ErrProcessDone when the group is gone. A group outlives its leader
// while members remain, and its id cannot be reused as a pid meanwhile, so
// unlike Reaper.Signal it needs no check against the reaper.
func KillGroup(pgid int, sig syscall.Signal) error {
	switch err := unix.Kill(-pgid, sig); err {
	case nil:
		return nil
	case unix.ESRCH:
		return os.ErrProcessDone
	default:
		return os.NewSyscallError("kill", err)
	}
}
