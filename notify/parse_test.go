package notify

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Message
		err  string // in the error; "" for none
	}{
		{"READY=1", Message{Ready: true}, ""},
		{"RELOADING=1\nMONOTONIC_USEC=123", Message{Reloading: true}, ""},
		{"STOPPING=1\n", Message{Stopping: true}, ""},
		{"WATCHDOG=1", Message{Watchdog: true}, ""},
		{"STATUS=Processing request 3 of 5 = 60%", Message{Status: "Processing request 3 of 5 = 60%"}, ""},
		{"STATUS=", Message{}, ""},
		{"MAINPID=4711", Message{MainPid: 4711}, ""},
		{"EXTEND_TIMEOUT_USEC=1500000", Message{ExtendTimeout: 1500 * time.Millisecond}, ""},
		{"EXTEND_TIMEOUT_USEC=0", Message{}, ""},
		{"\n\nREADY=1\n\nSTATUS=a\nSTATUS=b\n", Message{Ready: true, Status: "b"}, ""},
		{"ERRNO=2\nBUSERROR=x\nFDSTORE=1\nFDNAME=a\nWATCHDOG_USEC=5\nX_FOO=bar", Message{}, ""},
		{"", Message{}, ""},

		{"MAINPID=abc\nREADY=1", Message{Ready: true}, `MAINPID="abc": want a pid`},
		{"MAINPID=0", Message{}, "want a pid"},
		{"MAINPID=-1", Message{}, "want a pid"},
		{"MAINPID=99999999999999999999", Message{}, "want a pid"},
		{"EXTEND_TIMEOUT_USEC=1s", Message{}, `EXTEND_TIMEOUT_USEC="1s": want microseconds`},
		{"EXTEND_TIMEOUT_USEC=-1", Message{}, "want microseconds"},
		{"EXTEND_TIMEOUT_USEC=18446744073709551615", Message{}, "want microseconds"},
		{"READY=0", Message{}, `READY="0": want 1`},
		{"READY=yes\nSTOPPING=1", Message{Stopping: true}, "READY"},
		{"WATCHDOG=trigger", Message{}, "WATCHDOG"},
		{"READY", Message{}, `"READY" is not KEY=VALUE`},
		{"READY=1\x00", Message{}, "NUL"},
		{"MAINPID=x\nREADY=2", Message{}, `MAINPID="x": want a pid; READY="2": want 1`},
	} {
		m, err := Parse([]byte(tc.in))
		if m != tc.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.in, m, tc.want)
		}
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("Parse(%q): %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Parse(%q): error %v, want one containing %q", tc.in, err, tc.err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"READY=1",
		"READY=1\nSTATUS=up\nMAINPID=42",
		"EXTEND_TIMEOUT_USEC=9223372036854775",
		"EXTEND_TIMEOUT_USEC=9223372036854776",
		"RELOADING=1\nMONOTONIC_USEC=1",
		"STOPPING=1\nWATCHDOG=1\n\n",
		"MAINPID=-0",
		"=\n=1\nREADY",
		"STATUS=\xff\xfe",
		"READY=1\x00",
		"000000" + strings.Repeat("\xf5", 42), // an error quoting invalid UTF-8 grows
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if m.MainPid < 0 || m.ExtendTimeout < 0 || m.Pid != 0 || m.Uid != 0 || m.Err != nil {
			t.Errorf("Parse(%q) = %+v", b, m)
		}
		if m.Status != "" && !strings.Contains(string(b), "STATUS="+m.Status) {
			t.Errorf("Parse(%q): Status %q is not in the input", b, m.Status)
		}
		if err != nil && len(err.Error()) > 400*(1+strings.Count(string(b), "\n")) {
			t.Errorf("Parse(%q): error of %d bytes", b, len(err.Error()))
		}
		// Same input, same answer.
		m2, err2 := Parse(b)
		if m2 != m || (err == nil) != (err2 == nil) {
			t.Errorf("Parse(%q) is not deterministic", b)
		}
	})
}
