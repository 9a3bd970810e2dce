package main

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func run(argv []string) (time.Duration, []byte, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "TINI_VERBOSITY=0")
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	out, err := cmd.Output()
	return time.Since(t0), out, err
}

func cmdline(in initCmd, prog ...string) []string {
	return append(slices.Clone(in.argv), prog...)
}

// timeTrue times each row running /bin/true, runs times, the rows
// alternating so that machine noise falls on all, and adds the medians
// and p99s as workload's wall figures.
func timeTrue(r *report, workload string, rows []initCmd, runs int) {
	times := make([][]time.Duration, len(rows))
	for range runs {
		for i, in := range rows {
			d, _, err := run(cmdline(in, "/bin/true"))
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s: %v\n", in.name, err)
				os.Exit(1)
			}
			times[i] = append(times[i], d)
		}
	}
	for i, in := range rows {
		r.add(&figure{Workload: workload, Metric: "wall", Init: in.name, Unit: "ms",
			Median: durMs(quantile(times[i], 0.5)), P99: durMs(quantile(times[i], 0.99)), Samples: runs})
	}
}

// startup: INIT -- /bin/true against /bin/true alone and against the Go
// floor (a static Go program that only forks, execs and waits).
func startup(r *report, inits []initCmd, floor initCmd, runs int) {
	rows := append([]initCmd{{name: "/bin/true alone"}, floor}, inits...)
	timeTrue(r, "startup", rows, runs)
	r.ratios("startup", "wall", "initbox")
	r.tableOf(fmt.Sprintf("start-up: INIT -- /bin/true, %d runs each, alternating", runs),
		"Wall time of fork+exec of the init until it has exited with its child's status. Tini-likes get `-s`, as they are not PID 1 here.",
		"startup", "wall", true, "")
}

// storms: orphan storms of each size, one storm per init in turn.
func storms(r *report, inits []initCmd, o options) {
	for _, n := range o.stormSizes {
		count := o.storms
		if n > 10000 {
			count = o.storms100k
		}
		wave := min(n, o.wave)
		drain := make([][]time.Duration, len(inits))
		cpu := make([][]time.Duration, len(inits))
		peak := make([]int, len(inits))
		left := make([]int, len(inits))
		for range count {
			for i, in := range inits {
				s := storm(in, o, n, wave, nil)
				drain[i] = append(drain[i], s.drain)
				cpu[i] = append(cpu[i], s.cpu)
				peak[i] = max(peak[i], s.peak)
				left[i] = max(left[i], s.left)
			}
		}
		m := fmt.Sprintf("drain %d", n)
		for i, in := range inits {
			r.add(&figure{Workload: "orphans", Metric: m, Init: in.name, Unit: "ms",
				Median: durMs(quantile(drain[i], 0.5)), Samples: count,
				Extra: fmt.Sprintf("%d / %d", peak[i], left[i])})
		}
		r.ratios("orphans", m, "initbox")
		mc := fmt.Sprintf("cpu %d", n)
		addCPU(r, inits, mc, cpu, n, count)
		waves := ""
		if wave < n {
			waves = fmt.Sprintf(", in %d waves of %d (the drain times of the waves are summed; each wave starts once the last is gone)", (n+wave-1)/wave, wave)
		}
		r.tableOf(fmt.Sprintf("orphan storm: %d orphans, %d storm(s) per init, alternating", n, count),
			"INIT is PID 1 of a new PID namespace; its child clones orphans that block on a pipe and are reparented to PID 1 alive, then closes the pipe: all exit at once"+waves+
				". Time from the close until the machine's task count (/proc/loadavg) is back down; peak zombies = tasks left minus orphans not yet exited, sampled by the same loop. "+
				"The drain is dominated by the kernel's wait4, which scans the whole child list on every call, so it grows with the square of the storm.",
			"orphans", m, false, "peak zombies / left")
		r.tableOf(fmt.Sprintf("orphan storm CPU: %d orphans, the init's own CPU time", n),
			"The same storms: CPU time the init (all its threads) used from the release of the orphans to the end of the drain, from /proc/1/task/*/schedstat inside its namespace; the last column but one is per orphan. "+
				"On two CPUs this includes the time the init spins on the kernel's task-list lock against the orphans exiting on the other CPU, which varies from run to run more than the inits differ (tini alone: 79, 282 and 1,022 ms in three runs of 2026-12-07); the next table has the same storm on one CPU.",
			"orphans", mc, false, "per orphan")
	}
	if !slices.Contains(o.stormSizes, 10000) {
		return
	}
	// The same 10,000 storm with the init, the helper and every orphan
	// on one CPU (taskset): no lock is contended across CPUs, so the
	// init's CPU time is the work it does per orphan (issue #17).
	cpuN := strconv.Itoa(runtime.NumCPU() - 1)
	cpu := make([][]time.Duration, len(inits))
	for range o.storms {
		for i, in := range inits {
			cpu[i] = append(cpu[i], storm(in, o, 10000, min(10000, o.wave), []string{"taskset", "-c", cpuN}).cpu)
		}
	}
	addCPU(r, inits, "cpu1 10000", cpu, 10000, o.storms)
	r.tableOf(fmt.Sprintf("orphan storm CPU on one CPU: 10000 orphans, %d storm(s) per init, alternating", o.storms),
		"The 10,000 storm again with everything pinned to CPU "+cpuN+" (taskset -c "+cpuN+"): the init's own CPU time, without the contention of two CPUs.",
		"orphans", "cpu1 10000", false, "per orphan")
}

