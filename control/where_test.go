package control

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/logging"
)

func TestLocations(t *testing.T) {
	s := search{run: "/run/initbox/control.sock", xdg: "/run/user/1000", tmp: "/tmp", euid: 1000, ns: "4026531841"}
	want := []location{
		{path: "/run/initbox/control.sock", dir: "/run/initbox"},
		{path: "/run/user/1000/initbox/control.sock", dir: "/run/user/1000/initbox", private: true},
		{path: "/tmp/initbox-1000/control.sock", dir: "/tmp/initbox-1000", private: true},
		{path: "@initbox/mnt-4026531841/control.sock"},
	}
	if got := s.locations(); !reflect.DeepEqual(got, want) {
		t.Errorf("locations() =\n%+v\nwant\n%+v", got, want)
	}

	// No $XDG_RUNTIME_DIR, no /proc, and a runtime directory too long
	// for a socket address: those places are left out or plain.
	s = search{run: "/run/initbox/control.sock", tmp: "/tmp", euid: 0}
	want = []location{
		{path: "/run/initbox/control.sock", dir: "/run/initbox"},
		{path: "/tmp/initbox-0/control.sock", dir: "/tmp/initbox-0", private: true},
		{path: "@initbox/control.sock"},
	}
	if got := s.locations(); !reflect.DeepEqual(got, want) {
		t.Errorf("locations() =\n%+v\nwant\n%+v", got, want)
	}
	s.xdg = "/" + strings.Repeat("x", 100)
	if got := s.locations(); !reflect.DeepEqual(got, want) {
		t.Errorf("with a long $XDG_RUNTIME_DIR, locations() =\n%+v\nwant\n%+v", got, want)
	}

	// The real search: the default first, this uid's /tmp directory, and
	// an abstract name that is this mount namespace's.
	t.Setenv("XDG_RUNTIME_DIR", "relative/dir") // ignored, as the XDG spec says
	ls := Locations()
	ns := mountNamespace()
	wantReal := []string{DefaultSocket, "/tmp/initbox-" + strconv.Itoa(os.Geteuid()) + "/control.sock", "@initbox/mnt-" + ns + "/control.sock"}
	if ns == "" || !reflect.DeepEqual(ls, wantReal) {
		t.Errorf("Locations() = %q, want %q", ls, wantReal)
	}
	link, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil || link != "mnt:["+ns+"]" {
		t.Errorf("mountNamespace() = %q, /proc/self/ns/mnt is %q (%v)", ns, link, err)
	}
}

