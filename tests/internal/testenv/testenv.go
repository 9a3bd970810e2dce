// Package testenv holds what the black-box test packages (tests,
// tests/docker, tests/realworld, tests/tini) each need of their
// environment: one copy, not one per package.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/initbox/initbox/signals"
)

// SkipOrFail skips with the reason, or fails when CI is set: CI's host has
// what these tests need, so a skip there would hide a broken set-up.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set, so this fails instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}

// Docker runs the docker CLI under ctx; rc is its exit status, err set
// only when it could not run or was cut short.
func Docker(ctx context.Context, args ...string) (stdout, stderr string, rc int, err error) {
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return o.String(), e.String(), -1, fmt.Errorf("docker %s: %w", strings.Join(args, " "), ctx.Err())
	case errors.As(err, &ee):
		return o.String(), e.String(), ee.ExitCode(), nil
	case err != nil:
		return o.String(), e.String(), -1, err
	}
	return o.String(), e.String(), 0, nil
}

// BuildInitbox builds root's ./cmd/initbox into out as `make build` does
// (static, -trimpath -s -w, initbox's entry point), with extra go build
// flags; the error carries go build's output.
func BuildInitbox(root, out string, extra ...string) error {
	args := append([]string{"build", "-trimpath", "-ldflags", "-s -w " + signals.EntryFlag, "-o", out}, extra...)
	cmd := exec.Command("go", append(args, "./cmd/initbox")...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %v ./cmd/initbox: %w\n%s", extra, err, b)
	}
	return nil
}
