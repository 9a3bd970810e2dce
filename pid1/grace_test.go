//go:build linux

package pid1

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseDuration checks that ParseGrace never panics, that every
// error has a message, that what it accepts is not negative, and that an
// accepted duration printed by time.Duration.String parses back to itself.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"10s", "500ms", "5", "1.5", "0", "-0", "-1s", "-1", "1h2m3.5s", "", "soon", "1e300", "9.3e9",
		"9.2e9", "NaN", "Inf", "-Inf", "+Inf", "0x10", "1_0", "2562047h47m16.854775807s", "2562048h", ".5", "5.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseGrace(s)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("ParseGrace(%q): empty error", s)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseGrace(%q) = %v: negative", s, d)
		}
		back, err := ParseGrace(d.String())
		if err != nil || back != d {
			t.Errorf("ParseGrace(%q) = %v, which parses back to %v, %v", s, d, back, err)
		}
	})
}

// TestParseDurationOutOfRange: a number of seconds beyond what a Duration
// holds is refused as too large (found by FuzzParseDuration: the float
// conversion gave math.MinInt64 on amd64), and NaN is refused.
func TestParseDurationOutOfRange(t *testing.T) {
	for _, s := range []string{"1e300", "9.3e9", "NaN", "+Inf"} {
		if d, err := ParseGrace(s); err == nil {
			t.Errorf("ParseGrace(%q) = %v, want an error", s, d)
		}
	}
	if _, err := ParseGrace("1e300"); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("ParseGrace(1e300): %v, want too large", err)
	}
	if d, err := ParseGrace("9.2e9"); err != nil || d != 9_200_000_000*time.Second {
		t.Errorf("ParseGrace(9.2e9) = %v, %v", d, err)
	}
}
