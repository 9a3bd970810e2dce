//go:build linux

package main

import (
	"strings"
	"testing"
)

// FuzzParseTini checks that parseTini never panics, that every error has a
// message, and that what it accepts is sane: exit codes in 0..255, a grace
// period that is not negative, and a program that is a suffix of the
// arguments (parsing stops at "--" or the first non-option). The input is
// the arguments separated by NUL bytes and the environment as K=V lines
// separated by NUL bytes. Seeds: testdata/fuzz/FuzzParseTini and below.
func FuzzParseTini(f *testing.F) {
	for _, s := range [][2]string{
		{"--\x00prog\x00-a", ""},
		{"sh\x00-c\x00exit 7", ""},
		{"-sgvvw\x00--\x00x", ""},
		{"-e143\x00-e\x003\x00x", ""},
		{"-p\x00SIGKILL\x00x", ""},
		{"-pUSR1\x00x", ""},
		{"--grace=1.5s\x00x", ""},
		{"--grace\x002\x00--\x00x", ""},
		{"", "TINI_SUBREAPER=\x00TINI_KILL_PROCESS_GROUP=1\x00TINI_VERBOSITY=0\x00INITBOX_GRACE=3s\x00INITBOX_LOG_FORMAT=json"},
		{"-v", "TINI_VERBOSITY=2"},
		{"--version\x00-h\x00-l", ""},
		{"-", ""},
		{"--\x00--", ""},
		{"-e", ""},
		{"-e256\x00x", ""},
		{"-x", ""},
		{"--nope", ""},
		{"--grace", ""},
		{"--grace=-1s\x00x", ""},
		{"-p\x00RTMIN+99", ""},
		{"x", "INITBOX_GRACE=1e300"},
		{"x", "TINI_VERBOSITY=lots"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, argStr, envStr string) {
		var args []string
		if argStr != "" {
			args = strings.Split(argStr, "\x00")
		}
		envs := map[string]string{}
		for _, kv := range strings.Split(envStr, "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				envs[k] = v
			}
		}
		getenv := func(k string) (string, bool) { v, ok := envs[k]; return v, ok }
		o, err := parseTini(args, getenv)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("parseTini(%q): empty error", args)
			}
			return
		}
		for _, c := range o.zeroCodes {
			if c < 0 || c > 255 {
				t.Errorf("parseTini(%q): exit code %d accepted", args, c)
			}
		}
		if o.grace < 0 {
			t.Errorf("parseTini(%q): negative grace %v", args, o.grace)
		}
		if o.parentDeath < 0 || o.parentDeath >= 65 {
			t.Errorf("parseTini(%q): signal %d", args, o.parentDeath)
		}
		if n := len(o.argv); n > len(args) || strings.Join(o.argv, "\x00") != strings.Join(args[len(args)-n:], "\x00") {
			t.Errorf("parseTini(%q): program %q is not a suffix of the arguments", args, o.argv)
		}
	})
}
