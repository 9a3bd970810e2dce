//go:build linux

package vm

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// File type bits of the newc mode field (the st_mode values of <sys/stat.h>).
const (
	cpioDir     = 0o040000
	cpioRegular = 0o100000
	cpioCharDev = 0o020000
	cpioSymlink = 0o120000
)

// cpioMagic starts every newc header ("new ASCII" format without checksums,
// the only format the kernel's initramfs unpacker reads).
const cpioMagic = "070701"

// cpioTrailer is the name of the entry that ends an archive.
const cpioTrailer = "TRAILER!!!"

// CPIOWriter writes a newc cpio archive, the format the kernel unpacks into
// its rootfs as an initramfs (Documentation/driver-api/early-userspace/
// buffer-format.rst). Device nodes are written as headers only, so building
// an initramfs with /dev/console needs neither root nor a cpio binary.
//
// The kernel creates entries in archive order and does not create missing
// parents (a file whose directory is missing is silently dropped), so the
// writer refuses an entry whose parent directory it has not written yet.
// Names are relative ("bin/sh", never "/bin/sh"). Every entry is owned by
// root, has mtime 0 (reproducible archives) and its own inode number (the
// kernel treats regular files with nlink >= 2 and equal inode numbers as
// hard links; every file here has nlink 1).
type CPIOWriter struct {
	w      io.Writer
	ino    uint32
	names  map[string]bool // every name written
	dirs   map[string]bool // the names that are directories
	closed bool
	err    error // the first write error; every later call returns it
}

// NewCPIOWriter returns a writer of a newc archive to w. Close writes the
// trailer; it does not close w.
func NewCPIOWriter(w io.Writer) *CPIOWriter {
	return &CPIOWriter{w: w, names: map[string]bool{}, dirs: map[string]bool{".": true}}
}

// Permission bits are given as chmod takes them (0o1777 is a sticky,
// world-writable directory), not as an fs.FileMode, whose setuid, setgid and
// sticky flags live elsewhere.

// Dir adds a directory.
func (c *CPIOWriter) Dir(name string, perm uint32) error {
	if err := c.add(name, cpioDir|perm&0o7777, 2, 0, 0, nil); err != nil {
		return err
	}
	c.dirs[name] = true
	return nil
}

// File adds a regular file holding data.
func (c *CPIOWriter) File(name string, perm uint32, data []byte) error {
	return c.add(name, cpioRegular|perm&0o7777, 1, 0, 0, data)
}

// CharDev adds a character device node, e.g. CharDev("dev/console", 0o600,
// 5, 1).
func (c *CPIOWriter) CharDev(name string, perm uint32, major, minor uint32) error {
	return c.add(name, cpioCharDev|perm&0o7777, 1, major, minor, nil)
}

// Symlink adds a symbolic link to target; the target is the entry's data,
// as in every cpio format.
func (c *CPIOWriter) Symlink(name, target string) error {
	if target == "" {
		return fmt.Errorf("cpio: symlink %q: empty target", name)
	}
	return c.add(name, cpioSymlink|0o777, 1, 0, 0, []byte(target))
}

// Close writes the trailer entry. The archive is complete only after Close.
func (c *CPIOWriter) Close() error {
	if c.err != nil {
		return c.err
	}
	if c.closed {
		return nil
	}
	c.closed = true
	c.err = c.write(cpioTrailer, 0, 1, 0, 0, nil, 0)
	return c.err
}

// add checks name and writes one entry.
func (c *CPIOWriter) add(name string, mode, nlink, rmajor, rminor uint32, data []byte) error {
	if c.err != nil {
		return c.err
	}
	if c.closed {
		return errors.New("cpio: write after Close")
	}
	if err := checkName(name); err != nil {
		return err
	}
	if c.names[name] {
		return fmt.Errorf("cpio: %q written twice", name)
	}
	if parent := path.Dir(name); !c.dirs[parent] {
		return fmt.Errorf("cpio: %q comes before its directory %q (the kernel would drop it)", name, parent)
	}
	c.names[name] = true
	c.ino++
	c.err = c.write(name, mode, nlink, rmajor, rminor, data, c.ino)
	return c.err
}

// checkName accepts clean relative names such as "dev/console".
func checkName(name string) error {
	switch {
	case name == "" || name == ".":
		return fmt.Errorf("cpio: empty name")
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("cpio: %q: names are relative to the archive root (no leading /)", name)
	case path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../"):
		return fmt.Errorf("cpio: %q is not a clean relative path", name)
	case name == cpioTrailer:
		return fmt.Errorf("cpio: %q is reserved for the trailer", name)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("cpio: %q contains a NUL byte", name)
	}
	return nil
}

// write emits a newc header: the magic, then 13 fields of eight hex digits
// (ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
// rdevmajor, rdevminor, namesize including the NUL, check), then the name
// and its NUL padded so that header+name is a multiple of 4, then the data
// padded to a multiple of 4.
func (c *CPIOWriter) write(name string, mode, nlink, rmajor, rminor uint32, data []byte, ino uint32) error {
	if uint64(len(data)) > 0xffffffff {
		return fmt.Errorf("cpio: %q: %d bytes is too large for newc", name, len(data))
	}
	hdr := fmt.Sprintf("%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		cpioMagic, ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rmajor, rminor, len(name)+1, 0)
	buf := make([]byte, 0, pad4(len(hdr)+len(name)+1))
	buf = append(buf, hdr...)
	buf = append(buf, name...)
	buf = append(buf, make([]byte, pad4(len(buf)+1)-len(buf))...)
	if _, err := c.w.Write(buf); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	if _, err := c.w.Write(data); err != nil {
		return err
	}
	if n := pad4(len(data)) - len(data); n > 0 {
		_, err := c.w.Write(make([]byte, n))
		return err
	}
	return nil
}

// pad4 rounds n up to a multiple of 4.
func pad4(n int) int { return (n + 3) &^ 3 }
