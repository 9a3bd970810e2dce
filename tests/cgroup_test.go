//go:build linux

package tests

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Black-box tests of services' cgroups (issue #5) on this kind of host: a
// cgroup v1/v2 hybrid, where the v2 tree groups and kills but has no
// controllers. Limits themselves are tested in a real cgroup v2 kernel
// (tests/vm).

// cgroup2Mount returns where cgroup v2 is mounted here, or skips (fails
// under CI).
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	for _, m := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(m, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return m
		}
	}
	skipOrFail(t, "no cgroup v2 hierarchy mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified")
	return ""
}

// requireNoMemoryController skips (fails under CI, which runs on a
// hybrid host like this one) where the cgroup v2 at mount has the memory
// controller: a memory limit applies there, and the refusal these tests
// check cannot happen (limits are tested in tests/vm).
func requireNoMemoryController(t *testing.T, mount string) {
	t.Helper()
	ctrl, _ := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	if slices.Contains(strings.Fields(string(ctrl)), "memory") {
		skipOrFail(t, "the cgroup v2 at %s has the memory controller: a memory limit applies here", mount)
	}
}

// ownCgroup is the cgroup v2 path in a /proc/PID/cgroup text.
func ownCgroup(text string) string {
	for _, l := range strings.Split(text, "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return strings.TrimSpace(p)
		}
	}
	return ""
}

// daemonServices is a config of two services: "daemon" double-forks a
// daemon that calls setsid (out of its process group and session) and
// stays up; "watcher", which daemon depends on and so is stopped after
// it, records whether the daemon was still alive at that moment: before
// initbox's final sweep and before the PID namespace dies, which would
// hide an escape. Each writes its /proc/self/cgroup.
const daemonServices = `
[init]
shutdown_timeout = "8s"
%s
[services.watcher]
shell = '''
grep ^0:: /proc/self/cgroup >@D@/watcher.cgroup
verdict() {
	d=$(cat @D@/daemon.pid)
	state=gone
	if [ -r /proc/$d/stat ]; then
		read -r _p _c s _r </proc/$d/stat
		[ "$s" != Z ] && state="alive($s)"
	fi
	echo "$state" >@D@/verdict
	exit 0
}
trap verdict TERM
while :; do sleep 0.1; done
'''

[services.daemon]
depends_on = { watcher = "started" }
shell = '''
grep ^0:: /proc/self/cgroup >@D@/daemon.cgroup
sh -c 'setsid sh -c "echo \$\$ >@D@/daemon.tmp; mv @D@/daemon.tmp @D@/daemon.pid; exec sleep 1001" &'
while [ ! -s @D@/daemon.pid ]; do sleep 0.05; done
d=$(cat @D@/daemon.pid)
read -r _p _c _s dppid dpgrp dsid _r </proc/$d/stat
read -r _p _c _s sppid spgrp ssid _r </proc/$$/stat
[ "$dsid" != "$ssid" ] && [ "$dpgrp" != "$spgrp" ] && echo escaped >@D@/escaped
grep ^0:: /proc/$d/cgroup >@D@/daemon-child.cgroup
exec sleep 1000
'''
`

