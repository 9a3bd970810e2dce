//go:build linux

package main

import (
	"strings"
	"testing"
)

// FuzzParseRun checks that parseRun (`initbox run` and `check` options)
// never panics, that every error has a message, and that the program it
// returns is a suffix of the arguments. The input is the arguments
// separated by NUL bytes, and INITBOX_CONFIG ("\x00" for unset).
func FuzzParseRun(f *testing.F) {
	for _, s := range [][2]string{
		{"-c\x00/etc/x.toml", "\x00"},
		{"--config=/a\x00-v\x00--\x00prog\x00-c", "\x00"},
		{"-c/a\x00prog", "/b"},
		{"--config\x00/a\x00-", ""},
		{"-c", "\x00"},
		{"--config", "\x00"},
		{"-x", "\x00"},
		{"", "/from/env.toml"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, argStr, cfg string) {
		var args []string
		if argStr != "" {
			args = strings.Split(argStr, "\x00")
		}
		getenv := func(k string) (string, bool) {
			if k != "INITBOX_CONFIG" || cfg == "\x00" {
				return "", false
			}
			return cfg, true
		}
		o, err := parseRun(args, getenv)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("parseRun(%q): empty error", args)
			}
			return
		}
		if o.verbosity < 0 {
			t.Errorf("parseRun(%q): verbosity %d", args, o.verbosity)
		}
		if !o.explicit && o.config != defaultConfig {
			t.Errorf("parseRun(%q): config %q without -c or INITBOX_CONFIG", args, o.config)
		}
		if n := len(o.argv); n > len(args) || strings.Join(o.argv, "\x00") != strings.Join(args[len(args)-n:], "\x00") {
			t.Errorf("parseRun(%q): program %q is not a suffix of the arguments", args, o.argv)
		}
	})
}
