//go:build linux

package tests

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Black-box tests of `initbox spawn`: the binary is started directly by the
// test (no unshare) and makes its own namespaces. As root they run without a
// user namespace; the Unprivileged tests run it as uid 65534 (nobody) with
// setpriv, which makes spawn use a user namespace.

// spawnRun runs `initbox spawn ARGS` as a plain child of the test.
func spawnRun(t *testing.T, args ...string) result {
	t.Helper()
	return runInit(t, runSpec{mode: direct, args: append([]string{"spawn"}, args...)})
}

// nobody is the uid and gid the unprivileged tests run as.
const nobody = "65534"

// nobodyBin returns a copy of the binary that uid 65534 can execute: the
// test's temporary directories are private to root.
func nobodyBin(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	requireTool(t, "setpriv")
	return publicCopy(t, initBin)
}

// publicCopy copies the binary src into a directory everybody can enter.
func publicCopy(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(publicDir(t), "initbox")
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// publicDir makes a temporary directory that everybody can read and enter.
func publicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "initbox-spawn-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// spawnAsNobody runs `initbox spawn ARGS` as uid/gid 65534 without groups.
func spawnAsNobody(t *testing.T, args ...string) result {
	t.Helper()
	bin := nobodyBin(t)
	argv := append([]string{"--reuid", nobody, "--regid", nobody, "--clear-groups", bin, "spawn"}, args...)
	return runInit(t, runSpec{mode: direct, bin: "setpriv", args: argv})
}

// busyboxRoot makes a root file system holding only a static busybox, its
// applets and the mount points spawn needs (so that it works when the root
// is not writable by the caller), in a directory anyone can enter.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	requireTool(t, "busybox")
	src := "/bin/busybox"
	b, err := os.ReadFile(src)
	if err != nil {
		skipOrFail(t, "no %s (apt-get install busybox-static): %v", src, err)
	}
	if strings.Contains(string(b[:min(len(b), 4096)]), "ld-linux") {
		skipOrFail(t, "%s is dynamically linked: install busybox-static", src)
	}
	root := publicDir(t)
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "mnt"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "ls", "cat", "echo", "id", "ps", "sleep", "pwd", "hostname", "tr", "wc", "grep", "true", "kill", "mount", "head", "env"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "IN_ROOTFS"), []byte("yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// lines returns the non-empty lines of s, trimmed.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// keyed finds "key=value" in out.
func keyed(t *testing.T, out, key string) string {
	t.Helper()
	for _, l := range lines(out) {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s= line in output:\n%s", key, out)
	return ""
}

// TestSpawnPID1: initbox is PID 1 inside and the program its child. (The
// program is not PID 1 itself: that is the point, it gets a real init.)
func TestSpawnPID1(t *testing.T) {
	requireRoot(t)
	r := spawnRun(t, "--", "sh", "-c", `echo ppid=$PPID; echo init=$(cat /proc/1/comm); echo pid=$$`)
	wantExit(t, r, 0)
	if v := keyed(t, r.stdout, "ppid"); v != "1" {
		t.Errorf("the program's parent is %s inside, want 1: %v", v, r)
	}
	if v := keyed(t, r.stdout, "init"); v != "initbox" {
		t.Errorf("PID 1 inside is %q, want initbox: %v", v, r)
	}
	if pid, _ := strconv.Atoi(keyed(t, r.stdout, "pid")); pid <= 1 || pid > 100 {
		t.Errorf("the program's pid inside is %d, want a small pid of the new namespace: %v", pid, r)
	}
}

// TestSpawnProcOnlyInner: the fresh /proc lists only the namespace's
// processes: initbox, the shell and what it runs.
func TestSpawnProcOnlyInner(t *testing.T) {
	requireRoot(t)
	r := spawnRun(t, "--", "sh", "-c", `for d in /proc/[0-9]*; do echo "proc ${d#/proc/} $(cat $d/comm)"; done`)
	wantExit(t, r, 0)
	seen := map[string]string{}
	for _, l := range lines(r.stdout) {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "proc" {
			seen[f[1]] = f[2]
		}
	}
	if seen["1"] != "initbox" {
		t.Fatalf("want initbox as pid 1 in /proc, got %v: %v", seen, r)
	}
	if _, ok := seen[strconv.Itoa(os.Getpid())]; ok && os.Getpid() > 100 {
		t.Errorf("/proc inside lists the test's own pid %d: %v", os.Getpid(), seen)
	}
	for pid, comm := range seen {
		switch comm {
		case "initbox", "sh", "cat":
		default:
			t.Errorf("/proc inside lists pid %s (%s), not an inner process: %v", pid, comm, seen)
		}
	}
}

// TestSpawnHostname: --uts --hostname sets the name inside only.
func TestSpawnHostname(t *testing.T) {
	requireRoot(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	r := spawnRun(t, "--uts", "--hostname", "box", "--", "cat", "/proc/sys/kernel/hostname")
	wantExit(t, r, 0)
	if got := strings.TrimSpace(r.stdout); got != "box" {
		t.Errorf("hostname inside is %q, want box: %v", got, r)
	}
	if now, _ := os.Hostname(); now != host {
		t.Errorf("the host's name changed from %q to %q", host, now)
	}
}

// netDevs reads the interface names from /proc/net/dev output.
func netDevs(out string) []string {
	var devs []string
	for _, l := range lines(out) {
		if name, _, ok := strings.Cut(l, ":"); ok && !strings.Contains(name, "|") {
			devs = append(devs, strings.TrimSpace(name))
		}
	}
	sort.Strings(devs)
	return devs
}

// TestSpawnNet: --net gives a network namespace with only lo, and lo is up
// (IFF_UP in /sys/class/net/lo/flags of a fresh sysfs, under --rootfs).
func TestSpawnNet(t *testing.T) {
	requireRoot(t)
	t.Run("proc", func(t *testing.T) {
		r := spawnRun(t, "--net", "--", "cat", "/proc/net/dev")
		wantExit(t, r, 0)
		if devs := netDevs(r.stdout); strings.Join(devs, " ") != "lo" {
			t.Errorf("interfaces inside: %v, want only lo: %v", devs, r)
		}
	})
	t.Run("sysfs", func(t *testing.T) {
		root := busyboxRoot(t)
		r := spawnRun(t, "--net", "--rootfs", root, "--", "sh", "-c", `echo devs=$(ls /sys/class/net); echo flags=$(cat /sys/class/net/lo/flags)`)
		wantExit(t, r, 0)
		if v := keyed(t, r.stdout, "devs"); v != "lo" {
			t.Errorf("/sys/class/net inside: %q, want only lo: %v", v, r)
		}
		flags, err := strconv.ParseUint(keyed(t, r.stdout, "flags"), 0, 32)
		if err != nil || flags&syscall.IFF_UP == 0 {
			t.Errorf("lo flags %q: want IFF_UP set: %v", keyed(t, r.stdout, "flags"), r)
		}
	})
}

// TestSpawnUnprivileged: run by uid 65534, spawn maps it to root inside a
// user namespace, and everything else still works.
func TestSpawnUnprivileged(t *testing.T) {
	t.Run("uid 0 inside", func(t *testing.T) {
		r := spawnAsNobody(t, "--", "sh", "-c", `echo uid=$(id -u) gid=$(id -g); echo ppid=$PPID; echo init=$(cat /proc/1/comm)`)
		wantExit(t, r, 0)
		if !strings.Contains(r.stdout, "uid=0 gid=0") {
			t.Errorf("want uid=0 gid=0 inside: %v", r)
		}
		if keyed(t, r.stdout, "ppid") != "1" || keyed(t, r.stdout, "init") != "initbox" {
			t.Errorf("want initbox as PID 1 and parent of the program: %v", r)
		}
	})
	t.Run("all namespaces", func(t *testing.T) {
		r := spawnAsNobody(t, "--uts", "--hostname", "nb", "--ipc", "--net", "--", "sh", "-c", `echo host=$(cat /proc/sys/kernel/hostname); cat /proc/net/dev`)
		wantExit(t, r, 0)
		if keyed(t, r.stdout, "host") != "nb" {
			t.Errorf("want hostname nb: %v", r)
		}
		if devs := netDevs(r.stdout); strings.Join(devs, " ") != "lo" {
			t.Errorf("interfaces inside: %v, want only lo: %v", devs, r)
		}
	})
	t.Run("rootfs", func(t *testing.T) {
		root := busyboxRoot(t)
		r := spawnAsNobody(t, "--rootfs", root, "--net", "--", "sh", "-c", `echo uid=$(id -u); cat /IN_ROOTFS; echo x > /dev/null && echo x > /tmp/t && echo tmp=$(cat /tmp/t)`)
		wantExit(t, r, 0)
		if keyed(t, r.stdout, "uid") != "0" || !strings.Contains(r.stdout, "yes") || keyed(t, r.stdout, "tmp") != "x" {
			t.Errorf("want uid 0, the rootfs and a writable /tmp: %v", r)
		}
	})
}

// TestSpawnRootfs: --rootfs pivots into a busybox-static root: / is the
// rootfs, /proc /dev /sys /tmp are there, binds, --chdir, --env work.
func TestSpawnRootfs(t *testing.T) {
	requireRoot(t)
	root := busyboxRoot(t)
	share := t.TempDir()
	if err := os.WriteFile(filepath.Join(share, "f"), []byte("shared\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
echo root=$(ls / | tr '\n' ' ')
echo mark=$(cat /IN_ROOTFS)
echo pwd=$(pwd)
echo foo=$FOO
echo dev=$(ls /dev | tr '\n' ' ')
echo x > /dev/null && echo null=ok
echo zero=$(head -c 4 /dev/zero 2>/dev/null | wc -c)
echo procs=$(ls -d /proc/[0-9]* | wc -l)
if echo x > /sys/initbox-test 2>/dev/null; then echo sys=rw; else echo sys=ro; fi
echo x > /tmp/t && echo tmp=$(cat /tmp/t)
echo ro=$(cat /ro/f)
if echo x > /ro/g 2>/dev/null; then echo robind=rw; else echo robind=ro; fi
echo y > /rw/g && echo rwbind=ok
`
	r := spawnRun(t, "--rootfs", root, "--bind", share+":/ro:ro", "--bind", share+":/rw", "--chdir", "/tmp", "--env", "FOO=bar", "--", "sh", "-c", script)
	wantExit(t, r, 0)
	want := map[string]string{
		"mark": "yes", "pwd": "/tmp", "foo": "bar", "null": "ok", "sys": "ro",
		"tmp": "x", "ro": "shared", "robind": "ro", "rwbind": "ok",
	}
	for k, v := range want {
		if got := keyed(t, r.stdout, k); got != v {
			t.Errorf("%s=%q, want %q", k, got, v)
		}
	}
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "IN_ROOTFS"} {
		if !strings.Contains(" "+keyed(t, r.stdout, "root")+" ", " "+d+" ") {
			t.Errorf("/ inside lacks %s: %v", d, r)
		}
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		if !strings.Contains(" "+keyed(t, r.stdout, "dev")+" ", " "+d+" ") {
			t.Errorf("/dev inside lacks %s: %v", d, r)
		}
	}
	if b, err := os.ReadFile(filepath.Join(share, "g")); err != nil || string(b) != "y\n" {
		t.Errorf("the rw bind did not write through to the host: %q %v", b, err)
	}
	if _, err := os.Stat("/sys/initbox-test"); err == nil {
		t.Errorf("/sys was writable from inside")
	}
	if t.Failed() {
		t.Log(r)
	}
	t.Run("clear-env", func(t *testing.T) {
		r := spawnRun(t, "--rootfs", root, "--clear-env", "--env", "A=1", "--", "/bin/sh", "-c", `# busybox ash exports a default PATH itself
echo env=$(env 2>/dev/null | grep -v '^PWD=\|^SHLVL=\|^_=\|^PATH=' | tr '\n' ' ')`)
		wantExit(t, r, 0)
		if got := strings.TrimSpace(keyed(t, r.stdout, "env")); got != "A=1" {
			t.Errorf("environment inside with --clear-env --env A=1: %q", got)
		}
	})
}

// TestSpawnReapsOrphans: orphans inside are reaped by initbox as PID 1.
func TestSpawnReapsOrphans(t *testing.T) {
	requireRoot(t)
	script := `for i in 1 2 3 4 5; do sh -c 'sleep 0.1 & exit 0'; done
sleep 0.5
` + zombieReport
	r := spawnRun(t, "--", "sh", "-c", script)
	wantExit(t, r, 0)
	if z := zombiesFrom(t, r.stdout); len(z) > 0 {
		t.Errorf("zombies inside: %v", z)
	}
}

// TestSpawnExitStatus: the program's status comes out of spawn.
func TestSpawnExitStatus(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"exit 255", 255},
		{"kill -TERM $$", 128 + 15},
		{"kill -KILL $$", 128 + 9},
	} {
		t.Run(c.script, func(t *testing.T) {
			wantExit(t, spawnRun(t, "--", "sh", "-c", c.script), c.want)
		})
	}
}

// TestSpawnSIGTERMGraceful: SIGTERM to the outer process reaches the program,
// which cleans up (its trap writes a marker) and exits 0.
func TestSpawnSIGTERMGraceful(t *testing.T) {
	requireRoot(t)
	marker := filepath.Join(t.TempDir(), "marker")
	script := fmt.Sprintf(`trap 'echo cleaned > %s; exit 0' TERM; echo ready; while :; do sleep 0.05; done`, shq(marker))
	p := startInit(t, runSpec{mode: direct, args: []string{"spawn", "--", "sh", "-c", script}})
	p.waitStdout("ready", 10*time.Second)
	p.signal(syscall.SIGTERM)
	r := p.wait()
	wantExit(t, r, 0)
	if b, err := os.ReadFile(marker); err != nil || string(b) != "cleaned\n" {
		t.Errorf("the program's TERM trap did not run: %q %v: %v", b, err, r)
	}
}

// TestSpawnSIGKILLLeavesNothing: SIGKILL to the outer process kills the
// inner init (parent-death signal), and with it every process inside.
func TestSpawnSIGKILLLeavesNothing(t *testing.T) {
	requireRoot(t)
	for _, who := range []string{"root", "nobody"} {
		t.Run(who, func(t *testing.T) {
			s := runSpec{mode: direct, args: []string{"spawn", "--", "sh", "-c", `sleep 300 & sleep 300 & (sleep 300 &); echo ready; wait`}}
			if who == "nobody" {
				s.bin = "setpriv"
				s.args = append([]string{"--reuid", nobody, "--regid", nobody, "--clear-groups", nobodyBin(t)}, s.args...)
			}
			p := startInit(t, s)
			p.waitStdout("ready", 10*time.Second)
			outer := p.cmd.Process.Pid
			var procs []int
			starts := map[int]uint64{}
			deadline := time.Now().Add(5 * time.Second)
			for len(procs) < 5 && time.Now().Before(deadline) {
				procs = descendants(outer)
				time.Sleep(10 * time.Millisecond)
			}
			for _, pid := range procs {
				if st, ok := readStat(pid); ok {
					starts[pid] = st.startTime
				}
			}
			// inner init, sh, three sleeps
			if len(starts) < 5 {
				t.Fatalf("want at least 5 processes under the outer initbox, found %v", procs)
			}
			if err := syscall.Kill(outer, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			r := p.wait()
			if r.signal != syscall.SIGKILL {
				t.Fatalf("the outer process did not die by SIGKILL: %v", r)
			}
			for pid, start := range starts {
				if !waitGone(pid, start, 5*time.Second) {
					s, _ := readStat(pid)
					t.Errorf("pid %d (%s) survived the SIGKILL of the outer initbox", pid, s.comm)
				}
			}
		})
	}
}

// TestSpawnErrors: each failure says what is wrong and how to fix it.
func TestSpawnErrors(t *testing.T) {
	requireRoot(t)
	root := busyboxRoot(t)
	cases := []struct {
		name string
		args []string
		want int
		msg  []string
	}{
		{"bad bind spec", []string{"--rootfs", root, "--bind", "relative:/x", "--", "true"}, 2, []string{"--bind", "absolute"}},
		{"bad bind mode", []string{"--rootfs", root, "--bind", "/tmp:/x:rx", "--", "true"}, 2, []string{"--bind", "ro"}},
		{"bind without rootfs", []string{"--bind", "/tmp:/x", "--", "true"}, 2, []string{"--bind needs --rootfs"}},
		{"bind source missing", []string{"--rootfs", root, "--bind", "/nonexistent-initbox:/x", "--", "true"}, 1, []string{"--bind", "/nonexistent-initbox"}},
		{"program not in rootfs", []string{"--rootfs", root, "--", "/usr/bin/initbox-nothere"}, 127, []string{"/usr/bin/initbox-nothere", root}},
		{"program not in rootfs PATH", []string{"--rootfs", root, "--", "initbox-nothere"}, 127, []string{"initbox-nothere", root}},
		{"program not found", []string{"--", "initbox-nothere"}, 127, []string{"initbox-nothere"}},
		{"program not executable", []string{"--", "/etc/hostname"}, 126, []string{"/etc/hostname"}},
		{"rootfs missing", []string{"--rootfs", "/nonexistent-initbox-root", "--", "true"}, 1, []string{"--rootfs", "/nonexistent-initbox-root"}},
		{"no program", []string{}, 2, []string{"no program"}},
		{"unknown flag", []string{"--frobnicate", "--", "true"}, 2, []string{"--frobnicate"}},
		{"bad memory limit", []string{"--memory", "64Q", "--", "true"}, 2, []string{"--memory", `unknown unit "Q"`}},
		{"bad pids limit", []string{"--pids=0", "--", "true"}, 2, []string{"--pids", "from 1"}},
		{"bad cpus limit", []string{"--cpus", "0", "--", "true"}, 2, []string{"--cpus", "out of range"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := spawnRun(t, c.args...)
			wantExit(t, r, c.want)
			for _, m := range c.msg {
				if !strings.Contains(r.stderr, m) {
					t.Errorf("stderr does not name %q: %v", m, r)
				}
			}
		})
	}
	t.Run("inner marker by hand", func(t *testing.T) {
		r := runInit(t, runSpec{mode: direct, args: []string{"__spawn-inner", "--", "true"}})
		wantExit(t, r, 1)
		if !strings.Contains(r.stderr, "internal") {
			t.Errorf("want a message that __spawn-inner is internal: %v", r)
		}
	})
	t.Run("net without user when not root", func(t *testing.T) {
		bin := nobodyBin(t)
		r := runInit(t, runSpec{mode: direct, bin: "setpriv", args: []string{"--reuid", nobody, "--regid", nobody, "--clear-groups", bin, "spawn", "--no-user", "--net", "--", "true"}})
		wantExit(t, r, 1)
		for _, m := range []string{"--net", "CAP_SYS_ADMIN", "run as root"} {
			if !strings.Contains(r.stderr, m) {
				t.Errorf("stderr does not name %q: %v", m, r)
			}
		}
	})
	t.Run("user namespaces disabled", func(t *testing.T) {
		requireTool(t, "unshare")
		// user.max_user_namespaces is per user namespace: setting it to 0 in
		// a throwaway one disables user namespaces there, not on the host.
		script := `echo 0 > /proc/sys/user/max_user_namespaces || exit 99; exec "$0" spawn --user -- true`
		r := runInit(t, runSpec{mode: direct, bin: "unshare", args: []string{"--user", "--map-root-user", "sh", "-c", script, initBin}})
		if r.code == 99 {
			skipOrFail(t, "cannot lower user.max_user_namespaces in a user namespace: %v", r)
		}
		wantExit(t, r, 1)
		for _, m := range []string{"user namespace", "max_user_namespaces=0", "sysctl -w"} {
			if !strings.Contains(r.stderr, m) {
				t.Errorf("stderr does not name %q: %v", m, r)
			}
		}
	})
}

// TestSpawnConfig: `spawn -c FILE` runs the supervisor as PID 1 inside,
// with the services in the namespaces.
func TestSpawnConfig(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	bg := filepath.Join(dir, "bg")
	file := filepath.Join(dir, "initbox.toml")
	config := fmt.Sprintf(`[services.bg]
command = ["sh", "-c", "echo bg-ppid=$PPID init=$(cat /proc/1/comm) host=$(cat /proc/sys/kernel/hostname) > %s; exec sleep 300"]
`, bg)
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	mainScript := fmt.Sprintf(`while [ ! -s %[1]s ]; do sleep 0.02; done; cat %[1]s; echo procs=$(ls -d /proc/[0-9]* | wc -l); exit 5`, shq(bg))
	t.Run("supervisor", func(t *testing.T) {
		r := runInit(t, runSpec{mode: direct, bin: initBin, args: []string{"spawn", "--uts", "--hostname", "sv", "-c", file, "--", "sh", "-c", mainScript}, timeout: svTimeout})
		wantExit(t, r, 5)
		if !strings.Contains(r.stdout, "bg-ppid=1 init=initbox host=sv") {
			t.Errorf("want the service as a child of initbox, PID 1 of the new namespaces: %v", r)
		}
		// initbox, sleep (bg), sh (main), ls: nothing from the host.
		if n, _ := strconv.Atoi(keyed(t, r.stdout, "procs")); n < 3 || n > 6 {
			t.Errorf("/proc inside lists %d processes: %v", n, r)
		}
	})
}

// TestSpawnCgroup: --cgroup makes a cgroup of the tree's own under
// initbox's (initbox-spawn-PID), starts the inner init inside it and roots
// the new cgroup namespace there, with a private cgroup2 mount; the
// cgroup is gone once the tree has ended. A supervisor inside (-c) owns
// that cgroup: it moves into init/ and gives its services leaves.
func TestSpawnCgroup(t *testing.T) {
	requireRoot(t)
	mount := cgroup2Mount(t)
	t.Run("tini", func(t *testing.T) {
		p := startInit(t, runSpec{mode: direct, args: []string{"spawn", "--cgroup", "--", "sh", "-c", "grep ^0:: /proc/self/cgroup; grep -c ' - cgroup2 ' /proc/self/mountinfo; echo ready; exec sleep 1000"}})
		scope := filepath.Join(mount, fmt.Sprintf("initbox-spawn-%d", p.cmd.Process.Pid))
		p.waitStdout("ready", 10*time.Second)
		procs, err := os.ReadFile(filepath.Join(scope, "cgroup.procs"))
		if err != nil || len(strings.Fields(string(procs))) < 2 {
			t.Errorf("the tree's cgroup %s holds %q (%v), want the inner init and the program", scope, procs, err)
		}
		p.signal(syscall.SIGTERM)
		r := p.wait()
		if got := lines(r.stdout); len(got) != 3 || got[0] != "0::/" {
			t.Errorf("inside: %q, want 0::/ (the namespace's root) and a count of cgroup2 mounts\n%v", got, r)
		}
		if _, err := os.Stat(scope); err == nil {
			t.Errorf("%s left behind\n%v", scope, r)
		}
	})
	t.Run("supervisor", func(t *testing.T) {
		_, file := svConfig(t, `
[services.web]
main = true
shell = "grep ^0:: /proc/self/cgroup"
`)
		r := runInit(t, runSpec{mode: direct, bin: initBin, args: []string{"spawn", "--cgroup", "-c", file}, timeout: svTimeout})
		wantExit(t, r, 0)
		if strings.TrimSpace(r.stdout) != "0::/services/web" {
			t.Errorf("service in %q, want 0::/services/web\n%v", r.stdout, r)
		}
		if !strings.Contains(r.stderr, `"moved_to_init": 1`) {
			t.Errorf("the supervisor did not take the tree's cgroup over\n%v", r)
		}
	})
	t.Run("limits without controllers", func(t *testing.T) {
		requireNoMemoryController(t, mount)
		r := spawnRun(t, "--memory", "64M", "--", "sh", "-c", "echo ran")
		wantExit(t, r, 1)
		for _, m := range []string{"need a cgroup of the tree's own", "controller not available: memory"} {
			if !strings.Contains(r.stderr, m) {
				t.Errorf("stderr does not say %q\n%v", m, r)
			}
		}
		if strings.Contains(r.stdout, "ran") {
			t.Errorf("the program ran without its limit\n%v", r)
		}
	})
}
