//go:build linux

package tests

// Black-box tests of `initbox run` and `initbox check` (issue #3): initbox
// runs as PID 1 of a fresh PID namespace and supervises services made of sh
// and coreutils, whose configs are written to t.TempDir().
//
// Services report what happened by writing files (markers, their pid,
// `date +%s%N` timestamps) and lines on stdout, and the tests synchronise on
// those, never on sleeps of their own. Timing checks use lower bounds that
// timers guarantee and upper bounds loose enough for a loaded 2-core machine.
//
// In a config, "@D@" stands for the test's directory, and "$$" must be
// written "$$$$" to reach the shell as "$$" ("$$" is the config's escape for
// a literal "$").

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// svTimeout bounds one supervised run; every test here needs far less.
const svTimeout = 30 * time.Second

// svConfig writes text as initbox.toml in a fresh directory, with "@D@"
// replaced by that directory, and returns the directory and the file.
func svConfig(t *testing.T, text string) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "initbox.toml")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(text, "@D@", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

// svStart starts `initbox run -c file [args]` as PID 1 with env added to
// the base environment.
func svStart(t *testing.T, file string, env []string, args ...string) *proc {
	t.Helper()
	return startInit(t, runSpec{bin: initBin, mode: pid1, args: append([]string{"run", "-c", file}, args...), env: env, timeout: svTimeout})
}

// svRun runs `initbox run -c file [args]` as PID 1 to its end.
func svRun(t *testing.T, file string, env []string, args ...string) result {
	t.Helper()
	return svStart(t, file, env, args...).wait()
}

// waitStderr waits until initbox's stderr contains want.
func (p *proc) waitStderr(want string, d time.Duration) {
	p.t.Helper()
	p.waitOut(p.stderr, func(s string) bool { return strings.Contains(s, want) }, fmt.Sprintf("%q logged", want), d)
}

// waitExists waits until path exists (services mark themselves up with
// touch, so the file may be empty; proc.waitFile wants content).
func (p *proc) waitExists(path string, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !exists(path) {
		if p.exited() {
			p.t.Fatalf("exited before creating %s: %v", path, p.wait())
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not created within %v\n--- stdout:\n%s\n--- stderr:\n%s", path, d, p.stdout.String(), p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stopTook is how long the run took after sigAt (an offset from its start)
// to end.
func stopTook(r result, sigAt time.Duration) time.Duration { return r.elapsed - sigAt }

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readInt reads a file holding one decimal number.
func readInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

// readStamps reads a file of `date +%s%N` lines.
func readStamps(t *testing.T, path string) []time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, l := range strings.Fields(string(b)) {
		ns, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			t.Fatalf("%s: bad timestamp %q", path, l)
		}
		out = append(out, time.Unix(0, ns))
	}
	return out
}

// readStamp reads a file holding one `date +%s%N` line.
func readStamp(t *testing.T, path string) time.Time {
	t.Helper()
	s := readStamps(t, path)
	if len(s) != 1 {
		t.Fatalf("%s: want one timestamp, got %d", path, len(s))
	}
	return s[0]
}

// wantLine fails unless out holds the line want.
func wantLine(t *testing.T, r result, out, want string) {
	t.Helper()
	if !slices.Contains(strings.Split(out, "\n"), want) {
		t.Errorf("no line %q in output\n%v", want, r)
	}
}

// ---------------------------------------------------------------------------
// Start order

// TestSupervisorDependencyStartOrder: a dependent is started only once its
// dependency meets the condition. The dependent comes first in the file, so
// without the dependency it would be forked first; fork order shows as pid
// order in the fresh namespace.
func TestSupervisorDependencyStartOrder(t *testing.T) {
	for _, cond := range []string{"started", "ready", "healthy"} {
		t.Run(cond, func(t *testing.T) {
			dir, file := svConfig(t, `
[services.b]
shell = '''echo $$$$ > @D@/b.pid; exec sleep 1000'''
depends_on = { a = "`+cond+`" }

[services.a]
shell = '''echo $$$$ > @D@/a.pid; exec sleep 1000'''
`)
			p := svStart(t, file, nil)
			p.waitFile(filepath.Join(dir, "a.pid"), 10*time.Second)
			p.waitFile(filepath.Join(dir, "b.pid"), 10*time.Second)
			a, b := readInt(t, filepath.Join(dir, "a.pid")), readInt(t, filepath.Join(dir, "b.pid"))
			p.signal(syscall.SIGTERM)
			r := p.wait()
			wantExit(t, r, 0)
			if a >= b {
				t.Fatalf("b (pid %d) was started before a (pid %d), which it needs %q", b, a, cond)
			}
		})
	}
}

// TestSupervisorDependencyOneshot: completed waits for a oneshot to exit,
// whatever its status; succeeded waits for it to exit with success, and a
// failure fails its dependents (and theirs) without starting them.
func TestSupervisorDependencyOneshot(t *testing.T) {
	cfg := func(cond string, code int) string {
		return fmt.Sprintf(`
[services.b]
shell = '''if [ -e @D@/a.done ]; then echo after > @D@/b.out; else echo before > @D@/b.out; fi'''
depends_on = { a = %q }

[services.c]
shell = '''touch @D@/c.out'''
depends_on = { b = "started" }

[services.a]
type = "oneshot"
shell = '''sleep 0.3; touch @D@/a.done; exit %d'''
`, cond, code)
	}
	t.Run("completed after failure", func(t *testing.T) {
		dir, file := svConfig(t, cfg("completed", 3))
		r := svRun(t, file, nil)
		wantExit(t, r, 1) // a failed
		if b, _ := os.ReadFile(filepath.Join(dir, "b.out")); string(b) != "after\n" {
			t.Fatalf("b saw a as %q, want after\n%v", b, r)
		}
	})
	t.Run("succeeded", func(t *testing.T) {
		dir, file := svConfig(t, cfg("succeeded", 0))
		r := svRun(t, file, nil)
		wantExit(t, r, 0)
		if b, _ := os.ReadFile(filepath.Join(dir, "b.out")); string(b) != "after\n" {
			t.Fatalf("b saw a as %q, want after\n%v", b, r)
		}
		if !exists(filepath.Join(dir, "c.out")) {
			t.Fatalf("c did not run\n%v", r)
		}
	})
	t.Run("succeeded after failure", func(t *testing.T) {
		dir, file := svConfig(t, cfg("succeeded", 3))
		r := svRun(t, file, nil)
		wantExit(t, r, 1)
		if exists(filepath.Join(dir, "b.out")) || exists(filepath.Join(dir, "c.out")) {
			t.Fatalf("a dependent of the failed oneshot ran\n%v", r)
		}
		for _, name := range []string{`"b"`, `"c"`} {
			if !strings.Contains(r.stderr, name) {
				t.Errorf("no log line names the failed dependent %s\n%v", name, r)
			}
		}
	})
}

// TestSupervisorParallelStart: independent services start together: two
// oneshots that each wait for the other's marker both finish.
func TestSupervisorParallelStart(t *testing.T) {
	wait := func(me, other string) string {
		return fmt.Sprintf(`
[services.%s]
type = "oneshot"
shell = '''touch @D@/%s.m; i=0; while [ ! -e @D@/%s.m ]; do i=$((i+1)); [ $i -gt 300 ] && exit 1; sleep 0.05; done'''
`, me, me, other)
	}
	_, file := svConfig(t, wait("a", "b")+wait("b", "a"))
	r := svRun(t, file, nil)
	wantExit(t, r, 0)
}

// ---------------------------------------------------------------------------
// Restarts

// TestSupervisorRestartBackoff: restart delays start at delay, grow by
// multiplier up to max_delay, and a run of reset_after resets them. Each run
// stamps its start and its end; the gaps between an end and the next start
// must be 0.2 s, 0.6 s, 1 s (max), 1 s, then 0.2 s again after a 1.2 s run.
func TestSupervisorRestartBackoff(t *testing.T) {
	dir, file := svConfig(t, `
[services.flappy]
shell = '''
n=$(( $(cat @D@/n 2>/dev/null || echo 0) + 1 )); echo $n > @D@/n
date +%s%N >> @D@/start
case $n in
5) sleep 1.2 ;;
6) exit 0 ;;
esac
date +%s%N >> @D@/end
exit 1
'''

[services.flappy.restart]
delay = "200ms"
multiplier = 3.0
max_delay = "1s"
reset_after = "1s"
limit_burst = 100
limit_interval = "1m"
`)
	r := svRun(t, file, nil)
	wantExit(t, r, 0)
	starts, ends := readStamps(t, filepath.Join(dir, "start")), readStamps(t, filepath.Join(dir, "end"))
	if len(starts) != 6 || len(ends) != 5 {
		t.Fatalf("want 6 starts and 5 failures, got %d and %d\n%v", len(starts), len(ends), r)
	}
	var gaps []time.Duration
	for i := range ends {
		gaps = append(gaps, starts[i+1].Sub(ends[i]))
	}
	t.Logf("gaps: %v", gaps)
	ms := time.Millisecond
	// Timers never fire early: each gap is at least its delay.
	for i, min := range []time.Duration{200 * ms, 600 * ms, 1000 * ms, 1000 * ms, 200 * ms} {
		if gaps[i] < min-10*ms {
			t.Errorf("gap %d is %v, shorter than its delay %v", i+1, gaps[i], min)
		}
	}
	if !(gaps[0] < gaps[1] && gaps[1] < gaps[2]) {
		t.Errorf("delays did not grow: %v", gaps[:3])
	}
	// Uncapped, the third and fourth delays would be 1.8 s and 5.4 s.
	if gaps[2] >= 1800*ms || gaps[3] >= 1800*ms {
		t.Errorf("delays not capped at max_delay 1s: %v", gaps[2:4])
	}
	// Without the reset, the fifth delay would be max_delay, 1 s.
	if gaps[4] >= 1000*ms {
		t.Errorf("delay after a run longer than reset_after is %v, want it reset to 200ms", gaps[4])
	}
}

// TestSupervisorLimitBurst: a service that always fails with limit_burst = 3
// is started exactly 3 times, then fails for good.
func TestSupervisorLimitBurst(t *testing.T) {
	cfg := func(essential bool) string {
		return fmt.Sprintf(`
[services.failing]
essential = %v
shell = '''echo x >> @D@/starts; exit 4'''

[services.failing.restart]
delay = "50ms"
multiplier = 1.0
limit_burst = 3
limit_interval = "1m"
`, essential)
	}
	for _, c := range []struct {
		name      string
		essential bool
		want      int
	}{
		{"not essential", false, 1}, // everything finished, not all succeeded
		{"essential", true, 4},      // the essential service's status
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, file := svConfig(t, cfg(c.essential))
			r := svRun(t, file, nil)
			wantExit(t, r, c.want)
			b, _ := os.ReadFile(filepath.Join(dir, "starts"))
			if n := strings.Count(string(b), "x"); n != 3 {
				t.Fatalf("started %d times, want exactly 3\n%v", n, r)
			}
			if !strings.Contains(r.stderr, "start limit") {
				t.Errorf("no log line about the start limit\n%v", r)
			}
		})
	}
}

