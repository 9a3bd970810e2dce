//go:build linux

package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue #15's bugs, each against real sh services in the test process.

// statusOf returns one service's status, as `initbox ctl status` shows it.
func statusOf(t *testing.T, s *Supervisor, name string) ServiceStatus {
	t.Helper()
	for _, st := range s.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no service %q in the status", name)
	return ServiceStatus{}
}

// procState is the state letter of pid in /proc (T: stopped).
func procState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// TestStopSignalContinues: a SIGSTOPped service gets SIGCONT after its stop
// signal, whichever it is, and stops at once instead of after its stop
// timeout.
func TestStopSignalContinues(t *testing.T) {
	for _, sig := range []string{"SIGQUIT", "SIGUSR1", "SIGTERM"} {
		t.Run(sig, func(t *testing.T) {
			s, _, _, dir := start(t, `
[services.frozen]
shell = '''trap 'exit 0' QUIT USR1 TERM; touch @D@/up; kill -STOP $$$$; while :; do sleep 0.05; done'''
stop = { signal = "`+sig+`", timeout = "5s" }
`)
			waitFor(t, "frozen up", func() bool { return exists(filepath.Join(dir, "up")) })
			pid := statusOf(t, s, "frozen").Pid
			waitFor(t, "frozen stopped by SIGSTOP", func() bool { return procState(pid) == 'T' })
			t0 := time.Now()
			if err := s.StopService("frozen"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "frozen stopped", func() bool { return statusOf(t, s, "frozen").State == "stopped" })
			if took := time.Since(t0); took > 2*time.Second {
				t.Fatalf("the stop took %v, want well under the 5s stop.timeout", took)
			}
			if st := statusOf(t, s, "frozen"); st.LastExit != "exit status 0" {
				t.Fatalf("last exit %q, want exit status 0 (its trap ran)", st.LastExit)
			}
		})
	}
}

// TestHealthAfterReady: no health check runs before the service is ready,
// so none fails against a daemon still starting; start_period counts from
// ready.
func TestHealthAfterReady(t *testing.T) {
	s, _, _, dir := start(t, `
[services.slow]
shell = '''sleep 0.8; date +%s%N >@D@/readyat; touch @D@/ready; exec sleep 1000'''
[services.slow.ready]
file = "@D@/ready"
interval = "50ms"
[services.slow.health]
exec = ["sh", "-c", "date +%s%N >>@D@/checks; false"]
interval = "50ms"
failure_threshold = 1
start_period = "600ms"
action = "none"
`)
	waitFor(t, "slow unhealthy", func() bool { return statusOf(t, s, "slow").Health == "unhealthy" })
	unhealthyAt := time.Now()
	readyAt := stamp(t, filepath.Join(dir, "readyat"))
	checks := stamps(t, filepath.Join(dir, "checks"))
	if len(checks) == 0 || checks[0].Before(readyAt) {
		t.Fatalf("first health check at %v, before ready at %v", checks[0].Sub(readyAt), readyAt)
	}
	if d := unhealthyAt.Sub(readyAt); d < 600*time.Millisecond {
		t.Fatalf("unhealthy %v after ready, within start_period 600ms", d)
	}
	if st := statusOf(t, s, "slow"); st.Restarts != 0 || !strings.HasPrefix(st.Reason, "unhealthy") {
		t.Fatalf("status %+v: want no restart, reason unhealthy", st)
	}
}

// TestHealthRestartIsAFailure: a restart by the health action is a failure
// of the run, whatever the restart policy: it waits out its backoff delay,
// and the start limit ends it.
func TestHealthRestartIsAFailure(t *testing.T) {
	s, _, _, dir := start(t, `
[services.other]
command = ["sleep", "1000"]
[services.sick]
shell = '''date +%s%N >>@D@/runs; exec sleep 1000'''
restart = { policy = "never", delay = "300ms", multiplier = 1.0, limit_burst = 3, limit_interval = "1m" }
[services.sick.health]
exec = ["false"]
interval = "50ms"
failure_threshold = 1
`)
	waitFor(t, "sick failed for good", func() bool { return statusOf(t, s, "sick").State == "failed" })
	st := statusOf(t, s, "sick")
	if !strings.Contains(st.Reason, "start limit hit") || st.Restarts != 2 {
		t.Fatalf("status %+v: want failed by the start limit after 2 restarts", st)
	}
	runs := stamps(t, filepath.Join(dir, "runs"))
	for i := 1; i < len(runs); i++ {
		if d := runs[i].Sub(runs[i-1]); d < 300*time.Millisecond {
			t.Fatalf("run %d started %v after the one before, within the 300ms backoff delay", i+1, d)
		}
	}
}

