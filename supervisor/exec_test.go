//go:build linux

package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/launch"
)

// TestExecService: a program started as a running service runs with its
// environment (less NOTIFY_SOCKET, plus what the caller sets), gets the
// service's stop signal when the service stops, and is refused for a
// service that is not running or does not exist.
func TestExecService(t *testing.T) {
	s, _, _, dir := start(t, `
[services.a]
command = ["sleep", "1000"]
env = { FROM = "service", OVER = "service" }
[services.b]
type = "oneshot"
shell = "true"
`)
	waitFor(t, "a to run", func() bool { return s.status("a") == running })
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p, err := s.ExecService("a", Exec{Args: []string{"sh", "-c", `trap 'echo TERM; exit 3' TERM; echo "$FROM $OVER ${NOTIFY_SOCKET-none}"; while :; do sleep 0.05; done`},
		Env: []string{"OVER=caller"}, Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the program's first line", func() bool { b, _ := os.ReadFile(out.Name()); return len(b) > 0 })
	if err := s.StopService("a"); err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go func() { done <- p.Wait().Code() }()
	select {
	case code := <-done:
		b, _ := os.ReadFile(out.Name())
		if code != 3 || string(b) != "service caller none\nTERM\n" {
			t.Errorf("exec'd program: status %d, output %q", code, b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the service's stop did not stop its exec")
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after the exit: %v", err)
	}
	waitFor(t, "b to finish", func() bool { return s.status("b") == finished })
	for _, tc := range []struct {
		name string
		args []string
		want error
	}{
		{"a", []string{"true"}, ErrServiceNotRunning},
		{"b", []string{"true"}, ErrServiceNotRunning},
		{"c", []string{"true"}, ErrUnknownService},
	} {
		if _, err := s.ExecService(tc.name, Exec{Args: tc.args}); !errors.Is(err, tc.want) {
			t.Errorf("exec into %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Its exec's exit may reach the loop before its own.
	waitFor(t, "a to be stopped", func() bool { return s.status("a") == stopped })
	if err := s.StartService("a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to run again", func() bool { return s.status("a") == running })
	_, err = s.ExecService("a", Exec{Args: []string{"no-such-program"}})
	var ec interface{ ExitCode() int }
	if !errors.As(err, &ec) || ec.ExitCode() != launch.ExitNotFound || !strings.Contains(err.Error(), "no-such-program") {
		t.Errorf("a program not found: %v", err)
	}
	if _, err := s.ExecService("a", Exec{}); err == nil {
		t.Error("an exec with no program started")
	}
}