// TestSupervisorRestartKillsLeftovers: what a run of a service leaves in its
// process group gets SIGTERM when the run exits and SIGKILL after
// stop.timeout, even when the service has been restarted meanwhile.
func TestSupervisorRestartKillsLeftovers(t *testing.T) {
	dir, file := svConfig(t, `
[services.leaky]
shell = '''
if [ ! -e @D@/leftover.pid ]; then
	sh -c 'trap "" TERM; echo $$$$ > @D@/leftover.tmp; mv @D@/leftover.tmp @D@/leftover.pid; exec sleep 1000' &
	while [ ! -e @D@/leftover.pid ]; do sleep 0.05; done
	exit 1
fi
sleep 2
if kill -0 $(cat @D@/leftover.pid) 2>/dev/null; then echo alive; else echo gone; fi > @D@/result
exec sleep 1000
'''
restart = { delay = "50ms" }
stop = { timeout = "500ms" }
`)
	p := svStart(t, file, nil)
	got := strings.TrimSpace(p.waitFile(filepath.Join(dir, "result"), 15*time.Second))
	p.signal(syscall.SIGTERM)
	r := p.wait()
	if got != "gone" {
		t.Fatalf("the process left by the first run is %s 2 s later, want killed after stop.timeout 500ms\n%v", got, r)
	}
}

