//go:build linux

package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScheduledJobs (issue #18): a job at @every 1s runs on time, once a
// second; a job whose run outlasts its interval has the times in between
// skipped, and logged; runs do not count against the start limit (5
// within 10 s by default); a yearly job is started now by `ctl start` and goes
// back to waiting for its time; `ctl status` shows a job between runs as
// scheduled with its next run, and --json its schedule and last run; an
// essential service beside them keeps initbox up, and SIGTERM stops all.
func TestScheduledJobs(t *testing.T) {
	requirePID1(t)
	dir, file := svConfig(t, `
[init]
control_socket = "@D@/ctl.sock"
timezone = "UTC"

[services.tick]
type = "oneshot"
schedule = "@every 1s"
shell = "date +%s.%N >> @D@/tick"

[services.slow]
type = "oneshot"
schedule = "@every 1s"
shell = "echo run >> @D@/slow; sleep 2.5"

[services.yearly]
type = "oneshot"
schedule = "0 0 1 1 *"
shell = "echo ran >> @D@/yearly"

[services.app]
command = ["sleep", "1000"]
`)
	sock := filepath.Join(dir, "ctl.sock")
	p := svStart(t, file, nil)
	p.waitExists(sock, 10*time.Second)
	out, code := ctl(t, sock, 0, "status", "yearly")
	if code != 0 || !strings.Contains(out, "scheduled") || !strings.Contains(out, "next run 20") {
		t.Errorf("ctl status yearly (%d): %s", code, out)
	}
	if exists(filepath.Join(dir, "yearly")) {
		t.Error("the yearly job ran at start")
	}
	// Longer than the default start limit's window holds 5 starts: a
	// job's runs must not count against it.
	time.Sleep(6500 * time.Millisecond)
	out, code = ctl(t, sock, 0, "start", "yearly")
	if code != 0 {
		t.Errorf("ctl start yearly (%d): %s", code, out)
	}
	p.waitExists(filepath.Join(dir, "yearly"), 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ = ctl(t, sock, 0, "--json", "status", "yearly")
		if strings.Contains(out, `"state":"scheduled"`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{`"state":"scheduled"`, `"schedule":"0 0 1 1 *"`, `"next_run":"20`, `"last_run":"20`, `"last_code":0`} {
		if !strings.Contains(out, want) {
			t.Errorf("ctl --json status yearly lacks %s: %s", want, out)
		}
	}
	r := p.stopBySIGTERM(5 * time.Second)
	wantExit(t, r, 0)

	ticks := strings.Fields(readFile(t, filepath.Join(dir, "tick")))
	// From the first second to the SIGTERM, about 6.5 s: 6 or 7 runs.
	if len(ticks) < 6 || len(ticks) > 8 {
		t.Errorf("tick ran %d times in about 6.5 s, want 6 or 7: %v\n%v", len(ticks), ticks, r)
	}
	var prev float64
	for i, s := range ticks {
		var f float64
		fmt.Sscanf(s, "%f", &f)
		if i > 0 && (f-prev < 0.8 || f-prev > 1.5) {
			t.Errorf("tick runs %.3f s apart, want about 1 s: %v", f-prev, ticks)
		}
		prev = f
	}
	slow := strings.Count(readFile(t, filepath.Join(dir, "slow")), "run")
	if slow < 2 || slow > 3 {
		t.Errorf("slow ran %d times in about 6.5 s with runs of 2.5 s, want 2 or 3", slow)
	}
	if !logHas(r.stderr, "slow", "skipped") {
		t.Errorf("no line about slow's skipped times\n%v", r)
	}
	if n := strings.Count(readFile(t, filepath.Join(dir, "yearly")), "ran"); n != 1 {
		t.Errorf("yearly ran %d times, want once (by ctl start)", n)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
