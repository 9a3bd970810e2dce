//go:build linux

package reaper

import (
	"os"
	"testing"
)

func TestDescendants(t *testing.T) {
	if pids := descendants(os.Getpid()); len(pids) != 0 {
		// go test runs the test binary without children of its own.
		t.Logf("descendants of the test process: %v", pids)
	}
	if ppid, ok := parentOf(os.Getpid()); !ok || ppid != os.Getppid() {
		t.Errorf("parentOf(self) = %d, %v; want %d", ppid, ok, os.Getppid())
	}
	if _, ok := parentOf(-5); ok {
		t.Error("parentOf(-5) succeeded")
	}
}
