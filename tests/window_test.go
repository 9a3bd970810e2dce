//go:build linux

package tests

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sigCountArg makes the test binary (see TestMain) the program of
// TestSignalsDuringStart: it counts each signal of windowSignals it gets
// for a while, writes the counts to the file it is given and exits 3.
const sigCountArg = "-initbox.sigcount"

// windowSignals are the signals that initbox's entry point blocks and its
// signal thread takes (issue #17; without the entry point they would be
// taken beside the program's start): each reaches initbox once in a round.
func windowSignals() []syscall.Signal {
	sigs := []syscall.Signal{unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGALRM, unix.SIGPWR}
	for n := 35; n <= 64; n++ {
		sigs = append(sigs, syscall.Signal(n))
	}
	return sigs
}

// countSignals is the test binary's body under sigCountArg.
func countSignals(file string) error {
	c := make(chan os.Signal, 128)
	var sigs []os.Signal
	for _, s := range windowSignals() {
		sigs = append(sigs, s)
	}
	signal.Notify(c, sigs...)
	counts := map[syscall.Signal]int{}
	for end := time.After(300 * time.Millisecond); ; {
		select {
		case s := <-c:
			counts[s.(syscall.Signal)]++
			continue
		case <-end:
		}
		break
	}
	var b strings.Builder
	for s, n := range counts {
		fmt.Fprintf(&b, "%d %d\n", s, n)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return err
	}
	os.Exit(3)
	return nil
}

// TestSignalsDuringStart: each of windowSignals is sent once, from the
// moment initbox is executed, in rounds that begin at different points of
// its start (issue #17's decision: a signal taken late may be dropped,
// never fatal, never forwarded twice). None is fatal to initbox, none is
// forwarded twice (initbox's own debug lines, and the program's counts),
// and initbox exits with the program's status: 3, or 128+N when a
// forwarded N reached the program before its handlers were set.
func TestSignalsDuringStart(t *testing.T) {
	requirePID1(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sigs := windowSignals()
	dropped, forwarded, late, killed := 0, 0, 0, 0
	const rounds = 24
	for round := range rounds {
		out := filepath.Join(t.TempDir(), "counts")
		p := startInit(t, runSpec{mode: pid1, args: []string{"-vvv", "--", self, sigCountArg, out}})
		pid := p.hostInitPID()
		// Rounds start at 0, 0.5, 1, ... 11.5 ms after initbox is seen:
		// before its handlers, in the window, after it.
		time.Sleep(time.Duration(round) * 500 * time.Microsecond)
		for _, s := range sigs {
			unix.Kill(pid, s)
		}
		r := p.wait()
		code := r.code
		if code == -1 {
			t.Fatalf("round %d: initbox died of %v\n%s", round, r.signal, r.stderr)
		}
		log := r.stderr
		fwd := map[string]int{}
		for _, line := range strings.Split(log, "\n") {
			if _, rest, ok := strings.Cut(line, "\tforwarded\t"); ok {
				fwd[rest]++
			}
		}
		for sig, n := range fwd {
			if n > 1 {
				t.Errorf("round %d: forwarded %d times, sent once: %s", round, n, sig)
			}
		}
		gone := strings.Count(log, "child was dead when forwarding")
		forwarded += len(fwd)
		late += gone
		dropped += len(sigs) - len(fwd) - gone
		if code != 3 {
			if code > 128 && isOneOf(syscall.Signal(code-128), sigs) && strings.Contains(log, "program exited") {
				// The program died of a forwarded signal before its
				// handlers were set: the program's status, passed on.
				killed++
				continue
			}
			t.Fatalf("round %d: initbox exited %d, want the program's 3 (or 128+N for a signal sent)\n%s", round, code, log)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("round %d: the program wrote no counts: %v", round, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[1] != "1" {
				t.Errorf("round %d: signal %s reached the program %s times, sent once", round, f[0], f[1])
			}
		}
	}
	t.Logf("%d rounds of %d signals: %d forwarded, %d not (before the entry point, or pending when initbox exited), %d after the program had died; in %d rounds the program died of a forwarded one before its handlers",
		rounds, len(sigs), forwarded, dropped, late, killed)
	if forwarded == 0 {
		t.Errorf("no signal was forwarded in any round")
	}
}

func isOneOf(s syscall.Signal, set []syscall.Signal) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}
