package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/logging"
)

// Where the control socket is when nothing names it (issue #19).
//
// Containers are not all run as root with a writable /run: OpenShift gives
// each one a random uid, Kubernetes and `docker run --read-only` make the
// root file system read-only, and a FROM scratch image may have neither
// /run nor /tmp. ServeAuto therefore tries, in order, the places below and
// stops at the first it can make; `initbox ctl` without --socket looks in
// the same order, so the two meet without a flag:
//
//  1. DefaultSocket, /run/initbox/control.sock (its directory made 0755),
//     the one place a root initbox with a writable /run uses;
//  2. $XDG_RUNTIME_DIR/initbox/control.sock, when that variable is an
//     absolute path (a per-user runtime directory, as on a desktop);
//  3. /tmp/initbox-EUID/control.sock: the directory 0700 and owned by that
//     uid, refused otherwise, since /tmp is everyone's and whoever made the
//     directory could replace or spy on what is in it;
//  4. an abstract socket, @initbox/mnt-N/control.sock, which needs no file
//     system at all. Abstract names live in the network namespace, which a
//     Kubernetes pod's containers share: N is the mount namespace's inode,
//     which differs between containers and is the same for `docker exec` and
//     `kubectl exec` into one, so ctl reaches its own container's initbox.
//
// The notify sockets the supervisor makes for services are abstract too
// (package notify), so a service's readiness needs no writable file system
// either.

// location is one place the control socket may be.
type location struct {
	path string // the socket; "@name" for the abstract namespace
	// dir is the directory made for it, "" for none (abstract).
	dir string
	// private: dir must be 0700 and owned by initbox's euid (it is made
	// so). Otherwise it is made 0755 if missing, as DefaultSocket's is.
	private bool
}

// search is what the order of the places depends on; tests point it at a
// temporary directory.
type search struct {
	run  string // DefaultSocket
	xdg  string // $XDG_RUNTIME_DIR, "" when unset or not absolute
	tmp  string // "/tmp"
	euid int
	ns   string // the mount namespace's inode, "" if unknown
}

// defaultSearch is the search of this process; a variable so that tests
// can replace it.
var defaultSearch = func() search {
	s := search{run: DefaultSocket, tmp: "/tmp", euid: os.Geteuid(), ns: mountNamespace()}
	// The XDG Base Directory spec: a relative $XDG_RUNTIME_DIR is invalid
	// and is to be ignored.
	if x := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(x) {
		s.xdg = x
	}
	return s
}

// locations lists the places in the order ServeAuto tries them and ctl
// looks. A path too long for a socket address is left out.
func (s search) locations() []location {
	var ls []location
	add := func(l location) {
		if len(l.path) < len(unix.RawSockaddrUnix{}.Path) {
			ls = append(ls, l)
		}
	}
	add(location{path: s.run, dir: filepath.Dir(s.run)})
	if s.xdg != "" {
		d := filepath.Join(s.xdg, "initbox")
		add(location{path: filepath.Join(d, "control.sock"), dir: d, private: true})
	}
	d := filepath.Join(s.tmp, "initbox-"+strconv.Itoa(s.euid))
	add(location{path: filepath.Join(d, "control.sock"), dir: d, private: true})
	abstract := "@initbox/control.sock"
	if s.ns != "" {
		abstract = "@initbox/mnt-" + s.ns + "/control.sock"
	}
	add(location{path: abstract})
	return ls
}

// mountNamespace returns the inode number of this process's mount
// namespace ("4026531841" from "mnt:[4026531841]"), or "" when /proc is
// not there to say.
func mountNamespace() string {
	l, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return ""
	}
	n, ok := strings.CutPrefix(l, "mnt:[")
	n, ok2 := strings.CutSuffix(n, "]")
	if !ok || !ok2 {
		return ""
	}
	if _, err := strconv.ParseUint(n, 10, 64); err != nil {
		return ""
	}
	return n
}