// stormRun is what one storm measured.
type stormRun struct {
	drain, cpu time.Duration
	peak, left int
}

// storm runs one storm of n orphans in waves of wave under in as PID 1 of
// a new PID namespace, the command prefixed by prefix.
func storm(in initCmd, o options, n, wave int, prefix []string) stormRun {
	argv := append(slices.Clone(prefix), "unshare", "--pid", "--fork", "--mount-proc")
	argv = append(argv, cmdline(in, o.helper, "storm", strconv.Itoa(n), strconv.Itoa(wave))...)
	_, out, err := run(argv)
	f := strings.Fields(string(out))
	if err != nil || len(f) != 4 {
		fmt.Fprintf(os.Stderr, "bench: storm of %d under %s: %v: %q\n", n, in.name, err, out)
		os.Exit(1)
	}
	us, _ := strconv.Atoi(f[0])
	z, _ := strconv.Atoi(f[1])
	l, _ := strconv.Atoi(f[2])
	c, _ := strconv.Atoi(f[3])
	return stormRun{drain: time.Duration(us) * time.Microsecond, cpu: time.Duration(c) * time.Microsecond, peak: z, left: l}
}

// addCPU adds the medians of cpu, each init's CPU times in n-orphan
// storms, as metric, with the time per orphan.
func addCPU(r *report, inits []initCmd, metric string, cpu [][]time.Duration, n, count int) {
	for i, in := range inits {
		r.add(&figure{Workload: "orphans", Metric: metric, Init: in.name, Unit: "ms",
			Median: durMs(quantile(cpu[i], 0.5)), Samples: count,
			Extra: fmt.Sprintf("%.2f µs", float64(quantile(cpu[i], 0.5).Nanoseconds())/1e3/float64(n))})
	}
	r.ratios("orphans", metric, "initbox")
}

