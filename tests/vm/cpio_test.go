//go:build linux

package vm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cpioEntry is one parsed newc entry.
type cpioEntry struct {
	name                        string
	ino, mode, uid, gid, nlink  uint32
	mtime                       uint32
	rdevMajor, rdevMinor, check uint32
	data                        []byte
}

// readNewc parses a whole newc archive up to and excluding its trailer,
// checking the magic, the 4-byte alignment of names and data and that
// nothing but padding follows the trailer.
func readNewc(b []byte) ([]cpioEntry, error) {
	var out []cpioEntry
	off := 0
	for {
		if off%4 != 0 {
			return nil, fmt.Errorf("entry at %d is not 4-byte aligned", off)
		}
		if len(b)-off < 110 {
			return nil, fmt.Errorf("truncated header at %d", off)
		}
		h := b[off : off+110]
		if string(h[:6]) != cpioMagic {
			return nil, fmt.Errorf("bad magic %q at %d", h[:6], off)
		}
		var f [13]uint32
		for i := range f {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return nil, fmt.Errorf("field %d at %d: %v", i, off, err)
			}
			f[i] = uint32(v)
		}
		size, namesize := int(f[6]), int(f[11])
		nameStart := off + 110
		if namesize < 1 || nameStart+namesize > len(b) {
			return nil, fmt.Errorf("bad namesize %d at %d", namesize, off)
		}
		if b[nameStart+namesize-1] != 0 {
			return nil, fmt.Errorf("name at %d is not NUL-terminated", off)
		}
		name := string(b[nameStart : nameStart+namesize-1])
		dataStart := pad4(nameStart + namesize)
		for _, p := range b[nameStart+namesize : dataStart] {
			if p != 0 {
				return nil, fmt.Errorf("non-zero name padding after %q", name)
			}
		}
		if dataStart+size > len(b) {
			return nil, fmt.Errorf("%q: data runs past the end", name)
		}
		e := cpioEntry{name: name, ino: f[0], mode: f[1], uid: f[2], gid: f[3], nlink: f[4], mtime: f[5],
			rdevMajor: f[9], rdevMinor: f[10], check: f[12], data: b[dataStart : dataStart+size]}
		off = pad4(dataStart + size)
		if name == cpioTrailer {
			if off != len(b) {
				return nil, fmt.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out, nil
		}
		out = append(out, e)
	}
}

// writeSample writes an archive with every kind of entry, with names and
// data of lengths that exercise each padding case.
func writeSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewCPIOWriter(&buf)
	steps := []error{
		w.Dir("bin", 0o755),
		w.File("bin/a", 0o755, []byte("#!/bin/sh\n")), // 10 bytes: 2 of padding
		w.File("bin/ab", 0o644, []byte("1234")),       // no padding
		w.File("bin/abc", 0o600, nil),                 // empty
		w.Symlink("bin/sh", "busybox"),
		w.Dir("dev", 0o755),
		w.CharDev("dev/console", 0o600, 5, 1),
		w.Dir("tmp", 0o1777),
		w.File("init", 0o755, []byte("x")),
		w.Close(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	return buf.Bytes()
}

func TestCPIOWriterRoundTrip(t *testing.T) {
	b := writeSample(t)
	entries, err := readNewc(b)
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	want := []struct {
		name         string
		mode         uint32
		nlink        uint32
		major, minor uint32
		data         string
	}{
		{"bin", cpioDir | 0o755, 2, 0, 0, ""},
		{"bin/a", cpioRegular | 0o755, 1, 0, 0, "#!/bin/sh\n"},
		{"bin/ab", cpioRegular | 0o644, 1, 0, 0, "1234"},
		{"bin/abc", cpioRegular | 0o600, 1, 0, 0, ""},
		{"bin/sh", cpioSymlink | 0o777, 1, 0, 0, "busybox"},
		{"dev", cpioDir | 0o755, 2, 0, 0, ""},
		{"dev/console", cpioCharDev | 0o600, 1, 5, 1, ""},
		{"tmp", cpioDir | 0o1777, 2, 0, 0, ""},
		{"init", cpioRegular | 0o755, 1, 0, 0, "x"},
	}
	if len(entries) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(entries), len(want), entries)
	}
	inos := map[uint32]bool{}
	for i, w := range want {
		e := entries[i]
		if e.name != w.name || e.mode != w.mode || e.nlink != w.nlink || e.rdevMajor != w.major ||
			e.rdevMinor != w.minor || string(e.data) != w.data {
			t.Errorf("entry %d: got %q mode %o nlink %d rdev %d:%d data %q; want %q mode %o nlink %d rdev %d:%d data %q",
				i, e.name, e.mode, e.nlink, e.rdevMajor, e.rdevMinor, e.data, w.name, w.mode, w.nlink, w.major, w.minor, w.data)
		}
		if e.uid != 0 || e.gid != 0 || e.mtime != 0 || e.check != 0 {
			t.Errorf("%s: uid %d gid %d mtime %d check %d, want all 0", e.name, e.uid, e.gid, e.mtime, e.check)
		}
		if inos[e.ino] || e.ino == 0 {
			t.Errorf("%s: inode %d is zero or reused", e.name, e.ino)
		}
		inos[e.ino] = true
	}
}

