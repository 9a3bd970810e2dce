//go:build linux

package notify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// MaxDatagram is the largest datagram read whole; a bigger one is
// truncated and its Message carries an Err.
const MaxDatagram = 4 << 10

// maxAddr is the longest socket address, path or "@name": sun_path is 108
// bytes and the kernel wants room for a path's NUL.
const maxAddr = len(unix.RawSockaddrUnix{}.Path) - 1

// queue is how many parsed messages wait for a slow consumer before the
// reader stops reading; senders then queue in the kernel and block.
const queue = 16

// Socket is one service's NOTIFY_SOCKET: a unixgram socket with
// SO_PASSCRED, so each message comes with its sender's pid and uid
// (SCM_CREDENTIALS, filled in by the kernel).
type Socket struct {
	path string
	f    *os.File
	msgs chan Message
	done chan struct{} // closed by Close: the reader stops
	read chan struct{} // closed when the reader has stopped
	once sync.Once
	err  error // Close's, kept for repeated calls
}

// Listen makes the socket at path, removing a stale socket there (but no
// other kind of file), readable and writable by everyone (0666: the
// service may run as another user; who sent what is checked per message),
// and starts reading it. A path beginning with '@' is in the abstract
// namespace and has no file; either kind is at most 107 bytes.
func Listen(path string) (*Socket, error) {
	if err := checkAddr(path); err != nil {
		return nil, err
	}
	abstract := path[0] == '@'
	if !abstract {
		fi, err := os.Lstat(path)
		switch {
		case err == nil && fi.Mode().Type() == fs.ModeSocket:
			// Left by an earlier run; nobody can be reading it, since
			// initbox owns every notify socket it makes.
			if err := os.Remove(path); err != nil {
				return nil, fmt.Errorf("notify: %w", err)
			}
		case err == nil:
			return nil, fmt.Errorf("notify: %s exists and is not a socket", path)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("notify: %w", err)
		}
	}
	// Non-blocking, so that os.NewFile hands it to the runtime's poller
	// and the reader parks a goroutine, not a thread.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", os.NewSyscallError("socket", err))
	}
	fail := func(err error) (*Socket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("notify: %s: %w", path, err)
	}
	// Before bind, so that no datagram arrives without credentials.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		return fail(os.NewSyscallError("setsockopt(SO_PASSCRED)", err))
	}
	// Writable by every user (connecting needs write permission; who
	// sent what is checked per message) through the umask at bind, not a
	// chmod by name, which would follow a symlink put in its place.
	old := unix.Umask(0o111)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	unix.Umask(old)
	if err != nil {
		return fail(os.NewSyscallError("bind", err))
	}
	s := &Socket{
		path: path,
		f:    os.NewFile(uintptr(fd), path),
		msgs: make(chan Message, queue),
		done: make(chan struct{}),
		read: make(chan struct{}),
	}
	go s.readLoop()
	return s, nil
}

// Path is the address given to Listen: the service's NOTIFY_SOCKET.
func (s *Socket) Path() string { return s.path }

// Messages delivers each datagram with its sender, in order of arrival.
// None is dropped: while the consumer is behind, the socket is not read
// and senders block. The channel is closed by Close.
func (s *Socket) Messages() <-chan Message { return s.msgs }

// Close stops reading, closes the socket and removes its file. Messages
// already delivered stay in the channel. It may be called more than once.
func (s *Socket) Close() error {
	s.once.Do(func() {
		close(s.done)
		// Wakes the reader if it is parked in the poller.
		err := s.f.Close()
		<-s.read
		close(s.msgs)
		if s.path[0] != '@' {
			if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
				err = rerr
			}
		}
		if err != nil {
			s.err = fmt.Errorf("notify: %w", err)
		}
	})
	return s.err
}

func (s *Socket) readLoop() {
	defer close(s.read)
	rc, err := s.f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, MaxDatagram)
	// Room for the credentials and for as many descriptors as one
	// message can carry (SCM_MAX_FD), which must be closed, not leaked.
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(253*4))
	for {
		var (
			n, oobn, flags int
			rerr           error
		)
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		var m Message
		switch {
		case rerr == unix.EINTR:
			continue
		case rerr != nil:
			m.Err = fmt.Errorf("notify: %w", os.NewSyscallError("recvmsg", rerr))
		default:
			m = message(buf[:n], flags, oob[:oobn])
		}
		select {
		case s.msgs <- m:
		case <-s.done:
			return
		}
	}
}

