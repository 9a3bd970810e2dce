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
