//go:build linux

// Package mem is initbox's own memory (issue #17): the garbage collector's
// target initbox sets for itself unless the user has set one, and the
// pages of its binary that only start-up touched.
//
// Measured as PID 1 of one `sleep` (tini mode), three quarters of
// initbox's resident set were pages of its own binary mapped by start-up
// (3.4 of 4.3 MiB), not its heap; supervising 20 services, 4.0 of 6.2 MiB.
// Go collects first when the heap reaches 4 MB, so a supervisor whose
// health checks allocate a little grows for minutes before its first
// collection.
package mem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// GCPercent is initbox's GOGC: the heap may grow by half its live size
// between collections, and the first collection comes at 2 MB instead of
// 4. Under 3,000 /metrics requests with 20 health checks every 2 s it held
// the anonymous memory at 4.3-5.2 MiB instead of 7.0-7.2, and a 3 MiB
// memory limit was rejected: it left no room above what stays live and
// made /metrics 12 times slower (the collector ran on every request).
const GCPercent = 50

// Apply sets initbox's memory target, and reports whether it did, unless the environment (getenv is
// os.LookupEnv) sets GOGC or GOMEMLIMIT: a user who chose either has
// chosen how Go collects, and the two are read together (GOGC=off with a
// limit is the usual pair). It also stops the sampling of allocations for
// memory profiles, which nothing in initbox reads: its hash table alone is
// 1.4 MB of address space, touched a page at a time by the samples, unless
// GODEBUG sets memprofilerate. Call it first thing: what is allocated
// before is sampled.
func Apply(getenv func(string) (string, bool)) bool {
	if v, _ := getenv("GODEBUG"); !strings.Contains(v, "memprofilerate") {
		runtime.MemProfileRate = 0
	}
	_, gogc := getenv("GOGC")
	_, limit := getenv("GOMEMLIMIT")
	if gogc || limit {
		return false
	}
	debug.SetGCPercent(GCPercent)
	return true
}

// ReleaseStartup unmaps initbox's read-only pages of its own binary (code
// and constant data) from its page tables. They stay in the page cache:
// what the idle loop touches again comes back with a minor fault, without
// reading the disk, and other processes of the same file share them as
// before. It lowers initbox's resident set, not the page cache nor the
// memory charged to its cgroup for that file: the kernel's reclaim would
// drop these clean pages first anyway; this makes the resident set say
// what initbox uses once started. Writable mappings are never touched
// (MADV_DONTNEED would lose their contents).
func ReleaseStartup() error {
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		return fmt.Errorf("release start-up pages: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("release start-up pages: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		start, end, ok := readOnlyOf(sc.Bytes(), uint64(exe.Dev), uint64(exe.Ino))
		if !ok {
			continue
		}
		// Raw: a madvise of a few MB takes microseconds, and Syscall
		// would let the runtime start a thread to run others meanwhile.
		if _, _, e := unix.RawSyscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); e != 0 {
			return fmt.Errorf("release start-up pages: madvise: %w", os.NewSyscallError("madvise", e))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("release start-up pages: %w", err)
	}
	return nil
}

// ReleaseStartupAfter calls ReleaseStartup once d has passed, unless the
// timer it returns is stopped first; failed is told why it could not.
func ReleaseStartupAfter(d time.Duration, failed func(error)) *time.Timer {
	return time.AfterFunc(d, func() {
		if err := ReleaseStartup(); err != nil {
			failed(err)
		}
	})
}

// readOnlyOf returns the range of a /proc/PID/maps line
// ("00400000-005ef000 r-xp 00000000 08:01 1234  /path") when it maps the
// file dev, ino without write permission.
func readOnlyOf(line []byte, dev, ino uint64) (start, end uint64, ok bool) {
	f := bytes.Fields(line)
	if len(f) < 5 || len(f[1]) < 4 || f[1][1] == 'w' || f[1][3] != 'p' {
		return 0, 0, false
	}
	if n, err := strconv.ParseUint(string(f[4]), 10, 64); err != nil || n != ino || n == 0 {
		return 0, 0, false
	}
	maj, min, found := bytes.Cut(f[3], []byte(":"))
	if !found {
		return 0, 0, false
	}
	ma, err1 := strconv.ParseUint(string(maj), 16, 32)
	mi, err2 := strconv.ParseUint(string(min), 16, 32)
	if err1 != nil || err2 != nil || unix.Mkdev(uint32(ma), uint32(mi)) != dev {
		return 0, 0, false
	}
	lo, hi, found := bytes.Cut(f[0], []byte("-"))
	if !found {
		return 0, 0, false
	}
	start, err1 = strconv.ParseUint(string(lo), 16, 64)
	end, err2 = strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return 0, 0, false
	}
	return start, end, true
}
