//go:build linux

package tests

// Black-box tests of issue #15: what real daemons (nginx, redis,
// PostgreSQL) need from the supervisor's life cycle, run as PID 1.

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLifecycleStoppedServiceStops: a service stopped by SIGSTOP (a
// debugger, a `docker pause` gone wrong) gets SIGCONT after its stop
// signal, whichever it is, and stops at once: nginx's graceful stop is
// SIGQUIT. Before issue #15 only TERM, HUP and INT were followed by SIGCONT
// and the others waited out stop.timeout.
func TestLifecycleStoppedServiceStops(t *testing.T) {
	for _, sig := range []string{"SIGQUIT", "SIGUSR1"} {
		t.Run(sig, func(t *testing.T) {
			dir, file := svConfig(t, `
[services.frozen]
shell = '''trap 'exit 0' QUIT USR1; touch @D@/up; kill -STOP $$$$; while :; do sleep 0.05; done'''
stop = { signal = "`+sig+`", timeout = "5s" }
`)
			p := svStart(t, file, nil)
			p.waitExists(filepath.Join(dir, "up"), 10*time.Second)
			time.Sleep(200 * time.Millisecond) // its kill -STOP, right after the touch
			sigAt := time.Since(p.start)
			p.signal(syscall.SIGTERM)
			r := p.wait()
			took := stopTook(r, sigAt)
			t.Logf("a SIGSTOPped service with stop.signal = %s stopped in %v (stop.timeout 5s)", sig, took.Round(time.Millisecond))
			wantExit(t, r, 0)
			if took > 2*time.Second {
				t.Fatalf("the stop took %v, want well under stop.timeout 5s\n%v", took, r)
			}
		})
	}
}

// TestLifecycleEssentialFailedStart: an essential service whose start
// fails makes initbox exit non-zero with the real reason, although the
// process it stopped exited 0 from its TERM trap.
func TestLifecycleEssentialFailedStart(t *testing.T) {
	_, file := svConfig(t, `
[services.other]
command = ["sleep", "1000"]

[services.db]
essential = true
type = "notify"
restart = { policy = "never" }
ready = { timeout = "500ms" }
shell = '''trap 'exit 0' TERM; while :; do sleep 0.05; done'''
`)
	r := svRun(t, file, nil)
	wantExit(t, r, 1)
	for _, want := range []string{"essential service failed", "not ready within 500ms (ready.timeout)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("no %q in the log\n%v", want, r)
		}
	}
}
