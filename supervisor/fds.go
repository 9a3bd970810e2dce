//go:build linux

package supervisor

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// closeRangeCloexec is CLOSE_RANGE_CLOEXEC (Linux 5.11), not in x/sys/unix.
const closeRangeCloexec = 1 << 2

// cloexecInherited marks every descriptor from 3 up close-on-exec, so that
// what initbox inherited (a shell's or a container runtime's descriptors)
// does not leak into services: a service gets its stdin, stdout and stderr
// and nothing else (issue #9). initbox's own descriptors are close-on-exec
// already. Before close_range (Linux 5.11) it walks /proc/self/fd.
func cloexecInherited() {
	if unix.CloseRange(3, ^uint(0), closeRangeCloexec) == nil {
		return
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd >= 3 && fd != int(d.Fd()) {
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
}
