//go:build linux

package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Options configure Open.
type Options struct {
	// Init is the leaf that initbox and every process already in its
	// cgroup move into, when it owns that cgroup; default "init".
	Init string
	// Services is the cgroup that holds one leaf per service; default
	// "services".
	Services string
}

// A Tree is the part of the cgroup hierarchy initbox manages: one leaf
// per service under a services cgroup.
type Tree struct {
	info     Info   // where the hierarchy is mounted, for Group.Has
	base     string // the cgroup initbox manages: its own, or one it made
	services string // base/Options.Services
	owned    bool   // base was made by Open, so Close removes it
	// Controllers are enabled in the services cgroup, so every leaf has
	// them.
	Controllers []string
	// CloneInto is true when processes can be started inside a leaf by
	// clone3(CLONE_INTO_CGROUP); false when a trampoline joins the leaf
	// before exec (clone3 refused by seccomp, or kernel < 5.7).
	CloneInto bool
	// Moved is how many processes Open moved into the init leaf.
	Moved int

	w *watcher

	mu sync.Mutex
	// groups maps each leaf's name to its group. Guarded by mu.
	groups map[string]*Group
}

// Open lays out info's cgroup for services and returns the Tree, or an
// error (info.Err, when it has one) and nothing was changed.
//
// When initbox is PID 1 and every process in its cgroup is in its PID
// namespace (a container), the cgroup is initbox's: it and those processes
// move into the Init leaf, since a cgroup with processes cannot enable
// controllers for its children (the "no internal processes" rule), and
// Services goes beside it. Otherwise (on a host, or sharing the cgroup
// with processes outside the PID namespace) nobody is moved: Services goes
// under a new initbox-PID cgroup, which Close removes (issue #5: never
// touch what is not yours).
func Open(info Info, opts Options) (*Tree, error) {
	if info.Err != nil {
		return nil, info.Err
	}
	if opts.Init == "" {
		opts.Init = "init"
	}
	if opts.Services == "" {
		opts.Services = "services"
	}
	t := &Tree{info: info, base: info.Path, groups: map[string]*Group{}, CloneInto: cloneIntoCgroup()}
	own := os.Getpid() == 1
	if own {
		pids, err := readPids(filepath.Join(info.Path, "cgroup.procs"))
		if err != nil {
			return nil, err
		}
		for _, p := range pids {
			// cgroup.procs shows 0 for a process outside the reader's PID
			// namespace.
			if p == 0 {
				own = false
			}
		}
	}
	if own {
		n, err := claim(info.Path, opts.Init)
		if err != nil {
			return nil, err
		}
		t.Moved = n
	} else {
		// Not mkdir: a cgroup of that name may be another initbox's (the
		// PID 1 of another PID namespace has the same pid).
		for i := 0; ; i++ {
			t.base = filepath.Join(info.Path, fmt.Sprintf("initbox-%d", os.Getpid()))
			if i > 0 {
				t.base += fmt.Sprintf("-%d", i)
			}
			err := unix.Mkdir(t.base, 0o755)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.EEXIST) || i == 100 {
				return nil, &fs.PathError{Op: "mkdir", Path: t.base, Err: err}
			}
		}
		t.owned = true
		if err := enable(t.base); err != nil {
			t.Close()
			return nil, err
		}
	}
	t.services = filepath.Join(t.base, opts.Services)
	if err := mkdir(t.services); err != nil {
		t.Close()
		return nil, err
	}
	if err := enable(t.services); err != nil {
		t.Close()
		return nil, err
	}
	t.Controllers = readWords(filepath.Join(t.services, "cgroup.subtree_control"))
	w, err := newWatcher()
	if err != nil {
		t.Close()
		return nil, err
	}
	t.w = w
	return t, nil
}

// Path is the services cgroup's directory.
func (t *Tree) Path() string { return t.services }

