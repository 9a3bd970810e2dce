package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/initbox/initbox/cgroup"
)

// Resources is the [services.NAME.resources] table: limits of the
// service's cgroup, written before its process starts. A zero field is
// unset: the kernel's default applies. Each maps to one file of the
// service's cgroup v2 directory:
//
//	MemoryMax     memory.max       bytes, or "max"
//	MemoryHigh    memory.high      bytes, or "max"
//	MemorySwapMax memory.swap.max  bytes of swap (not memory+swap as Docker's
//	                               --memory-swap), or "max"
//	CPUMax        cpu.max          "QUOTA 100000": CPUs × 100000 µs of every
//	                               100 ms period, or "max 100000"
//	CPUWeight     cpu.weight
//	PidsMax       pids.max
//	IOWeight      io.weight        "default N"
//	OOMGroup      memory.oom.group 1 or 0
//
// OOMScoreAdj is no cgroup file: it is written to /proc/PID/oom_score_adj
// of the service's process, and its children inherit it.
type Resources struct {
	// MemoryMax, MemoryHigh and MemorySwapMax are at least 1 byte, or
	// Unlimited.
	MemoryMax, MemoryHigh, MemorySwapMax Bytes
	// CPUMax is a number of CPUs, 0.01 to MaxCPUs (1.5 is one and a half),
	// or Unlimited.
	CPUMax float64
	// CPUWeight and IOWeight are 1 to 10000 (the kernel's default is 100).
	CPUWeight int
	IOWeight  int
	// PidsMax is 1 to MaxPids, or Unlimited.
	PidsMax int64
	// OOMGroup makes the OOM killer take the whole service rather than its
	// largest process, which would leave the rest half working. Default
	// true.
	OOMGroup bool
	// OOMScoreAdj is -1000 to 1000; it applies only when OOMScoreAdjSet,
	// since 0 is worth setting too: it undoes what initbox inherited.
	OOMScoreAdj    int
	OOMScoreAdjSet bool
}

// Unlimited is the value of a limit written "max", in Bytes, CPUMax and
// PidsMax.
const Unlimited = cgroup.Unlimited

// Bounds of Resources values.
const (
	MinCPUs = cgroup.MinCPUs
	MaxCPUs = cgroup.MaxCPUs
	MaxPids = cgroup.MaxPids
	// MaxWeight is the most cpu.weight and io.weight take; the least is 1.
	MaxWeight = 10000
)

// Any reports whether r sets any cgroup limit. OOMGroup and OOMScoreAdj do
// not count: the one only matters with limits or under memory pressure the
// host causes, the other is no cgroup file.
func (r Resources) Any() bool {
	return r.MemoryMax != 0 || r.MemoryHigh != 0 || r.MemorySwapMax != 0 ||
		r.CPUMax != 0 || r.CPUWeight != 0 || r.PidsMax != 0 || r.IOWeight != 0
}

// Bytes is a size in bytes; Unlimited is "max" and 0 is unset.
type Bytes int64

// String prints b for people, rounded to two decimals of the largest unit
// it reaches up to TiB, so that parseSize reads it back: "1000B", "64MiB",
// "1.5GiB", "max".
func (b Bytes) String() string {
	switch {
	case b == Unlimited:
		return "max"
	case b < 1024:
		return strconv.FormatInt(int64(b), 10) + "B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	i, div := 0, float64(1<<10)
	for i < len(units)-1 && float64(b) >= div*1024 {
		i, div = i+1, div*1024
	}
	x := math.Round(float64(b)/div*100) / 100
	if x >= 1024 && i < len(units)-1 { // 1048575 is 1MiB, not 1024KiB
		i, x = i+1, math.Round(x/1024*100)/100
	}
	return strconv.FormatFloat(x, 'f', -1, 64) + units[i]
}

// cpuProblem says what is wrong with a cpu_max of f CPUs, shown as the
// config wrote it, or "". 0 is a problem here: it is unset only in code.
func cpuProblem(f float64, shown string) string {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0) || f <= 0:
		return fmt.Sprintf(`want a number of CPUs above 0 ("max" for no limit), not %s`, shown)
	case f < MinCPUs:
		return shown + " is below the kernel's least quota, 0.01 CPU (1ms of every 100ms)"
	case f > MaxCPUs:
		return fmt.Sprintf("%s is more than %d CPUs", shown, MaxCPUs)
	}
	return ""
}

// pidsProblem says what is wrong with a pids_max of n (not Unlimited), or
// "". 0 is a problem here: it is unset only in code.
func pidsProblem(n int64) string {
	switch {
	case n < 1:
		return fmt.Sprintf(`want at least 1 process (or "max"), not %d`, n)
	case n > MaxPids:
		return fmt.Sprintf(`%d is more than the kernel's limit of %d (use "max" for no limit)`, n, MaxPids)
	}
	return ""
}

const cgroupNameRule = `use letters, digits, '_' and '-' (at most 255, not starting with "cgroup")`

// validCgroupName reports whether s can name a cgroup directory initbox
// makes: one path component, with nothing that could be read as one of the
// kernel's files beside it (cgroup.procs, memory.max) or need quoting in a
// log line. The "cgroup" prefix is the kernel's.
func validCgroupName(s string) bool {
	if s == "" || len(s) > 255 || strings.HasPrefix(s, "cgroup") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
