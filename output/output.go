// Package output carries services' output to initbox's own stdout and
// stderr, one whole line at a time, each line prefixed with the service's
// name ("web | listening on :80").
//
// Each service has its own pipe and its own copying goroutine, and the
// shared writer is taken for one line at a time: lines of different
// services never mix inside a line, and a service that floods its pipe is
// slowed by its own pipe filling up, not the others (issue #3).
package output

import (
	"bufio"
	"bytes"
	"io"
	"sync"
)

// MaxLine is the longest line copied in one piece; a longer one is split
// into pieces of this size, each written as a line of its own.
const MaxLine = 16 << 10

// A Sink is a writer shared by many services' output.
type Sink struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte // guarded by mu
}

// NewSink returns a Sink writing to w.
func NewSink(w io.Writer) *Sink { return &Sink{w: w} }

// WriteLine writes prefix, line and a newline in a single Write, so that
// concurrent writers never interleave within a line. line must not hold
// the newline. Errors are returned, not retried: a stdout nobody reads
// must not stop a service (its lines are lost instead).
func (s *Sink) WriteLine(prefix string, line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(append(append(s.buf[:0], prefix...), line...), '\n')
	_, err := s.w.Write(s.buf)
	if cap(s.buf) > 2*MaxLine {
		s.buf = nil
	}
	return err
}

// Copy reads r until EOF or a read error and writes every line to sink
// with prefix ("NAME | " for a service called NAME). A last line without a
// newline is written with one. Write errors on the sink do not stop the
// copy, since a service must never block on initbox's own output; they are
// counted in the returned number of lines lost. Each line is also kept
// in keep, if not nil.
func Copy(sink *Sink, prefix string, r io.Reader, keep *Ring) (lost int) {
	br := bufio.NewReaderSize(r, MaxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(line, []byte{'\n'})
			if keep != nil {
				keep.Add(line)
			}
			if sink.WriteLine(prefix, line) != nil {
				lost++
			}
		}
		switch err {
		case nil, bufio.ErrBufferFull:
			continue
		}
		return lost
	}
}

// Prefix is the prefix of the lines of the service name.
func Prefix(name string) string { return name + " | " }

// A Ring keeps the last lines a service wrote, for `initbox ctl logs`:
// at most a number of lines and of bytes, the oldest dropped first. Safe
// for concurrent use.
type Ring struct {
	mu       sync.Mutex
	lines    []string // guarded by mu; lines[head:] are kept
	head     int      // guarded by mu
	bytes    int      // guarded by mu: bytes in lines[head:]
	maxLines int
	maxBytes int
}

// NewRing returns a Ring keeping at most maxLines lines and maxBytes bytes.
func NewRing(maxLines, maxBytes int) *Ring {
	return &Ring{maxLines: maxLines, maxBytes: maxBytes}
}

// Add keeps line (without its newline), dropping the oldest lines beyond
// the limits. A line longer than the byte limit is not kept.
func (r *Ring) Add(line []byte) {
	if len(line) > r.maxBytes || r.maxLines < 1 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.lines)-r.head >= r.maxLines || r.bytes+len(line) > r.maxBytes {
		r.bytes -= len(r.lines[r.head])
		r.lines[r.head] = ""
		r.head++
	}
	if r.head > len(r.lines)/2 {
		// Compact now and then: the slice would grow forever otherwise.
		r.lines = append(r.lines[:0], r.lines[r.head:]...)
		r.head = 0
	}
	r.lines = append(r.lines, string(line))
	r.bytes += len(line)
}

// Last returns up to n of the last lines, oldest first.
func (r *Ring) Last(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.lines[r.head:]
	if n < len(kept) {
		kept = kept[len(kept)-n:]
	}
	return append([]string(nil), kept...)
}