// TestCgroupDaemonKilledOnStop: each service runs in a leaf of its own
// under a cgroup initbox made for itself (initbox-PID/services/NAME: the
// test's cgroup is shared with processes outside initbox's PID namespace,
// so initbox must not take it over); a daemon that double-forked and
// called setsid is still in its service's leaf and is killed when the
// service stops (stop.mode "cgroup", the default), before the services it
// depends on stop; after the exit no cgroup initbox made is left, and no
// process of the test's cgroup was moved.
func TestCgroupDaemonKilledOnStop(t *testing.T) {
	requirePID1(t)
	mount := cgroup2Mount(t)
	before, _ := os.ReadFile("/proc/self/cgroup")
	dir, file := svConfig(t, fmt.Sprintf(daemonServices, ""))
	p := svStart(t, file, nil)
	read := func(name string) string {
		return ownCgroup(p.waitFile(filepath.Join(dir, name), 10*time.Second))
	}
	daemon, child, watcher := read("daemon.cgroup"), read("daemon-child.cgroup"), read("watcher.cgroup")
	r := p.stopBySIGTERM(5 * time.Second)

	if !exists(filepath.Join(dir, "escaped")) {
		t.Fatalf("the daemon did not leave the service's session and process group: the test proves nothing\n%v", r)
	}
	base := filepath.Dir(filepath.Dir(daemon))
	if !strings.HasSuffix(daemon, "/services/daemon") || !strings.HasPrefix(filepath.Base(base), "initbox-") {
		t.Errorf("daemon service in cgroup %q, want .../initbox-PID/services/daemon", daemon)
	}
	if watcher != filepath.Join(filepath.Dir(daemon), "watcher") {
		t.Errorf("watcher service in cgroup %q, want beside daemon's %q", watcher, daemon)
	}
	if child != daemon {
		t.Errorf("the double-forked daemon is in %q, want its service's %q", child, daemon)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "verdict")); strings.TrimSpace(string(got)) != "gone" {
		t.Errorf("when watcher was stopped (after daemon), the double-forked daemon was %q, want gone\n%v", got, r)
	}
	if !strings.Contains(r.stderr, "services are grouped and killed by cgroup") && !strings.Contains(r.stderr, "services get their own cgroups") {
		t.Errorf("no line saying what cgroups offer\n%v", r)
	}
	if _, err := os.Stat(filepath.Join(mount, base)); err == nil {
		t.Errorf("%s left behind after initbox exited", filepath.Join(mount, base))
	}
	if after, _ := os.ReadFile("/proc/self/cgroup"); string(after) != string(before) {
		t.Errorf("the test process was moved: cgroup %q, then %q", before, after)
	}
	if r.code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0\n%v", r.code, r)
	}
}

// TestCgroupModes: mode "off" runs services in initbox's own cgroup and
// says so; "required" on a host whose cgroup v2 has no memory controller
// refuses a memory limit and starts nothing; "auto" warns and runs.
func TestCgroupModes(t *testing.T) {
	requirePID1(t)
	mount := cgroup2Mount(t)
	for _, tc := range []struct {
		name, init string
		code       int
		ran        bool
		log        string
	}{
		{"off", `mode = "off"`, 7, true, "cgroups off"},
		{"auto", `mode = "auto"`, 7, true, "memory_max: controller not available: memory"},
		{"required", `mode = "required"`, 1, false, "init.cgroups.mode is required: not starting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "off" {
				requireNoMemoryController(t, mount)
			}
			dir, file := svConfig(t, fmt.Sprintf(`
[init.cgroups]
%s
[services.app]
main = true
shell = "grep ^0:: /proc/self/cgroup >@D@/ran; exit 7"
[services.app.resources]
memory_max = "64MiB"
`, tc.init))
			own, _ := os.ReadFile("/proc/self/cgroup")
			r := svRun(t, file, nil)
			if r.code != tc.code {
				t.Errorf("exit status %d, want %d\n%v", r.code, tc.code, r)
			}
			got, err := os.ReadFile(filepath.Join(dir, "ran"))
			if (err == nil) != tc.ran {
				t.Errorf("service ran: %v, want %v\n%v", err == nil, tc.ran, r)
			}
			if !strings.Contains(r.stderr, tc.log) {
				t.Errorf("stderr does not say %q\n%v", tc.log, r)
			}
			if tc.name == "off" && ownCgroup(string(got)) != ownCgroup(string(own)) {
				t.Errorf("with mode off the service is in %q, want initbox's (the test's) %q", got, ownCgroup(string(own)))
			}
			if tc.name == "auto" && !strings.HasSuffix(ownCgroup(string(got)), "/services/app") {
				t.Errorf("with mode auto the service is in %q, want its own leaf", got)
			}
		})
	}
}

// TestCgroupReadOnly: with the cgroup2 mount read-only, as Docker mounts
// it for unprivileged containers, initbox says so in one line, runs the
// service by process group and passes its status on.
func TestCgroupReadOnly(t *testing.T) {
	requirePID1(t)
	mount := cgroup2Mount(t)
	dir, file := svConfig(t, `
[services.app]
main = true
shell = "echo ran >@D@/ran; exit 7"
[services.app.resources]
pids_max = 10
`)
	script := fmt.Sprintf("mount -o bind,remount,ro %s %s && exec %s run -c %s", shq(mount), shq(mount), shq(initBin), shq(file))
	p := startInit(t, runSpec{mode: pid1, bin: "/bin/sh", args: []string{"-c", "mount --make-rprivate / && mount --bind " + shq(mount) + " " + shq(mount) + " && " + script}, timeout: svTimeout})
	r := p.wait()
	if r.code != 7 {
		t.Errorf("exit status %d, want the service's 7\n%v", r.code, r)
	}
	if !exists(filepath.Join(dir, "ran")) {
		t.Errorf("the service did not run\n%v", r)
	}
	n := 0
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, "read-only") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d lines say read-only, want 1\n%v", n, r)
	}
}