// claim moves every process of cgroup dir into its leaf init and enables
// the controllers for dir's children. It loops, as moby's hack/dind does,
// because a process may arrive meanwhile (docker exec) and make the write
// to cgroup.subtree_control fail with EBUSY.
func claim(dir, init string) (moved int, err error) {
	leaf := filepath.Join(dir, init)
	if err := mkdir(leaf); err != nil {
		return 0, err
	}
	for try := 0; ; try++ {
		pids, err := readPids(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return moved, err
		}
		for _, p := range pids {
			// A process may exit before it is moved (ESRCH): nothing to do.
			if err := write(filepath.Join(leaf, "cgroup.procs"), strconv.Itoa(p)); err != nil && !errors.Is(err, unix.ESRCH) {
				return moved, err
			}
			moved++
		}
		err = enable(dir)
		if err == nil || !errors.Is(err, unix.EBUSY) || try == 10 {
			return moved, err
		}
	}
}

// enable enables in dir's cgroup.subtree_control the wanted controllers
// that dir offers: all at once, or else one by one, keeping those that
// work (opencontainers/cgroups fs2 does the same). EBUSY (processes in
// dir) is returned for the caller to retry.
func enable(dir string) error {
	offered := readWords(filepath.Join(dir, "cgroup.controllers"))
	var add []string
	for _, c := range wanted {
		if slices.Contains(offered, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	file := filepath.Join(dir, "cgroup.subtree_control")
	err := write(file, strings.Join(add, " "))
	if err == nil || errors.Is(err, unix.EBUSY) {
		return err
	}
	for _, c := range add {
		if err := write(file, c); errors.Is(err, unix.EBUSY) {
			return err
		}
	}
	return nil
}

// Close removes every leaf left (killing what is still in it) and the
// cgroups Open made, and stops watching. The init leaf stays: initbox is
// in it.
func (t *Tree) Close() error {
	if t.w != nil {
		t.w.close()
	}
	t.mu.Lock()
	groups := t.groups
	t.groups = map[string]*Group{}
	t.mu.Unlock()
	var errs []error
	for _, g := range groups {
		if err := g.remove(true); err != nil {
			errs = append(errs, err)
		}
	}
	if t.services != "" {
		if err := rmdir(t.services); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if t.owned {
		if err := rmdir(t.base); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Events receives a value whenever a leaf's cgroup.events or
// memory.events changes (it emptied, or the OOM killer struck); values
// coalesce, and Changed says which leaves.
func (t *Tree) Events() <-chan struct{} { return t.w.out }

// Changed returns the names of the leaves whose events changed since the
// last call.
func (t *Tree) Changed() []string { return t.w.changed() }

// Group is one service's leaf.
type Group struct {
	t    *Tree
	name string
	path string
}

// Create makes the leaf name (or reuses an empty one left by an earlier
// run), writes limits l to it, and watches it. A limit that cannot be
// written is an error and the leaf is removed: the caller decides whether
// to start without it (Missing says in advance what cannot be applied).
func (t *Tree) Create(name string, l Limits) (*Group, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return nil, fmt.Errorf("cgroup: bad leaf name %q", name)
	}
	g := &Group{t: t, name: name, path: filepath.Join(t.services, name)}
	if err := mkdir(g.path); err != nil {
		return nil, err
	}
	if err := l.write(g.path); err != nil {
		_ = rmdir(g.path)
		return nil, err
	}
	if err := t.w.add(name, g.path); err != nil {
		_ = rmdir(g.path)
		return nil, err
	}
	t.mu.Lock()
	t.groups[name] = g
	t.mu.Unlock()
	return g, nil
}

// Fit returns l without the limits the leaves cannot have, and for each
// of those an error wrapping ErrNoController that names the limit and its
// controller.
func (t *Tree) Fit(l Limits) (Limits, []error) {
	var errs []error
	for _, n := range l.needs() {
		if !slices.Contains(t.Controllers, n.controller) {
			errs = append(errs, fmt.Errorf("%s: %w: %s", n.key, ErrNoController, n.controller))
			n.unset()
		}
	}
	return l, errs
}

// Name is the leaf's name (the service's).
func (g *Group) Name() string { return g.name }

// Path is the leaf's directory.
func (g *Group) Path() string { return g.path }

// Has reports whether the process pid is in the leaf, as its
// /proc/PID/cgroup says (false once it is gone).
func (g *Group) Has(pid int) bool {
	own, err := ownCgroup("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	rel, ok := strings.CutPrefix(g.path, g.t.info.Mount)
	return ok && own == filepath.Join(g.t.info.root, rel)
}

// Pids returns the processes in the leaf.
func (g *Group) Pids() ([]int, error) {
	return readPids(filepath.Join(g.path, "cgroup.procs"))
}

// Signal sends sig to every process in the leaf and returns how many it
// reached. It reads the list once: a process forked after that, such as
// the helper a SIGTERM handler runs to clean up, is spared (a stop must
// not kill the stopping); Kill leaves nothing out.
func (g *Group) Signal(sig unix.Signal) (int, error) {
	pids, err := g.Pids()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pids {
		if p == 0 {
			continue
		}
		if err := unix.Kill(p, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return n, fmt.Errorf("kill %d: %w", p, err)
		}
		n++
	}
	return n, nil
}

// Kill sends SIGKILL to every process in the leaf at once, descendants
// forked meanwhile included: cgroup.kill (kernel 5.14). Where that file is
// missing, the leaf is frozen, each process is killed, and it is thawed.
func (g *Group) Kill() error {
	err := write(filepath.Join(g.path, "cgroup.kill"), "1")
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return g.freezeKill()
}

// freezeKill is Kill before cgroup.kill: frozen, the leaf's processes
// cannot fork while each is sent SIGKILL (runc's signalAllProcesses).
func (g *Group) freezeKill() error {
	freeze := filepath.Join(g.path, "cgroup.freeze")
	if err := write(freeze, "1"); err != nil {
		return err
	}
	// Freezing holds the descendants too; so does the kill (a spawn
	// scope's processes live in init/ and services/NAME/ below it).
	var errs []error
	filepath.WalkDir(g.path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_, err = (&Group{path: p}).Signal(unix.SIGKILL)
		}
		errs = append(errs, err)
		return nil
	})
	return errors.Join(append(errs, write(freeze, "0"))...)
}

// Populated reports whether any process is in the leaf.
func (g *Group) Populated() (bool, error) {
	v, err := readKey(filepath.Join(g.path, "cgroup.events"), "populated")
	return v == 1, err
}

// OOMKills is how many processes of the leaf the OOM killer has killed;
// 0 without the memory controller.
func (g *Group) OOMKills() int {
	for _, f := range []string{"memory.events.local", "memory.events"} {
		if v, err := readKey(filepath.Join(g.path, f), "oom_kill"); err == nil {
			return int(v)
		}
	}
	return 0
}

// Usage is what a leaf uses now. A figure its controller does not give
// is -1.
type Usage struct {
	MemoryBytes int64         // memory.current
	CPU         time.Duration // cpu.stat usage_usec
	Pids        int64         // pids.current
}

// Usage reads the leaf's current use.
func (g *Group) Usage() Usage {
	u := Usage{MemoryBytes: -1, CPU: -1, Pids: -1}
	if v, err := readInt(filepath.Join(g.path, "memory.current")); err == nil {
		u.MemoryBytes = v
	}
	if v, err := readKey(filepath.Join(g.path, "cpu.stat"), "usage_usec"); err == nil {
		u.CPU = time.Duration(v) * time.Microsecond
	}
	if v, err := readInt(filepath.Join(g.path, "pids.current")); err == nil {
		u.Pids = v
	}
	return u
}

// Remove removes the leaf, which must be empty.
func (g *Group) Remove() error {
	if err := g.remove(false); err != nil {
		// Still tracked, so that Tree.Close kills and removes it.
		return err
	}
	g.t.mu.Lock()
	if g.t.groups[g.name] == g {
		delete(g.t.groups, g.name)
	}
	g.t.mu.Unlock()
	return nil
}

// remove removes the leaf; with kill, whatever is still in it is killed
// first.
func (g *Group) remove(kill bool) error {
	if kill {
		if pop, err := g.Populated(); err == nil && pop {
			_ = g.Kill()
		}
	}
	err := rmdir(g.path)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		if g.t != nil && g.t.w != nil {
			g.t.w.remove(g.name)
		}
		return nil
	}
	return err
}

// mkdir makes a cgroup; one that exists is fine. A file of that name is
// not: a service called "memory.max" would name one of the kernel's files.
func mkdir(dir string) error {
	err := unix.Mkdir(dir, 0o755)
	if errors.Is(err, unix.EEXIST) {
		if st, serr := os.Lstat(dir); serr == nil && st.IsDir() {
			return nil
		}
		return &fs.PathError{Op: "mkdir", Path: dir, Err: fmt.Errorf("%w: the name is one of the cgroup's files (rename the service)", err)}
	}
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	return nil
}

// rmdir removes a cgroup, retrying EBUSY for a while: the kernel may
// still count a process that has just exited (opencontainers/cgroups
// utils.go rmdir does the same), and the last one of a killed leaf is
// gone only when its exit has been processed.
func rmdir(dir string) error {
	delay := time.Millisecond
	var err error
	for range 10 {
		err = unix.Rmdir(dir)
		if err == nil || !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
	if err != nil {
		return &fs.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}

// write writes one value to a cgroup file, in one write(2): the kernel
// acts on each write.
func write(file, val string) error {
	fd, err := unix.Open(file, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: file, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(val)); err != nil {
		return &fs.PathError{Op: "write " + strconv.Quote(val) + " to", Path: file, Err: err}
	}
	return nil
}

func readWords(file string) []string {
	data, _ := os.ReadFile(file)
	return strings.Fields(string(data))
}

func readPids(file string) ([]int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pid %q", file, f)
		}
		pids = append(pids, p)
	}
	return pids, nil
}

// readSmall reads a small cgroup file into buf in one read(2): the kernel
// gives a statistics file whole on the first read. /metrics and ctl status
// read four of them per service; os.ReadFile allocated a buffer and a File
// for each (issue #17).
func readSmall(file string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: file, Err: err}
	}
	defer unix.Close(fd)
	n, err := unix.Read(fd, buf)
	for err == unix.EINTR {
		n, err = unix.Read(fd, buf)
	}
	switch {
	case err != nil:
		return nil, &fs.PathError{Op: "read", Path: file, Err: err}
	case n == len(buf):
		return nil, fmt.Errorf("%s: longer than %d bytes", file, len(buf))
	}
	return buf[:n], nil
}

// parseCount parses a non-negative decimal, as cgroup files write counts,
// without the string conversion strconv would need.
func parseCount(b []byte) (int64, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func readInt(file string) (int64, error) {
	var buf [64]byte
	data, err := readSmall(file, buf[:])
	if err != nil {
		return 0, err
	}
	n, ok := parseCount(data)
	if !ok {
		return 0, fmt.Errorf("%s: not a count: %q", file, string(data))
	}
	return n, nil
}

// readKey reads KEY's value in a flat-keyed file ("KEY VALUE" lines) such
// as cgroup.events, memory.events or cpu.stat.
func readKey(file, key string) (int64, error) {
	var buf [1024]byte
	data, err := readSmall(file, buf[:])
	if err != nil {
		return 0, err
	}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if len(line) > len(key) && line[len(key)] == ' ' && string(line[:len(key)]) == key {
			if n, ok := parseCount(line[len(key)+1:]); ok {
				return n, nil
			}
			return 0, fmt.Errorf("%s: %s is not a count: %q", file, key, string(line))
		}
	}
	return 0, fmt.Errorf("%s: no %s", file, key)
}
