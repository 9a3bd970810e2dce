// Command helper is the bench's workload program, built once per bench run
// and started under each init. Two modes:
//
//	helper sig          the signal-latency child: one byte on fd 3 when
//	                    ready, then one byte per SIGUSR1 received
//	helper storm N W    an orphan storm of N orphans in waves of at most W,
//	                    run as the init's child inside a new PID namespace;
//	                    prints "drain_us peak_zombies zombies_left init_cpu_us"
//	helper race K       K orphans that exit at the very moment the helper
//	                    does, with status 42 (tests/stress_test.go: the
//	                    child's status must not be lost among theirs)
//
// The storm is written in Go with raw clone(2) rather than in sh because a
// shell needs ~2.7 ms per orphan it forks (27 s for 10,000 here), which
// would make a 100,000-orphan storm per init impractical; raw clones of a
// small process cost a few tens of microseconds.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: helper sig | helper storm N WAVE")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "sig":
		sig()
	case "storm":
		n, _ := strconv.Atoi(os.Args[2])
		w, _ := strconv.Atoi(os.Args[3])
		storm(n, w)
	case "race":
		k, _ := strconv.Atoi(os.Args[2])
		race(k)
	default:
		os.Exit(2)
	}
}

// sig answers each SIGUSR1 with one byte on fd 3, the inherited write end
// of the bench's pipe. signal.Notify is what a Go service would use, so the
// figure includes the Go runtime's own signal path, the same for every init.
func sig() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	one := []byte{1}
	if _, err := syscall.Write(3, one); err != nil {
		os.Exit(3)
	}
	for range c {
		if _, err := syscall.Write(3, one); err != nil {
			os.Exit(0) // the bench has gone
		}
	}
}

// tasks returns the fourth field of /proc/loadavg after the slash: every
// task on the machine, zombies included. It is one small read of a global
// counter, much cheaper than a scan of /proc.
func tasks(buf []byte) int {
	fd, err := syscall.Open("/proc/loadavg", syscall.O_RDONLY, 0)
	if err != nil {
		panic(err)
	}
	n, _ := syscall.Read(fd, buf)
	syscall.Close(fd)
	f := strings.Fields(string(buf[:n]))
	_, t, _ := strings.Cut(f[3], "/")
	v, _ := strconv.Atoi(t)
	return v
}

// storm runs waves of orphans and sums their drain times. Between waves it
// waits for the previous wave to be gone, so each wave starts from a clean
// process table.
func storm(n, wave int) {
	// A page shared with every orphan: word 0 counts orphans that have
	// finished their read and are about to exit; byte 64 is the orphans'
	// read buffer (so the forked code needs no stack variable).
	mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_ANON)
	if err != nil {
		fail("mmap: %v", err)
	}
	ctr := (*int64)(unsafe.Pointer(&mem[0]))
	buf := make([]byte, 128)
	var total, cpu time.Duration
	peak := 0
	for left := n; left > 0; left -= wave {
		k := min(left, wave)
		atomic.StoreInt64(ctr, 0)
		var p [2]int
		if err := syscall.Pipe(p[:]); err != nil {
			fail("pipe: %v", err)
		}
		pid := forkWave(k, p[0], p[1], ctr, uintptr(unsafe.Pointer(&mem[64])))
		if pid == 0 {
			fail("clone failed")
		}
		// The intermediate exits once it has cloned all k: from then on every
		// orphan has been reparented to PID 1, alive, blocked in (or about to
		// enter) read(2) on the pipe.
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(int(pid), &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
			fail("intermediate: %v %v (pid_max too low?)", err, ws)
		}
		syscall.Close(p[0])
		full := tasks(buf)
		floor := full - k
		c1 := initCPU()
		t1 := time.Now()
		syscall.Close(p[1]) // the last writer: every orphan reads EOF and exits
		// Polling is unavoidable here (no process is told when another one
		// reaps), so it is kept to one small read per loop. It shares the
		// CPU with the init on a 2-core machine, equally for every init.
		// Zombies = tasks left beyond the floor minus orphans still alive.
		for {
			t := tasks(buf)
			done := int(atomic.LoadInt64(ctr))
			if z := t - floor - (k - done); z > peak {
				peak = z
			}
			// 20 tasks of slack for the rest of the machine, as before.
			if done == k && t <= floor+20 {
				break
			}
		}
		total += time.Since(t1)
		cpu += initCPU() - c1
	}
	// The drain ends with up to 20 tasks of slack: a few zombies may be
	// on their way to the reaper. A leak is one still there 2 s later.
	left := zombies()
	for end := time.Now().Add(2 * time.Second); left != 0 && time.Now().Before(end); left = zombies() {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("%d %d %d %d\n", total.Microseconds(), peak, left, cpu.Microseconds())
}

