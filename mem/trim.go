//go:build linux

package mem

import (
	"runtime/debug"
	"sync/atomic"
	"time"
)

// A Trimmer gives memory back after work: a while after the first Touch
// since it last trimmed, it runs a collection, returns the free heap to
// the kernel (debug.FreeOSMemory) and lets go of the binary's pages that
// the work mapped in (ReleaseStartup). Issue #17: a supervisor whose
// restarts, checks and `initbox ctl` requests had mapped back 2.3 MiB of
// its binary and grown its heap by 1.2 MiB in three minutes of the stack.
//
// It wakes only after work, never on its own: an idle initbox stays
// idle (DESIGN: "Idle is idle"). Touch is cheap enough for every event.
type Trimmer struct {
	after  time.Duration
	failed func(error)
	armed  atomic.Bool
	trims  atomic.Int64
}

// NewTrimmer returns a Trimmer that trims after d; failed is told why a
// trim could not release the binary's pages.
func NewTrimmer(d time.Duration, failed func(error)) *Trimmer {
	return &Trimmer{after: d, failed: failed}
}

// Touch says that work was done: a trim follows within d, unless one is
// already due.
func (t *Trimmer) Touch() {
	if t.armed.CompareAndSwap(false, true) {
		time.AfterFunc(t.after, t.trim)
	}
}

// TrimAfter trims once d has passed, whether or not a Touch has armed a
// trim: for the end of a start-up, sooner than the Trimmer's own delay.
func (t *Trimmer) TrimAfter(d time.Duration) { time.AfterFunc(d, t.trim) }

// Trims returns how many trims have run.
func (t *Trimmer) Trims() int64 { return t.trims.Load() }

func (t *Trimmer) trim() {
	// Work from here on arms the next one.
	t.armed.Store(false)
	debug.FreeOSMemory()
	if err := ReleaseStartup(); err != nil && t.failed != nil {
		t.failed(err)
	}
	t.trims.Add(1)
}