// signalLatency: INIT -- helper sig, not PID 1. The bench times
// kill(init, SIGUSR1) until the child's byte arrives on a pipe it reads
// with a blocking read(2) (no poller, no polling), one signal in flight at
// a time so that none are merged. Inits take turns in blocks so that drift
// of the machine falls on all of them.
func signalLatency(r *report, inits []initCmd, o options) {
	const blocks = 10
	per := max(o.signals/blocks, 1)
	lat := make([][]time.Duration, len(inits))
	for range blocks {
		for i, in := range inits {
			d, err := signalBlock(in, o.helper, per)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: signal under %s: %v\n", in.name, err)
				os.Exit(1)
			}
			lat[i] = append(lat[i], d...)
		}
	}
	for i, in := range inits {
		r.add(&figure{Workload: "signal", Metric: "latency", Init: in.name, Unit: "us",
			Median: float64(quantile(lat[i], 0.5)) / 1e3, P99: float64(quantile(lat[i], 0.99)) / 1e3, Samples: len(lat[i])})
	}
	r.ratios("signal", "latency", "initbox")
	r.tableOf(fmt.Sprintf("signal latency: kill(INIT, SIGUSR1) to the child's handler, %d signals per init", per*blocks),
		"The child is a Go program (bench/helper) using signal.Notify; it writes one byte per signal to an inherited pipe. Includes the child's Go signal path and the bench's wake-up, the same for every init.",
		"signal", "latency", true, "")
}

func signalBlock(in initCmd, helper string, n int) ([]time.Duration, error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, err
	}
	rfd := p[0]
	defer syscall.Close(rfd)
	w := os.NewFile(uintptr(p[1]), "sigpipe")
	cmd := exec.Command(in.argv[0], append(in.argv[1:], helper, "sig")...)
	cmd.Env = append(os.Environ(), "TINI_VERBOSITY=0")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w.Close()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	b := make([]byte, 1)
	// The first byte says signal.Notify is in place.
	if k, err := syscall.Read(rfd, b); k != 1 {
		return nil, fmt.Errorf("child not ready: %v", err)
	}
	out := make([]time.Duration, 0, n)
	pid := cmd.Process.Pid
	for range n {
		t0 := time.Now()
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			return nil, err
		}
		if k, err := syscall.Read(rfd, b); k != 1 {
			return nil, fmt.Errorf("read: %v", err)
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}

// idle: every init with one `sleep 1000` child, all started together so
// that the 15 s are spent once. Reading /proc at two instants is all the
// bench does meanwhile.
func idle(r *report, inits []initCmd, o options) {
	var cmds []*exec.Cmd
	for _, in := range inits {
		cmd := exec.Command(in.argv[0], append(in.argv[1:], "sleep", "1000")...)
		cmd.Env = append(os.Environ(), "TINI_VERBOSITY=0")
		check(cmd.Start())
		cmds = append(cmds, cmd)
	}
	time.Sleep(o.idleWait)
	rss := make([]float64, len(inits))
	pss := make([]float64, len(inits))
	ctx0 := make([]int, len(inits))
	threads := make([]int, len(inits))
	for i, c := range cmds {
		rss[i] = statusKB(c.Process.Pid, "VmRSS") / 1024
		pss[i] = pssKB(c.Process.Pid) / 1024
		ctx0[i], threads[i] = ctxSwitches(c.Process.Pid)
	}
	time.Sleep(o.idleSpan)
	for i, c := range cmds {
		ctx1, _ := ctxSwitches(c.Process.Pid)
		_ = c.Process.Signal(syscall.SIGTERM)
		_ = c.Wait()
		in := inits[i]
		ex := fmt.Sprintf("%.2f MiB PSS, %d threads", pss[i], threads[i])
		r.add(&figure{Workload: "idle", Metric: "rss", Init: in.name, Unit: "MiB", Median: rss[i], Samples: 1, Extra: ex})
		r.add(&figure{Workload: "idle", Metric: "pss", Init: in.name, Unit: "MiB", Median: pss[i], Samples: 1})
		r.add(&figure{Workload: "idle", Metric: "ctxsw", Init: in.name, Unit: "count", Median: float64(ctx1 - ctx0[i]), Samples: 1})
	}
	for _, m := range []string{"rss", "pss", "ctxsw"} {
		r.ratios("idle", m, "initbox")
	}
	r.tableOf(fmt.Sprintf("idle memory: INIT -- sleep 1000, after %v", o.idleWait),
		"VmRSS from /proc/PID/status; PSS from /proc/PID/smaps_rollup (shared pages divided among sharers).",
		"idle", "rss", false, "PSS, threads")
	r.tableOf(fmt.Sprintf("idle wake-ups: context switches of all the init's threads over %v", o.idleSpan),
		"Voluntary + involuntary switches summed over /proc/PID/task/*/status. tini wakes every second by design (sigtimedwait with a 1 s timeout).",
		"idle", "ctxsw", false, "")
}

