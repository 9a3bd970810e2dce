package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/initbox/initbox/cgroup"
)

// parseSize is cgroup.ParseSize as the config reads it.
func parseSize(s string) (Bytes, error) {
	n, err := cgroup.ParseSize(s)
	return Bytes(n), err
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Bytes
		err  error // nil, one of the errSize*, or errUnit for a *cgroup.UnitError
	}{
		{"1", 1, nil},
		{"1000", 1000, nil},
		{"1000B", 1000, nil},
		{"1000 b", 1000, nil},
		{"1K", 1 << 10, nil},
		{"1k", 1 << 10, nil},
		{"1KB", 1 << 10, nil},
		{"1kib", 1 << 10, nil},
		{"64M", 64 << 20, nil},
		{"64MiB", 64 << 20, nil},
		{"64mb", 64 << 20, nil},
		{"512m", 512 << 20, nil},
		{"1.5G", 1536 << 20, nil},
		{"1.5GiB", 1536 << 20, nil},
		{".5G", 512 << 20, nil},
		{"2.G", 2 << 30, nil},
		{"1T", 1 << 40, nil},
		{"1.0000000001K", 1024, nil}, // rounded down to whole bytes
		{"0.001K", 1, nil},
		{"8388607.999999999999T", 8388607<<40 + 1099511627774, nil},
		{"9223372036854775807", math.MaxInt64, nil},
		{"  7 G ", 7 << 30, nil},
		{"max", Unlimited, nil},
		{"MAX", Unlimited, nil},
		{"0", 0, cgroup.ErrSizeZero},
		{"0K", 0, cgroup.ErrSizeZero},
		{"0.0001K", 0, cgroup.ErrSizeZero},
		{"-1", 0, cgroup.ErrSizeZero},
		{"-1G", 0, cgroup.ErrSizeZero},
		{"1.5", 0, cgroup.ErrSizeFraction},
		{"1.5B", 0, cgroup.ErrSizeFraction},
		{"9223372036854775808", 0, cgroup.ErrSizeTooLarge},
		{"8388608T", 0, cgroup.ErrSizeTooLarge},
		{"", 0, cgroup.ErrSizeSyntax},
		{".", 0, cgroup.ErrSizeSyntax},
		{"G", 0, cgroup.ErrSizeSyntax},
		{"lots", 0, cgroup.ErrSizeSyntax},
		{"1P", 0, errUnit},
		{"1XB", 0, errUnit},
		{"1..5G", 0, errUnit},
		{"1e9", 0, errUnit},
		{"1G1", 0, errUnit},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		var ue *cgroup.UnitError
		switch {
		case tt.err == errUnit:
			if !errors.As(err, &ue) {
				t.Errorf("parseSize(%q) = %v, %v; want a unit error", tt.in, got, err)
			}
		case err != tt.err || got != tt.want:
			t.Errorf("parseSize(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// errUnit stands for any *cgroup.UnitError in TestParseSize.
var errUnit = errors.New("unit")

func TestParseCPUs(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"1", 1, true},
		{"1.5", 1.5, true},
		{"0.5", 0.5, true},
		{"150%", 1.5, true},
		{"50 %", 0.5, true},
		{" 200% ", 2, true},
		{"max", Unlimited, true},
		{"Max", Unlimited, true},
		{"-1", -1, true},      // cpuProblem rejects it
		{"0.5%", 0.005, true}, // cpuProblem rejects it
		{"", 0, false},
		{"%", 0, false},
		{"two", 0, false},
		{"1.5 CPUs", 0, false},
		{"1e2", 0, false},
		{"inf", 0, false},
		{"nan", 0, false},
		{"0x10", 0, false},
		{"150%%", 0, false},
	}
	for _, tt := range tests {
		got, err := cgroup.ParseCPUs(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("cgroup.ParseCPUs(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	for f, bad := range map[float64]bool{
		0: true, -1: true, math.NaN(): true, math.Inf(1): true, 0.009: true, 10000.5: true,
		0.01: false, 1: false, 10000: false,
	} {
		if got := cpuProblem(f, "x"); (got != "") != bad {
			t.Errorf("cpuProblem(%v) = %q", f, got)
		}
	}
}

func TestBytesString(t *testing.T) {
	tests := []struct {
		b    Bytes
		want string
	}{
		{Unlimited, "max"},
		{0, "0B"},
		{1, "1B"},
		{1000, "1000B"},
		{1023, "1023B"},
		{1024, "1KiB"},
		{1536, "1.5KiB"},
		{64 << 20, "64MiB"},
		{1536 << 20, "1.5GiB"},
		{1<<30 - 1, "1GiB"},
		{1<<20 - 1, "1MiB"},
		{100<<20 + 1, "100MiB"},
		{1 << 40, "1TiB"},
		{3 << 50, "3072TiB"},
		{math.MaxInt64, "8388608TiB"},
	}
	for _, tt := range tests {
		if got := tt.b.String(); got != tt.want {
			t.Errorf("Bytes(%d).String() = %q, want %q", int64(tt.b), got, tt.want)
		}
	}
}

func TestResourcesAny(t *testing.T) {
	if NewService("x").Resources.Any() {
		t.Errorf("the default resources set a limit")
	}
	if (Resources{OOMGroup: false, OOMScoreAdj: -500, OOMScoreAdjSet: true}).Any() {
		t.Errorf("oom_group and oom_score_adj count as limits")
	}
	for _, r := range []Resources{
		{MemoryMax: 1}, {MemoryHigh: Unlimited}, {MemorySwapMax: 1}, {CPUMax: 0.5},
		{CPUWeight: 1}, {PidsMax: Unlimited}, {IOWeight: 100},
	} {
		if !r.Any() {
			t.Errorf("%+v.Any() = false", r)
		}
	}
}

func TestValidCgroupName(t *testing.T) {
	for name, want := range map[string]bool{
		"init": true, "services": true, "a-b_C9": true, strings.Repeat("a", 255): true,
		"": false, ".": false, "..": false, "a/b": false, "a.b": false, "a b": false,
		"cgroup": false, "cgroup-x": false, strings.Repeat("a", 256): false, "é": false,
	} {
		if got := validCgroupName(name); got != want {
			t.Errorf("validCgroupName(%q) = %v", name, got)
		}
	}
}

// FuzzSize checks that parseSize never panics, accepts only what a cgroup
// file takes, reads back what Bytes.String prints within its rounding, and
// reads plain decimal integers exactly.
func FuzzSize(f *testing.F) {
	for _, s := range []string{"1", "64M", "1.5GiB", "512mb", "max", "0", "-1G", "1.5", "8388608T", "1XB", ".", "9223372036854775807", " 2 k "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := parseSize(s)
		if err != nil {
			if b != 0 {
				t.Errorf("parseSize(%q) = %d and an error", s, b)
			}
			return
		}
		if b < 1 && b != Unlimited {
			t.Fatalf("parseSize(%q) = %d", s, b)
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil && Bytes(n) != b {
			t.Errorf("parseSize(%q) = %d, not the integer", s, b)
		}
		back, err := parseSize(b.String())
		if err == cgroup.ErrSizeTooLarge && float64(b) > math.MaxInt64*0.995 {
			return // rounded up past the largest size
		}
		if err != nil {
			t.Fatalf("parseSize(%q) (String of %d): %v", b.String(), b, err)
		}
		if b == Unlimited {
			if back != Unlimited {
				t.Errorf("max came back as %d", back)
			}
			return
		}
		// Two decimals of at least 1 unit: within 0.5%, and a few bytes
		// for the rounding down of the fraction.
		if diff := math.Abs(float64(back) - float64(b)); diff > float64(b)*0.005+1 {
			t.Errorf("%d printed as %q reads back as %d", b, b.String(), back)
		}
	})
}

// FuzzCPUMax checks that parseCPUs never panics and that what it and
// cpuProblem accept is a cpu.max the kernel takes.
func FuzzCPUMax(f *testing.F) {
	for _, s := range []string{"1", "1.5", "150%", "0.5%", "max", "-1", "0", "1e3", "10000", "10000.1", "two", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := cgroup.ParseCPUs(s)
		if err != nil || c == Unlimited && strings.EqualFold(strings.TrimSpace(s), "max") {
			return
		}
		if cpuProblem(c, strconv.Quote(s)) != "" {
			return
		}
		if quota := c * 100000; math.IsNaN(c) || quota < 1000 || quota > MaxCPUs*100000 {
			t.Errorf("cgroup.ParseCPUs(%q) = %v: quota %vµs per 100ms accepted", s, c, quota)
		}
	})
}
