//go:build linux

package supervisor

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/reaper"
)

// These tests run a Supervisor in the test process with real sh services,
// so that the race detector sees its goroutines (exits, timers, output
// copiers) at work. Black-box tests of initbox as PID 1 are in tests/.

var (
	reaperOnce sync.Once
	testReaper *reaper.Reaper
)

// sharedReaper returns the process's one reaper: two would steal each
// other's exits.
func sharedReaper() *reaper.Reaper {
	reaperOnce.Do(func() {
		// As `initbox run` is: what a service leaves behind is reparented
		// to it, and its exits tell a draining process group is empty.
		_ = reaper.SetSubreaper()
		testReaper = reaper.New(reaper.Options{})
	})
	return testReaper
}

// parse is config.Parse of text as dir/initbox.toml, with "@D@" as dir.
func parse(t *testing.T, dir, text string) *config.Config {
	t.Helper()
	c, err := config.Parse(filepath.Join(dir, "initbox.toml"), []byte(strings.ReplaceAll(text, "@D@", dir)), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newTest returns a Supervisor for c that starts through st, with the
// services' output on out and errOut and its log (all of it) on log.
func newTest(c *config.Config, st Starter, out, errOut, log io.Writer) *Supervisor {
	return New(Options{Config: c, Starter: st, Env: os.Environ(), Stdout: out, Stderr: errOut,
		Log: logging.New(log, logging.Console, logging.DebugLevel)})
}

// run parses text ("@D@" is replaced by a fresh directory), runs it to the
// end with sigs queued, and returns the status, the services' stdout and
// the directory.
func run(t *testing.T, text string, sigs ...os.Signal) (code int, stdout, dir, log string) {
	t.Helper()
	dir = t.TempDir()
	var out, stderr, logBuf bytes.Buffer
	sigc := make(chan os.Signal, len(sigs))
	for _, s := range sigs {
		sigc <- s
	}
	s := newTest(parse(t, dir, text), sharedReaper(), &out, &stderr, &logBuf)
	code = s.Run(sigc)
	t.Logf("log:\n%s--- stderr:\n%s", logBuf.String(), stderr.String())
	return code, out.String(), dir, logBuf.String()
}

// TestRunOutputComplete: when Run returns, every line the services wrote
// has been copied, although their exits may reach the loop before their
// output does.
func TestRunOutputComplete(t *testing.T) {
	const n = 500
	code, out, _, _ := run(t, `
[services.a]
shell = '''i=0; while [ $i -lt 500 ]; do echo "a $i"; i=$((i+1)); done'''
[services.b]
type = "oneshot"
shell = '''i=0; while [ $i -lt 500 ]; do echo "b $i"; i=$((i+1)); done; printf last'''
`)
	if code != 0 {
		t.Fatalf("status %d, want 0", code)
	}
	if a, b := strings.Count(out, "a | a "), strings.Count(out, "b | b "); a != n || b != n || !strings.Contains(out, "b | last\n") {
		t.Fatalf("copied %d lines of a and %d of b (want %d each) and last line: %v", a, b, n, strings.Contains(out, "b | last\n"))
	}
}

// TestRunStopBySignal: a SIGTERM taken after the first start stops both
// services, dependent first; both die of their stop signal, which is clean.
func TestRunStopBySignal(t *testing.T) {
	code, _, _, log := run(t, `
[services.db]
command = ["sleep", "1000"]
[services.web]
command = ["sleep", "1000"]
depends_on = { db = "started" }
`, syscall.SIGTERM)
	if code != 0 {
		t.Fatalf("status %d, want 0", code)
	}
	// Both started, and web's stop comes before db's in the log.
	at := func(event, svc string) int {
		for i, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "\t"+event+"\t") && strings.Contains(l, `"service": "`+svc+`"`) {
				return i
			}
		}
		return -1
	}
	for _, svc := range []string{"db", "web"} {
		if at("started", svc) < 0 || at("stopped", svc) < 0 {
			t.Errorf("%s was not started and stopped", svc)
		}
	}
	if w, d := at("stopping", "web"), at("stopping", "db"); w < 0 || d < 0 || w > d {
		t.Errorf("stop order: web at line %d, db at line %d; want web first", w, d)
	}
}

// TestRunStartFailureIsNotStarted: a service whose start fails is not
// "started" for its dependents, which fail with it.
func TestRunStartFailureIsNotStarted(t *testing.T) {
	code, _, dir, _ := run(t, `
[services.needy]
env_file = "@D@/absent.env"
restart = { policy = "never" }
shell = "touch @D@/needy"
[services.dep]
depends_on = { needy = "started" }
shell = "touch @D@/dep"
`)
	if code != 1 {
		t.Fatalf("status %d, want 1", code)
	}
	for _, name := range []string{"needy", "dep"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s ran", name)
		}
	}
}