// ---------------------------------------------------------------------------
// Exit status

// TestSupervisorEssentialFailure: an essential service that fails for good
// stops everything, and initbox exits with its status.
func TestSupervisorEssentialFailure(t *testing.T) {
	for _, c := range []struct {
		name, how string
		want      int
	}{
		{"exit 9", "exit 9", 9},
		{"killed by SIGKILL", "kill -KILL $$$$", 128 + 9},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, file := svConfig(t, `
[services.other]
shell = '''trap 'echo term > @D@/other.term; exit 0' TERM; touch @D@/other.up; sleep 1000 & wait'''

[services.ess]
essential = true
restart = { policy = "never" }
shell = '''while [ ! -e @D@/other.up ]; do sleep 0.05; done; `+c.how+`'''
`)
			r := svRun(t, file, nil)
			wantExit(t, r, c.want)
			if !exists(filepath.Join(dir, "other.term")) {
				t.Fatalf("the other service was not stopped with SIGTERM\n%v", r)
			}
		})
	}
}

// TestSupervisorMainStatus: the main service's status becomes initbox's,
// 128+N when a signal killed it; so does that of `run -- PROGRAM`.
func TestSupervisorMainStatus(t *testing.T) {
	mainCfg := func(how string) string {
		return `
[services.side]
shell = '''trap 'touch @D@/side.term; exit 0' TERM; touch @D@/side.up; sleep 1000 & wait'''

[services.app]
main = true
shell = '''while [ ! -e @D@/side.up ]; do sleep 0.05; done; ` + how + `'''
`
	}
	for _, c := range []struct {
		name, how string
		want      int
	}{
		{"main = true exits 7", "exit 7", 7},
		{"main = true exits 0", "exit 0", 0},
		{"main = true killed by SIGKILL", "kill -KILL $$$$", 128 + 9},
		{"main = true killed by SIGTERM", "kill -TERM $$$$", 128 + 15},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, file := svConfig(t, mainCfg(c.how))
			r := svRun(t, file, nil)
			wantExit(t, r, c.want)
			if !exists(filepath.Join(dir, "side.term")) {
				t.Fatalf("the other service was not stopped\n%v", r)
			}
		})
	}

	noConfig := func(t *testing.T) {
		if _, err := os.Stat("/etc/initbox/initbox.toml"); err == nil {
			t.Skip("/etc/initbox/initbox.toml exists: run would read it")
		}
	}
	for _, c := range []struct {
		name string
		argv []string
		want int
	}{
		{"-- exit 7", []string{"sh", "-c", "exit 7"}, 7},
		{"-- exit 0", []string{"sh", "-c", "exit 0"}, 0},
		{"-- killed by SIGTERM", []string{"sh", "-c", "kill -TERM $$"}, 128 + 15},
		{"-- killed by SIGKILL", []string{"sh", "-c", "kill -KILL $$"}, 128 + 9},
		{"-- not found", []string{"/nonexistent/initbox-no-such-program"}, 127},
	} {
		t.Run(c.name, func(t *testing.T) {
			noConfig(t)
			r := runInit(t, runSpec{bin: initBin, mode: pid1, args: append([]string{"run", "--"}, c.argv...), timeout: svTimeout})
			wantExit(t, r, c.want)
		})
	}

	// A service that failed for good does not hold the program back.
	t.Run("-- after a failed service", func(t *testing.T) {
		_, file := svConfig(t, `
[services.broken]
restart = { policy = "never" }
shell = "exit 1"
`)
		wantExit(t, svRun(t, file, nil, "--", "sh", "-c", "exit 5"), 5)
	})

	// With a config, -- PROGRAM starts once the other services are up (a
	// oneshot: completed), and its status is initbox's.
	t.Run("-- with a config", func(t *testing.T) {
		dir, file := svConfig(t, `
[services.setup]
type = "oneshot"
shell = '''sleep 0.3; touch @D@/setup.done'''

[services.daemon]
shell = '''trap 'touch @D@/daemon.term; exit 0' TERM; sleep 1000 & wait'''
`)
		r := svRun(t, file, nil, "--", "sh", "-c", "test -e "+shq(filepath.Join(dir, "setup.done"))+" && exit 7; exit 1")
		wantExit(t, r, 7)
		if !exists(filepath.Join(dir, "daemon.term")) {
			t.Fatalf("the daemon was not stopped\n%v", r)
		}
	})
}