// Locations returns where initbox puts the control socket when
// init.control_socket is "auto" and `initbox ctl` looks when given no
// --socket and no $INITBOX_CONTROL_SOCKET, in order (see the comment at the
// top of where.go).
func Locations() []string {
	var ps []string
	for _, l := range defaultSearch().locations() {
		ps = append(ps, l.path)
	}
	return ps
}

// ServeAuto serves the control API (as Serve) at the first of Locations it
// can make, and logs one line saying where it is and, when that is not the
// first, why the places before it could not be used. It stops at a socket
// another process answers on (ErrInUse): ctl would find that one first.
// When none can be made the error names every place and why.
func ServeAuto(api API, log *logging.Logger) (*Server, error) {
	return serveFirst(defaultSearch(), api, log)
}

func serveFirst(s search, api API, log *logging.Logger) (*Server, error) {
	var skipped []string
	var errs []error
	for _, l := range s.locations() {
		srv, err := serve(l, s.euid, api, log)
		if err == nil {
			fields := []logging.Field{}
			if len(skipped) > 0 {
				fields = append(fields, logging.Strings("not_at", skipped))
			}
			log.Info("control socket at "+l.path+" (initbox ctl finds it without --socket)", fields...)
			return srv, nil
		}
		if errors.Is(err, ErrInUse) {
			return nil, err
		}
		skipped = append(skipped, err.Error())
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no place for the control socket: %w", errors.Join(errs...))
}

// privateDir makes dir 0700 if it is missing, and checks that it is a
// directory (not a symlink) owned by euid that nobody else may enter: in a
// directory everyone may write (/tmp), someone else could have made it
// first, to read the socket's traffic or put their own socket in its place.
func privateDir(dir string, euid int) error {
	// The umask can only take bits away from 0700.
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err // *PathError: "mkdir DIR: reason"
	}
	return checkPrivate(dir, euid)
}

// checkPrivate checks what privateDir makes sure of, without making dir.
func checkPrivate(dir string, euid int) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err // *PathError: "lstat DIR: reason"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory (%s); not using it", dir, fi.Mode().Type())
	case !ok:
		return fmt.Errorf("%s: lstat: no owner", dir)
	case int(st.Uid) != euid:
		return fmt.Errorf("%s is owned by uid %d, not %d: someone else made it; not using it", dir, st.Uid, euid)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%s has mode %04o, want 0700; not using it (chmod 700 %s)", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// dialAuto connects to the first of the search's places where an initbox
// answers, and returns the connection's descriptor and the socket's path.
// A place where none answers (no such file, a stale socket, a directory
// someone else owns) is passed over; when no place answers, the error lists
// them all.
func dialAuto(s search) (int, string, error) {
	var tried []attempt
	for _, l := range s.locations() {
		if l.private {
			if err := checkPrivate(l.dir, s.euid); err != nil {
				tried = append(tried, attempt{l.path, err})
				continue
			}
		}
		fd, err := dial(l.path)
		if err == nil && l.dir == "" {
			err = checkServer(fd, s.euid)
			if err != nil {
				unix.Close(fd)
			}
		}
		if err == nil {
			return fd, l.path, nil
		}
		tried = append(tried, attempt{l.path, err})
	}
	return -1, "", &connectError{tried: tried, auto: true}
}

// checkServer checks who listens on an abstract socket, which has no file
// and so no owner or mode: anyone in the network namespace could have
// bound the name. The listener's credentials (SO_PEERCRED on the client's
// end) must be root's or ours; root talks to any uid's initbox.
func checkServer(fd, euid int) error {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return fmt.Errorf("getsockopt SO_PEERCRED: %w", err)
	}
	if cred.Uid != 0 && int(cred.Uid) != euid && euid != 0 {
		return fmt.Errorf("answered by uid %d (pid %d), neither root nor uid %d; not talking to it", cred.Uid, cred.Pid, euid)
	}
	return nil
}