// TestReasonCleared: a run that starts again does not show the reason the
// last one ended with.
func TestReasonCleared(t *testing.T) {
	s, _, _, dir := start(t, `
[services.once]
shell = '''echo run >>@D@/runs; exec sleep 1000'''
[services.once.health]
exec = ["sh", "-c", "[ $(wc -l <@D@/runs) -ge 2 ]"]
interval = "50ms"
failure_threshold = 1
`)
	runs := func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "runs"))
		return strings.Count(string(b), "run")
	}
	waitFor(t, "second run", func() bool { return runs() == 2 })
	waitFor(t, "second run healthy", func() bool { return statusOf(t, s, "once").Health == "healthy" })
	if st := statusOf(t, s, "once"); st.Reason != "" {
		t.Fatalf("reason %q on the healthy second run, want none", st.Reason)
	}
}

// TestFailedStartExitStatus: an essential service whose start fails makes
// Run return non-zero, its reason in the log, whatever status the process
// it stopped gave.
func TestFailedStartExitStatus(t *testing.T) {
	for _, c := range []struct {
		name, svc, why string
		want           int
	}{
		{"ready timeout", `
type = "notify"
restart = { policy = "never" }
ready = { timeout = "300ms" }
shell = '''trap 'exit 0' TERM; while :; do sleep 0.05; done'''`, "not ready within 300ms", 1},
		{"ready timeout then start limit", `
type = "notify"
restart = { delay = "10ms", limit_burst = 2 }
ready = { timeout = "200ms" }
shell = '''trap 'exit 0' TERM; while :; do sleep 0.05; done'''`, "start limit hit", 1},
		{"exec failure", `
restart = { policy = "never" }
command = ["/nonexistent/daemon"]`, "no such file", 127},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, _, log := run(t, `
[services.other]
command = ["sleep", "1000"]
[services.ess]
essential = true
`+c.svc)
			if code != c.want {
				t.Errorf("status %d, want %d", code, c.want)
			}
			if !strings.Contains(log, "essential service failed") || !strings.Contains(log, c.why) {
				t.Errorf("the log does not say the essential service failed with %q", c.why)
			}
		})
	}
}

// TestStatusReasons: a waiting service names what it waits for; a stopped
// one is stopped, not "not ready".
func TestStatusReasons(t *testing.T) {
	s, _, _, dir := start(t, `
[services.db]
command = ["sleep", "1000"]
ready = { file = "@D@/db-ready", interval = "50ms" }
[services.web]
command = ["sleep", "1000"]
depends_on = { db = "ready" }
`)
	waitFor(t, "db running", func() bool { return statusOf(t, s, "db").State == "starting" })
	if st := statusOf(t, s, "web"); st.State != "waiting" || st.Reason != `waiting for db (ready)` {
		t.Fatalf("web: state %q reason %q, want waiting for db (ready)", st.State, st.Reason)
	}
	if err := os.WriteFile(filepath.Join(dir, "db-ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web running", func() bool { return statusOf(t, s, "web").State == "running" })
	if st := statusOf(t, s, "web"); st.Reason != "" {
		t.Fatalf("web running with reason %q", st.Reason)
	}
	if err := s.StopService("db"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "db stopped", func() bool { return statusOf(t, s, "db").State == "stopped" })
	if st := statusOf(t, s, "db"); st.Ready != "" {
		t.Fatalf("stopped db shows ready %q, want none", st.Ready)
	}
}

func stamps(t *testing.T, path string) []time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, f := range strings.Fields(string(b)) {
		ns, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, time.Unix(0, ns))
	}
	return out
}

func stamp(t *testing.T, path string) time.Time {
	t.Helper()
	s := stamps(t, path)
	if len(s) != 1 {
		t.Fatalf("%s: %d stamps, want 1", path, len(s))
	}
	return s[0]
}

