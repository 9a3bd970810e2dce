//go:build linux

package reaper

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// killWait bounds the wait for processes to disappear after SIGKILL when
// initbox is a subreaper: as PID 1 its own exit makes the kernel finish
// them, but a subreaper that exits hands them on to the next reaper up.
const killWait = 2 * time.Second

// SweepResult says what Sweep did.
type SweepResult struct {
	// Termed and Killed count the processes sent SIGTERM and SIGKILL.
	Termed, Killed int
	// Cut is the signal that ended the grace period early, or nil.
	Cut os.Signal
	// Left is set when processes remained after SIGKILL and killWait (a
	// subreaper only: as PID 1, initbox's exit ends them).
	Left bool
}

// Sweep stops every process left behind, the final step of a stop
// (DESIGN: "Nothing escapes"). It sends SIGTERM (and SIGCONT, since a
// stopped process acts on SIGTERM only once continued, as systemd's
// SendSIGCONT knows), reaps the processes as they exit, and sends SIGKILL
// to what remains when grace ends or a signal arrives on cut. As PID 1
// "every process" is the whole PID namespace (kill(-1) skips the caller);
// as a subreaper it is the caller's descendants, read from /proc. It does
// nothing when the process is neither, since its orphans then go elsewhere
// and kill(-1) would reach far beyond them, and it returns at once when
// the process has no children.
func (r *Reaper) Sweep(grace time.Duration, cut <-chan os.Signal) SweepResult {
	var res SweepResult
	isPID1 := os.Getpid() == 1
	if !isPID1 {
		if ok, _ := IsSubreaper(); !ok {
			return res
		}
	}
	done := r.Childless()
	select {
	case <-done:
		return res
	default:
	}
	res.Termed = signalRemaining(isPID1, unix.SIGTERM, unix.SIGCONT)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
		return res
	case <-timer.C:
	case res.Cut = <-cut:
	}
	res.Killed = signalRemaining(isPID1, unix.SIGKILL)
	if isPID1 {
		return res
	}
	select {
	case <-done:
	case <-time.After(killWait):
		res.Left = true
	}
	return res
}

// signalRemaining sends sigs, in order, to each process left, and returns
// how many it reached.
func signalRemaining(isPID1 bool, sigs ...syscall.Signal) int {
	if isPID1 {
		// kill(2) does not say how many it reached; /proc, the namespace's
		// own under a container runtime or unshare --mount-proc, does.
		n := len(descendants(0)) - 1
		for _, sig := range sigs {
			if err := unix.Kill(-1, sig); err != nil {
				return 0
			}
		}
		return max(n, 1)
	}
	// Descendants may fork while the tree is read: read it again until a
	// pass finds nobody new (bounded, since a fork bomb never settles).
	sent := map[int]bool{}
	n := 0
	for range 5 {
		fresh := 0
		for _, pid := range descendants(os.Getpid()) {
			if sent[pid] {
				continue
			}
			sent[pid] = true
			reached := false
			for _, sig := range sigs {
				reached = unix.Kill(pid, sig) == nil || reached
			}
			if reached {
				fresh++
			}
		}
		if fresh == 0 {
			break
		}
		n += fresh
	}
	return n
}

// descendants lists the pids below root in the process tree, read from
// /proc/PID/stat.
func descendants(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// Descends reports whether pid is ancestor or one of its descendants, as
// the parent links in /proc show them now (false once pid is gone).
func Descends(pid, ancestor int) bool {
	for i := 0; i < 64 && pid > 1; i++ {
		if pid == ancestor {
			return true
		}
		var ok bool
		if pid, ok = parentOf(pid); !ok {
			return false
		}
	}
	return false
}

// parentOf reads the ppid field of /proc/PID/stat. The command name in
// parentheses may hold spaces and parentheses itself, so the fields are
// counted from the last ')'.
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}
