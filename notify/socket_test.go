//go:build linux

package notify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv makes the test binary, re-executed, send its value as a
// notification and exit (as Go's syscall/exec_linux_test.go does).
const childEnv = "INITBOX_NOTIFY_TEST_CHILD"

func TestMain(m *testing.M) {
	if addr := os.Getenv(childEnv); addr != "" {
		if err := Send(addr, "READY=1\nSTATUS=child"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func listen(t *testing.T, path string) *Socket {
	t.Helper()
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func recv(t *testing.T, s *Socket) Message {
	t.Helper()
	select {
	case m, ok := <-s.Messages():
		if !ok {
			t.Fatal("Messages closed")
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return Message{}
}

func abstractName(t *testing.T) string {
	return fmt.Sprintf("@initbox-notify-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{
		{"path", filepath.Join(t.TempDir(), "notify.sock")},
		{"abstract", abstractName(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := listen(t, tc.addr)
			if s.Path() != tc.addr {
				t.Errorf("Path() = %q, want %q", s.Path(), tc.addr)
			}
			if tc.addr[0] == '/' {
				fi, err := os.Stat(tc.addr)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o666 {
					t.Errorf("mode %v, want a socket with 0666", fi.Mode())
				}
			}
			if err := Send(tc.addr, "READY=1\nSTATUS=up and running\nMAINPID=42"); err != nil {
				t.Fatal(err)
			}
			m := recv(t, s)
			want := Message{Pid: os.Getpid(), Uid: os.Getuid(), Ready: true, Status: "up and running", MainPid: 42}
			if m != want {
				t.Errorf("got %+v, want %+v", m, want)
			}
		})
	}
}

func TestDatagrams(t *testing.T) {
	s := listen(t, filepath.Join(t.TempDir(), "n"))
	for _, tc := range []struct {
		name, send string
		want       Message // Pid, Uid and Err are not compared
		err        string  // in Err; "" for none
	}{
		{"stopping", "STOPPING=1\nSTATUS=bye", Message{Stopping: true, Status: "bye"}, ""},
		{"bad mainpid", "READY=1\nMAINPID=abc", Message{Ready: true}, `MAINPID="abc": want a pid`},
		{"bad extend", "EXTEND_TIMEOUT_USEC=-5\nSTATUS=x", Message{Status: "x"}, `EXTEND_TIMEOUT_USEC="-5"`},
		{"unknown ignored", "FDSTORE=1\nX_CUSTOM=1\nWATCHDOG=1", Message{Watchdog: true}, ""},
		{"truncated", "READY=1\nSTATUS=" + strings.Repeat("x", MaxDatagram), Message{Ready: true, Status: strings.Repeat("x", MaxDatagram-len("READY=1\nSTATUS="))}, "truncated"},
		{"empty", "", Message{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Send(s.Path(), tc.send); err != nil {
				t.Fatal(err)
			}
			m := recv(t, s)
			if m.Pid != os.Getpid() || m.Uid != os.Getuid() {
				t.Errorf("Pid, Uid = %d, %d; want %d, %d", m.Pid, m.Uid, os.Getpid(), os.Getuid())
			}
			err := m.Err
			m.Pid, m.Uid, m.Err = 0, 0, nil
			if m != tc.want {
				t.Errorf("got %+v, want %+v", m, tc.want)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("Err = %v, want nil", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("Err = %v, want it to contain %q", err, tc.err)
			}
		})
	}
}

// TestChild: the pid is the sender's, whoever it is.
func TestChild(t *testing.T) {
	s := listen(t, abstractName(t))
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+s.Path())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	m := recv(t, s)
	if m.Pid != cmd.Process.Pid || m.Pid == os.Getpid() || m.Uid != os.Getuid() || !m.Ready || m.Status != "child" {
		t.Errorf("got %+v, want Pid %d, Uid %d, Ready, Status child", m, cmd.Process.Pid, os.Getuid())
	}
}

// TestSlowConsumer: nothing is dropped while nobody reads.
func TestSlowConsumer(t *testing.T) {
	s := listen(t, abstractName(t))
	const n = 100
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := Send(s.Path(), fmt.Sprintf("STATUS=%d", i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	time.Sleep(100 * time.Millisecond) // let the queues fill
	for i := range n {
		if m := recv(t, s); m.Status != fmt.Sprint(i) {
			t.Fatalf("message %d: STATUS=%q", i, m.Status)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

func countFds(t *testing.T) int {
	t.Helper()
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(des)
}

// TestPassedFdsClosed: descriptors sent along (FDSTORE=1) do not leak
// into initbox.
func TestPassedFdsClosed(t *testing.T) {
	s := listen(t, abstractName(t))
	before := countFds(t)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	rights := unix.UnixRights(0, 1, 2)
	err = unix.Sendmsg(fd, []byte("FDSTORE=1\nREADY=1"), rights, &unix.SockaddrUnix{Name: s.Path()}, 0)
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, s); !m.Ready || m.Err != nil {
		t.Errorf("got %+v", m)
	}
	if after := countFds(t); after != before {
		t.Errorf("%d descriptors open after receiving 3, %d before", after, before)
	}
}

func TestClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n")
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	// A message nobody takes must not keep Close waiting.
	for range queue + 2 {
		go Send(path, "READY=1")
	}
	drained := make(chan int)
	go func() {
		time.Sleep(50 * time.Millisecond)
		n := 0
		for range s.Messages() {
			n++
		}
		drained <- n
	}()
	time.Sleep(100 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		t.Fatal("Messages not closed by Close")
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := Send(path, "READY=1"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("Send after Close: %v, want ENOENT", err)
	}
}

func TestListenErrors(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: stale}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd) // leaves the file behind, as a crashed initbox would
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	long := "/" + strings.Repeat("x", maxAddr)
	for _, tc := range []struct{ path, want string }{
		{stale, ""},
		{regular, "exists and is not a socket"},
		{long, "longer than 107"},
		{"/" + strings.Repeat("x", maxAddr-2) + "/", "bind"}, // 107 bytes is fine, but not a directory name
		{filepath.Join(dir, "missing", "n"), "bind: no such file or directory"},
		{"", "no socket address"},
	} {
		s, err := Listen(tc.path)
		if s != nil {
			s.Close()
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Listen(%.20q) = %v, want nil", tc.path, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Listen(%.20q) = %v, want an error containing %q", tc.path, err, tc.want)
		}
	}
}

func TestSendErrors(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"", "no socket address"},
		{"relative/path", "neither an absolute path nor @abstract"},
		{"/nonexistent/initbox-notify", "sendto: no such file or directory"},
		{"@initbox-nobody-listens-here", "sendto: connection refused"},
		{"@" + strings.Repeat("x", maxAddr), "longer than 107"},
	} {
		err := Send(tc.addr, "READY=1")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Send(%.20q) = %v, want an error containing %q", tc.addr, err, tc.want)
		}
	}
}

// TestBarrier: Barrier returns once the receiver closes the descriptor of
// BARRIER=1, not before; without that, at its timeout with an error.
func TestBarrier(t *testing.T) {
	s := listen(t, filepath.Join(t.TempDir(), "b"))
	done := make(chan error, 1)
	go func() { done <- Barrier(s.Path(), 5*time.Second) }()
	m := <-s.Messages()
	if m.BarrierFD == nil || m.Err != nil {
		t.Fatalf("BARRIER=1 arrived as %+v", m)
	}
	select {
	case err := <-done:
		t.Fatalf("Barrier returned %v before the receiver closed the descriptor", err)
	case <-time.After(100 * time.Millisecond):
	}
	m.BarrierFD.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Barrier: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Barrier did not return after the close")
	}
	go func() { done <- Barrier(s.Path(), 200*time.Millisecond) }()
	m = <-s.Messages()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "no answer to BARRIER=1") {
		t.Errorf("Barrier with no close: %v", err)
	}
	m.BarrierFD.Close()
}
