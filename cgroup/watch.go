//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watcher reports changes of leaves' cgroup.events (populated, frozen) and
// memory.events (oom_kill), which the kernel signals as IN_MODIFY (runc
// libcontainer/notify_v2_linux.go does the same). The inotify fd is
// non-blocking and read through the runtime's poller, so an idle watcher
// costs neither a thread nor a wakeup (containerd/cgroups cgroup2 makes
// the same choice; DESIGN: "Idle is idle").
type watcher struct {
	f    *os.File
	out  chan struct{}
	done chan struct{}

	mu sync.Mutex
	// names maps each watch descriptor to its leaf's name, and wds each
	// leaf's name to its watch descriptors. Guarded by mu.
	names map[int32]string
	wds   map[string][]int32
	// dirty holds the leaves changed since the last call of changed.
	// Guarded by mu.
	dirty map[string]bool
}

func newWatcher() (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	w := &watcher{
		f:     os.NewFile(uintptr(fd), "inotify"),
		out:   make(chan struct{}, 1),
		done:  make(chan struct{}),
		names: map[int32]string{},
		wds:   map[string][]int32{},
		dirty: map[string]bool{},
	}
	go w.loop()
	return w, nil
}

// add watches the leaf name at dir, in place of any earlier watch of a
// leaf of that name.
func (w *watcher) add(name, dir string) error {
	w.remove(name)
	for _, f := range []string{"cgroup.events", "memory.events.local", "memory.events"} {
		file := filepath.Join(dir, f)
		wd, err := unix.InotifyAddWatch(int(w.f.Fd()), file, unix.IN_MODIFY)
		if err != nil {
			if f != "cgroup.events" && errors.Is(err, unix.ENOENT) {
				continue // no memory controller
			}
			w.remove(name)
			return fmt.Errorf("inotify_add_watch %s: %w", file, err)
		}
		w.mu.Lock()
		w.names[int32(wd)] = name
		w.wds[name] = append(w.wds[name], int32(wd))
		w.mu.Unlock()
		if f == "memory.events.local" {
			break // memory.events adds the descendants': the leaf has none
		}
	}
	return nil
}

// remove drops the watches of the leaf name. cgroupfs sends no
// IN_IGNORED when a cgroup is removed, and the watch would otherwise stay,
// counted against fs.inotify.max_user_watches, at every restart.
func (w *watcher) remove(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, wd := range w.wds[name] {
		unix.InotifyRmWatch(int(w.f.Fd()), uint32(wd))
		delete(w.names, wd)
	}
	delete(w.wds, name)
}

func (w *watcher) loop() {
	defer close(w.done)
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return // closed
		}
		w.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				// Events were lost: any leaf may have changed.
				for name := range w.wds {
					w.dirty[name] = true
				}
				continue
			}
			name, ok := w.names[ev.Wd]
			if !ok {
				continue
			}
			if ev.Mask&unix.IN_IGNORED != 0 {
				// The leaf was removed: the kernel dropped the watch.
				delete(w.names, ev.Wd)
				continue
			}
			w.dirty[name] = true
		}
		w.mu.Unlock()
		select {
		case w.out <- struct{}{}:
		default: // a wakeup is pending already
		}
	}
}

func (w *watcher) changed() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var names []string
	for n := range w.dirty {
		names = append(names, n)
	}
	clear(w.dirty)
	return names
}

func (w *watcher) close() {
	w.f.Close()
	<-w.done
}
