//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/launch"
)

// skipOrFail skips with the reason, or fails when CI is set: CI's host
// has what these tests need, so a skip there would hide a broken setup.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set, so this fails instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}

// requireTree skips (or fails under CI, which runs as root on a host with
// a cgroup v2 tree) unless the test can make cgroups here: root, and a
// writable cgroup v2.
func requireTree(t *testing.T) Info {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "requires root to make cgroups")
	}
	info := Detect()
	if info.Err != nil {
		skipOrFail(t, "cannot make cgroups here: %v", info.Err)
	}
	return info
}

func TestOwnCgroup(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"0::/\n", "/", nil},
		{"12:pids:/x\n1:name=systemd:/a\n0::/system.slice/docker-1.scope\n", "/system.slice/docker-1.scope", nil},
		{"0::/gone (deleted)\n", "/gone", nil},
		{"4:memory:/x\n", "", ErrNoCgroup2},
	} {
		f := filepath.Join(t.TempDir(), "cgroup")
		os.WriteFile(f, []byte(tc.in), 0o644)
		got, err := ownCgroup(f)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("ownCgroup(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestMountRoot(t *testing.T) {
	mi := `22 1 0:21 / /sys rw shared:7 - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw
40 30 0:35 /.. /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
50 1 0:36 /docker/abc /mnt/with\040space rw - cgroup2 cgroup2 rw
60 1 0:37 / /mnt/v1 rw - cgroup cgroup rw,memory
`
	f := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(f, []byte(mi), 0o644)
	for _, tc := range []struct {
		mount, want string
		err         error
	}{
		{"/sys/fs/cgroup/unified", "/..", nil}, // the last mount there wins
		{"/mnt/with space", "/docker/abc", nil},
		{"/mnt/v1", "", ErrNoCgroup2},
		{"/sys/fs/cgroup", "", ErrNoCgroup2},
	} {
		got, err := mountRoot(f, tc.mount)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("mountRoot(%q) = %q, %v; want %q, %v", tc.mount, got, err, tc.want, tc.err)
		}
	}
}

// TestDetectNotVisible: a cgroup namespace whose cgroup2 mount was made
// outside it shows its root as "/..": the own cgroup cannot be found, and
// Detect says so instead of using the host's root.
func TestDetectNotVisible(t *testing.T) {
	real := Detect()
	if real.Mount == "" {
		skipOrFail(t, "no cgroup2 mount here: %v", real.Err)
	}
	proc := t.TempDir()
	os.WriteFile(filepath.Join(proc, "cgroup"), []byte("0::/\n"), 0o644)
	os.WriteFile(filepath.Join(proc, "mountinfo"), []byte(fmt.Sprintf("31 30 0:27 /../.. %s rw - cgroup2 cgroup2 rw\n", real.Mount)), 0o644)
	info := detect("/sys/fs/cgroup", proc)
	if !errors.Is(info.Err, ErrNotVisible) || info.Path != "" {
		t.Errorf("detect = %+v, want ErrNotVisible and no path", info)
	}
	if d := info.Describe(); !strings.Contains(d, "mount cgroup2 again") {
		t.Errorf("Describe() = %q, want the fix named", d)
	}
}

func TestLimitsFiles(t *testing.T) {
	for _, tc := range []struct {
		l    Limits
		want []string
	}{
		{Limits{}, nil},
		{Limits{MemoryMax: 64 << 20, MemoryHigh: Unlimited, MemorySwapMax: 1}, []string{"memory.max=67108864", "memory.high=max", "memory.swap.max=1"}},
		{Limits{CPUMax: 1.5, CPUWeight: 200}, []string{"cpu.max=150000 100000", "cpu.weight=200"}},
		{Limits{CPUMax: 0.2}, []string{"cpu.max=20000 100000"}},
		{Limits{CPUMax: 0.001}, []string{"cpu.max=1000 100000"}}, // the kernel's minimum quota
		{Limits{CPUMax: Unlimited}, []string{"cpu.max=max 100000"}},
		{Limits{PidsMax: 16, IOWeight: 50}, []string{"pids.max=16", "io.weight=default 50"}},
		{Limits{PidsMax: Unlimited}, []string{"pids.max=max"}},
	} {
		var got []string
		for _, n := range tc.l.needs() {
			got = append(got, n.file+"="+n.val)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v writes %q, want %q", tc.l, got, tc.want)
		}
	}
}

