package output

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestCopyLines(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"lines", "a\nb\n", "w | a\nw | b\n"},
		{"unterminated last line", "a\nb", "w | a\nw | b\n"},
		{"empty lines kept", "\n\nx\n", "w | \nw | \nw | x\n"},
		{"nothing", "", ""},
		{"long line split", strings.Repeat("x", MaxLine+3) + "\n",
			"w | " + strings.Repeat("x", MaxLine) + "\nw | xxx\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if lost := Copy(NewSink(&out), Prefix("w"), strings.NewReader(tc.in), nil); lost != 0 {
				t.Fatalf("lost %d lines", lost)
			}
			if out.String() != tc.want {
				t.Fatalf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}

// TestConcurrentWritersNeverMix runs many services writing at once, some
// through pipes in small pieces, and checks every output line is one whole
// line of one service.
func TestConcurrentWritersNeverMix(t *testing.T) {
	var out bytes.Buffer
	sink := NewSink(&out)
	const services, lines = 8, 500
	var wg sync.WaitGroup
	for s := range services {
		pr, pw := io.Pipe()
		wg.Add(2)
		go func() {
			defer wg.Done()
			Copy(sink, Prefix(fmt.Sprintf("svc%d", s)), pr, nil)
		}()
		go func() {
			defer wg.Done()
			defer pw.Close()
			for i := range lines {
				line := fmt.Sprintf("svc%d line %d %s\n", s, i, strings.Repeat("z", i%50))
				// Write in two pieces so that a line arrives split.
				pw.Write([]byte(line[:len(line)/2]))
				pw.Write([]byte(line[len(line)/2:]))
			}
		}()
	}
	wg.Wait()
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != services*lines {
		t.Fatalf("%d lines, want %d", len(got), services*lines)
	}
	for _, l := range got {
		name, rest, ok := strings.Cut(l, " | ")
		if !ok || !strings.HasPrefix(rest, name+" line ") {
			t.Fatalf("mixed or malformed line %q", l)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("EPIPE") }

func TestSinkErrorsDoNotStopCopy(t *testing.T) {
	if lost := Copy(NewSink(failingWriter{}), "x | ", strings.NewReader("a\nb\nc\n"), nil); lost != 3 {
		t.Fatalf("lost = %d, want 3 (the copy must read to EOF regardless)", lost)
	}
}

// TestRing: the last lines within both limits, oldest first, through many
// wraps; Copy keeps what it copies.
func TestRing(t *testing.T) {
	for _, tc := range []struct {
		name            string
		maxLines, bytes int
		in              []string
		n               int
		want            []string
	}{
		{"empty", 3, 100, nil, 10, nil},
		{"fewer than kept", 3, 100, []string{"a", "b"}, 10, []string{"a", "b"}},
		{"line limit", 3, 100, []string{"a", "b", "c", "d", "e"}, 10, []string{"c", "d", "e"}},
		{"byte limit", 10, 6, []string{"aaa", "bbb", "ccc"}, 10, []string{"bbb", "ccc"}},
		{"last n", 10, 100, []string{"a", "b", "c"}, 2, []string{"b", "c"}},
		{"too long a line", 10, 4, []string{"a", "12345", "b"}, 10, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRing(tc.maxLines, tc.bytes)
			for _, l := range tc.in {
				r.Add([]byte(l))
			}
			if got := r.Last(tc.n); !slices.Equal(got, tc.want) {
				t.Errorf("Last(%d) = %q, want %q", tc.n, got, tc.want)
			}
		})
	}
	r := NewRing(100, 1<<20)
	for i := range 10000 {
		r.Add([]byte(fmt.Sprint(i)))
	}
	got := r.Last(1000)
	if len(got) != 100 || got[0] != "9900" || got[99] != "9999" || r.bytes != 400 || len(r.lines) > 300 {
		t.Errorf("after 10000 lines: %d kept, first %q, last %q, %d bytes, backing %d", len(got), got[0], got[len(got)-1], r.bytes, len(r.lines))
	}
	keep := NewRing(10, 100)
	var out bytes.Buffer
	Copy(NewSink(&out), "x | ", strings.NewReader("one\ntwo\nthree"), keep)
	if got := keep.Last(10); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Errorf("Copy kept %q", got)
	}
}