// initCPU is the CPU time the init (PID 1 of this namespace) has used so
// far, all its threads: /proc/1/task/*/schedstat's first field, in
// nanoseconds (utime and stime count in ticks of 10 ms, too coarse for a
// drain of a few hundred ms). Issue #17 weighs the CPU per orphan reaped,
// not only the wall time of the drain.
func initCPU() time.Duration {
	d, err := os.ReadDir("/proc/1/task")
	if err != nil {
		fail("read /proc/1/task: %v", err)
	}
	var sum time.Duration
	for _, e := range d {
		b, err := os.ReadFile("/proc/1/task/" + e.Name() + "/schedstat")
		if err != nil {
			continue // a thread that has just exited
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}

// race leaves k orphans blocked on a pipe whose last writer is this
// process, then exits 42: its exit closes the pipe, and the orphans exit
// with it, all at once.
func race(k int) {
	mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_ANON)
	if err != nil {
		fail("mmap: %v", err)
	}
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		fail("pipe: %v", err)
	}
	pid := forkWave(k, p[0], p[1], (*int64)(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&mem[64])))
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(int(pid), &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		fail("intermediate: %v %v", err, ws)
	}
	syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 42, 0, 0)
}

// forkWave clones an intermediate process which clones k orphans and
// exits. Everything after the first clone runs in a child of a
// multi-threaded Go process with only this thread, so it may not allocate,
// grow its stack or enter the scheduler: raw syscalls only, as
// syscall.forkAndExecInChild does. Signals are blocked around it so that
// no Go handler runs in the children.
//
//go:norace
func forkWave(k, r, w int, ctr *int64, rbuf uintptr) uintptr {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all, old [1]uint64
	all[0] = ^uint64(0)
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2 /* SIG_SETMASK */, uintptr(unsafe.Pointer(&all[0])), uintptr(unsafe.Pointer(&old[0])), 8, 0, 0)
	pid := forkRaw(k, uintptr(r), uintptr(w), ctr, rbuf)
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2, uintptr(unsafe.Pointer(&old[0])), 0, 8, 0, 0)
	return pid
}

//go:nosplit
//go:norace
func forkRaw(k int, r, w uintptr, ctr *int64, rbuf uintptr) uintptr {
	pid, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return 0
	}
	if pid != 0 {
		return pid
	}
	for i := 0; i < k; i++ {
		c, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		if e != 0 {
			syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 3, 0, 0)
		}
		if c == 0 {
			orphan(r, w, ctr, rbuf)
		}
	}
	syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	return 0
}

//go:nosplit
//go:norace
func orphan(r, w uintptr, ctr *int64, rbuf uintptr) {
	syscall.RawSyscall(syscall.SYS_CLOSE, w, 0, 0)
	syscall.RawSyscall(syscall.SYS_READ, r, rbuf, 1)
	atomic.AddInt64(ctr, 1)
	syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
}

// zombies counts zombies left in this PID namespace after the drain.
func zombies() int {
	d, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	z := 0
	for _, e := range d {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 && i+2 < len(s) && s[i+2] == 'Z' {
			z++
		}
	}
	return z
}

func fail(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "helper: "+f+"\n", a...)
	os.Exit(1)
}
