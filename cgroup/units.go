package cgroup

// The syntax of limit values, shared by the config file and `initbox spawn`
// flags. No build tag: config, which parses them, builds everywhere.

import (
	"errors"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Unlimited, as a limit, writes "max": no limit, explicitly.
const Unlimited = -1

// Bounds of limits, for the config and spawn's flags alike.
const (
	// MinCPUs is the kernel's smallest quota: 1 ms of every 100 ms period.
	MinCPUs = 0.01
	// MaxCPUs is more than any machine has; a larger value is a typo.
	MaxCPUs = 10000
	// MaxPids is the most pids.max takes on 64-bit Linux (PID_MAX_LIMIT).
	MaxPids = 4 << 20
)

// sizeUnit returns the multiplier of a unit of sizes given in lower case,
// 1024-based all of them: "MB" means MiB, as for Docker, since a limit
// written "512mb" (docker compose's mem_limit) surely meant what Docker
// made of it. A switch, not a package-level map: a map literal is built by
// init code on every start of the binary, tini mode included (issue #13).
func sizeUnit(lower string) (uint64, bool) {
	switch lower {
	case "", "b":
		return 1, true
	case "k", "kb", "kib":
		return 1 << 10, true
	case "m", "mb", "mib":
		return 1 << 20, true
	case "g", "gb", "gib":
		return 1 << 30, true
	case "t", "tb", "tib":
		return 1 << 40, true
	}
	return 0, false
}

// UnitNames are the size units as suggestions spell them.
var UnitNames = []string{"B", "K", "M", "G", "T", "KiB", "MiB", "GiB", "TiB"}

// SizeUnitList says in words which units a size takes.
const SizeUnitList = "B, K, M, G or T, all 1024-based; KiB, MiB, GiB and TiB are the same"

// Problems of size strings; callers word the message.
var (
	ErrSizeZero     = errors.New("below 1 byte")
	ErrSizeSyntax   = errors.New("not a size")
	ErrSizeFraction = errors.New("a fraction of a byte")
	ErrSizeTooLarge = errors.New("too large")
	ErrCPUSyntax    = errors.New("not a CPU limit")
)

// UnitError is a size whose unit is none of UnitNames.
type UnitError struct{ Num, Unit string }

func (e *UnitError) Error() string { return "unknown unit " + strconv.Quote(e.Unit) }

// ParseSize reads a size: "max" (Unlimited), or a number with an optional
// fraction and an optional unit, case-insensitive ("1.5G", "512m",
// "64 MiB", "1048576" bytes). A fraction is rounded down to whole bytes.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "max") {
		return Unlimited, nil
	}
	if strings.HasPrefix(s, "-") {
		return 0, ErrSizeZero
	}
	num, unit := splitNumber(s)
	if num == "" || num == "." {
		return 0, ErrSizeSyntax
	}
	unit = strings.TrimSpace(unit)
	mult, ok := sizeUnit(strings.ToLower(unit))
	if !ok {
		return 0, &UnitError{Num: num, Unit: unit}
	}
	whole, frac, _ := strings.Cut(num, ".")
	frac = strings.TrimRight(frac, "0")
	if mult == 1 && frac != "" {
		return 0, ErrSizeFraction
	}
	// Exact, in integers: a float64 would round "8388607.99999999T" up
	// past the largest int64, or a long fraction off by a byte.
	w, err := strconv.ParseUint("0"+whole, 10, 64)
	if err != nil {
		return 0, ErrSizeTooLarge
	}
	hi, n := bits.Mul64(w, mult)
	if hi != 0 {
		return 0, ErrSizeTooLarge
	}
	if frac != "" {
		// floor(0.FRAC × mult), from the last digit up: floor((floor(x)
		// + y) / 10) = floor((x + y) / 10) for whole y, and q stays below
		// 10 × mult, far from overflow.
		var q uint64
		for i := len(frac) - 1; i >= 0; i-- {
			q = (q + uint64(frac[i]-'0')*mult) / 10
		}
		var carry uint64
		if n, carry = bits.Add64(n, q, 0); carry != 0 {
			return 0, ErrSizeTooLarge
		}
	}
	switch {
	case n == 0:
		return 0, ErrSizeZero
	case n > math.MaxInt64:
		return 0, ErrSizeTooLarge
	}
	return int64(n), nil
}

// splitNumber splits s after its leading decimal number: digits, and at
// most one '.' followed by digits.
func splitNumber(s string) (num, rest string) {
	i, dot := 0, false
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' && !dot) {
		dot = dot || s[i] == '.'
		i++
	}
	return s[:i], s[i:]
}

// ParseCPUs reads a CPU limit: "max" (Unlimited), a percentage of one CPU
// ("150%"), or a number of CPUs ("1.5"). It checks the syntax only.
func ParseCPUs(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "max") {
		return Unlimited, nil
	}
	neg := strings.HasPrefix(s, "-")
	num, rest := splitNumber(strings.TrimPrefix(s, "-"))
	if num == "" || num == "." {
		return 0, ErrCPUSyntax
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, ErrCPUSyntax
	}
	if neg {
		f = -f
	}
	switch strings.TrimSpace(rest) {
	case "":
		return f, nil
	case "%":
		return f / 100, nil
	}
	return 0, ErrCPUSyntax
}