// TestCgroupTrampoline: where clone3 is refused (Docker's default seccomp
// profile answers ENOSYS to it), a service still starts inside its leaf,
// through initbox re-executed as a trampoline that joins the leaf before
// it execs the program; the service's user applies after the join.
func TestCgroupTrampoline(t *testing.T) {
	requirePID1(t)
	cgroup2Mount(t)
	if _, err := user.Lookup("nobody"); err != nil {
		skipOrFail(t, "no user nobody: %v", err)
	}
	_, file := svConfig(t, `
[services.app]
main = true
user = "nobody"
working_dir = "/"
shell = "grep ^0:: /proc/self/cgroup; id -u"
`)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := startInit(t, runSpec{mode: pid1, bin: self, args: []string{noClone3Arg, initBin, "run", "-c", file}, timeout: svTimeout})
	r := p.wait()
	if r.code != 0 {
		t.Fatalf("exit status %d\n%v", r.code, r)
	}
	out := strings.Fields(r.stdout)
	if len(out) != 2 || !strings.HasSuffix(ownCgroup(out[0]), "/services/app") || out[1] != "65534" {
		t.Errorf("service printed %q, want its leaf .../services/app and uid 65534 (nobody)\n%v", out, r)
	}
	if !strings.Contains(r.stderr, `"start_inside": "trampoline"`) {
		t.Errorf("initbox did not say it uses the trampoline\n%v", r)
	}
}

// noClone3Arg makes the test binary (see TestMain) install a seccomp
// filter that answers ENOSYS to clone3, as Docker's default profile does
// for processes without CAP_SYS_ADMIN, and exec the rest of its arguments.
const noClone3Arg = "-initbox.noclone3"

// execWithoutClone3 is the test binary's body under noClone3Arg.
func execWithoutClone3(argv []string) error {
	const (
		auditArchX8664 = 0xc000003e
		sysClone3      = 435
	)
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // seccomp_data.arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: auditArchX8664, Jt: 0, Jf: 3},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: sysClone3, Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// The filter and no_new_privs are the thread's, and exec keeps the
	// calling thread's: all three on one thread.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return fmt.Errorf("seccomp(SET_MODE_FILTER): %w", errno)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, os.Environ())
}

// TestOOMScoreAdj: oom_score_adj is the service's own from its first
// instruction, and its children inherit it; without the key the service
// keeps initbox's. A value below initbox's own needs CAP_SYS_RESOURCE:
// without it the config is refused at its line and nothing starts.
func TestOOMScoreAdj(t *testing.T) {
	requirePID1(t)
	own, _ := os.ReadFile("/proc/self/oom_score_adj")
	const low = `
[services.low]
shell = "echo low=$(cat /proc/self/oom_score_adj)"
restart = { policy = "never" }
[services.low.resources]
oom_score_adj = -250
`
	_, file := svConfig(t, `
[services.high]
shell = "sh -c 'echo high=$(cat /proc/self/oom_score_adj)'"
[services.high.resources]
oom_score_adj = 700

[services.plain]
shell = "echo plain=$(cat /proc/self/oom_score_adj)"
`+low)
	r := svRun(t, file, nil)
	if !hasCap(t, unix.CAP_SYS_RESOURCE) {
		if r.code != 2 || !strings.Contains(r.stderr, ":14:17: services.low.resources.oom_score_adj: -250 is below initbox's own oom_score_adj "+strings.TrimSpace(string(own))+", which needs CAP_SYS_RESOURCE") {
			t.Errorf("without CAP_SYS_RESOURCE, want exit 2 and the line of oom_score_adj -250\n%v", r)
		}
		_, file = svConfig(t, strings.TrimSuffix(readText(t, file), low))
		r = svRun(t, file, nil)
	}
	for _, want := range []string{"high | high=700", "plain | plain=" + strings.TrimSpace(string(own))} {
		wantLine(t, r, r.stdout, want)
	}
	if hasCap(t, unix.CAP_SYS_RESOURCE) {
		wantLine(t, r, r.stdout, "low | low=-250")
	}
}

// readText returns the file's text.
func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hasCap reports whether the test process has capability c in its
// effective set.
func hasCap(t *testing.T, c int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			var mask uint64
			fmt.Sscanf(strings.TrimSpace(v), "%x", &mask)
			return mask&(1<<uint(c)) != 0
		}
	}
	return false
}