func TestFit(t *testing.T) {
	tr := &Tree{Controllers: []string{"memory", "pids"}}
	l, errs := tr.Fit(Limits{MemoryMax: 1 << 20, CPUMax: 1, PidsMax: 4, IOWeight: 10, OOMGroup: true})
	if want := (Limits{MemoryMax: 1 << 20, PidsMax: 4, OOMGroup: true}); l != want {
		t.Errorf("Fit kept %+v, want %+v", l, want)
	}
	var got []string
	for _, e := range errs {
		if !errors.Is(e, ErrNoController) {
			t.Errorf("%v does not wrap ErrNoController", e)
		}
		got = append(got, e.Error())
	}
	want := []string{"cpu_max: controller not available: cpu", "io_weight: controller not available: io"}
	if !slices.Equal(got, want) {
		t.Errorf("Fit: %q, want %q", got, want)
	}
}

// openTree opens a Tree for the test in host mode (the test binary is not
// PID 1), and checks that Close leaves nothing behind.
func openTree(t *testing.T, info Info) *Tree {
	t.Helper()
	tr, err := Open(info, Options{Services: "svc"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	base := filepath.Dir(tr.Path())
	if filepath.Base(tr.Path()) != "svc" || !strings.HasPrefix(base, filepath.Join(info.Path, fmt.Sprintf("initbox-%d", os.Getpid()))) {
		t.Fatalf("Path() = %s, want %s/initbox-%d*/svc", tr.Path(), info.Path, os.Getpid())
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind after Close: %v", base, err)
		}
	})
	return tr
}

// start starts argv in g as Prepare arranges it, and returns its pid.
func start(t *testing.T, g *Group, argv ...string) int {
	t.Helper()
	attr := &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{Setpgid: true}}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path, args := argv[0], argv
	release, ok, err := g.Prepare(attr.Sys)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if !ok {
		path, args, attr = launch.Wrap(self, launch.Spec{Cgroup: g.Path()}, path, args, attr)
	}
	pid, err := syscall.ForkExec(path, args, attr)
	release()
	if err != nil {
		t.Fatalf("start %q: %v", argv, err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL); syscall.Wait4(pid, nil, 0, nil) })
	return pid
}

func cgroupOf(t *testing.T, pid int, info Info) string {
	t.Helper()
	own, err := ownCgroup(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(info.Mount, own)
}

// waitEmpty waits for the watcher to report g and g to be empty.
func waitEmpty(t *testing.T, tr *Tree, g *Group) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		if pop, err := g.Populated(); err == nil && !pop {
			return
		}
		select {
		case <-tr.Events():
			if !slices.Contains(tr.Changed(), g.Name()) {
				continue
			}
		case <-timeout:
			pids, _ := g.Pids()
			t.Fatalf("%s still holds %v after 5 s", g.Path(), pids)
		}
	}
}