// TestSupervisorStopExitStatus: after a stop by SIGTERM initbox exits 0 when
// every service stopped cleanly (exit 0, a success code, or death by its own
// stop signal) and 1 otherwise; when everything simply finished, 0 if all
// succeeded and 1 otherwise.
func TestSupervisorStopExitStatus(t *testing.T) {
	const good = `
[services.good]
shell = '''touch @D@/good.up; sleep 1000 & wait'''
`
	stopCases := []struct {
		name, svc string
		want      int
	}{
		{"exit 0 on SIGTERM", `shell = '''trap 'exit 0' TERM; touch @D@/x.up; sleep 1000 & wait'''`, 0},
		{"killed by its stop signal", `shell = '''touch @D@/x.up; sleep 1000 & wait'''`, 0},
		{"a success code", `
shell = '''trap 'exit 3' TERM; touch @D@/x.up; sleep 1000 & wait'''
restart = { success_exit_codes = [0, 3] }`, 0},
		{"killed by its own stop signal SIGUSR1", `
shell = '''touch @D@/x.up; sleep 1000 & wait'''
stop = { signal = "SIGUSR1" }`, 0},
		{"exit 1 on SIGTERM", `shell = '''trap 'exit 1' TERM; touch @D@/x.up; sleep 1000 & wait'''`, 1},
		{"a code not in success_exit_codes", `shell = '''trap 'exit 3' TERM; touch @D@/x.up; sleep 1000 & wait'''`, 1},
		{"killed by another signal", `shell = '''trap 'kill -KILL $$$$' TERM; touch @D@/x.up; sleep 1000 & wait'''`, 1},
		{"killed after stop.timeout", `
shell = '''trap '' TERM; touch @D@/x.up; while :; do sleep 1; done'''
stop = { timeout = "300ms" }`, 1},
	}
	for _, c := range stopCases {
		t.Run("stop/"+c.name, func(t *testing.T) {
			dir, file := svConfig(t, good+"\n[services.x]\n"+c.svc+"\n")
			p := svStart(t, file, nil)
			p.waitExists(filepath.Join(dir, "good.up"), 10*time.Second)
			p.waitExists(filepath.Join(dir, "x.up"), 10*time.Second)
			p.signal(syscall.SIGTERM)
			wantExit(t, p.wait(), c.want)
		})
	}
	t.Run("finished/all succeeded", func(t *testing.T) {
		_, file := svConfig(t, `
[services.a]
shell = "exit 0"
[services.b]
type = "oneshot"
shell = "exit 0"
`)
		wantExit(t, svRun(t, file, nil), 0)
	})
	t.Run("finished/one failed", func(t *testing.T) {
		_, file := svConfig(t, `
[services.a]
shell = "exit 0"
[services.b]
restart = { policy = "never" }
shell = "exit 2"
`)
		wantExit(t, svRun(t, file, nil), 1)
	})
}

// ---------------------------------------------------------------------------
// Stopping

// TestSupervisorShutdownOrder: on SIGTERM dependents stop before what they
// depend on (web, then app, then db), and independent services in parallel.
// Each records when it got SIGTERM and when it finished stopping; dependents
// take longer to stop, so that stopping all at once would show.
func TestSupervisorShutdownOrder(t *testing.T) {
	svc := func(name, stopTakes, deps string) string {
		return fmt.Sprintf(`
[services.%[1]s]
shell = '''trap 'date +%%s%%N > @D@/%[1]s.term; sleep %[2]s; date +%%s%%N > @D@/%[1]s.stop; echo %[1]s >> @D@/order; exit 0' TERM; touch @D@/%[1]s.up; sleep 1000 & wait'''
depends_on = { %[3]s }
`, name, stopTakes, deps)
	}
	dir, file := svConfig(t, svc("db", "0", "")+
		svc("app", "0.3", `db = "started"`)+
		svc("web", "0.6", `app = "ready"`)+
		svc("x", "0.5", "")+
		svc("y", "0.5", ""))
	p := svStart(t, file, nil)
	for _, n := range []string{"db", "app", "web", "x", "y"} {
		p.waitExists(filepath.Join(dir, n+".up"), 10*time.Second)
	}
	p.signal(syscall.SIGTERM)
	r := p.wait()
	wantExit(t, r, 0)
	b, _ := os.ReadFile(filepath.Join(dir, "order"))
	var chain []string
	for _, n := range strings.Fields(string(b)) {
		if n != "x" && n != "y" {
			chain = append(chain, n)
		}
	}
	if want := []string{"web", "app", "db"}; !slices.Equal(chain, want) {
		t.Fatalf("stop order %v, want %v\n%v", chain, want, r)
	}
	st := func(name, what string) time.Time { return readStamp(t, filepath.Join(dir, name+"."+what)) }
	if st("app", "term").Before(st("web", "stop")) || st("db", "term").Before(st("app", "stop")) {
		t.Errorf("a service got SIGTERM before its dependent had stopped")
	}
	if d := st("x", "term").Sub(st("y", "term")).Abs(); d > 400*time.Millisecond {
		t.Errorf("independent services x and y got SIGTERM %v apart, want together", d)
	}
	if !st("x", "term").Before(st("db", "term")) {
		t.Errorf("x, which nothing depends on, was stopped after db instead of at once")
	}
}