// testSearch is a search under a fresh directory: the default place
// cannot be made (its parent is a regular file, as a read-only or
// unwritable /run is for initbox), no $XDG_RUNTIME_DIR, tmp/ for /tmp, and
// an abstract name no other test uses.
func testSearch(t *testing.T) search {
	t.Helper()
	base := t.TempDir()
	if err := os.WriteFile(filepath.Join(base, "run"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(base, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	return search{
		run:  filepath.Join(base, "run", "initbox", "control.sock"),
		tmp:  filepath.Join(base, "tmp"),
		euid: os.Geteuid(),
		ns:   fmt.Sprintf("test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-")),
	}
}

// serveAuto runs serveFirst on s and closes the server at the end.
func serveAuto(t *testing.T, s search) (*Server, *syncBuffer, error) {
	t.Helper()
	logs := &syncBuffer{}
	srv, err := serveFirst(s, newFake(), logging.New(logs, logging.Console, logging.DebugLevel))
	if err == nil {
		t.Cleanup(func() { srv.Close() })
	}
	return srv, logs, err
}

// ctlFinds checks that ctl, searching as s says, reaches the server at
// want.
func ctlFinds(t *testing.T, s search, want string) {
	t.Helper()
	fd, got, err := dialAuto(s)
	if err != nil {
		t.Fatalf("ctl does not find the socket: %v", err)
	}
	code, body, err := exchange(fd, got, "GET", "/v1/status")
	if got != want || err != nil || code != 200 {
		t.Errorf("ctl reached %s (%d %q %v), want %s", got, code, body, err, want)
	}
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestServeAutoFallback: each place is used when those before it cannot
// be, initbox logs one line saying where the socket is and why it is not
// at the places before it, and ctl, looking in the same order, finds it.
func TestServeAutoFallback(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		s := testSearch(t)
		s.run = filepath.Join(s.tmp, "run", "initbox", "control.sock")
		srv, logs, err := serveAuto(t, s)
		if err != nil || srv.Addr() != s.run {
			t.Fatalf("serveFirst = %v, %v; want the default place %s", srv, err, s.run)
		}
		if l := logs.String(); !strings.Contains(l, "control socket at "+s.run+" (initbox ctl finds it without --socket)") || strings.Contains(l, "not_at") {
			t.Errorf("log: %s", l)
		}
		if m := mode(t, filepath.Dir(s.run)); m != 0o755 {
			t.Errorf("%s has mode %04o, want 0755 (as before issue #19)", filepath.Dir(s.run), m)
		}
		ctlFinds(t, s, s.run)
	})

	t.Run("XDG_RUNTIME_DIR", func(t *testing.T) {
		s := testSearch(t)
		s.xdg = t.TempDir()
		srv, logs, err := serveAuto(t, s)
		want := filepath.Join(s.xdg, "initbox", "control.sock")
		if err != nil || srv.Addr() != want {
			t.Fatalf("serveFirst = %v, %v; want %s", srv, err, want)
		}
		l := logs.String()
		if strings.Count(l, "\n") != 1 || !strings.Contains(l, "control socket at "+want) ||
			!strings.Contains(l, `"not_at": ["control socket `+s.run+`: mkdir `+filepath.Dir(filepath.Dir(s.run))+`: not a directory"]`) {
			t.Errorf("want one line naming the place and why not the default; got:\n%s", l)
		}
		if m := mode(t, filepath.Dir(want)); m != 0o700 {
			t.Errorf("%s has mode %04o, want 0700", filepath.Dir(want), m)
		}
		if m := mode(t, want); m != 0o600 {
			t.Errorf("the socket has mode %04o, want 0600", m)
		}
		ctlFinds(t, s, want)
	})

	t.Run("tmp", func(t *testing.T) {
		s := testSearch(t)
		s.xdg = filepath.Join(t.TempDir(), "gone") // set but missing: passed over
		srv, logs, err := serveAuto(t, s)
		dir := filepath.Join(s.tmp, "initbox-"+strconv.Itoa(s.euid))
		want := filepath.Join(dir, "control.sock")
		if err != nil || srv.Addr() != want {
			t.Fatalf("serveFirst = %v, %v; want %s", srv, err, want)
		}
		if l := logs.String(); !strings.Contains(l, "control socket at "+want) || !strings.Contains(l, "mkdir "+filepath.Join(s.xdg, "initbox")+": no such file or directory") {
			t.Errorf("log: %s", l)
		}
		if m := mode(t, dir); m != 0o700 {
			t.Errorf("%s has mode %04o, want 0700", dir, m)
		}
		ctlFinds(t, s, want)

		// Closed, the socket file goes, the directory stays for the next
		// run, which uses it again.
		srv.Close()
		if _, err := os.Lstat(want); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left after Close: %v", err)
		}
		if srv, _, err := serveAuto(t, s); err != nil || srv.Addr() != want {
			t.Errorf("second run: %v, %v; want %s again", srv, err, want)
		}
	})

	t.Run("abstract", func(t *testing.T) {
		// Nothing writable at all (a read-only root without /tmp, as
		// `docker run --read-only` gives a FROM scratch image).
		s := testSearch(t)
		s.tmp = filepath.Join(s.tmp, "missing")
		srv, logs, err := serveAuto(t, s)
		want := "@initbox/mnt-" + s.ns + "/control.sock"
		if err != nil || srv.Addr() != want {
			t.Fatalf("serveFirst = %v, %v; want %s", srv, err, want)
		}
		if l := logs.String(); !strings.Contains(l, "control socket at "+want) || !strings.Contains(l, "mkdir "+filepath.Join(s.tmp, "initbox-"+strconv.Itoa(s.euid))+": no such file or directory") {
			t.Errorf("log: %s", l)
		}
		ctlFinds(t, s, want)
		// Close removes no file, and frees the name.
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, _, err := dialAuto(s); err == nil {
			t.Errorf("ctl still connects after Close")
		}
	})

	t.Run("tmp directory not private", func(t *testing.T) {
		// A /tmp/initbox-UID someone could enter or replace is refused:
		// the next place is used, and ctl will not look in it either.
		s := testSearch(t)
		dir := filepath.Join(s.tmp, "initbox-"+strconv.Itoa(s.euid))
		if err := os.Mkdir(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0o777) // past the umask
		srv, logs, err := serveAuto(t, s)
		if err != nil || srv.Addr()[0] != '@' {
			t.Fatalf("serveFirst = %v, %v; want the abstract socket", srv, err)
		}
		if l := logs.String(); !strings.Contains(l, "has mode 0777, want 0700; not using it (chmod 700 "+dir+")") {
			t.Errorf("log: %s", l)
		}
		// A socket planted there is not talked to.
		planted, err := Serve(filepath.Join(dir, "control.sock"), newFake(), logging.New(&syncBuffer{}, logging.Console, logging.InfoLevel))
		if err != nil {
			t.Fatal(err)
		}
		defer planted.Close()
		ctlFinds(t, s, srv.Addr())
	})

	t.Run("tmp directory of another uid", func(t *testing.T) {
		if os.Geteuid() != 0 {
			msg := "making a directory owned by another uid needs root (chown)"
			if os.Getenv("CI") != "" {
				t.Fatal(msg + "; CI is set, so this does not skip")
			}
			t.Skip(msg)
		}
		s := testSearch(t)
		dir := filepath.Join(s.tmp, "initbox-"+strconv.Itoa(s.euid))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 12345, 12345); err != nil {
			t.Fatal(err)
		}
		srv, logs, err := serveAuto(t, s)
		if err != nil || srv.Addr()[0] != '@' {
			t.Fatalf("serveFirst = %v, %v; want the abstract socket", srv, err)
		}
		if l := logs.String(); !strings.Contains(l, dir+" is owned by uid 12345, not 0: someone else made it; not using it") {
			t.Errorf("log: %s", l)
		}
		ctlFinds(t, s, srv.Addr())
	})

	t.Run("in use", func(t *testing.T) {
		// Another initbox answers at the default place: no fallback,
		// since ctl would reach that one first.
		s := testSearch(t)
		s.run = filepath.Join(s.tmp, "control.sock")
		other, err := Serve(s.run, newFake(), logging.New(&syncBuffer{}, logging.Console, logging.InfoLevel))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if srv, _, err := serveAuto(t, s); !errors.Is(err, ErrInUse) {
			t.Errorf("serveFirst = %v, %v; want ErrInUse", srv, err)
		}
		// The same for the abstract name: it has no stale state, so a
		// bound name is a live socket.
		s = testSearch(t)
		s.tmp = filepath.Join(s.tmp, "missing")
		first, _, err := serveAuto(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if srv, _, err := serveAuto(t, s); !errors.Is(err, ErrInUse) || !strings.Contains(fmt.Sprint(err), first.Addr()) {
			t.Errorf("second serveFirst = %v, %v; want ErrInUse naming %s", srv, err, first.Addr())
		}
	})
}

