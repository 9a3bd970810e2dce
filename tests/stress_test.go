//go:build linux

package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Stress tests (issue #9): bounded in time, they check that initbox's own
// cost stays flat under load, and log the figures.

// stressDuration is how long TestStressCrashLoop loops; INITBOX_STRESS
// (a Go duration) overrides the 60 s.
func stressDuration(t *testing.T) time.Duration {
	if v := os.Getenv("INITBOX_STRESS"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("INITBOX_STRESS: %v", err)
		}
		return d
	}
	return 60 * time.Second
}

// selfMetrics reads initbox's own figures from its /metrics.
func selfMetrics(t *testing.T, port int) map[string]int64 {
	t.Helper()
	out, err := exec.Command("curl", "-sf", fmt.Sprintf("http://127.0.0.1:%d/metrics", port)).Output()
	if err != nil {
		t.Fatalf("curl /metrics: %v", err)
	}
	m := map[string]int64{}
	for _, l := range strings.Split(string(out), "\n") {
		if name, v, ok := strings.Cut(l, " "); ok && strings.HasPrefix(name, "initbox_") && !strings.Contains(name, "{") {
			n, _ := strconv.ParseInt(v, 10, 64)
			m[name] = n
		}
	}
	return m
}

// metricsFloor is the least of each of initbox's own figures over 20
// samples 50 ms apart. The 200 services restart in step, once a second, and
// a single sample may land in a burst of starts, each with its exit waiter
// and output copiers in flight: a leak raises the floor, a burst does not.
func metricsFloor(t *testing.T, port int) map[string]int64 {
	t.Helper()
	floor := selfMetrics(t, port)
	for range 19 {
		time.Sleep(50 * time.Millisecond)
		for k, v := range selfMetrics(t, port) {
			if old, ok := floor[k]; !ok || v < old {
				floor[k] = v
			}
		}
	}
	return floor
}

// TestStressCrashLoop: 200 services crash and restart with backoff for a
// minute while initbox gets SIGHUP reloads every 100 ms; its goroutines,
// open descriptors and resident memory stay flat.
func TestStressCrashLoop(t *testing.T) {
	requirePID1(t)
	requireTool(t, "curl")
	d := stressDuration(t)
	port := freePort(t)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[init]\nhttp_listen = \"127.0.0.1:%d\"\ncontrol_socket = \"\"\n", port)
	for i := range 200 {
		fmt.Fprintf(&cfg, "[services.s%d]\nshell = \"exit 1\"\nrestart = { delay = \"1s\", multiplier = 1.0, max_delay = \"1s\", limit_burst = 1000, limit_interval = \"10s\" }\n", i)
	}
	_, file := opConfig(t, cfg.String())
	p := startInit(t, runSpec{bin: initBin, mode: pid1, args: []string{"run", "-c", file}, timeout: d + 60*time.Second})
	waitMetrics := time.Now().Add(10 * time.Second)
	for {
		if out, err := exec.Command("curl", "-sf", fmt.Sprintf("http://127.0.0.1:%d/healthz", port)).Output(); err == nil && len(out) > 0 {
			break
		}
		if time.Now().After(waitMetrics) {
			t.Fatalf("/healthz not served\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(5 * time.Second) // every service through a few restarts
	before := metricsFloor(t, port)
	stop := time.After(d)
	hups := 0
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-time.After(100 * time.Millisecond):
			p.signal(syscall.SIGHUP)
			hups++
		}
	}
	time.Sleep(2 * time.Second)
	after := metricsFloor(t, port)
	r := p.stopBySIGTERM(15 * time.Second)
	restarts := strings.Count(r.stderr, "exited: restarting")
	t.Logf("%v of 200 crash-looping services and %d SIGHUP reloads: %d restarts; goroutines %d -> %d, fds %d -> %d, RSS %.1f -> %.1f MiB",
		d, hups, restarts, before["initbox_goroutines"], after["initbox_goroutines"], before["initbox_open_fds"], after["initbox_open_fds"],
		float64(before["initbox_resident_memory_bytes"])/(1<<20), float64(after["initbox_resident_memory_bytes"])/(1<<20))
	if restarts < 200*int(d/time.Second)/2 {
		t.Errorf("only %d restarts in %v: the services were not crash-looping", restarts, d)
	}
	for _, k := range []string{"initbox_goroutines", "initbox_open_fds"} {
		// A few in flight at either sample: exits and copies of the
		// services being restarted right then.
		if after[k] > before[k]+before[k]/4+20 {
			t.Errorf("%s grew from %d to %d", k, before[k], after[k])
		}
	}
	if k := "initbox_resident_memory_bytes"; after[k] > before[k]+4<<20 {
		t.Errorf("RSS grew from %d to %d bytes", before[k], after[k])
	}
}

// buildStormHelper builds the bench's orphan-storm program (raw clones: a
// shell forks 100,000 orphans far too slowly).
func buildStormHelper(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "helper")
	cmd := exec.Command("go", "build", "-C", filepath.Join(moduleRoot, "bench"), "-o", out, "./helper")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building bench/helper: %v\n%s", err, b)
	}
	return out
}