// TestStartInsideKillAll: a process started in a leaf, with clone3 and
// with the trampoline, is in the leaf from its first instruction (its
// own /proc/self/cgroup, read before anything else), and a daemon it
// double-forks with setsid, outside its process group and session, is
// killed with it.
func TestStartInsideKillAll(t *testing.T) {
	info := requireTree(t)
	for _, tc := range []struct {
		name  string
		clone bool
		kill  func(*Group) error
	}{
		{"clone3", true, (*Group).Kill},
		{"trampoline", false, (*Group).Kill},
		{"freeze", true, (*Group).freezeKill}, // kernels before 5.14, without cgroup.kill
	} {
		clone, kill := tc.clone, tc.kill
		t.Run(tc.name, func(t *testing.T) {
			tr := openTree(t, info)
			if clone && !tr.CloneInto {
				skipOrFail(t, "clone3 is refused here")
			}
			tr.CloneInto = clone
			g, err := tr.Create("svc", Limits{})
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out")
			script := fmt.Sprintf(`grep ^0:: /proc/self/cgroup >%[1]s.first
setsid sh -c 'sleep 1000 & echo $! >%[1]s.daemon; wait' </dev/null >/dev/null 2>&1 &
exec sleep 1000`, out)
			pid := start(t, g, "/bin/sh", "-c", script)
			var daemon int
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				if b, err := os.ReadFile(out + ".daemon"); err == nil && len(b) > 1 {
					fmt.Sscan(string(b), &daemon)
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if daemon == 0 {
				t.Fatal("the daemon did not start")
			}
			first, _ := os.ReadFile(out + ".first")
			rel := strings.TrimPrefix(g.Path(), info.Mount)
			if strings.TrimSpace(string(first)) != "0::"+rel {
				t.Errorf("the program's first look at its cgroup: %q, want 0::%s", first, rel)
			}
			if got := cgroupOf(t, daemon, info); got != g.Path() {
				t.Errorf("daemon %d is in %s, want %s", daemon, got, g.Path())
			}
			if !g.Has(daemon) || !g.Has(pid) || g.Has(os.Getpid()) {
				t.Errorf("Has: daemon %v, service %v, the test %v; want true, true, false", g.Has(daemon), g.Has(pid), g.Has(os.Getpid()))
			}
			if pgid, _ := syscall.Getpgid(daemon); pgid == pid {
				t.Errorf("daemon %d is in the service's process group: the test proves nothing", daemon)
			}
			if err := kill(g); err != nil {
				t.Fatal(err)
			}
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
			if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Errorf("service status %v, want killed", ws)
			}
			waitEmpty(t, tr, g)
			if alive(daemon) {
				t.Errorf("daemon %d survived the kill", daemon)
			}
			if err := g.Remove(); err != nil {
				t.Errorf("Remove: %v", err)
			}
		})
	}
}

// TestSignal: Signal reaches every process of the leaf, and a process
// outside it is left alone.
func TestSignal(t *testing.T) {
	info := requireTree(t)
	tr := openTree(t, info)
	g, err := tr.Create("sig", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	pid := start(t, g, "/bin/sh", "-c", "sleep 1000 & sleep 1000 & wait")
	other, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "1000"}, &syscall.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(other, syscall.SIGKILL); syscall.Wait4(other, nil, 0, nil) }()
	deadline := time.Now().Add(5 * time.Second)
	for pids, _ := g.Pids(); len(pids) < 3 && time.Now().Before(deadline); pids, _ = g.Pids() {
		time.Sleep(10 * time.Millisecond)
	}
	n, err := g.Signal(unix.SIGTERM)
	if err != nil || n != 3 {
		t.Errorf("Signal = %d, %v; want 3 processes", n, err)
	}
	syscall.Wait4(pid, nil, 0, nil)
	waitEmpty(t, tr, g)
	if !alive(other) {
		t.Errorf("a process outside the leaf was signalled")
	}
}

// TestOpenRefuses: Open changes nothing and returns Detect's reason when
// cgroups are not usable.
func TestOpenRefuses(t *testing.T) {
	for _, e := range []error{ErrReadOnly, ErrNotDelegated, ErrNoCgroup2, ErrNotVisible} {
		_, err := Open(Info{Err: fmt.Errorf("%w: because", e)}, Options{})
		if !errors.Is(err, e) {
			t.Errorf("Open with %v = %v", e, err)
		}
	}
}

