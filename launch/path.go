//go:build linux

package launch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNotFound and ErrCannotExec say why a program did not start, as the
// shell's 127 and 126 do.
var (
	ErrNotFound   = errors.New("not found")
	ErrCannotExec = errors.New("cannot execute")
)

// Foreground reports whether stdin is a terminal whose foreground process
// group is initbox's own. Only then does the program get the terminal: an
// initbox started in the background must not steal it from the shell that
// started it (tini and catatonit do).
func Foreground() bool {
	pgrp, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	if err != nil {
		return false
	}
	return pgrp == unix.Getpgrp()
}

// ExecError wraps err with ErrNotFound or ErrCannotExec as the shell would
// classify it (127 and 126).
func ExecError(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch errno {
	case syscall.ENOENT, syscall.ENOTDIR:
		return classified{ErrNotFound, err}
	case syscall.EACCES, syscall.EPERM, syscall.ENOEXEC, syscall.EISDIR,
		syscall.ETXTBSY, syscall.ELOOP, syscall.ENAMETOOLONG, syscall.ELIBBAD:
		return classified{ErrCannotExec, err}
	}
	return err
}

// classified is err, which errors.Is also matches against kind; its text
// is err's alone.
type classified struct{ kind, err error }

func (c classified) Error() string   { return c.err.Error() }
func (c classified) Unwrap() []error { return []error{c.kind, c.err} }

// defaultPath is execvp's search path when PATH is unset.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// LookPath finds name as execvp(3) would, in the PATH of env: a name with a
// slash is used as is; otherwise the first executable regular file in PATH
// wins, and if only non-executable ones exist the error is EACCES.
func LookPath(name string, env []string) (string, error) {
	if name == "" {
		return "", classified{ErrNotFound, errors.New("empty program name")}
	}
	if strings.Contains(name, "/") {
		return name, nil
	}
	path, ok := "", false
	for _, kv := range env {
		if v, found := strings.CutPrefix(kv, "PATH="); found {
			path, ok = v, true
		}
	}
	if !ok {
		path = defaultPath
	}
	denied := false
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if err := unix.Access(p, unix.X_OK); err != nil {
			denied = true
			continue
		}
		return p, nil
	}
	if denied {
		return "", classified{ErrCannotExec, syscall.EACCES}
	}
	return "", classified{ErrNotFound, errors.New("not found in PATH")}
}

// Exit statuses for a program that could not be started, as the shell
// gives them.
const (
	ExitFailure    = 1   // for a reason of initbox's own
	ExitCannotExec = 126 // the program exists but cannot be executed
	ExitNotFound   = 127 // the program was not found
)

// ExitStatus is the status for a program that could not be started:
// ExitNotFound, ExitCannotExec, or ExitFailure for any other failure.
func ExitStatus(startErr error) int {
	switch {
	case errors.Is(startErr, ErrNotFound):
		return ExitNotFound
	case errors.Is(startErr, ErrCannotExec):
		return ExitCannotExec
	}
	return ExitFailure
}
