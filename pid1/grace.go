//go:build linux

package pid1

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// ParseGrace reads a grace period (--grace, INITBOX_GRACE, spawn --grace):
// a Go duration ("1.5s", "300ms") or a bare number of seconds ("5").
func ParseGrace(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, fmt.Errorf("%q: want a duration such as 10s or 500ms", s)
		}
		// A float out of int64's range converts to an unspecified value
		// (math.MinInt64 on amd64): check first. NaN fails both tests.
		ns := secs * float64(time.Second)
		if ns < 0 {
			return 0, fmt.Errorf("%q: must not be negative", s)
		}
		if !(ns < float64(math.MaxInt64)) {
			return 0, fmt.Errorf("%q: too large", s)
		}
		d = time.Duration(ns)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: must not be negative", s)
	}
	return d, nil
}
