//go:build linux

package reaper

import (
	"os"
	"slices"
	"syscall"
	"testing"
)

func TestDescendants(t *testing.T) {
	// A child and its own child: both must be listed as descendants.
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "sleep 30 & wait"}, &syscall.ProcAttr{Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{Setpgid: true}})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	defer func() {
		syscall.Kill(-pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		// The sleep too, once reparented here when the test process is a
		// subreaper (the other tests make it one): else a later test's
		// reaper counts it as an orphan (go test -count=2).
		for _, p := range got {
			for i := 0; p != pid && i < 1000; i++ {
				if _, err := syscall.Wait4(p, &ws, 0, nil); err != syscall.ECHILD {
					break
				}
				syscall.Select(0, nil, nil, nil, &syscall.Timeval{Usec: 1000})
			}
		}
	}()
	for range 1000 {
		if got = descendants(os.Getpid()); len(got) >= 2 {
			break
		}
		syscall.Select(0, nil, nil, nil, &syscall.Timeval{Usec: 2000})
	}
	if !slices.Contains(got, pid) || len(got) < 2 {
		t.Errorf("descendants(self) = %v, want the child %d and its sleep", got, pid)
	}
	if ppid, ok := parentOf(os.Getpid()); !ok || ppid != os.Getppid() {
		t.Errorf("parentOf(self) = %d, %v; want %d", ppid, ok, os.Getppid())
	}
	if _, ok := parentOf(-5); ok {
		t.Error("parentOf(-5) succeeded")
	}
}

// TestDescends: a process descends from itself and from its ancestors, not
// from its children or from a pid that is gone.
func TestDescends(t *testing.T) {
	self, parent := os.Getpid(), os.Getppid()
	for _, tc := range []struct {
		pid, ancestor int
		want          bool
	}{
		{self, self, true},
		{self, parent, true},
		{parent, self, false},
		{1 << 30, self, false}, // no such process
	} {
		if got := Descends(tc.pid, tc.ancestor); got != tc.want {
			t.Errorf("Descends(%d, %d) = %v, want %v", tc.pid, tc.ancestor, got, tc.want)
		}
	}
}