// statusKB reads a "Key:   N kB" line of /proc/PID/status.
func statusKB(pid int, key string) float64 {
	return procKB(fmt.Sprintf("/proc/%d/status", pid), key)
}

func pssKB(pid int) float64 { return procKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss") }

func procKB(file, key string) float64 { return procSum(file, key) }

// procSum reads file once and adds up the numbers of the "Key: N" lines of
// keys.
func procSum(file string, keys ...string) float64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	sum := 0.0
	for _, l := range strings.Split(string(b), "\n") {
		for _, key := range keys {
			if v, ok := strings.CutPrefix(l, key+":"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					x, _ := strconv.ParseFloat(f[0], 64)
					sum += x
				}
			}
		}
	}
	return sum
}

// ctxSwitches sums voluntary and involuntary switches over all threads.
func ctxSwitches(pid int) (sum, threads int) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		// One read per task, so both counts come from one snapshot.
		sum += int(procSum(t, "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
	}
	return sum, len(tasks)
}

// binarySize: ls -l of each init's binary (symlinks followed).
func binarySize(r *report, inits []initCmd) {
	for _, in := range inits {
		st, err := os.Stat(in.bin)
		if err != nil {
			continue
		}
		r.add(&figure{Workload: "binary", Metric: "size", Init: in.name, Unit: "MiB",
			Median: float64(st.Size()) / (1 << 20), Samples: 1, Extra: fmt.Sprintf("%d B, %s", st.Size(), linkage(in.bin))})
	}
	r.ratios("binary", "size", "initbox")
	r.tableOf("binary size", "Size on disk of the file run (symlinks followed). initbox is `make build`: one binary with every command.",
		"binary", "size", false, "bytes, linking")
}

// linkage says whether an ELF file has a program interpreter (dynamic).
func linkage(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "dynamic"
		}
	}
	return "static"
}

// spawnStartup compares `initbox spawn -- /bin/true` with what people use
// today, `unshare --fork --pid --mount-proc /bin/true` (issue #6, #8), and
// `initbox spawn --uts --ipc` with bubblewrap doing the same (issue #17).
func spawnStartup(r *report, ib initCmd, runs int) {
	rows := []initCmd{
		{name: "unshare --fork --pid --mount-proc", argv: []string{"unshare", "--fork", "--pid", "--mount-proc"}},
		{name: "initbox spawn", argv: []string{ib.bin, "spawn", "--"}},
		{name: "initbox spawn --user", argv: []string{ib.bin, "spawn", "--user", "--"}},
		{name: "initbox spawn --uts --ipc", argv: []string{ib.bin, "spawn", "--uts", "--ipc", "--"}},
	}
	if p, err := exec.LookPath("bwrap"); err == nil {
		rows = append(rows, initCmd{name: bwrapRow, argv: []string{p, "--unshare-pid", "--unshare-uts", "--unshare-ipc", "--dev-bind", "/", "/", "--proc", "/proc"}})
	}
	timeTrue(r, "spawn", rows, runs)
	// Here the reference is unshare: the ratio column reads spawn/unshare.
	ref := r.find("spawn", "wall", rows[0].name)
	for _, f := range r.Figures {
		if f.Workload == "spawn" && f.Init != rows[0].name {
			f.Ratio = f.Median / ref.Median
		}
	}
	r.tableOf(fmt.Sprintf("spawn: CMD /bin/true, %d runs each, alternating", runs),
		"Here the last column is this row over unshare (not initbox over this).", "spawn", "wall", true, "")
}

// bwrapRow is bubblewrap doing what `initbox spawn --uts --ipc` does: new
// PID, UTS and IPC namespaces, the host's root and a fresh /proc.
const bwrapRow = "bwrap --unshare-pid --unshare-uts --unshare-ipc --dev-bind / / --proc /proc"
