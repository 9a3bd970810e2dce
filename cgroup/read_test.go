//go:build linux

package cgroup

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeLeaf writes a leaf's statistics files as cgroup v2 shows them.
func fakeLeaf(t testing.TB, files map[string]string) *Group {
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &Group{name: "web", path: dir}
}

var leafFiles = map[string]string{
	"memory.current": "12897485\n",
	"pids.current":   "3\n",
	"cpu.stat":       "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
	"cgroup.events":  "populated 1\nfrozen 0\n",
	"memory.events":  "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\noom_group_kill 0\n",
}

// TestUsage: the figures a leaf's files give, and -1 for those a missing
// controller does not.
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  Usage
	}{
		{"all", leafFiles, Usage{MemoryBytes: 12897485, CPU: 1500 * time.Millisecond, Pids: 3}},
		{"cpu only", map[string]string{"cpu.stat": leafFiles["cpu.stat"]}, Usage{MemoryBytes: -1, CPU: 1500 * time.Millisecond, Pids: -1}},
		{"none", map[string]string{}, Usage{MemoryBytes: -1, CPU: -1, Pids: -1}},
		{"garbage", map[string]string{"memory.current": "max\n", "cpu.stat": "user_usec 1\n", "pids.current": ""}, Usage{MemoryBytes: -1, CPU: -1, Pids: -1}},
	} {
		if got := fakeLeaf(t, tc.files).Usage(); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	g := fakeLeaf(t, leafFiles)
	if pop, err := g.Populated(); err != nil || !pop {
		t.Errorf("Populated: %v, %v", pop, err)
	}
	if n := g.OOMKills(); n != 1 {
		t.Errorf("OOMKills: %d, want 1", n)
	}
}

// BenchmarkUsage is what every /metrics scrape and ctl status costs per
// service (issue #17: allocations on periodic paths).
func BenchmarkUsage(b *testing.B) {
	g := fakeLeaf(b, leafFiles)
	b.ReportAllocs()
	for b.Loop() {
		g.Usage()
		g.OOMKills()
	}
}
