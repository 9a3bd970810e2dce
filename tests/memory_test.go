//go:build linux

package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssFile reads RssFile (kB) of /proc/PID/status: the pages of files,
// initbox's binary above all, that pid has mapped in.
func rssFile(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no RssFile in /proc/%d/status", pid)
	return 0
}

// rssFileBelow polls pid's RssFile until it is below limit or d has
// passed, and returns the lowest it saw.
func rssFileBelow(t *testing.T, pid, limit int, d time.Duration) int {
	t.Helper()
	low := rssFile(t, pid)
	for end := time.Now().Add(d); low >= limit && time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
		low = min(low, rssFile(t, pid))
	}
	return low
}

// TestStartupPagesReleased: once idle, initbox lets go of the pages of
// its binary that its start-up alone touched (issue #17): in tini mode a
// second after the program started, under `run` half a second after
// every service is up. Measured as RssFile before and after; the pages
// come back from the page cache if a path needs them again.
func TestStartupPagesReleased(t *testing.T) {
	requirePID1(t)
	_, file := svConfig(t, `
[services.a]
command = ["sleep", "30"]
[services.b]
command = ["sleep", "30"]
`)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"tini mode", []string{"--", "sleep", "30"}},
		{"run", []string{"run", "-c", file}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pid := startInit(t, runSpec{mode: pid1, args: tc.args}).hostInitPID()
			time.Sleep(300 * time.Millisecond)
			before := rssFile(t, pid)
			after := rssFileBelow(t, pid, before/2, 5*time.Second)
			t.Logf("RssFile %d kB at 0.3 s, %d kB after", before, after)
			if after >= before/2 {
				t.Errorf("RssFile %d kB at 0.3 s, still %d kB 5 s later: the start-up pages were not released", before, after)
			}
		})
	}
}

// TestTrimAfterWork: under `initbox run`, the pages that work maps back in
// (here `initbox ctl status` requests) are let go again about 10 s after
// it (mem.Trimmer, issue #17).
func TestTrimAfterWork(t *testing.T) {
	requirePID1(t)
	dir, file := svConfig(t, `
[init]
control_socket = "@D@/ctl.sock"
[services.a]
command = ["sleep", "60"]
`)
	pid := startInit(t, runSpec{mode: pid1, args: []string{"run", "-c", file}, timeout: time.Minute}).hostInitPID()
	// The first release (TestStartupPagesReleased), then work: requests
	// for 3 s.
	time.Sleep(300 * time.Millisecond)
	started := rssFile(t, pid)
	released := rssFileBelow(t, pid, started/2, 15*time.Second)
	if released >= started/2 {
		t.Fatalf("RssFile %d kB at 0.3 s, %d kB 15 s later: no first release to start from", started, released)
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if out, code := ctl(t, filepath.Join(dir, "ctl.sock"), 0, "status"); code != 0 {
			t.Fatalf("initbox ctl status: exit %d\n%s", code, out)
		}
	}
	worked := rssFile(t, pid)
	if worked <= released {
		t.Fatalf("the requests mapped nothing back (RssFile %d -> %d kB): the test shows nothing", released, worked)
	}
	half := worked - (worked-released)/2
	low := rssFileBelow(t, pid, half, 20*time.Second)
	t.Logf("RssFile %d kB after the first release, %d kB after the requests, down to %d kB", released, worked, low)
	if low >= half {
		t.Errorf("RssFile %d kB after the requests, still at least %d kB 20 s later: not trimmed", worked, low)
	}
}
