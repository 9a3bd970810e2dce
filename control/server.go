package control

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/logging"
)

// The sockets are raw file descriptors served through the runtime poller
// (os.NewFile on a non-blocking fd): package net would add about 525 KB to
// the binary for what is here a few system calls.

// ioTimeout bounds reading one request and writing its answer, so a stuck or
// malicious client cannot pin a goroutine and a descriptor forever. Tests
// shorten it; Serve and ServeProbes copy it.
var ioTimeout = 5 * time.Second

// ErrInUse is returned by Serve when another process answers on the socket
// path: it is not stale, so it is left alone.
var ErrInUse = errors.New("control socket in use by another process")

// A Server answers requests on one listening socket until Close.
type Server struct {
	ln      *os.File
	path    string      // the unix socket file, "" for TCP
	ino     os.FileInfo // the socket file as bound, to remove only ours
	addr    string
	unix    bool
	handle  func(req request, uid int) response
	log     *logging.Logger
	timeout time.Duration

	// slots bounds the connections served at once: each costs a
	// descriptor and a goroutine of PID 1 for up to the timeout, and the
	// probe port may be open to a whole cluster.
	slots chan struct{}

	mu sync.Mutex
	// conns are the open connections; the channel of one that streams
	// (exec) is closed when its stream ends.
	conns  map[*os.File]chan struct{}
	closed bool
	done   chan struct{} // closed when the accept loop has returned
}

// Serve listens on a unix stream socket at path and serves the control API
// (HTTP/1.1, JSON bodies; see docs/ctl.md) until Close. The socket's
// directory is created 0755 if missing, a stale socket file is removed (one
// that a live process answers on is not: ErrInUse), and the socket is made
// 0600. A path beginning with '@' is in the abstract namespace and has no
// file. Each connection's peer is checked with SO_PEERCRED: only root and
// initbox's own uid are served, others get 403 and a log line. Every
// request is answered by calling api. It logs one line saying where the
// socket is. A path that cannot be used is an error: Serve does not look
// elsewhere (ServeAuto does).
func Serve(path string, api API, log *logging.Logger) (*Server, error) {
	l := location{path: path}
	if path != "" && path[0] != '@' {
		l.dir = filepath.Dir(path)
	}
	srv, err := serve(l, os.Geteuid(), api, log)
	if err != nil {
		return nil, err
	}
	how := "initbox ctl --socket " + path + ", or $" + SocketEnv
	if path == DefaultSocket {
		how = "initbox ctl finds it without --socket"
	}
	log.Info("control socket at " + path + " (" + how + ")")
	return srv, nil
}

// serve listens at l and serves the control API; see Serve.
func serve(l location, euid int, api API, log *logging.Logger) (*Server, error) {
	path := l.path
	if path == "" {
		return nil, errors.New("control socket: empty path")
	}
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, fmt.Errorf("control socket %s: path longer than %d bytes", path, len(unix.RawSockaddrUnix{}.Path)-1)
	}
	abstract := path[0] == '@'
	switch {
	case l.private:
		if err := privateDir(l.dir, euid); err != nil {
			return nil, fmt.Errorf("control socket %s: %w", path, err)
		}
	case l.dir != "":
		if err := os.MkdirAll(l.dir, 0o755); err != nil {
			return nil, fmt.Errorf("control socket %s: %w", path, err)
		}
	}
	if !abstract {
		if err := removeStale(path); err != nil {
			return nil, err
		}
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: socket: %w", path, err)
	}
	// The mode comes from the umask at bind, not from a chmod after it: a
	// chmod by name follows a symlink someone could put in its place.
	// Nothing else in initbox creates files while it starts. (An abstract
	// socket has no mode: SO_PEERCRED alone decides who is served.)
	old := unix.Umask(0o177)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	unix.Umask(old)
	if err != nil {
		unix.Close(fd)
		if abstract && errors.Is(err, unix.EADDRINUSE) {
			// The abstract namespace has no stale names: a bound
			// name has a live socket behind it.
			return nil, fmt.Errorf("control socket %s: bind: %w (%w)", path, err, ErrInUse)
		}
		return nil, fmt.Errorf("control socket %s: bind: %w", path, err)
	}
	if err := unix.Listen(fd, 64); err != nil {
		unix.Close(fd)
		if !abstract {
			os.Remove(path)
		}
		return nil, fmt.Errorf("control socket %s: listen: %w", path, err)
	}
	s := newServer(fd, path, log, controlHandler(api, log))
	s.unix = true
	if !abstract {
		fi, _ := os.Lstat(path)
		s.path, s.ino = path, fi
	}
	go s.accept()
	return s, nil
}

