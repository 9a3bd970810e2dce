package config

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := envOf(map[string]string{"A": "a", "EMPTY": "", "B": "${A}", "D": "$$"})
	tests := []struct {
		in, want string
		errOff   int // -1: no error
		errMsg   string
	}{
		{"", "", -1, ""},
		{"plain", "plain", -1, ""},
		{"${A}", "a", -1, ""},
		{"x${A}y${A}", "xaya", -1, ""},
		{"${EMPTY}", "", -1, ""},
		{"${EMPTY:-d}", "d", -1, ""},
		{"${UNSET:-d}", "d", -1, ""},
		{"${UNSET:-}", "", -1, ""},
		{"${A:-d}", "a", -1, ""},
		{"${UNSET:-${A}}", "a", -1, ""},
		{"${UNSET:-${UNSET2:-deep}x}", "deepx", -1, ""},
		{"${UNSET:-a:-b}", "a:-b", -1, ""},
		{"${UNSET:-}}", "}", -1, ""},
		{"${B}", "${A}", -1, ""}, // values are not expanded again
		{"${D}", "$$", -1, ""},
		{"$$", "$", -1, ""},
		{"$${A}", "${A}", -1, ""},
		{"$$$${A}", "$${A}", -1, ""},
		{"$$${A}", "$a", -1, ""},
		{"$HOME $(pwd) $1 a$", "$HOME $(pwd) $1 a$", -1, ""},
		{"${UNSET:-$$}", "$", -1, ""},
		{"${UNSET:-$${X}}", "${X}", -1, ""},
		{"${UNSET}", "", 0, "variable UNSET is not set (write ${UNSET:-default} to give a default)"},
		{"ab ${A} ${UNSET}", "", 8, "variable UNSET is not set"},
		{"${UNSET:-x${NOPE}}", "", 10, "variable NOPE is not set"},
		{"${", "", 0, "unterminated ${"},
		{"a ${A", "", 2, "unterminated ${"},
		{"${UNSET:-${A}", "", 0, "unterminated ${"},
		{"${}", "", 0, "bad reference ${}"},
		{"${1A}", "", 0, "bad reference ${1A}"},
		{"${A-b}", "", 0, "bad reference ${A-b}"},
		{"${A:?err}", "", 0, "bad reference ${A:?err}"},
		{"${A B}", "", 0, "bad reference ${A B}"},
		{"${X:-${X:-${X:-${X:-${X:-${X:-${X:-${X:-${X:-x}}}}}}}}}", "", 40, "${...} nested too deeply"},
	}
	for _, tt := range tests {
		got, err := expand(tt.in, env)
		switch {
		case tt.errOff < 0 && err != nil:
			t.Errorf("expand(%q): error %q", tt.in, err.msg)
		case tt.errOff < 0 && got != tt.want:
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		case tt.errOff >= 0 && err == nil:
			t.Errorf("expand(%q) = %q, want an error", tt.in, got)
		case tt.errOff >= 0 && (err.off != tt.errOff || !strings.HasPrefix(err.msg, tt.errMsg)):
			t.Errorf("expand(%q): error at %d %q, want at %d %q", tt.in, err.off, err.msg, tt.errOff, tt.errMsg)
		}
	}
}

func TestExpandLooksUpOnlyWhatIsReferenced(t *testing.T) {
	var asked []string
	env := func(k string) (string, bool) {
		asked = append(asked, k)
		return "", false
	}
	if _, err := expand("$A $$B ${C:-x} ${D:-${E}}", func(k string) (string, bool) {
		if k == "E" {
			return "e", true
		}
		return env(k)
	}); err != nil {
		t.Fatal(err.msg)
	}
	if strings.Join(asked, ",") != "C,D" {
		t.Errorf("looked up %v", asked)
	}
}
