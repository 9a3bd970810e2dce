package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ShutdownTimeoutEnv names the variable that overrides init.shutdown_timeout.
// The stop budget belongs to whoever stops the container, not to the image:
// Kubernetes waits terminationGracePeriodSeconds (30 s by default) and
// Docker 10 s, and a pod spec can set an environment variable where it
// cannot edit the file baked into the image.
const ShutdownTimeoutEnv = "INITBOX_SHUTDOWN_TIMEOUT"

// ApplyEnv applies the environment variables that override [init] keys
// (ShutdownTimeoutEnv) to c: the environment wins over the file. env looks
// a variable up; nil means none is set. A bad value is an error naming the
// variable, and c is then unchanged. Load and Parse call it; a Config made
// with New, for a run without a file, needs the call.
func (c *Config) ApplyEnv(env func(string) (string, bool)) error {
	if env == nil {
		return nil
	}
	v, ok := env(ShutdownTimeoutEnv)
	if !ok {
		return nil
	}
	s := strings.TrimSpace(v)
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		hint := " (want a number with a unit: ns, us, ms, s, m, h; e.g. \"30s\")"
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			hint = fmt.Sprintf(": missing unit; did you mean %q?", s+"s")
		}
		return fmt.Errorf("%s=%q: bad duration%s", ShutdownTimeoutEnv, v, hint)
	case d <= 0:
		return fmt.Errorf("%s=%q: must be positive (it overrides init.shutdown_timeout)", ShutdownTimeoutEnv, v)
	}
	c.Init.ShutdownTimeout = d
	return nil
}