// removeStale removes a socket file nobody answers on, left by an initbox
// that died without Close.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("control socket %s: exists and is not a socket; not removing it", path)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("control socket %s: socket: %w", path, err)
	}
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	unix.Close(fd)
	if err == nil {
		return fmt.Errorf("control socket %s: %w", path, ErrInUse)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("control socket: removing the stale socket: %w", err)
	}
	return nil
}

func newServer(fd int, name string, log *logging.Logger, h func(request, int) response) *Server {
	return &Server{
		ln:      os.NewFile(uintptr(fd), name),
		addr:    name,
		handle:  h,
		log:     log,
		timeout: ioTimeout,
		conns:   map[*os.File]chan struct{}{},
		done:    make(chan struct{}),
		slots:   make(chan struct{}, maxConns),
	}
}

// maxConns is how many connections a Server serves at once.
const maxConns = 32

// Addr is the socket path, or for ServeProbes the bound "host:port" (with
// the port chosen by the kernel when the address asked for port 0).
func (s *Server) Addr() string { return s.addr }

// Close stops accepting, closes open connections and removes the socket
// file. API calls in progress are not waited for; their answers are dropped.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	err := s.ln.Close()
	<-s.done
	s.mu.Lock()
	var streams []chan struct{}
	for c, streaming := range s.conns {
		if streaming == nil {
			c.Close()
		} else {
			streams = append(streams, streaming)
		}
	}
	s.mu.Unlock()
	// An exec's last line, its exit status, may be on its way: initbox
	// closes once its programs have exited, and so does their stream,
	// a moment later.
	wait := time.After(streamGrace)
	for _, ch := range streams {
		select {
		case <-ch:
		case <-wait:
		}
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	if s.path != "" {
		// Only our socket: another initbox may have replaced it since.
		if fi, lerr := os.Lstat(s.path); lerr == nil && s.ino != nil && os.SameFile(fi, s.ino) {
			if rerr := os.Remove(s.path); rerr != nil && err == nil {
				err = rerr
			}
		}
	}
	return err
}

// streamGrace is how long Close waits for streams to end.
const streamGrace = time.Second

func (s *Server) accept() {
	defer close(s.done)
	defer s.log.Recover("control accept loop")
	rc, err := s.ln.SyscallConn()
	if err != nil {
		s.log.Error("control: cannot accept", logging.String("socket", s.addr), logging.Err(err))
		return
	}
	for {
		var nfd int
		var aerr error
		err := rc.Read(func(fd uintptr) bool {
			nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			return aerr != unix.EAGAIN
		})
		if err != nil {
			return // the listener was closed
		}
		switch aerr {
		case nil:
			select {
			case s.slots <- struct{}{}:
				go func() {
					defer func() { <-s.slots }()
					s.serve(nfd)
				}()
			default:
				unix.Close(nfd) // busy: the client retries, as probes do
			}
		case unix.ECONNABORTED, unix.EINTR:
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Out of descriptors or memory: back off instead of
			// spinning on a listener that stays readable.
			s.log.Warn("control: accept4 failed; pausing", logging.String("socket", s.addr), logging.Err(aerr))
			time.Sleep(100 * time.Millisecond)
		default:
			s.log.Error("control: accept4 failed; no longer accepting", logging.String("socket", s.addr), logging.Err(aerr))
			return
		}
	}
}

