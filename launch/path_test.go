//go:build linux

package launch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "exe")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := []string{"PATH=" + dir}
	for _, tc := range []struct {
		name string
		env  []string
		want string
		kind error
	}{
		{"exe", path, exe, nil},
		{"/abs/given", path, "/abs/given", nil},
		{"./rel", path, "./rel", nil},
		{"sh", nil, "/sh", nil}, // default PATH: an absolute path ending in /sh
		{"noexec", path, "", ErrCannotExec},
		{"missing", path, "", ErrNotFound},
		{"adir", path, "", ErrNotFound},
		{"", path, "", ErrNotFound},
	} {
		got, err := LookPath(tc.name, tc.env)
		switch {
		case tc.kind != nil:
			if !errors.Is(err, tc.kind) {
				t.Errorf("LookPath(%q) = %q, %v; want error %v", tc.name, got, err, tc.kind)
			}
		case err != nil:
			t.Errorf("LookPath(%q) error %v", tc.name, err)
		case strings.HasPrefix(tc.want, "/sh"):
			if !filepath.IsAbs(got) || filepath.Base(got) != "sh" {
				t.Errorf("lookPath(%q) with the default PATH = %q, want an absolute path to sh", tc.name, got)
			}
		case tc.want != "" && got != tc.want:
			t.Errorf("LookPath(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestExecError(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		kind  error
	}{
		{syscall.ENOENT, ErrNotFound}, {syscall.ENOTDIR, ErrNotFound},
		{syscall.EACCES, ErrCannotExec}, {syscall.ENOEXEC, ErrCannotExec}, {syscall.EISDIR, ErrCannotExec},
		{syscall.EAGAIN, nil}, {syscall.ENOMEM, nil},
	} {
		err := ExecError(tc.errno)
		if err.Error() != tc.errno.Error() {
			t.Errorf("ExecError(%v) text %q, want the errno's own", tc.errno, err)
		}
		if !errors.Is(err, tc.errno) {
			t.Errorf("ExecError(%v) lost the errno", tc.errno)
		}
		for _, k := range []error{ErrNotFound, ErrCannotExec} {
			if errors.Is(err, k) != (k == tc.kind) {
				t.Errorf("ExecError(%v): errors.Is(%v) = %v", tc.errno, k, !(k == tc.kind))
			}
		}
	}
}