// TestSupervisorShutdownOrderProgram: `run -- PROGRAM` starts after every
// other service is up, so it is stopped before them, as s6-overlay stops
// its CMD before the services.
func TestSupervisorShutdownOrderProgram(t *testing.T) {
	dir, file := svConfig(t, `
[services.side]
shell = '''trap 'date +%s%N > @D@/side.term; exit 0' TERM; touch @D@/side.up; sleep 1000 & wait'''
`)
	prog := fmt.Sprintf(`trap 'sleep 0.3; date +%%s%%N > %[1]s/main.stop; exit 0' TERM; touch %[1]s/main.up; sleep 1000 & wait`, dir)
	p := svStart(t, file, nil, "--", "sh", "-c", prog)
	p.waitExists(filepath.Join(dir, "side.up"), 10*time.Second)
	p.waitExists(filepath.Join(dir, "main.up"), 10*time.Second)
	p.signal(syscall.SIGTERM)
	r := p.wait()
	wantExit(t, r, 0)
	if readStamp(t, filepath.Join(dir, "side.term")).Before(readStamp(t, filepath.Join(dir, "main.stop"))) {
		t.Fatalf("side got SIGTERM before the program had stopped\n%v", r)
	}
}

// TestSupervisorStopTimeout: a service that ignores SIGTERM gets SIGKILL
// after stop.timeout; and the whole stop, across services stopped one after
// the other, stays within init.shutdown_timeout.
func TestSupervisorStopTimeout(t *testing.T) {
	// stubborn notes each SIGTERM and carries on. It waits with the wait
	// builtin, which a trapped signal interrupts at once: a trap waits for
	// a foreground command, and a sleep that got the SIGTERM between fork
	// and exec, while it was still the shell, runs to its end.
	stubborn := func(name, timeout, deps string) string {
		return fmt.Sprintf(`
[services.%[1]s]
shell = '''trap 'date +%%s%%N >> @D@/%[1]s.term' TERM; touch @D@/%[1]s.up; while :; do sleep 1 & wait; done'''
depends_on = { %[3]s }
stop = { timeout = "%[2]s" }
`, name, timeout, deps)
	}
	t.Run("stop.timeout", func(t *testing.T) {
		dir, file := svConfig(t, "[init]\nshutdown_timeout = \"20s\"\n"+stubborn("s", "1s", ""))
		p := svStart(t, file, nil)
		p.waitExists(filepath.Join(dir, "s.up"), 10*time.Second)
		sigAt := time.Since(p.start)
		p.signal(syscall.SIGTERM)
		r := p.wait()
		wantExit(t, r, 1) // killed: not a clean stop
		took := stopTook(r, sigAt)
		if took < 900*time.Millisecond || took > 6*time.Second {
			t.Fatalf("stop took %v, want about stop.timeout 1s\n%v", took, r)
		}
		if !exists(filepath.Join(dir, "s.term")) {
			t.Errorf("the service never got SIGTERM\n%v", r)
		}
	})
	t.Run("shutdown_timeout", func(t *testing.T) {
		// top stops first (SIGKILL after 1 s); base then gets SIGTERM and
		// would wait 30 s, but the 2 s budget is spent by then.
		dir, file := svConfig(t, "[init]\nshutdown_timeout = \"2s\"\n"+
			stubborn("base", "30s", "")+stubborn("top", "1s", `base = "started"`))
		p := svStart(t, file, nil)
		p.waitExists(filepath.Join(dir, "base.up"), 10*time.Second)
		p.waitExists(filepath.Join(dir, "top.up"), 10*time.Second)
		sigAt := time.Since(p.start)
		p.signal(syscall.SIGTERM)
		r := p.wait()
		wantExit(t, r, 1)
		took := stopTook(r, sigAt)
		if took < 1900*time.Millisecond || took > 6*time.Second {
			t.Fatalf("stop took %v, want about shutdown_timeout 2s\n%v", took, r)
		}
		if d := readStamp(t, filepath.Join(dir, "base.term")).Sub(readStamp(t, filepath.Join(dir, "top.term"))); d < 900*time.Millisecond {
			t.Errorf("base got SIGTERM %v after top, want after top's stop.timeout 1s", d)
		}
	})
}

// TestSupervisorDoubleSignal: a second SIGTERM during the stop kills
// everything at once instead of waiting for stop timeouts.
func TestSupervisorDoubleSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			svc := func(name string) string {
				return fmt.Sprintf(`
[services.%[1]s]
shell = '''trap '' TERM INT; touch @D@/%[1]s.up; while :; do sleep 1; done'''
stop = { timeout = "25s" }
`, name)
			}
			dir, file := svConfig(t, "[init]\nshutdown_timeout = \"25s\"\n"+svc("a")+svc("b"))
			p := svStart(t, file, nil)
			p.waitExists(filepath.Join(dir, "a.up"), 10*time.Second)
			p.waitExists(filepath.Join(dir, "b.up"), 10*time.Second)
			p.signal(sig)
			p.waitStderr("stopping on signal", 10*time.Second)
			sigAt := time.Since(p.start)
			p.signal(sig)
			r := p.wait()
			wantExit(t, r, 1)
			if took := stopTook(r, sigAt); took > 5*time.Second {
				t.Fatalf("the second %v took %v to end the run, want at once\n%v", sig, took, r)
			}
		})
	}
}

// TestSupervisorSignalsAndOrphans: as in tini mode, signals initbox
// forwards reach the main service, and services with forward_signals only;
// orphans are reaped.
func TestSupervisorSignalsAndOrphans(t *testing.T) {
	dir, file := svConfig(t, `
[services.fwd]
forward_signals = true
shell = '''trap 'touch @D@/fwd.usr1' USR1; touch @D@/fwd.up; while :; do sleep 0.1; done'''

[services.plain]
shell = '''trap 'touch @D@/plain.usr1' USR1; touch @D@/plain.up; while :; do sleep 0.1; done'''

[services.orphans]
type = "oneshot"
shell = '''for i in 1 2 3 4 5 6 7 8 9 10; do sh -c 'sleep 0.2 &' ; done; touch @D@/orphans.done'''
`)
	main := fmt.Sprintf(`trap 'touch %[1]s/main.usr1' USR1; touch %[1]s/main.up; while [ ! -e %[1]s/main.usr1 ] || [ ! -e %[1]s/fwd.usr1 ]; do sleep 0.1; done; sleep 0.5; %[2]s`, dir, zombieReport)
	p := svStart(t, file, nil, "--", "sh", "-c", main)
	for _, n := range []string{"fwd.up", "plain.up", "main.up", "orphans.done"} {
		p.waitExists(filepath.Join(dir, n), 10*time.Second)
	}
	p.signal(syscall.SIGUSR1)
	r := p.wait()
	wantExit(t, r, 0)
	if z := zombiesFrom(t, r.stdout); len(z) > 0 {
		t.Errorf("zombies left: %v", z)
	}
	if exists(filepath.Join(dir, "plain.usr1")) {
		t.Errorf("SIGUSR1 reached a service without forward_signals")
	}
}