// serve answers one request on the connection nfd and closes it.
func (s *Server) serve(nfd int) {
	// A bug in the parser must cost one connection, not PID 1.
	defer s.log.Recover("control connection")
	uid, allowed := -1, true
	if s.unix {
		cred, err := unix.GetsockoptUcred(nfd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			s.log.Warn("control: getsockopt SO_PEERCRED failed; refusing the connection", logging.Err(err))
			unix.Close(nfd)
			return
		}
		uid = int(cred.Uid)
		allowed = cred.Uid == 0 || int(cred.Uid) == os.Getuid()
		if !allowed {
			s.log.Warn("control: refused a peer that is neither root nor initbox's uid",
				logging.String("socket", s.addr), logging.Int("uid", int(cred.Uid)), logging.Int("pid", int(cred.Pid)))
		}
	}
	c := os.NewFile(uintptr(nfd), "control connection")
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.conns[c] = nil
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	defer s.log.Recover("control connection")

	c.SetDeadline(time.Now().Add(s.timeout))
	var r io.Reader = c
	var rights *rightsReader
	if rc, err := c.SyscallConn(); s.unix && err == nil {
		rights = &rightsReader{rc: rc}
		r = rights
		defer func() { closeFiles(rights.files) }()
	}
	req, err := readRequest(r)
	if err == nil && rights != nil {
		req.files = rights.files
		err = rights.err
	}
	var herr *httpError
	switch {
	case err == nil:
	case errors.As(err, &herr):
		s.log.Debug("control: bad request", logging.String("socket", s.addr), logging.Err(err))
		s.reply(c, errorResponse(herr.code, herr.msg))
		linger(c)
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.log.Debug("control: client too slow", logging.String("socket", s.addr), logging.Duration("timeout", s.timeout))
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write(appendResponse(nil, errorResponse(408, "request not received within "+s.timeout.String())))
		return
	default:
		return // errNoRequest, or the peer is gone
	}
	if !allowed {
		s.reply(c, errorResponse(403, "uid "+strconv.Itoa(uid)+" may not use the control socket: only root and initbox's uid may"))
		return
	}
	resp := s.handle(req, uid)
	if rights != nil {
		// A started program has its own copies: ours go now, not when
		// its stream ends.
		closeFiles(rights.files)
		rights.files = nil
	}
	if resp.stream == nil {
		s.reply(c, resp)
		return
	}
	c.SetReadDeadline(time.Time{})
	s.reply(c, resp)
	c.SetWriteDeadline(time.Time{})
	ended := make(chan struct{})
	defer close(ended)
	s.mu.Lock()
	s.conns[c] = ended
	s.mu.Unlock()
	resp.stream(c)
}

// maxFiles is how many descriptors a request may bring: exec's stdin,
// stdout and stderr.
const maxFiles = 3

// rightsReader reads a unix stream connection with recvmsg, keeping the
// descriptors that come with the bytes (SCM_RIGHTS).
type rightsReader struct {
	rc    syscall.RawConn
	files []*os.File
	err   error // descriptors were lost or too many: the request is refused
}

func (r *rightsReader) Read(p []byte) (int, error) {
	var n int
	var rerr error
	oob := make([]byte, unix.CmsgSpace(maxFiles*4))
	err := r.rc.Read(func(fd uintptr) bool {
		var oobn, flags int
		n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), p, oob, unix.MSG_CMSG_CLOEXEC)
		if rerr == unix.EAGAIN {
			return false
		}
		if rerr == nil {
			r.take(oob[:oobn], flags)
		}
		return true
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, os.NewSyscallError("recvmsg", rerr)
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// take keeps the descriptors of a control message, up to maxFiles.
func (r *rightsReader) take(oob []byte, flags int) {
	if flags&unix.MSG_CTRUNC != 0 {
		r.err = refuse(400, "more than "+strconv.Itoa(maxFiles)+" descriptors sent")
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		r.err = refuse(400, "malformed control message")
		return
	}
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if len(r.files) == maxFiles {
				unix.Close(fd)
				r.err = refuse(400, "more than "+strconv.Itoa(maxFiles)+" descriptors sent")
				continue
			}
			r.files = append(r.files, os.NewFile(uintptr(fd), "received descriptor"))
		}
	}
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// reply writes resp within the timeout, starting from now: the API call it
// answers may have taken longer than the read deadline (a stop waits for the
// service's stop timeout).
func (s *Server) reply(c *os.File, resp response) {
	c.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := c.Write(appendResponse(nil, resp)); err != nil {
		s.log.Debug("control: writing the response failed", logging.String("socket", s.addr), logging.Err(err))
	}
}

// linger half-closes c and drains what the client still sends, briefly:
// closing with unread bytes makes the kernel send a reset, which can destroy
// the error response before the client reads it.
func linger(c *os.File) {
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_WR) })
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	io.CopyN(io.Discard, c, 4*maxBody)
}
