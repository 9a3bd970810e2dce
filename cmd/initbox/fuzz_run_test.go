//go:build linux

package main

import (
	"strings"
	"testing"
)

// FuzzParseRun checks that parseRun and parseCheck (`initbox run` and
// `check` options) never panic, that every error has a message, that the
// program they return is a suffix of the arguments, and that the configs
// are given exactly when -c or INITBOX_CONFIG is. The input is the
// arguments separated by NUL bytes, and INITBOX_CONFIG ("\x00" for unset).
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
		{"-c\x00/a\x00--config=/b.d\x00--print\x00-c\x00--print", "/env"},
		{"--print\x00--\x00--print", "\x00"},
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
		for _, parse := range []func([]string, func(string) (string, bool)) (runOptions, error){parseRun, parseCheck} {
			o, err := parse(args, getenv)
			if err != nil {
				if err.Error() == "" {
					t.Errorf("parse(%q): empty error", args)
				}
				continue
			}
			if o.verbosity < 0 {
				t.Errorf("parse(%q): verbosity %d", args, o.verbosity)
			}
			if o.explicit != (len(o.configs) > 0) {
				t.Errorf("parse(%q): configs %q, explicit %v", args, o.configs, o.explicit)
			}
			if n := len(o.argv); n > len(args) || strings.Join(o.argv, "\x00") != strings.Join(args[len(args)-n:], "\x00") {
				t.Errorf("parse(%q): program %q is not a suffix of the arguments", args, o.argv)
			}
		}
	})
}