// ---------------------------------------------------------------------------
// What a service gets

// TestSupervisorEnvironment: env, env_file (optional and required) and
// inherit_env (true, false, a list) make up a service's environment.
func TestSupervisorEnvironment(t *testing.T) {
	t.Run("env, env_file, inherit_env", func(t *testing.T) {
		dir, file := svConfig(t, `
[services.table]
env = { IBT_A = "from-table", IBT_NUM = 42, IBT_X = "overridden" }
shell = '''echo "A=$IBT_A NUM=$IBT_NUM X=$IBT_X"'''

[services.files]
env_file = ["@D@/one.env", "-@D@/missing.env", "two.env"]
env = { IBT_OVER = "table" }
shell = '''echo "F=$IBT_F G=$IBT_G OVER=$IBT_OVER"'''

[services.all]
inherit_env = true
shell = '''echo "X=$IBT_X Y=$IBT_Y"'''

[services.none]
inherit_env = false
shell = '''echo "X=$IBT_X Y=$IBT_Y"'''

[services.some]
inherit_env = ["IBT_X"]
shell = '''echo "X=$IBT_X Y=$IBT_Y"'''
`)
		if err := os.WriteFile(filepath.Join(dir, "one.env"), []byte("# comment\nIBT_F=from file\nIBT_OVER=file\nIBT_G=one\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Relative to the config's directory; overrides one.env.
		if err := os.WriteFile(filepath.Join(dir, "two.env"), []byte("export IBT_G='two'\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := svRun(t, file, []string{"IBT_X=x", "IBT_Y=y"})
		wantExit(t, r, 0)
		for _, want := range []string{
			"table | A=from-table NUM=42 X=overridden",
			"files | F=from file G=two OVER=table",
			"all | X=x Y=y",
			"none | X= Y=",
			"some | X=x Y=",
		} {
			wantLine(t, r, r.stdout, want)
		}
	})
	t.Run("required env_file missing", func(t *testing.T) {
		dir, file := svConfig(t, `
[services.needy]
env_file = ["@D@/absent.env"]
restart = { policy = "never" }
shell = '''touch @D@/needy.ran'''

[services.dep]
depends_on = { needy = "started" }
shell = '''touch @D@/dep.ran'''
`)
		r := svRun(t, file, nil)
		wantExit(t, r, 1)
		if exists(filepath.Join(dir, "needy.ran")) {
			t.Fatalf("the service ran without its env file\n%v", r)
		}
		if exists(filepath.Join(dir, "dep.ran")) {
			t.Fatalf("a dependent (started) of a service that could not start was started\n%v", r)
		}
		if !strings.Contains(r.stderr, "absent.env") {
			t.Errorf("no log line names the missing env file\n%v", r)
		}
	})
}

// TestSupervisorUser: user and group switch the service's uid, gid and
// supplementary groups, as `id` inside the service shows.
func TestSupervisorUser(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		skipOrFail(t, "no user nobody: %v", err)
	}
	idsOf := func(u *user.User) string {
		ids, err := u.GroupIds()
		if err != nil {
			t.Fatalf("groups of %s: %v", u.Username, err)
		}
		set := []string{u.Gid}
		for _, id := range ids {
			if !slices.Contains(set, id) {
				set = append(set, id)
			}
		}
		slices.Sort(set)
		return strings.Join(set, " ")
	}
	const probe = `shell = '''echo "u=$(id -u) g=$(id -g) G=$(id -G | tr ' ' '\n' | sort | tr '\n' ' ')"'''
working_dir = "/"`
	cfg := `
[services.nob]
user = "nobody"
` + probe + `

[services.num]
user = "4242"
` + probe + `

[services.uidnum]
user = "` + nobody.Uid + `"
` + probe + `
`
	want := map[string]string{
		"nob":    fmt.Sprintf("u=%s g=%s G=%s ", nobody.Uid, nobody.Gid, idsOf(nobody)),
		"uidnum": fmt.Sprintf("u=%s g=%s G=%s ", nobody.Uid, nobody.Gid, idsOf(nobody)),
	}
	if _, err := user.LookupId("4242"); err == nil {
		t.Fatal("uid 4242 has a passwd entry; the test needs an unknown uid")
	}
	want["num"] = "u=4242 g=4242 G=4242 "
	if daemon, err := user.LookupGroup("daemon"); err == nil {
		// A group alone keeps initbox's uid and drops its supplementary
		// groups.
		cfg += `
[services.grp]
group = "daemon"
` + probe + `

[services.both]
user = "nobody"
group = "daemon"
` + probe + `
`
		want["grp"] = fmt.Sprintf("u=0 g=%s G=%s ", daemon.Gid, daemon.Gid)
		// The primary group is replaced; nobody's supplementary groups
		// stay.
		ids, err := nobody.GroupIds()
		if err != nil {
			t.Fatalf("groups of nobody: %v", err)
		}
		set := []string{daemon.Gid}
		for _, id := range ids {
			if id != nobody.Gid && !slices.Contains(set, id) {
				set = append(set, id)
			}
		}
		slices.Sort(set)
		want["both"] = fmt.Sprintf("u=%s g=%s G=%s ", nobody.Uid, daemon.Gid, strings.Join(set, " "))
	} else if os.Getenv("CI") != "" {
		t.Fatalf("no group daemon: the group cases cannot run (CI is set)")
	} else {
		t.Logf("no group daemon: the group cases are left out")
	}
	_, file := svConfig(t, cfg)
	r := svRun(t, file, nil)
	wantExit(t, r, 0)
	for name, w := range want {
		wantLine(t, r, r.stdout, name+" | "+w)
	}
}

// TestSupervisorOutputPrefix: service output reaches initbox's stdout and
// stderr as "NAME | line"; two services writing thousands of lines at once
// never mix within a line, and each one's lines keep their order.
func TestSupervisorOutputPrefix(t *testing.T) {
	const n = 3000
	pad := strings.Repeat("x", 200)
	writer := func(name, tag string) string {
		return fmt.Sprintf(`
[services.%[1]s]
shell = '''echo %[2]s-err >&2; i=0; while [ $i -lt %[3]d ]; do echo "%[2]s-$i-%[4]s"; i=$((i+1)); done; printf %[2]s-last'''
`, name, tag, n, pad)
	}
	_, file := svConfig(t, writer("left", "L")+writer("right", "R"))
	r := svRun(t, file, nil)
	wantExit(t, r, 0)
	lineRE := regexp.MustCompile(`^(left \| L|right \| R)-(\d+)-` + pad + `$`)
	next := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		if l == "left | L-last" || l == "right | R-last" {
			next[l]++
			continue
		}
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("mixed or unprefixed line %.120q", l)
		}
		if i, _ := strconv.Atoi(m[2]); i != next[m[1]] {
			t.Fatalf("%s: line %d came when %d was due", m[1], i, next[m[1]])
		}
		next[m[1]]++
	}
	if next["left | L"] != n || next["right | R"] != n || next["left | L-last"] != 1 || next["right | R-last"] != 1 {
		t.Fatalf("lines per service: %v, want %d each and one last line without newline", next, n)
	}
	wantLine(t, r, r.stderr, "left | L-err")
	wantLine(t, r, r.stderr, "right | R-err")

	t.Run("log_prefix = false", func(t *testing.T) {
		_, file := svConfig(t, `
[init]
log_prefix = false

[services.plain]
shell = '''echo as is; echo to stderr >&2'''
`)
		r := svRun(t, file, nil)
		wantExit(t, r, 0)
		wantLine(t, r, r.stdout, "as is")
		wantLine(t, r, r.stderr, "to stderr")
	})
}

// TestSupervisorExpansion: ${VAR} and ${VAR:-default} in string values are
// expanded from initbox's environment; $$ is a literal $ (here it makes
// "${#VAR}", which the config would reject, reach the shell).
func TestSupervisorExpansion(t *testing.T) {
	dir, file := svConfig(t, `
[services.exp]
shell = '''echo "${IBT_GREETING} ${IBT_UNSET:-fallback} ${IBT_EMPTY:-dflt} [${IBT_EMPTY}] $IBT_V $${#IBT_GREETING}"; pwd'''
working_dir = "${IBT_DIR}"
env = { IBT_V = "${IBT_GREETING}-env" }

[services.cmd]
command = ["sh", "-c", "echo ${IBT_GREETING:-no}-cmd"]
`)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	r := svRun(t, file, []string{"IBT_GREETING=hello", "IBT_EMPTY=", "IBT_DIR=" + sub})
	wantExit(t, r, 0)
	wantLine(t, r, r.stdout, "exp | hello fallback dflt [] hello-env 5")
	wantLine(t, r, r.stdout, "exp | "+sub)
	wantLine(t, r, r.stdout, "cmd | hello-cmd")
}

// ---------------------------------------------------------------------------
// Config errors

// configErrorCases are bad configs, each with the position (line:col) of
// the offending key or value and a fragment of the message expected there. A good service that would leave a
// marker is appended to each, after its last line.
var configErrorCases = []struct {
	name, text string
	pos, msg   string
}{
	{"unknown key", `
[services.web]
comand = ["true"]
`, "3:1", `did you mean "command"`},
	{"unknown key in init", `
[init]
shutdown_timeot = "5s"
`, "3:1", `did you mean "shutdown_timeout"`},
	{"key of a later version", `
[services.web]
shell = "true"
[services.web.health]
interval = "1s"
`, "4:15", "health"},
	{"misspelt limit", `
[services.web]
shell = "true"
[services.web.resources]
memory = "1G"
`, "5:1", "did you mean"},
	{"bad duration", `
[services.web]
shell = "true"

[services.web.stop]
timeout = "5"
`, "6:11", "duration"},
	{"bad duration in init", `
[init]
shutdown_timeout = "soon"
`, "3:20", "duration"},
	{"cycle", `
[services.a]
shell = "true"
depends_on = { b = "started" }

[services.b]
shell = "true"
depends_on = { a = "started" }
`, "4:16", "cycle"},
	{"unknown dependency", `
[services.db]
shell = "exec db"

[services.web]
shell = "true"
depends_on = { dbb = "ready" }
`, "7:16", `did you mean "db"`},
	{"both command and shell", `
[services.web]
command = ["true"]
shell = "true"
`, "4:1", "not both"},
	{"neither command nor shell", `
[services.web]
type = "simple"
`, "2:11", "command"},
	{"bad signal", `
[services.web]
shell = "true"
stop = { signal = "SIGFOO" }
`, "4:19", "signal"},
	{"unknown enumeration value", `
[services.web]
shell = "true"
type = "forking"
`, "4:8", "forking"},
	{"unset variable", `
[services.web]
shell = "echo ${IBT_SURELY_UNSET}"
`, "3:15", "IBT_SURELY_UNSET"},
	{"value out of range", `
[services.web]
shell = "true"
restart = { limit_burst = 0 }
`, "4:27", "limit_burst"},
	{"completed on a simple service", `
[services.a]
shell = "true"

[services.b]
shell = "true"
depends_on = { a = "completed" }
`, "7:20", "oneshot"},
	{"dependency on a disabled service", `
[services.a]
shell = "true"
enabled = false

[services.b]
shell = "true"
depends_on = { a = "started" }
`, "8:16", "disabled"},
	{"two main services", `
[services.a]
shell = "true"
main = true

[services.b]
shell = "true"
main = true
`, "8:8", "main"},
	{"wrong type", `
[services.web]
shell = "true"
essential = "yes"
`, "4:13", "essential"},
	{"TOML syntax", `
[services.web
shell = "true"
`, "2:14", "TOML syntax"},
}

// configErrorMarker is a valid service that leaves a marker if started.
const configErrorMarker = `
[services.marker]
shell = '''touch @D@/marker'''
`

// TestSupervisorConfigErrors: a bad config makes `run` exit 2 with
// FILE:LINE:COL: in the message, and starts nothing.
func TestSupervisorConfigErrors(t *testing.T) {
	for _, c := range configErrorCases {
		t.Run(c.name, func(t *testing.T) {
			dir, file := svConfig(t, c.text+configErrorMarker)
			r := svRun(t, file, nil)
			wantExit(t, r, 2)
			checkConfigError(t, r, file, c.pos, c.msg)
			if exists(filepath.Join(dir, "marker")) {
				t.Fatalf("a service was started despite the config error\n%v", r)
			}
		})
	}
	t.Run("all errors at once", func(t *testing.T) {
		dir, file := svConfig(t, `[services.web]
comand = ["true"]
shell = "true"
depends_on = { dbb = "ready" }

[services.web.stop]
timeout = "5"
`+configErrorMarker)
		r := svRun(t, file, nil)
		wantExit(t, r, 2)
		checkConfigError(t, r, file, "2:1", "comand")
		checkConfigError(t, r, file, "4:16", "dbb")
		checkConfigError(t, r, file, "7:11", "duration")
		if exists(filepath.Join(dir, "marker")) {
			t.Fatalf("a service was started despite the config error\n%v", r)
		}
	})
	t.Run("-- PROGRAM with a bad config", func(t *testing.T) {
		dir, file := svConfig(t, "[services.web]\nshell = \"true\"\nrestart = { delay = \"x\" }\n"+configErrorMarker)
		r := svRun(t, file, nil, "--", "touch", filepath.Join(dir, "main.ran"))
		wantExit(t, r, 2)
		checkConfigError(t, r, file, "3:21", "duration")
		if exists(filepath.Join(dir, "marker")) || exists(filepath.Join(dir, "main.ran")) {
			t.Fatalf("a service was started despite the config error\n%v", r)
		}
	})
}

// checkConfigError fails unless stderr has a line "FILE:LINE:COL: ..."
// holding msg, where pos is "LINE:COL".
func checkConfigError(t *testing.T, r result, file, pos, msg string) {
	t.Helper()
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(file) + `:(\d+):(\d+): (.*)$`)
	for _, l := range strings.Split(r.stderr, "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil || !strings.Contains(m[3], msg) {
			continue
		}
		if m[1]+":"+m[2] == pos {
			return
		}
	}
	t.Errorf("no line %s:%s...: ...%s... on stderr\n%v", file, pos, msg, r)
}