// TestCPIOWriterWithCpio lists and extracts the archive with GNU cpio, an
// independent reader, when it is installed. Extraction runs without root, so
// the device node is left out of it (mknod needs CAP_MKNOD).
func TestCPIOWriterWithCpio(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		unmet(t, "cpio is not installed (apt-get install cpio); TestCPIOWriterRoundTrip parses the headers itself")
	}
	b := writeSample(t)
	cmd := exec.Command("cpio", "-t", "--quiet")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	want := []string{"bin", "bin/a", "bin/ab", "bin/abc", "bin/sh", "dev", "dev/console", "tmp", "init"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("cpio -t lists %q, want %q", got, want)
	}

	dir := t.TempDir()
	cmd = exec.Command("cpio", "-i", "--quiet", "--make-directories", "--no-absolute-filenames",
		"bin", "bin/*", "init", "tmp")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(b)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "bin/a")); err != nil || string(got) != "#!/bin/sh\n" {
		t.Errorf("bin/a extracted as %q, %v", got, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || target != "busybox" {
		t.Errorf("bin/sh extracted as a link to %q, %v", target, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin/a")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/a mode: %v, %v", fi, err)
	}
}

func TestCPIOWriterRefuses(t *testing.T) {
	cases := []struct {
		name string
		do   func(w *CPIOWriter) error
		want string
	}{
		{"leading slash", func(w *CPIOWriter) error { return w.Dir("/bin", 0o755) }, "no leading /"},
		{"missing parent", func(w *CPIOWriter) error { return w.File("bin/sh", 0o755, nil) }, "before its directory"},
		{"not clean", func(w *CPIOWriter) error { return w.Dir("bin/", 0o755) }, "not a clean"},
		{"dot dot", func(w *CPIOWriter) error { return w.Dir("../x", 0o755) }, "not a clean"},
		{"empty", func(w *CPIOWriter) error { return w.Dir("", 0o755) }, "empty name"},
		{"trailer name", func(w *CPIOWriter) error { return w.File(cpioTrailer, 0o644, nil) }, "reserved"},
		{"twice", func(w *CPIOWriter) error { _ = w.Dir("a", 0o755); return w.Dir("a", 0o755) }, "twice"},
		{"parent is a file", func(w *CPIOWriter) error { _ = w.File("f", 0o644, nil); return w.File("f/g", 0o644, nil) }, "before its directory"},
		{"empty link", func(w *CPIOWriter) error { return w.Symlink("l", "") }, "empty target"},
		{"after close", func(w *CPIOWriter) error { _ = w.Close(); return w.Dir("a", 0o755) }, "after Close"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.do(NewCPIOWriter(&bytes.Buffer{}))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