// message parses one datagram and its control messages.
func message(b []byte, flags int, oob []byte) Message {
	m, err := Parse(b)
	if flags&unix.MSG_TRUNC != 0 {
		err = errors.Join(fmt.Errorf("notify: datagram longer than %d bytes, truncated", MaxDatagram), err)
	}
	m.Err = err
	cmsgs, _ := unix.ParseSocketControlMessage(oob)
	for i := range cmsgs {
		c := &cmsgs[i]
		if c.Header.Level != unix.SOL_SOCKET {
			continue
		}
		switch c.Header.Type {
		case unix.SCM_CREDENTIALS:
			if cred, err := unix.ParseUnixCredentials(c); err == nil {
				m.Pid, m.Uid = int(cred.Pid), int(cred.Uid)
			}
		case unix.SCM_RIGHTS:
			// FDSTORE=1 and friends are not supported; the
			// descriptors arrived in initbox all the same. The one of
			// BARRIER=1 is kept for the receiver to close.
			fds, _ := unix.ParseUnixRights(c)
			for _, fd := range fds {
				if m.BarrierFD == nil && m.barrier {
					unix.CloseOnExec(fd)
					m.BarrierFD = os.NewFile(uintptr(fd), "barrier")
					continue
				}
				unix.Close(fd)
			}
		}
	}
	return m
}

// Barrier sends BARRIER=1 with a pipe's write end to addr and waits, up
// to timeout, until the receiver closes it: then every message sent
// before has been handled (sd_notify_barrier(3)). `initbox notify` calls it
// so that it is still alive, and its sender pid can be checked, while its
// messages are handled.
func Barrier(addr string, timeout time.Duration) error {
	if err := checkAddr(addr); err != nil {
		return err
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("notify: %w", os.NewSyscallError("pipe2", err))
	}
	defer unix.Close(p[0])
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		unix.Close(p[1])
		return fmt.Errorf("notify: %w", os.NewSyscallError("socket", err))
	}
	// Not blocking: a receiver whose queue is full answers no barrier
	// either, and the timeout below must hold.
	err = unix.Sendmsg(fd, []byte("BARRIER=1"), unix.UnixRights(p[1]), &unix.SockaddrUnix{Name: addr}, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
	unix.Close(fd)
	unix.Close(p[1])
	if err != nil {
		return fmt.Errorf("notify: %s: %w", addr, os.NewSyscallError("sendmsg", err))
	}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("notify: %s: no answer to BARRIER=1 within %v", addr, timeout)
		}
		fds := []unix.PollFd{{Fd: int32(p[0]), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("notify: %w", os.NewSyscallError("poll", err))
		}
		if n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return nil
		}
	}
}

// Send sends state (e.g. "READY=1\nSTATUS=up") to the socket named by addr,
// as $NOTIFY_SOCKET names it: an absolute path, or "@name" for the abstract
// namespace. It is what `initbox notify` calls. It blocks while the
// receiver's queue is full.
func Send(addr, state string) error {
	if err := checkAddr(addr); err != nil {
		return err
	}
	if addr[0] != '/' && addr[0] != '@' {
		return fmt.Errorf("notify: socket %q is neither an absolute path nor @abstract", addr)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("notify: %w", os.NewSyscallError("socket", err))
	}
	defer unix.Close(fd)
	// No credentials are attached here: the receiver's SO_PASSCRED makes
	// the kernel add the true ones.
	if err := unix.Sendto(fd, []byte(state), unix.MSG_NOSIGNAL, &unix.SockaddrUnix{Name: addr}); err != nil {
		return fmt.Errorf("notify: %s: %w", addr, os.NewSyscallError("sendto", err))
	}
	return nil
}

func checkAddr(addr string) error {
	switch {
	case addr == "":
		return errors.New("notify: no socket address")
	case len(addr) > maxAddr:
		return fmt.Errorf("notify: socket address %q is %d bytes, longer than %d", clip(addr), len(addr), maxAddr)
	}
	return nil
}
