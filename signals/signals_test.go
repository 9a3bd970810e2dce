//go:build linux

package signals

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		want Action
	}{
		{unix.SIGTERM, Forward}, {unix.SIGINT, Forward}, {unix.SIGHUP, Forward},
		{unix.SIGQUIT, Forward}, {unix.SIGUSR1, Forward}, {unix.SIGUSR2, Forward},
		{unix.SIGWINCH, Forward}, {unix.SIGTSTP, Forward}, {unix.SIGCONT, Forward},
		{unix.SIGALRM, Forward}, {unix.SIGPWR, Forward}, {35, Forward}, {40, Forward}, {64, Forward},
		{unix.SIGURG, Runtime}, {unix.SIGPROF, Runtime}, {unix.SIGKILL, Runtime},
		{unix.SIGSTOP, Runtime}, {32, Runtime}, {33, Runtime}, {34, Runtime}, {0, Runtime}, {65, Runtime},
		{unix.SIGCHLD, Reap},
		{unix.SIGSEGV, Drop}, {unix.SIGBUS, Drop}, {unix.SIGFPE, Drop}, {unix.SIGILL, Drop},
		{unix.SIGABRT, Drop}, {unix.SIGTRAP, Drop}, {unix.SIGSYS, Drop}, {unix.SIGPIPE, Drop},
		{unix.SIGTTIN, Ignore}, {unix.SIGTTOU, Ignore},
	} {
		if got := Classify(tc.sig); got != tc.want {
			t.Errorf("Classify(%d %s) = %v, want %v", tc.sig, Name(tc.sig), got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want syscall.Signal
	}{
		{"SIGTERM", unix.SIGTERM}, {"term", unix.SIGTERM}, {"15", unix.SIGTERM},
		{"SIGKILL", unix.SIGKILL}, {"usr1", unix.SIGUSR1}, {"SIGIOT", unix.SIGABRT},
		{"RTMIN", 34}, {"SIGRTMIN+6", 40}, {"RTMAX", 64}, {"rtmax-2", 62}, {"64", 64},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0", "65", "-1", "SIGNOPE", "RTMIN+31", "RTMIN-1", "RTMAX+1", "RTMIN+x"} {
		if got, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", bad, got)
		}
	}
}

func TestName(t *testing.T) {
	for sig, want := range map[syscall.Signal]string{
		unix.SIGTERM: "SIGTERM", 34: "SIGRTMIN", 40: "SIGRTMIN+6", unix.SIGWINCH: "SIGWINCH",
	} {
		if got := Name(sig); got != want {
			t.Errorf("Name(%d) = %q, want %q", sig, got, want)
		}
	}
}
