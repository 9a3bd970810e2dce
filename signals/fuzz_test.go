package signals

import (
	"syscall"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error has a message,
// that every accepted signal is in 1..NSIG-1, and that Name of an accepted
// signal parses back to the same signal. Seeds: testdata/fuzz/FuzzParse and
// the names below.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"SIGTERM", "term", "15", " 9 ", "0", "65", "-1", "+15", "SIGKILL", "kill",
		"RTMIN", "SIGRTMIN+3", "rtmax-1", "RTMAX", "RTMIN+30", "RTMIN+31", "RTMAX-31",
		"RTMIN-1", "RTMAX+1", "RTMIN+", "IOT", "POLL", "CLD", "SIG", "", "SIG32", "32", "33",
		"SIGRTMIN+9223372036854775807", "SIGSIGTERM", "sigurg",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := Parse(s)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("Parse(%q): empty error", s)
			}
			if sig != 0 {
				t.Errorf("Parse(%q): signal %d and an error", s, sig)
			}
			return
		}
		if sig <= 0 || sig >= NSIG {
			t.Fatalf("Parse(%q) = %d: out of range", s, sig)
		}
		name := Name(sig)
		back, err := Parse(name)
		if err != nil || back != sig {
			t.Errorf("Parse(%q) = %d, Name = %q, which parses to %d, %v", s, sig, name, back, err)
		}
	})
}

// TestParseNameRoundTrip: every signal's Name parses back to it, the
// unnamed 32 and 33 ("SIG32") included (found by FuzzParse).
func TestParseNameRoundTrip(t *testing.T) {
	for n := 1; n < NSIG; n++ {
		sig := syscall.Signal(n)
		if got, err := Parse(Name(sig)); err != nil || got != sig {
			t.Errorf("Parse(Name(%d) = %q) = %d, %v", n, Name(sig), got, err)
		}
	}
}
