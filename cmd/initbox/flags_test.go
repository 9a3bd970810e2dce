//go:build linux

package main

import (
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/logging"
)

func fakeEnv(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseTini(t *testing.T) {
	base := tiniOptions{verbosity: 1, logFormat: logging.Console}
	with := func(f func(*tiniOptions)) tiniOptions { o := base; f(&o); return o }
	for _, tc := range []struct {
		name string
		args []string
		env  func(string) (string, bool)
		want tiniOptions
	}{
		{"dashdash", []string{"--", "prog", "-a"}, fakeEnv(), with(func(o *tiniOptions) { o.argv = []string{"prog", "-a"} })},
		{"no dashdash, program flags are the program's", []string{"sh", "-c", "exit 7"}, fakeEnv(),
			with(func(o *tiniOptions) { o.argv = []string{"sh", "-c", "exit 7"} })},
		{"cluster", []string{"-sgvvw", "--", "x"}, fakeEnv(), with(func(o *tiniOptions) {
			o.subreaper, o.group, o.verbosity, o.warnOnReap, o.argv = true, true, 3, true, []string{"x"}
		})},
		{"-e attached and separate", []string{"-e143", "-e", "3", "x"}, fakeEnv(),
			with(func(o *tiniOptions) { o.zeroCodes, o.argv = []int{143, 3}, []string{"x"} })},
		{"-p", []string{"-p", "SIGKILL", "x"}, fakeEnv(),
			with(func(o *tiniOptions) { o.parentDeath, o.argv = syscall.SIGKILL, []string{"x"} })},
		{"-pUSR1", []string{"-pUSR1", "x"}, fakeEnv(),
			with(func(o *tiniOptions) { o.parentDeath, o.argv = syscall.SIGUSR1, []string{"x"} })},
		{"--grace=", []string{"--grace=1.5s", "x"}, fakeEnv(),
			with(func(o *tiniOptions) { o.grace, o.argv = 1500*time.Millisecond, []string{"x"} })},
		{"--grace seconds", []string{"--grace", "2", "--", "x"}, fakeEnv(),
			with(func(o *tiniOptions) { o.grace, o.argv = 2*time.Second, []string{"x"} })},
		{"env", nil, fakeEnv("TINI_SUBREAPER", "", "TINI_KILL_PROCESS_GROUP", "1", "TINI_VERBOSITY", "0", "INITBOX_GRACE", "3s", "INITBOX_LOG_FORMAT", "json"),
			with(func(o *tiniOptions) {
				o.subreaper, o.group, o.verbosity, o.grace, o.logFormat = true, true, 0, 3*time.Second, logging.JSON
			})},
		{"flags override env", []string{"-v"}, fakeEnv("TINI_VERBOSITY", "2"), with(func(o *tiniOptions) { o.verbosity = 3 })},
		{"version help license", []string{"--version", "-h", "-l"}, fakeEnv(),
			with(func(o *tiniOptions) { o.version, o.help, o.license = true, true, true })},
		{"lone dash is a program", []string{"-"}, fakeEnv(), with(func(o *tiniOptions) { o.argv = []string{"-"} })},
		{"program after dashdash may be dashdash", []string{"--", "--"}, fakeEnv(), with(func(o *tiniOptions) { o.argv = []string{"--"} })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTini(tc.args, tc.env)
			if err != nil {
				t.Fatalf("parseTini(%q) error: %v", tc.args, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parseTini(%q)\n got %+v\nwant %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestParseTiniErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  func(string) (string, bool)
		want string
	}{
		{[]string{"-x", "prog"}, fakeEnv(), "unknown option -x"},
		{[]string{"--bogus"}, fakeEnv(), "unknown option --bogus"},
		{[]string{"-e"}, fakeEnv(), "option -e needs a value"},
		{[]string{"-e", "256", "x"}, fakeEnv(), "want an exit code from 0 to 255"},
		{[]string{"-e", "abc", "x"}, fakeEnv(), "want an exit code from 0 to 255"},
		{[]string{"-p", "SIGNOPE", "x"}, fakeEnv(), "unknown name"},
		{[]string{"-p"}, fakeEnv(), "option -p needs a value"},
		{[]string{"--grace"}, fakeEnv(), "--grace needs a duration"},
		{[]string{"--grace=soon", "x"}, fakeEnv(), "want a duration"},
		{[]string{"--grace=-1s", "x"}, fakeEnv(), "must not be negative"},
		{nil, fakeEnv("TINI_VERBOSITY", "loud"), "TINI_VERBOSITY"},
		{nil, fakeEnv("INITBOX_GRACE", "x"), "INITBOX_GRACE"},
		{nil, fakeEnv("INITBOX_LOG_FORMAT", "xml"), "INITBOX_LOG_FORMAT"},
	} {
		_, err := parseTini(tc.args, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseTini(%q): err = %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}
