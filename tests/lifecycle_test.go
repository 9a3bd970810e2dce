//go:build linux

package tests

// Black-box tests of issue #15: what real daemons (nginx, redis,
// PostgreSQL) need from the supervisor's life cycle, run as PID 1.

import (
	"os"
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

// TestLifecycleMixedFrozenWorker: under stop.mode = "mixed" the stop
// signal goes to the main process alone, but SIGCONT to every process: a
// frozen worker can then carry out the main process's orderly stop (nginx
// with its workers stopped) instead of waiting out stop.timeout.
func TestLifecycleMixedFrozenWorker(t *testing.T) {
	dir, file := svConfig(t, `
[services.d]
shell = '''sleep 1000 & w=$$!; echo $$w > @D@/w; trap 'kill -TERM $$w; wait $$w; exit 0' TERM; wait'''
stop = { mode = "mixed", timeout = "5s" }
`)
	p := svStart(t, file, nil)
	w := p.waitFile(filepath.Join(dir, "w"), 10*time.Second)
	time.Sleep(100 * time.Millisecond) // the trap is set after the echo
	// The worker, seen from the host: the test's pid namespace is the
	// parent of initbox's, so its pid is looked up by its parent.
	worker := p.findDescendant(p.hostInitPID(), "sleep", 5*time.Second)
	if err := syscall.Kill(worker, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP the worker (pid %d inside: %s): %v", worker, strings.TrimSpace(w), err)
	}
	sigAt := time.Since(p.start)
	p.signal(syscall.SIGTERM)
	r := p.wait()
	took := stopTook(r, sigAt)
	t.Logf("a service with a frozen worker under stop.mode mixed stopped in %v (stop.timeout 5s)", took.Round(time.Millisecond))
	wantExit(t, r, 0)
	if took > 2*time.Second {
		t.Fatalf("the stop took %v, want well under stop.timeout 5s\n%v", took, r)
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

// TestLifecycleStopModeMixed: a daemon that stops its own workers (as
// PostgreSQL's postmaster does) under stop.mode = "mixed": its stop signal
// reaches the main process only, and once that has exited its workers get
// SIGKILL, never the stop signal. Under "cgroup" the workers get it too
// (PostgreSQL's backends cancel their queries on it).
func TestLifecycleStopModeMixed(t *testing.T) {
	for _, c := range []struct {
		mode        string
		workersTerm bool
	}{
		{"mixed", false},
		{"cgroup", true},
	} {
		t.Run(c.mode, func(t *testing.T) {
			// The workers trap TERM and carry on; the main process traps
			// it, notes it and exits without waiting for them.
			dir, file := svConfig(t, `
[init]
grace = "0s"

[services.daemon]
shell = '''
for i in 1 2; do
  sh -c 'trap "echo \$$$$ >>@D@/workers.term" TERM; echo \$$$$ >>@D@/workers; while :; do sleep 0.05; done' &
done
trap 'touch @D@/main.term; exit 0' TERM
touch @D@/up
while :; do sleep 0.05; done
'''
stop = { mode = "`+c.mode+`", timeout = "3s" }
`)
			p := svStart(t, file, nil)
			p.waitExists(filepath.Join(dir, "up"), 10*time.Second)
			for deadline := time.Now().Add(5 * time.Second); ; {
				b, _ := os.ReadFile(filepath.Join(dir, "workers"))
				if strings.Count(string(b), "\n") == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the workers did not start: %q", b)
				}
				time.Sleep(10 * time.Millisecond)
			}
			sigAt := time.Since(p.start)
			p.signal(syscall.SIGTERM)
			r := p.wait()
			wantExit(t, r, 0)
			if !exists(filepath.Join(dir, "main.term")) {
				t.Fatalf("the main process did not get SIGTERM\n%v", r)
			}
			if got := exists(filepath.Join(dir, "workers.term")); got != c.workersTerm {
				t.Fatalf("the workers got SIGTERM: %v, want %v\n%v", got, c.workersTerm, r)
			}
			if c.mode == "mixed" {
				// Killed when the main process exited, not at stop.timeout.
				if took := stopTook(r, sigAt); took > 2*time.Second {
					t.Fatalf("the stop took %v, want the workers killed once the main process exited\n%v", took, r)
				}
				if !strings.Contains(r.stderr, "stop.mode mixed") {
					t.Errorf("no line about killing what the main process left\n%v", r)
				}
			}
		})
	}
}

// TestLifecycleCtlWait: `initbox ctl stop|start|restart --wait` returns
// once the services got there: stopped with nothing of them left (here a
// worker whose TERM trap takes 0.5s, in the process group, as cgroups are
// not used on every host), or running and ready; it fails with the reason
// when a service cannot get there, or when --timeout passes.
func TestLifecycleCtlWait(t *testing.T) {
	requirePID1(t)
	dir, file := svConfig(t, `
[init]
control_socket = "@D@/control.sock"

[services.daemon]
shell = '''
sh -c 'trap "sleep 0.5; date +%s%N >@D@/worker.gone; exit 0" TERM; while :; do sleep 0.05; done' &
trap 'rm -f @D@/ready; exit 0' TERM
sleep 0.3; touch @D@/ready
while :; do sleep 0.05; done
'''
stop = { mode = "group", timeout = "5s" }
ready = { file = "@D@/ready", interval = "50ms" }

[services.bad]
type = "notify"
restart = { policy = "never" }
ready = { timeout = "300ms" }
command = ["sleep", "1000"]

[services.other]
command = ["sleep", "1000"]
`)
	sock := filepath.Join(dir, "control.sock")
	p := svStart(t, file, nil)
	p.waitExists(sock, 10*time.Second)
	run := func(args ...string) (string, int, time.Duration) {
		t0 := time.Now()
		out, code := ctl(t, sock, 0, args...)
		return out, code, time.Since(t0)
	}
	status := func(name string) string {
		out, _ := ctl(t, sock, 0, "status", name)
		return out
	}

	if out, code, _ := run("start", "--wait", "--timeout", "10s", "daemon"); code != 0 || !strings.Contains(status("daemon"), "running") {
		t.Fatalf("start --wait daemon = %d %s\n%s", code, out, status("daemon"))
	}
	out, code, took := run("stop", "--wait", "daemon")
	if code != 0 || took < 500*time.Millisecond || !exists(filepath.Join(dir, "worker.gone")) {
		t.Fatalf("stop --wait daemon = %d after %v (worker gone: %v), want 0 once its worker's 0.5s trap ended\n%s",
			code, took, exists(filepath.Join(dir, "worker.gone")), out)
	}
	if st := status("daemon"); !strings.Contains(st, "stopped") {
		t.Fatalf("after stop --wait:\n%s", st)
	}
	if out, code, took = run("start", "--wait", "daemon"); code != 0 || took < 300*time.Millisecond || !strings.Contains(status("daemon"), "ready") {
		t.Fatalf("start --wait daemon = %d after %v, want 0 once ready (0.3s)\n%s\n%s", code, took, out, status("daemon"))
	}
	if out, code, _ = run("restart", "--wait", "daemon", "other"); code != 0 {
		t.Fatalf("restart --wait daemon other = %d\n%s", code, out)
	}
	if out, code, _ = run("start", "--wait", "bad"); code != 1 || !strings.Contains(out, "bad failed: not ready within 300ms") {
		t.Fatalf("start --wait bad = %d, want 1 with its reason\n%s", code, out)
	}
	if out, code, _ = run("restart", "--wait", "--timeout", "100ms", "daemon"); code != 1 || !strings.Contains(out, "timed out after 100ms: daemon is") {
		t.Fatalf("restart --wait --timeout 100ms daemon = %d, want 1, timed out\n%s", code, out)
	}
	p.signal(syscall.SIGTERM)
	p.wait()
}
