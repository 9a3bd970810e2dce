//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// A Scope is a cgroup made under the process's own for a whole process
// tree (`initbox spawn`): limits for all of it, and the root of its cgroup
// namespace. Everything under it is removed with it.
type Scope struct {
	path string
}

// NewScope makes a cgroup named prefix-PID under info's cgroup (with a
// suffix if that is taken) and writes l to it. A limit whose controller it does not
// offer is an error wrapping ErrNoController, and nothing is left behind.
func NewScope(info Info, prefix string, l Limits) (*Scope, error) {
	if info.Err != nil {
		return nil, info.Err
	}
	var path string
	for i := 0; ; i++ {
		path = filepath.Join(info.Path, fmt.Sprintf("%s-%d", prefix, os.Getpid()))
		if i > 0 {
			path += fmt.Sprintf("-%d", i)
		}
		err := unix.Mkdir(path, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EEXIST) || i == 100 {
			return nil, &fs.PathError{Op: "mkdir", Path: path, Err: err}
		}
	}
	s := &Scope{path: path}
	offered := readWords(filepath.Join(path, "cgroup.controllers"))
	if _, errs := (&Tree{Controllers: offered}).Fit(l); len(errs) > 0 {
		s.Remove()
		return nil, fmt.Errorf("%w (%s offers: %v)", errors.Join(errs...), info.Path, offered)
	}
	if err := l.write(path); err != nil {
		s.Remove()
		return nil, err
	}
	// Its own cgroup.subtree_control stays empty: a cgroup that hands
	// controllers down may hold no process (EBUSY for CLONE_INTO_CGROUP).
	// A supervisor inside enables them once it has moved into init/.
	return s, nil
}

// Path is the scope's directory.
func (s *Scope) Path() string { return s.path }

// Remove kills whatever is still in the scope and removes it and every
// cgroup under it, the deepest first.
func (s *Scope) Remove() error {
	g := &Group{path: s.path}
	if pop, err := g.Populated(); err == nil && pop {
		_ = g.Kill()
	}
	return removeAll(s.path)
}

// removeAll removes the cgroup dir and the cgroups under it, children
// first (a cgroup with children cannot be removed).
func removeAll(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var errs []error
	for _, e := range ents {
		if e.IsDir() {
			errs = append(errs, removeAll(filepath.Join(dir, e.Name())))
		}
	}
	if err := rmdir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