// TestStopModeMixed: the stop signal reaches the main process only; once
// it has exited, what it left in its process group gets SIGKILL at once,
// not after stop.timeout.
func TestStopModeMixed(t *testing.T) {
	s, _, _, dir := start(t, `
[services.d]
shell = '''sh -c 'trap "" TERM; echo $$$$ >@D@/worker; exec sleep 1000' & trap 'exit 0' TERM; touch @D@/up; while :; do sleep 0.05; done'''
stop = { mode = "mixed", timeout = "5s" }
[services.other]
command = ["sleep", "1000"]
`)
	waitFor(t, "d up", func() bool { return exists(filepath.Join(dir, "up")) && exists(filepath.Join(dir, "worker")) })
	var worker int
	waitFor(t, "the worker's pid", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "worker"))
		worker, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return worker > 0
	})
	t0 := time.Now()
	if err := s.StopService("d"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the worker killed", func() bool { st := procState(worker); return st == 0 || st == 'Z' })
	if took := time.Since(t0); took > 2*time.Second {
		t.Fatalf("the worker was killed %v after the stop, want once the main process exited", took)
	}
	if st := statusOf(t, s, "d"); st.LastExit != "exit status 0" {
		t.Fatalf("last exit %q, want exit status 0 (its TERM trap)", st.LastExit)
	}
}

// TestWaitStoppedMeansNothingLeft: a service whose main process exited is
// stopping, not stopped, while what it left in its process group lives;
// Wait for stopped returns once that is gone too.
func TestWaitStoppedMeansNothingLeft(t *testing.T) {
	s, _, _, dir := start(t, `
[services.d]
shell = '''sh -c 'trap "sleep 0.7; exit 0" TERM; echo $$$$ >@D@/worker; while :; do sleep 0.05; done' & trap 'exit 0' TERM; touch @D@/up; while :; do sleep 0.05; done'''
stop = { mode = "group", timeout = "5s" }
[services.other]
command = ["sleep", "1000"]
`)
	waitFor(t, "d up", func() bool { return exists(filepath.Join(dir, "up")) && exists(filepath.Join(dir, "worker")) })
	t0 := time.Now()
	if err := s.StopService("d"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "d's main process gone", func() bool { return statusOf(t, s, "d").Pid == 0 })
	if st := statusOf(t, s, "d"); st.State != "stopping" && time.Since(t0) < 500*time.Millisecond {
		t.Fatalf("state %q while its worker still stops, want stopping", st.State)
	}
	if err := s.Wait([]string{"d"}, GoalStopped, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took < 700*time.Millisecond {
		t.Fatalf("stopped after %v, before its worker's 0.7s TERM trap ended", took)
	}
	if st := statusOf(t, s, "d"); st.State != "stopped" {
		t.Fatalf("state %q after the wait, want stopped", st.State)
	}
}

// TestWait: Wait for up returns once the services are ready, fails at once
// with the reason when one fails, and names what it still waits for when
// it times out.
func TestWait(t *testing.T) {
	s, _, _, dir := start(t, `
[services.db]
command = ["sleep", "1000"]
ready = { file = "@D@/db-ready", interval = "50ms" }
[services.web]
command = ["sleep", "1000"]
depends_on = { db = "ready" }
[services.bad]
type = "notify"
restart = { policy = "never" }
ready = { timeout = "300ms" }
command = ["sleep", "1000"]
[services.job]
type = "oneshot"
command = ["true"]
`)
	err := s.Wait([]string{"db", "web"}, GoalUp, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "timed out after 200ms") || !strings.Contains(err.Error(), "web is waiting (waiting for db (ready))") {
		t.Fatalf("Wait before db is ready = %v", err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.WriteFile(filepath.Join(dir, "db-ready"), nil, 0o644)
	}()
	if err := s.Wait([]string{"db", "web", "job"}, GoalUp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait([]string{"bad"}, GoalUp, 5*time.Second); err == nil || !strings.Contains(err.Error(), "bad failed: not ready within 300ms") {
		t.Fatalf("Wait for bad = %v, want its failure", err)
	}
	if err := s.Wait([]string{"nope"}, GoalUp, time.Second); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("Wait for nope = %v, want unknown service", err)
	}
	if err := s.StopService("web"); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait([]string{"web"}, GoalUp, time.Second); err == nil || !strings.Contains(err.Error(), "web is stopped") {
		t.Fatalf("Wait for up of a stopped service = %v", err)
	}
	if err := s.Wait([]string{"web", "bad"}, GoalStopped, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
