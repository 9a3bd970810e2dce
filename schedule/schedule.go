// Package schedule reads the `schedule` of a scheduled job (issue #18) and
// says when it runs next: a five-field cron expression, one of the
// shorthands @hourly, @daily (@midnight), @weekly, @monthly, @yearly
// (@annually), or @every DURATION.
//
// Cron fields are minute (0-59), hour (0-23), day of month (1-31), month
// (1-12 or jan-dec) and day of week (0-7 or sun-sat, 0 and 7 both Sunday),
// each `*`, a value, a range `a-b`, a step `*/n` or `a-b/n` or `a/n`, or a
// comma-separated list of those. As in cron, when both day of month and
// day of week are restricted (neither is `*`), a day matches if either
// does.
package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MinEvery is the shortest @every interval.
const MinEvery = time.Second

// A Schedule says when a job runs.
type Schedule struct {
	text  string
	every time.Duration // @every; zero for a cron expression
	// Bit n of each set is value n.
	minute, hour, dom, month, dow uint64
	domStar, dowStar              bool
}

// String is the schedule as written.
func (s *Schedule) String() string { return s.text }

// Every returns the interval of an @every schedule, or 0.
func (s *Schedule) Every() time.Duration { return s.every }

// ErrSyntax is matched by every error of Parse.
var ErrSyntax = errors.New("bad schedule")

type field struct {
	name     string
	min, max int
	names    []string // names[i] is value min+i... or nil
}

var (
	months   = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

func fields() [5]field {
	return [5]field{
		{"minute", 0, 59, nil},
		{"hour", 0, 23, nil},
		{"day of month", 1, 31, nil},
		{"month", 1, 12, months},
		{"day of week", 0, 7, weekdays},
	}
}

// shorthand is the cron expression of @yearly and the others, or "". A
// switch, not a map: nothing to build when initbox starts (issue #13).
func shorthand(name string) string {
	switch name {
	case "@yearly", "@annually":
		return "0 0 1 1 *"
	case "@monthly":
		return "0 0 1 * *"
	case "@weekly":
		return "0 0 * * 0"
	case "@daily", "@midnight":
		return "0 0 * * *"
	case "@hourly":
		return "0 * * * *"
	}
	return ""
}

// Parse reads a schedule.
func Parse(text string) (*Schedule, error) {
	s := &Schedule{text: text}
	t := strings.TrimSpace(text)
	if rest, ok := strings.CutPrefix(t, "@every"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("%w %q: @every %v", ErrSyntax, text, err)
		}
		if d < MinEvery {
			return nil, fmt.Errorf("%w %q: @every must be at least %v", ErrSyntax, text, MinEvery)
		}
		s.every = d
		return s, nil
	}
	if strings.HasPrefix(t, "@") {
		expr := shorthand(strings.ToLower(t))
		if expr == "" {
			return nil, fmt.Errorf("%w %q: unknown shorthand (@hourly, @daily, @weekly, @monthly, @yearly, @every DURATION)", ErrSyntax, text)
		}
		t = expr
	}
	parts := strings.Fields(t)
	if len(parts) != 5 {
		return nil, fmt.Errorf("%w %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", ErrSyntax, text, len(parts))
	}
	sets := [5]*uint64{&s.minute, &s.hour, &s.dom, &s.month, &s.dow}
	for i, f := range fields() {
		set, err := parseField(parts[i], f)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %s: %v", ErrSyntax, text, f.name, err)
		}
		*sets[i] = set
	}
	// Sunday is 0 and 7.
	if s.dow&(1<<7) != 0 {
		s.dow = s.dow&^(1<<7) | 1
	}
	s.domStar, s.dowStar = parts[2] == "*" || strings.HasPrefix(parts[2], "*/"), parts[4] == "*" || strings.HasPrefix(parts[4], "*/")
	return s, nil
}

func parseField(text string, f field) (uint64, error) {
	var set uint64
	for _, item := range strings.Split(text, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > f.max-f.min+1 {
				return 0, fmt.Errorf("bad step %q", stepText)
			}
			step = n
		}
		lo, hi := f.min, f.max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = value(a, f); err != nil {
				return 0, err
			}
			if hi, err = value(b, f); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %q runs backwards", rng)
			}
		default:
			v, err := value(rng, f)
			if err != nil {
				return 0, err
			}
			lo, hi = v, v
			if hasStep {
				hi = f.max // "a/n": from a to the end, every n
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, nil
}

func value(text string, f field) (int, error) {
	if n, err := strconv.Atoi(text); err == nil {
		if n < f.min || n > f.max {
			return 0, fmt.Errorf("%d is out of %d-%d", n, f.min, f.max)
		}
		return n, nil
	}
	for i, name := range f.names {
		if strings.EqualFold(text, name) {
			return f.min + i, nil
		}
	}
	if f.names != nil {
		return 0, fmt.Errorf("%q is not a number or a name (%s-%s)", text, f.names[0], f.names[len(f.names)-1])
	}
	return 0, fmt.Errorf("%q is not a number", text)
}

// Next returns the first time after t at which the job runs, in t's
// location; the zero time when there is none within five years (a
// schedule such as "0 0 30 2 *" never comes).
func (s *Schedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		return t.Add(s.every)
	}
	loc := t.Location()
	// The next whole minute, then the first match, field by field.
	t = t.Truncate(time.Minute).Add(time.Minute)
	end := t.AddDate(5, 0, 0)
	for t.Before(end) {
		if s.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
			continue
		}
		if !s.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
			continue
		}
		if s.hour&(1<<uint(t.Hour())) == 0 {
			next := time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
			if !next.After(t) {
				// A repeated hour at the end of summer time.
				next = t.Add(time.Hour).Truncate(time.Hour)
			}
			t = next
			continue
		}
		if s.minute&(1<<uint(t.Minute())) == 0 {
			t = t.Add(time.Minute)
			continue
		}
		return t
	}
	return time.Time{}
}

func (s *Schedule) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}
