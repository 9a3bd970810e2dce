//go:build linux

package pid1

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
)

// killWait bounds the wait for processes to disappear after SIGKILL when
// initbox is a subreaper: as PID 1 its own exit makes the kernel finish
// them, but a subreaper that exits hands them on to the next reaper up.
const killWait = 2 * time.Second

// stopRemaining sends SIGTERM to every process the program left behind,
// reaps them as they go, and sends SIGKILL to what remains after grace. As
// PID 1 "every process" is the whole PID namespace (kill(-1) skips the
// caller); as a subreaper it is initbox's descendants, read from /proc.
// A second SIGTERM, SIGINT or SIGQUIT cuts the grace short.
func stopRemaining(log *logging.Logger, in *signals.Intake, r *reaper.Reaper, grace time.Duration, isPID1 bool) {
	done := r.Childless()
	select {
	case <-done:
		return
	default:
	}
	sent := map[int]bool{}
	n := signalRemaining(isPID1, unix.SIGTERM, sent)
	// A stopped process acts on SIGTERM only once continued, as systemd
	// knows (SendSIGCONT); SIGCONT to a running process does nothing.
	signalRemaining(isPID1, unix.SIGCONT, map[int]bool{})
	log.Info("sent SIGTERM to remaining processes", logging.Int("count", n), logging.Duration("grace", grace))

	timer := time.NewTimer(grace)
	defer timer.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			log.Info("remaining processes exited")
			return
		case <-timer.C:
			waiting = false
		case sig := <-in.C:
			switch sig {
			case unix.SIGTERM, unix.SIGINT, unix.SIGQUIT:
				log.Warn("grace period cut short", logging.String("signal", signals.Name(sig.(syscall.Signal))))
				waiting = false
			}
		}
	}
	n = signalRemaining(isPID1, unix.SIGKILL, map[int]bool{})
	log.Warn("grace period over: sent SIGKILL to remaining processes", logging.Int("count", n))
	if isPID1 {
		return
	}
	select {
	case <-done:
	case <-time.After(killWait):
		log.Warn("processes remain after SIGKILL", logging.Duration("waited", killWait))
	}
}

// signalRemaining sends sig to the processes left and returns how many it
// reached.
func signalRemaining(isPID1 bool, sig syscall.Signal, sent map[int]bool) int {
	if isPID1 {
		// kill(2) does not say how many it reached; /proc, the namespace's
		// own under a container runtime or unshare --mount-proc, does.
		n := len(descendants(0)) - 1
		if err := unix.Kill(-1, sig); err != nil {
			return 0
		}
		return max(n, 1)
	}
	// Descendants may fork while the tree is read: read it again until a
	// pass finds nobody new (bounded, since a fork bomb never settles).
	n := 0
	for range 5 {
		fresh := 0
		for _, pid := range descendants(os.Getpid()) {
			if sent[pid] {
				continue
			}
			sent[pid] = true
			if unix.Kill(pid, sig) == nil {
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