// TestStressOrphans: 100,000 orphans exit as fast as they can under
// initbox as PID 1; none is left a zombie, and initbox passes the
// program's status on.
func TestStressOrphans(t *testing.T) {
	requirePID1(t)
	helper := buildStormHelper(t)
	const n, wave = 100000, 10000
	start := time.Now()
	r := runInit(t, runSpec{mode: pid1, timeout: 5 * time.Minute, args: []string{"--", helper, "storm", strconv.Itoa(n), strconv.Itoa(wave)}})
	wantExit(t, r, 0)
	var drainUS, peak, left int
	if _, err := fmt.Sscan(r.stdout, &drainUS, &peak, &left); err != nil {
		t.Fatalf("helper output %q: %v", r.stdout, err)
	}
	if left != 0 {
		t.Errorf("%d zombies left after the storm", left)
	}
	t.Logf("%d orphans in waves of %d: drained in %.2f s (%.0f orphans/s), peak %d zombies; whole run %v",
		n, wave, float64(drainUS)/1e6, float64(n)/(float64(drainUS)/1e6), peak, time.Since(start).Round(time.Millisecond))
}

// TestStressSignalStorm: thousands of mixed signals reach initbox while
// its program forks and reaps children without pause; initbox neither dies
// nor hangs, forwards them, and exits with the program's status.
func TestStressSignalStorm(t *testing.T) {
	requirePID1(t)
	dir := t.TempDir()
	script := `trap 'echo u >>"$1"' USR1; trap ':' USR2 HUP WINCH ALRM
while [ ! -e "$2" ]; do sh -c 'true & true'; done
exit 7`
	p := startInit(t, runSpec{mode: pid1, args: []string{"--", "sh", "-c", script, "x", filepath.Join(dir, "usr1"), filepath.Join(dir, "stop")}})
	time.Sleep(300 * time.Millisecond)
	sigs := []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP, syscall.SIGWINCH, syscall.SIGALRM, syscall.SIGCONT, syscall.SIGCHLD, syscall.SIGURG}
	sent := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); sent++ {
		p.signal(sigs[sent%len(sigs)])
		if sent%64 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	os.WriteFile(filepath.Join(dir, "stop"), nil, 0o644)
	r := p.wait()
	wantExit(t, r, 7)
	b, _ := os.ReadFile(filepath.Join(dir, "usr1"))
	t.Logf("%d signals sent in 3 s while the program forked; %d USR1 traps ran (signals of a kind coalesce while pending)", sent, strings.Count(string(b), "u"))
	if !strings.Contains(string(b), "u") {
		t.Errorf("no USR1 reached the program")
	}
}

// TestStressStatusRace: 10,000 runs in which the program exits at the same
// moment as 10 orphans of its own; initbox always exits with the
// program's 42, never an orphan's 0 (INITBOX_STATUS_TRIALS overrides).
func TestStressStatusRace(t *testing.T) {
	requirePID1(t)
	helper := buildStormHelper(t)
	trials := 10000
	if v := os.Getenv("INITBOX_STATUS_TRIALS"); v != "" {
		trials, _ = strconv.Atoi(v)
	}
	start := time.Now()
	const workers = 4
	errs := make(chan string, workers)
	next := make(chan int)
	go func() {
		for i := range trials {
			next <- i
		}
		close(next)
	}()
	for range workers {
		go func() {
			for i := range next {
				cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--kill-child", initBin, "--", helper, "race", "10")
				out, err := cmd.CombinedOutput()
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 42 {
					errs <- fmt.Sprintf("trial %d: %v, want exit status 42\n%s", i, err, out)
					for range next {
					}
					return
				}
			}
			errs <- ""
		}()
	}
	for range workers {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
	t.Logf("%d trials of the program's exit racing 10 orphans' in %v: every one exited 42", trials, time.Since(start).Round(time.Millisecond))
}

// TestFullDiskOutput: a service whose file: output fills its disk (a 16
// KiB tmpfs) gets ENOSPC on its own writes and says so; initbox and the
// other services are not touched, and stop as usual.
func TestFullDiskOutput(t *testing.T) {
	requirePID1(t)
	disk := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", disk).CombinedOutput(); err != nil {
		skipOrFail(t, "cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", disk).Run() })
	dir, file := svConfig(t, fmt.Sprintf(`
[services.filler]
shell = "head -c 1000000 /dev/zero; echo filler-exit=$? >&2"
stdout = "file:%s/out"
restart = { policy = "never" }

[services.sibling]
shell = "while :; do echo tick >>@D@/ticks; sleep 0.05; done"
`, disk))
	p := svStart(t, file, nil)
	p.waitStderr("filler-exit=", 10*time.Second)
	before, _ := os.ReadFile(filepath.Join(dir, "ticks"))
	time.Sleep(300 * time.Millisecond)
	after, _ := os.ReadFile(filepath.Join(dir, "ticks"))
	r := p.stopBySIGTERM(5 * time.Second)
	if !strings.Contains(r.stderr, "No space left on device") {
		t.Errorf("the service did not say its disk is full\n%v", r)
	}
	if len(after) <= len(before) {
		t.Errorf("the sibling stopped ticking when the disk filled\n%v", r)
	}
	if r.code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0\n%v", r.code, r)
	}
}
