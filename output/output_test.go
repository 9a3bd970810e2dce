package output

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
			if lost := Copy(NewSink(&out), Prefix("w"), strings.NewReader(tc.in)); lost != 0 {
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
			Copy(sink, Prefix(fmt.Sprintf("svc%d", s)), pr)
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
	if lost := Copy(NewSink(failingWriter{}), "x | ", strings.NewReader("a\nb\nc\n")); lost != 3 {
		t.Fatalf("lost = %d, want 3 (the copy must read to EOF regardless)", lost)
	}
}
