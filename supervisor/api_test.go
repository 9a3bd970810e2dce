//go:build linux

package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/reaper"
)

// start runs the config text in a Supervisor on another goroutine and
// returns it, its signal channel and a channel with Run's status.
func start(t *testing.T, text string) (*Supervisor, chan os.Signal, chan int, string) {
	t.Helper()
	dir := t.TempDir()
	var out, logBuf syncBuffer
	s := newTest(parse(t, dir, text), sharedReaper(), &out, &out, &logBuf)
	sigc := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() { done <- s.Run(sigc) }()
	t.Cleanup(func() {
		select {
		case sigc <- syscall.SIGTERM:
		default:
		}
		<-done
		t.Logf("log:\n%s", logBuf.String())
	})
	return s, sigc, done, dir
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestAPIStopStartRestart: a service stopped from the control socket stays
// stopped, initbox stays up, start brings it back, restart runs it again;
// signal reaches it; logs keep its output; unknown names and the main
// service's stop are refused; nothing is served once Run has returned.
func TestAPIStopStartRestart(t *testing.T) {
	s, sigc, done, dir := start(t, `
[services.web]
shell = '''echo run >>@D@/runs; trap 'echo hup; echo hup >>@D@/hups' HUP; while :; do sleep 0.05; done'''
[services.other]
command = ["sleep", "1000"]
`)
	runs := func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "runs"))
		return strings.Count(string(b), "run")
	}
	waitFor(t, "web's first run", func() bool { return runs() == 1 })

	if err := s.StopService("web"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a restart policy would have run it again by now
	if n := runs(); n != 1 {
		t.Fatalf("after stop: %d runs, want 1 (no restart)", n)
	}
	select {
	case code := <-done:
		t.Fatalf("Run returned %d with a service stopped from the control socket", code)
	default:
	}
	if err := s.StartService("web"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web's second run", func() bool { return runs() == 2 })
	if err := s.RestartService("web"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web's third run", func() bool { return runs() == 3 })

	time.Sleep(100 * time.Millisecond) // the trap is set once the shell runs its loop
	if err := s.SignalService("web", syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the HUP trap", func() bool { return exists(filepath.Join(dir, "hups")) })
	waitFor(t, "web's output in its logs", func() bool { return slices.Contains(s.mustLogs(t, "web"), "hup") })

	for _, err := range []error{s.StopService("nope"), s.StartService("nope"), s.SignalService("nope", syscall.SIGHUP)} {
		if !errors.Is(err, ErrUnknownService) {
			t.Errorf("unknown service: %v", err)
		}
	}
	if _, err := s.Logs("nope", 1); !errors.Is(err, ErrUnknownService) {
		t.Errorf("Logs of an unknown service: %v", err)
	}

	sigc <- syscall.SIGTERM
	if code := <-done; code != 0 {
		t.Errorf("status %d after SIGTERM, want 0", code)
	}
	done <- 0 // for the cleanup
	if err := s.StartService("web"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("after Run: %v, want ErrNotRunning", err)
	}
}

// TestAPIMainNotStoppable: the main service's exit is initbox's; stopping
// it alone is refused.
func TestAPIMainNotStoppable(t *testing.T) {
	s, _, _, _ := start(t, `
[services.app]
main = true
command = ["sleep", "1000"]
`)
	waitFor(t, "app to run", func() bool { return s.status("app") == running })
	if err := s.StopService("app"); err == nil || !strings.Contains(err.Error(), "main service") {
		t.Errorf("stopping the main service: %v", err)
	}
}

func (s *Supervisor) mustLogs(t *testing.T, name string) []string {
	t.Helper()
	l, err := s.Logs(name, 100)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// status reads a service's state through the loop.
func (s *Supervisor) status(name string) state {
	var st state
	s.do(func() { st = s.svcs[name].state })
	return st
}

// syncBuffer is a bytes.Buffer safe for the copiers and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestReloadErrors: without a way to read the config again, and with a
// config that has errors, Reload says so and changes nothing.
func TestReloadErrors(t *testing.T) {
	s, _, _, _ := start(t, `
[services.a]
command = ["sleep", "1000"]
`)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "no configuration file") {
		t.Errorf("Reload without Options.Reload: %v", err)
	}
	bad := errors.New("initbox.toml:3:1: unknown key")
	s.opts.Reload = func() (*config.Config, error) { return nil, bad }
	if err := s.Reload(); err != bad {
		t.Errorf("Reload of a bad config: %v, want its error", err)
	}
	waitFor(t, "a to run", func() bool { return s.status("a") == running })
}

// panicStarter panics on every start, as a bug in the start path would.
type panicStarter struct{ Starter }

func (panicStarter) Start(func() (int, error)) (int, <-chan reaper.Exit, error) {
	panic("bug in the start path")
}

// TestPanicShutsDownInOrder: a panic on the supervisor's goroutine is
// recovered and logged, and the run ends with status 1 instead of taking
// PID 1 down.
func TestPanicShutsDownInOrder(t *testing.T) {
	var out, logBuf syncBuffer
	s := newTest(parse(t, t.TempDir(), "[services.a]\ncommand = [\"sleep\", \"1000\"]\n"), panicStarter{sharedReaper()}, &out, &out, &logBuf)
	done := make(chan int, 1)
	go func() { done <- s.Run(make(chan os.Signal)) }()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(logBuf.String(), "recovered from panic") || !strings.Contains(logBuf.String(), "bug in the start path") {
			t.Errorf("status %d, log:\n%s", code, logBuf.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Run did not end after a panic; log:\n%s", logBuf.String())
	}
}

// TestReloadWhileLogs: Logs from another goroutine while reloads add and
// drop services (a fatal concurrent map access before; -race sees it).
func TestReloadWhileLogs(t *testing.T) {
	s, _, _, dir := start(t, `
[services.a]
command = ["sleep", "1000"]
`)
	with := parse(t, dir, "[services.a]\ncommand = [\"sleep\", \"1000\"]\n[services.b]\ncommand = [\"sleep\", \"1000\"]\n")
	without := parse(t, dir, "[services.a]\ncommand = [\"sleep\", \"1000\"]\n")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				s.Logs("a", 10)
				s.Logs("b", 10)
			}
		}
	}()
	for i := range 20 {
		c := with
		if i%2 == 1 {
			c = without
		}
		s.opts.Reload = func() (*config.Config, error) { return c, nil }
		if err := s.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
}

// TestNotReadyExitZeroIsFailure: a service stopped because it did not get
// ready fails its start even when it exits 0 on the stop signal.
func TestNotReadyExitZeroIsFailure(t *testing.T) {
	code, _, _, log := run(t, `
[services.app]
essential = true
restart = { policy = "on-failure", limit_burst = 1 }
shell = "trap 'exit 0' TERM; while :; do sleep 0.05; done"
[services.app.ready]
file = "@D@/never"
interval = "50ms"
timeout = "300ms"
`)
	if code == 0 || !strings.Contains(log, "not ready within 300ms") {
		t.Errorf("status %d; a start that failed counted as a success:\n%s", code, log)
	}
}

// TestReloadDropsStoppingService: a service removed by a reload while it
// is stopping (ignoring SIGTERM) still gets its SIGKILL at the stop
// timeout, and only then is forgotten: nothing is left running.
func TestReloadDropsStoppingService(t *testing.T) {
	s, _, _, dir := start(t, `
[services.stubborn]
shell = "trap '' TERM; echo $$$$ >@D@/pid; while :; do sleep 0.05; done"
stop = { timeout = "500ms" }
[services.other]
command = ["sleep", "1000"]
`)
	waitFor(t, "stubborn to run", func() bool { return exists(filepath.Join(dir, "pid")) })
	time.Sleep(100 * time.Millisecond)
	b, _ := os.ReadFile(filepath.Join(dir, "pid"))
	pid := 0
	if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 1 {
		t.Fatalf("pid file %q: %v", b, err)
	}
	if err := s.RestartService("stubborn"); err != nil {
		t.Fatal(err)
	}
	c := parse(t, dir, "[services.other]\ncommand = [\"sleep\", \"1000\"]\n")
	s.opts.Reload = func() (*config.Config, error) { return c, nil }
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stubborn killed and dropped", func() bool {
		for _, st := range s.Status() {
			if st.Name == "stubborn" {
				return false
			}
		}
		// Gone, or a zombie the shared reaper has yet to collect.
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err != nil || strings.Contains(string(st), ") Z ")
	})
}