// alive reports whether pid exists and is not a zombie: a killed process
// leaves its cgroup when it exits, before its parent reaps it.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestLimitsWriteFails: a limit whose file is missing (its controller is
// not enabled) or refused by the kernel is an error naming the limit; the
// supervisor then starts without the cgroup or, in required mode, not at
// all (TestCgroupModes).
func TestLimitsWriteFails(t *testing.T) {
	dir := t.TempDir()
	err := Limits{PidsMax: 5}.write(dir)
	if !errors.Is(err, ErrNoController) || !strings.Contains(err.Error(), "pids_max") {
		t.Errorf("missing pids.max: %v", err)
	}
	// A directory in place of the file: a write refused even to root.
	os.Mkdir(filepath.Join(dir, "memory.max"), 0o755)
	err = Limits{MemoryMax: 1 << 20}.write(dir)
	if err == nil || errors.Is(err, ErrNoController) || !strings.Contains(err.Error(), "memory_max") {
		t.Errorf("memory.max a directory (a write the kernel refuses): %v", err)
	}
}

// TestCreateFailsCleanly: a leaf whose limit cannot be written is not
// left behind half made.
func TestCreateFailsCleanly(t *testing.T) {
	info := requireTree(t)
	tr := openTree(t, info)
	missing := ""
	for _, c := range wanted {
		if !slices.Contains(tr.Controllers, c) {
			missing = c
		}
	}
	if missing == "" {
		skipOrFail(t, "every controller is enabled here: no limit write can fail on purpose")
	}
	l := map[string]Limits{"cpu": {CPUWeight: 50}, "io": {IOWeight: 50}, "memory": {MemoryMax: 1 << 30}, "pids": {PidsMax: 50}}[missing]
	if _, err := tr.Create("half", l); !errors.Is(err, ErrNoController) {
		t.Fatalf("Create with a %s limit: %v", missing, err)
	}
	if _, err := os.Stat(filepath.Join(tr.Path(), "half")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the leaf was left behind: %v", err)
	}
}

// TestWatchesReleased: a leaf made and removed again and again (a
// crash-looping service) leaves no inotify watch behind: cgroupfs sends
// no IN_IGNORED for a removed cgroup, so the tree must drop them itself.
func TestWatchesReleased(t *testing.T) {
	info := requireTree(t)
	tr := openTree(t, info)
	watches := func() int {
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", tr.w.f.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "inotify wd:")
	}
	for range 50 {
		g, err := tr.Create("loop", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	if n := watches(); n != 0 {
		t.Errorf("%d inotify watches left after 50 leaves made and removed", n)
	}
	if n := len(tr.w.names); n != 0 {
		t.Errorf("%d watch descriptors still mapped", n)
	}
	g, err := tr.Create("kept", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if n := watches(); n == 0 {
		t.Errorf("a live leaf has no watch")
	}
	g.Remove()
}

// TestCreateRefusesFileNames: a service named like one of the cgroup's
// files cannot have a leaf, and says why.
func TestCreateRefusesFileNames(t *testing.T) {
	info := requireTree(t)
	tr := openTree(t, info)
	if _, err := tr.Create("cgroup.procs", Limits{}); err == nil || !strings.Contains(err.Error(), "one of the cgroup's files") {
		t.Errorf("Create(cgroup.procs): %v", err)
	}
}

// TestFreezeKillDescends: without cgroup.kill, the kill of a cgroup
// reaches the processes of the cgroups below it, as cgroup.kill does.
func TestFreezeKillDescends(t *testing.T) {
	info := requireTree(t)
	tr := openTree(t, info)
	parent, err := tr.Create("parent", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	child := &Group{t: tr, name: "parent/child", path: filepath.Join(parent.Path(), "child")}
	if err := mkdir(child.path); err != nil {
		t.Fatal(err)
	}
	defer rmdir(child.path)
	pid := start(t, child, "/bin/sleep", "1000")
	if err := parent.freezeKill(); err != nil {
		t.Fatal(err)
	}
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the process in the child cgroup: %v, want killed", ws)
	}
}
