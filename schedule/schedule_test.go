package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
)

func TestNext(t *testing.T) {
	utc := time.UTC
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, utc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		sched, from, want string
	}{
		{"* * * * *", "2026-12-07 10:00:30", "2026-12-07 10:01:00"},
		{"*/5 * * * *", "2026-12-07 10:01:00", "2026-12-07 10:05:00"},
		{"*/5 * * * *", "2026-12-07 10:05:00", "2026-12-07 10:10:00"},
		{"0 3 * * *", "2026-12-07 10:00:00", "2026-12-08 03:00:00"},
		{"30 2 1 * *", "2026-12-07 10:00:00", "2027-01-01 02:30:00"},
		{"0 0 * * mon-fri", "2026-12-11 12:00:00", "2026-12-14 00:00:00"}, // Friday -> Monday
		{"0 0 * * 7", "2026-12-07 12:00:00", "2026-12-13 00:00:00"},       // 7 is Sunday
		{"0 0 13 * fri", "2026-12-07 00:00:00", "2026-12-11 00:00:00"},    // day of month OR day of week
		{"15,45 9-10 * jan,dec *", "2026-12-07 10:50:00", "2026-12-08 09:15:00"},
		{"5/20 * * * *", "2026-12-07 10:06:00", "2026-12-07 10:25:00"},
		{"0 0 29 2 *", "2026-03-01 00:00:00", "2028-02-29 00:00:00"},
		{"@hourly", "2026-12-07 10:00:00", "2026-12-07 11:00:00"},
		{"@daily", "2026-12-07 10:00:00", "2026-12-08 00:00:00"},
		{"@weekly", "2026-12-07 10:00:00", "2026-12-13 00:00:00"},
		{"@monthly", "2026-12-07 10:00:00", "2027-01-01 00:00:00"},
		{"@yearly", "2026-12-07 10:00:00", "2027-01-01 00:00:00"},
		{"@every 90s", "2026-12-07 10:00:00", "2026-12-07 10:01:30"},
		{"0 0 30 2 *", "2026-12-07 10:00:00", "0001-01-01 00:00:00"}, // never
	} {
		s, err := Parse(tc.sched)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.sched, err)
			continue
		}
		got := s.Next(at(tc.from))
		if tc.want == "0001-01-01 00:00:00" {
			if !got.IsZero() {
				t.Errorf("%q from %s: %v, want never", tc.sched, tc.from, got)
			}
			continue
		}
		if want := at(tc.want); !got.Equal(want) {
			t.Errorf("%q from %s: %v, want %v", tc.sched, tc.from, got, want)
		}
	}
}

// TestNextTimeZone: the day boundaries are those of the location given.
func TestNextTimeZone(t *testing.T) {
	// time/tzdata (imported by this test alone) makes the zone known
	// everywhere: the test never skips.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := Parse("30 2 * * *")
	// 2026-03-08 is the spring-forward day in New York: 02:30 does not
	// exist; the next run is the day after.
	from := time.Date(2026, 3, 7, 12, 0, 0, 0, ny)
	got := s.Next(from)
	if want := time.Date(2026, 3, 9, 2, 30, 0, 0, ny); !got.Equal(want) {
		t.Errorf("next after %v: %v, want %v", from, got, want)
	}
	if got.Location() != ny {
		t.Errorf("location %v", got.Location())
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ sched, want string }{
		{"", "want 5 fields"},
		{"* * * *", "want 5 fields"},
		{"60 * * * *", "minute: 60 is out of 0-59"},
		{"* 24 * * *", "hour: 24 is out of 0-23"},
		{"* * 0 * *", "day of month: 0 is out of 1-31"},
		{"* * * 13 *", "month: 13 is out of 1-12"},
		{"* * * foo *", `month: "foo" is not a number or a name`},
		{"* * * * 8", "day of week: 8 is out of 0-7"},
		{"*/0 * * * *", "bad step"},
		{"5-1 * * * *", "runs backwards"},
		{"@sometimes", "unknown shorthand"},
		{"@every 500ms", "at least 1s"},
		{"@every", "@every"},
		{"@every x", "@every"},
	} {
		_, err := Parse(tc.sched)
		if err == nil || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an ErrSyntax with %q", tc.sched, err, tc.want)
		}
	}
}

// FuzzParse: no panic; an accepted schedule's next run is after the start
// and is itself a time the schedule accepts (its next after a minute
// before it is itself).
func FuzzParse(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/5 1-3 * jan-mar mon,fri", "@daily", "@every 1h30m", "0 0 29 2 *", "5/20 * * * 7"} {
		f.Add(s)
	}
	from := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse(text)
		if err != nil {
			if err.Error() == "" || !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q): error %v", text, err)
			}
			return
		}
		next := s.Next(from)
		if next.IsZero() {
			return
		}
		if !next.After(from) {
			t.Fatalf("%q: next %v is not after %v", text, next, from)
		}
		if s.Every() == 0 {
			if again := s.Next(next.Add(-time.Minute)); !again.Equal(next) {
				t.Fatalf("%q: next %v, but next after a minute before it is %v", text, next, again)
			}
		}
	})
}