// TestServeExplicitNoFallback: a path the config names is used or fails;
// Serve looks nowhere else.
func TestServeExplicitNoFallback(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(blocker, "initbox", "control.sock")
	srv, err := Serve(path, newFake(), logging.New(&syncBuffer{}, logging.Console, logging.InfoLevel))
	if err == nil {
		srv.Close()
		t.Fatalf("Serve(%s) served at %s", path, srv.Addr())
	}
	if !errors.Is(err, unix.ENOTDIR) || !strings.Contains(err.Error(), "control socket "+path+": mkdir "+blocker) {
		t.Errorf("Serve(%s) = %v", path, err)
	}

	// Where it works, it says where the socket is and how ctl gets there.
	logs := &syncBuffer{}
	path = filepath.Join(t.TempDir(), "ctl.sock")
	srv, err = Serve(path, newFake(), logging.New(logs, logging.Console, logging.InfoLevel))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if l := logs.String(); !strings.Contains(l, "control socket at "+path+" (initbox ctl --socket "+path+", or $INITBOX_CONTROL_SOCKET)") {
		t.Errorf("log: %s", l)
	}
}

// TestCtlSearchOrder: ctl without --socket takes the first place where an
// initbox answers, in the servers' order, and passes over the places where
// none does: a missing file, a stale socket left by a crash.
func TestCtlSearchOrder(t *testing.T) {
	s := testSearch(t)
	s.run = filepath.Join(s.tmp, "run.sock")
	s.xdg = t.TempDir()
	quiet := logging.New(&syncBuffer{}, logging.Console, logging.InfoLevel)

	// A stale socket at the default place: bound, never listened on.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: s.run}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)

	ls := s.locations()
	// Servers at the last two places: ctl takes the first of them.
	tmp, err := serve(ls[2], s.euid, newFake(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	abs, err := serve(ls[3], s.euid, newFake(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer abs.Close()
	ctlFinds(t, s, ls[2].path)
	tmp.Close()
	ctlFinds(t, s, ls[3].path)
	abs.Close()

	// Nobody anywhere: exit 3, and the message lists every place in
	// order, with what stopped ctl at each.
	old := defaultSearch
	defaultSearch = func() search { return s }
	defer func() { defaultSearch = old }()
	code, out, errOut := runCtl("status")
	want := []string{
		"cannot connect to the control socket; looked at:",
		"  " + s.run + ": connect: connection refused",
		"  " + ls[1].path + ": lstat " + ls[1].dir + ": no such file or directory",
		"  " + ls[2].path + ": connect: no such file or directory",
		"  " + ls[3].path + ": connect: connection refused",
		"  nothing listens there", // the stale socket file at the first place
	}
	if code != 3 || out != "" || !strings.HasPrefix(errOut, "initbox ctl: "+strings.Join(want, "\n")) {
		t.Errorf("got %d %q\n%s\nwant 3 and\n%s", code, out, errOut, strings.Join(want, "\n"))
	}

	// Nothing at all: no file anywhere, the abstract name unbound. The
	// hint is about initbox not running, not about a stale socket.
	os.Remove(s.run)
	code, _, errOut = runCtl("status")
	if code != 3 || !strings.Contains(errOut, "  "+ls[3].path+": connect: connection refused\n  is initbox running, with init.control_socket left as \"auto\"?") {
		t.Errorf("got %d\n%s", code, errOut)
	}

	// And the whole of Ctl finds a server by itself.
	srv, err := serve(ls[1], s.euid, newFake(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if code, out, errOut := runCtl("status", "web"); code != 0 || !strings.HasPrefix(strings.Split(out, "\n")[1], "web   running  42") {
		t.Errorf("ctl status web = %d %q %q", code, out, errOut)
	}
}

// TestCheckServer: who may answer on an abstract socket, which has no
// owner: root, or ctl's own uid; a root ctl talks to any.
func TestCheckServer(t *testing.T) {
	name := fmt.Sprintf("@initbox-test-%d-checkserver", os.Getpid())
	srv, err := Serve(name, newFake(), logging.New(&syncBuffer{}, logging.Console, logging.InfoLevel))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	me := os.Geteuid()
	for _, tc := range []struct {
		euid int
		ok   bool
	}{
		{me, true},
		{0, true},
		{4242, me == 0}, // the listener is root's: trusted; else another uid's
	} {
		fd, err := dial(name)
		if err != nil {
			t.Fatal(err)
		}
		err = checkServer(fd, tc.euid)
		unix.Close(fd)
		if (err == nil) != tc.ok {
			t.Errorf("checkServer as euid %d against a listener of uid %d: %v, want ok=%v", tc.euid, me, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("answered by uid %d", me)) {
			t.Errorf("message: %v", err)
		}
	}
}
