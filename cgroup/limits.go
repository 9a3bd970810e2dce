//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
)

// Limits are a leaf's limits. A zero field is unset: the kernel's default
// stays.
type Limits struct {
	MemoryMax     int64   // memory.max, bytes
	MemoryHigh    int64   // memory.high, bytes
	MemorySwapMax int64   // memory.swap.max, bytes
	CPUMax        float64 // cpu.max, in CPUs (1.5 = 150000 of each 100000 µs)
	CPUWeight     int     // cpu.weight, 1–10000
	PidsMax       int64   // pids.max
	IOWeight      int     // io.weight, 1–10000
	// OOMGroup: the OOM killer kills the whole leaf, not one process of it
	// (memory.oom.group), written when the memory controller is there.
	OOMGroup bool
}

// cpuPeriod is the cpu.max period written, the kernel's default (100 ms).
const cpuPeriod = 100000

type need struct {
	key, controller, file string
	val                   string
	unset                 func() // sets the limit in l to zero
}

// needs lists the files l writes, in the order they are written, with the
// controller each needs and the config key it comes from.
func (l *Limits) needs() []need {
	var n []need
	size := func(v int64) string {
		if v == Unlimited {
			return "max"
		}
		return strconv.FormatInt(v, 10)
	}
	if l.MemoryMax != 0 {
		n = append(n, need{"memory_max", "memory", "memory.max", size(l.MemoryMax), func() { l.MemoryMax = 0 }})
	}
	if l.MemoryHigh != 0 {
		n = append(n, need{"memory_high", "memory", "memory.high", size(l.MemoryHigh), func() { l.MemoryHigh = 0 }})
	}
	if l.MemorySwapMax != 0 {
		n = append(n, need{"memory_swap_max", "memory", "memory.swap.max", size(l.MemorySwapMax), func() { l.MemorySwapMax = 0 }})
	}
	if l.CPUMax != 0 {
		v := "max " + strconv.Itoa(cpuPeriod)
		if l.CPUMax > 0 {
			// The kernel refuses a quota under 1 ms.
			v = fmt.Sprintf("%d %d", max(int64(l.CPUMax*cpuPeriod+0.5), 1000), cpuPeriod)
		}
		n = append(n, need{"cpu_max", "cpu", "cpu.max", v, func() { l.CPUMax = 0 }})
	}
	if l.CPUWeight != 0 {
		n = append(n, need{"cpu_weight", "cpu", "cpu.weight", strconv.Itoa(l.CPUWeight), func() { l.CPUWeight = 0 }})
	}
	if l.PidsMax != 0 {
		n = append(n, need{"pids_max", "pids", "pids.max", size(l.PidsMax), func() { l.PidsMax = 0 }})
	}
	if l.IOWeight != 0 {
		n = append(n, need{"io_weight", "io", "io.weight", "default " + strconv.Itoa(l.IOWeight), func() { l.IOWeight = 0 }})
	}
	return n
}

// write writes l into the leaf dir. A limit whose controller is not
// enabled there is an error wrapping ErrNoController.
func (l Limits) write(dir string) error {
	for _, n := range l.needs() {
		err := write(filepath.Join(dir, n.file), n.val)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w: %s (no %s in %s)", n.key, ErrNoController, n.controller, n.file, dir)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", n.key, err)
		}
	}
	oom := "0"
	if l.OOMGroup {
		oom = "1"
	}
	// Without the memory controller there is no OOM group to set.
	if err := write(filepath.Join(dir, "memory.oom.group"), oom); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("oom_group: %w", err)
	}
	return nil
}
