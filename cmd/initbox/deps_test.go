//go:build linux

package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps what initbox links in check: the binary has a size
// budget (issue #13: 4.5 MiB), and these packages would each blow it or bring
// in code a PID 1 has no use for.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not in PATH: cannot list dependencies")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	for pkg, why := range map[string]string{
		"net/http":        "about 2 MB; the package go.uber.org/zap links it, use zapcore",
		"crypto/tls":      "comes with net/http",
		"go.uber.org/zap": "links net/http through its HTTP level handler; use zapcore",
		"os/exec":         "the reaper starts children with syscall.ForkExec; exec.Cmd invites Wait",
	} {
		if deps[pkg] {
			t.Errorf("cmd/initbox depends on %s: %s", pkg, why)
		}
	}
	for _, pkg := range []string{"golang.org/x/sys/unix", "go.uber.org/zap/zapcore"} {
		if !deps[pkg] {
			t.Errorf("cmd/initbox no longer depends on %s; update this test", pkg)
		}
	}
}

// TestPackageSeams checks DESIGN's package map where it says what a
// package must not import: the transport serves the core, not the other
// way; nobody but cmd/initbox wires them.
func TestPackageSeams(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not in PATH: cannot list dependencies")
	}
	const mod = "github.com/initbox/initbox/"
	for pkg, forbidden := range map[string][]string{
		"supervisor": {"control", "pid1", "spawn"},
		"config":     {"supervisor", "control", "launch", "reaper"},
		"control":    {"supervisor", "launch", "reaper"},
		"spawn":      {"supervisor", "control"},
		"launch":     {"supervisor", "control", "config"},
	} {
		out, err := exec.Command(goTool, "list", "-deps", "../../"+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		for _, f := range forbidden {
			for _, d := range deps {
				if d == mod+f {
					t.Errorf("%s depends on %s (DESIGN: package map)", pkg, f)
				}
			}
		}
	}
}