// TestSupervisorCheck: `initbox check` exits 0 on a good file and 2 on a bad
// one, printing the same FILE:LINE:COL messages as run; it starts nothing.
func TestSupervisorCheck(t *testing.T) {
	t.Run("good", func(t *testing.T) {
		dir, file := svConfig(t, `
[services.db]
shell = '''touch @D@/marker; exec sleep 1000'''

[services.web]
command = ["sleep", "1000"]
depends_on = { db = "ready" }

[services.off]
command = ["sleep", "1000"]
enabled = false
`)
		r := runInit(t, runSpec{bin: initBin, mode: direct, args: []string{"check", "-c", file}})
		wantExit(t, r, 0)
		if want := file + ": ok, 3 services (2 enabled, 1 disabled)\n"; r.stdout != want {
			t.Errorf("check printed %q, want %q", r.stdout, want)
		}
		if exists(filepath.Join(dir, "marker")) {
			t.Fatal("check started a service")
		}
	})
	for _, c := range configErrorCases {
		t.Run("bad/"+c.name, func(t *testing.T) {
			dir, file := svConfig(t, c.text+configErrorMarker)
			r := runInit(t, runSpec{bin: initBin, mode: direct, args: []string{"check", "-c", file}})
			wantExit(t, r, 2)
			checkConfigError(t, r, file, c.pos, c.msg)
			if exists(filepath.Join(dir, "marker")) {
				t.Fatal("check started a service")
			}
		})
	}
	t.Run("INITBOX_CONFIG", func(t *testing.T) {
		_, file := svConfig(t, "[services.web]\nshell = \"true\"\ntype = \"forking\"\n")
		r := runInit(t, runSpec{bin: initBin, mode: direct, args: []string{"check"}, env: []string{"INITBOX_CONFIG=" + file}})
		wantExit(t, r, 2)
		checkConfigError(t, r, file, "3:8", "forking")
	})
}
