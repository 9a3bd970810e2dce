//go:build linux

package mem

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// gcPercent reads the GOGC in effect.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

func TestApply(t *testing.T) {
	old, oldRate := gcPercent(), runtime.MemProfileRate
	t.Cleanup(func() { debug.SetGCPercent(old); runtime.MemProfileRate = oldRate })
	for _, tc := range []struct {
		name    string
		env     map[string]string
		before  int
		want    int  // GOGC after
		set     bool // Apply's answer
		profile bool // MemProfileRate left as it was
	}{
		{"initbox's target", nil, 100, GCPercent, true, false},
		{"GOGC overrides", map[string]string{"GOGC": "200"}, 200, 200, false, false},
		{"GOGC=off overrides", map[string]string{"GOGC": "off"}, -1, -1, false, false},
		{"GOMEMLIMIT overrides", map[string]string{"GOMEMLIMIT": "64MiB"}, 100, 100, false, false},
		{"GODEBUG memprofilerate kept", map[string]string{"GODEBUG": "gctrace=1,memprofilerate=1"}, 100, GCPercent, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The runtime read GOGC at start; the test sets what it read.
			debug.SetGCPercent(tc.before)
			runtime.MemProfileRate = 4096
			if set := Apply(env(tc.env)); set != tc.set {
				t.Errorf("Apply = %v, want %v", set, tc.set)
			}
			if p := gcPercent(); p != tc.want {
				t.Errorf("GOGC in effect %d, want %d", p, tc.want)
			}
			if kept := runtime.MemProfileRate == 4096; kept != tc.profile {
				t.Errorf("MemProfileRate = %d, kept %v, want kept %v", runtime.MemProfileRate, kept, tc.profile)
			}
		})
	}
}

func TestReadOnlyOf(t *testing.T) {
	dev := uint64(0x801) // 08:01
	for _, tc := range []struct {
		line       string
		start, end uint64
		ok         bool
	}{
		{"00400000-005ef000 r-xp 00000000 08:01 1234       /bin/initbox", 0x400000, 0x5ef000, true},
		{"005ef000-00808000 r--p 001ef000 08:01 1234       /bin/initbox", 0x5ef000, 0x808000, true},
		{"00808000-0081a000 rw-p 00408000 08:01 1234       /bin/initbox", 0, 0, false}, // writable: its data
		{"00400000-005ef000 r-xs 00000000 08:01 1234       /bin/initbox", 0, 0, false}, // shared
		{"00400000-005ef000 r-xp 00000000 08:01 1235       /bin/other", 0, 0, false},
		{"00400000-005ef000 r-xp 00000000 08:02 1234       /other/fs", 0, 0, false},
		{"7ffe75056000-7ffe75077000 rw-p 00000000 00:00 0  [stack]", 0, 0, false},
		{"7f5f00c49000-7f5f00c4b000 r-xp 00000000 00:00 0  [vdso]", 0, 0, false},
		{"garbage", 0, 0, false},
	} {
		s, e, ok := readOnlyOf([]byte(tc.line), dev, 1234)
		if s != tc.start || e != tc.end || ok != tc.ok {
			t.Errorf("%q: %#x-%#x %v, want %#x-%#x %v", tc.line, s, e, ok, tc.start, tc.end, tc.ok)
		}
	}
}

// TestReleaseStartup releases the test binary's own pages and goes on
// running: what runs next faults its pages back.
func TestReleaseStartup(t *testing.T) {
	if _, err := os.Stat("/proc/self/maps"); err != nil {
		t.Skip("no /proc")
	}
	before := rssFile(t)
	if err := ReleaseStartup(); err != nil {
		t.Fatal(err)
	}
	if after := rssFile(t); after >= before {
		t.Errorf("RssFile %d kB before, %d kB after: nothing released", before, after)
	}
	if err := ReleaseStartup(); err != nil {
		t.Fatal(err)
	}
}

// rssFile reads RssFile (kB) from /proc/self/status.
func rssFile(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestTrimmer: a Touch leads to one trim after the delay, however many
// Touches come meanwhile; without a Touch, none.
func TestTrimmer(t *testing.T) {
	failed := make(chan error, 8)
	tr := NewTrimmer(50*time.Millisecond, func(err error) { failed <- err })
	time.Sleep(100 * time.Millisecond)
	if n := tr.Trims(); n != 0 {
		t.Fatalf("%d trims without a Touch", n)
	}
	for range 10 {
		tr.Touch()
	}
	deadline := time.Now().Add(5 * time.Second)
	for tr.Trims() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := tr.Trims(); n != 1 {
		t.Fatalf("%d trims after 10 Touches within the delay, want 1", n)
	}
	tr.Touch()
	for tr.Trims() == 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := tr.Trims(); n != 2 {
		t.Fatalf("%d trims after a Touch following a trim, want 2", n)
	}
	select {
	case err := <-failed:
		t.Fatal(err)
	default:
	}
}
