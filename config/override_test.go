package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestShutdownTimeoutEnv: INITBOX_SHUTDOWN_TIMEOUT wins over the file and
// the default; a bad value is an error naming the variable, and only once
// the file itself is fine (its errors have lines to show first).
func TestShutdownTimeoutEnv(t *testing.T) {
	const file = "[init]\nshutdown_timeout = \"5s\"\n[services.a]\nshell = \"a\"\n"
	const noInit = "[services.a]\nshell = \"a\"\n"
	for _, tc := range []struct {
		name, src string
		env       map[string]string
		want      time.Duration
		err       string
	}{
		{"file", file, nil, 5 * time.Second, ""},
		{"default", noInit, nil, 9 * time.Second, ""},
		{"env over file", file, map[string]string{ShutdownTimeoutEnv: "25s"}, 25 * time.Second, ""},
		{"env over default", noInit, map[string]string{ShutdownTimeoutEnv: "1m30s"}, 90 * time.Second, ""},
		{"spaces", noInit, map[string]string{ShutdownTimeoutEnv: " 2s "}, 2 * time.Second, ""},
		{"no unit", file, map[string]string{ShutdownTimeoutEnv: "30"}, 0,
			`config: INITBOX_SHUTDOWN_TIMEOUT="30": bad duration: missing unit; did you mean "30s"?`},
		{"garbage", file, map[string]string{ShutdownTimeoutEnv: "soon"}, 0,
			`config: INITBOX_SHUTDOWN_TIMEOUT="soon": bad duration (want a number with a unit`},
		{"empty", file, map[string]string{ShutdownTimeoutEnv: ""}, 0, `INITBOX_SHUTDOWN_TIMEOUT="": bad duration`},
		{"zero", file, map[string]string{ShutdownTimeoutEnv: "0s"}, 0, `INITBOX_SHUTDOWN_TIMEOUT="0s": must be positive`},
		{"negative", file, map[string]string{ShutdownTimeoutEnv: "-3s"}, 0, `must be positive`},
		{"file errors first", "[init]\nshutdown_timeout = 5\n", map[string]string{ShutdownTimeoutEnv: "x"}, 0,
			`2:20: init.shutdown_timeout: want a duration string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("/etc/initbox/t.toml", []byte(tc.src), envOf(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse: %v, want an error with %q", err, tc.err)
				}
				var list *Errors
				if isFile := errors.As(err, &list); isFile != strings.HasPrefix(tc.name, "file") {
					t.Errorf("error is a file error (*Errors): %v; only problems in the file are", isFile)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.Init.ShutdownTimeout != tc.want {
				t.Errorf("shutdown_timeout = %v, want %v", c.Init.ShutdownTimeout, tc.want)
			}
		})
	}

	// A run without a file (`initbox run -- PROGRAM`) applies it too.
	c := New()
	if err := c.ApplyEnv(envOf(map[string]string{ShutdownTimeoutEnv: "40s"})); err != nil || c.Init.ShutdownTimeout != 40*time.Second {
		t.Errorf("New().ApplyEnv: %v, %v", err, c.Init.ShutdownTimeout)
	}
	if err := c.ApplyEnv(envOf(map[string]string{ShutdownTimeoutEnv: "never"})); err == nil || c.Init.ShutdownTimeout != 40*time.Second {
		t.Errorf("a bad value: %v, and shutdown_timeout %v (want unchanged 40s)", err, c.Init.ShutdownTimeout)
	}
	if err := c.ApplyEnv(nil); err != nil {
		t.Errorf("ApplyEnv(nil) = %v", err)
	}
}