// TestReloadReleasesOldConfig: once a reload has applied a new
// configuration, nothing of the old one stays alive, even for services
// whose definition did not change (a crash-looping 200 services reloaded
// ten times a second grew by 5 MiB when the first Config and its
// positions stayed: TestStressCrashLoop).
func TestReloadReleasesOldConfig(t *testing.T) {
	dir := t.TempDir()
	const text = "[services.a]\ncommand = [\"sleep\", \"1000\"]\n"
	first := parse(t, dir, text)
	released := make(chan string, 2)
	runtime.AddCleanup(first, func(string) { released <- "Config" }, "")
	runtime.AddCleanup(first.Services["a"], func(string) { released <- "Service" }, "")
	var out, logBuf syncBuffer
	s := newTest(first, sharedReaper(), &out, &out, &logBuf)
	first = nil
	sigc := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() { done <- s.Run(sigc) }()
	defer func() {
		sigc <- syscall.SIGTERM
		<-done
	}()
	waitFor(t, "a to run", func() bool { return s.status("a") == running })
	next := parse(t, dir, text)
	s.opts.Reload = func() (*config.Config, error) { return next, nil }
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for deadline := time.Now().Add(5 * time.Second); len(got) < 2 && time.Now().Before(deadline); {
		runtime.GC()
		select {
		case what := <-released:
			got[what] = true
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !got["Config"] || !got["Service"] {
		t.Errorf("after a reload to an equal configuration, released %v of the old Config and its unchanged Service", got)
	}
	if s.status("a") != running {
		t.Errorf("a is %v after a reload that changed nothing", s.status("a"))
	}
}
