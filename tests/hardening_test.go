//go:build linux

package tests

// Hardening tests (issue #9): descriptor leaks, identities, secrets, user
// namespaces, and faults the init must survive with a clear message while
// the other services keep running. Each one is named in docs/reliability.md.

import (
	"fmt"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// init marks every descriptor the test binary inherited from 3 up
// close-on-exec (os/exec closes only its own), so that what the shell that
// ran `go test` left open cannot reach initbox and make the descriptor
// tests below depend on where they run.
func init() {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd >= 3 {
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
}

// findDescendant waits until a descendant of root whose comm is comm runs
// and returns its pid.
func (p *proc) findDescendant(root int, comm string, d time.Duration) int {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, pid := range descendants(root) {
			if st, ok := readStat(pid); ok && st.comm == comm && st.state != "Z" {
				p.snapshot()
				return pid
			}
		}
		if p.exited() {
			p.t.Fatalf("exited before a %s ran: %v", comm, p.wait())
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %s under pid %d within %v\n--- stdout:\n%s\n--- stderr:\n%s", comm, root, d, p.stdout.String(), p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openFDs lists the descriptors pid has open, as /proc/PID/fd shows them
// from outside (so the listing opens nothing in the process itself), with
// what each one points to.
func openFDs(t *testing.T, pid int) (fds []int, targets map[int]string) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	targets = map[int]string{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds = append(fds, n)
		targets[n], _ = os.Readlink(filepath.Join(dir, e.Name()))
	}
	slices.Sort(fds)
	return fds, targets
}

// wantFDs fails unless pid has exactly the descriptors want open. The
// program may be caught while it starts (sleep reads the locale files), so
// it looks again for up to 2 s: a leaked descriptor stays, a transient one
// goes.
func wantFDs(t *testing.T, what string, pid int, want ...int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		fds, targets := openFDs(t, pid)
		if slices.Equal(fds, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s (pid %d) has descriptors %v, want exactly %v: %v", what, pid, fds, want, targets)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopBySIGTERM sends SIGTERM and waits for the run to end within d.
func (p *proc) stopBySIGTERM(d time.Duration) result {
	p.t.Helper()
	sent := time.Since(p.start)
	p.signal(syscall.SIGTERM)
	r := p.wait()
	if took := r.elapsed - sent; took > d {
		p.t.Errorf("stopping took %v after SIGTERM, want at most %v: %v", took.Round(time.Millisecond), d, r)
	}
	return r
}

// ---------------------------------------------------------------------------
// Descriptors

// TestNoFDLeakTini: in tini mode the program gets exactly 0, 1 and 2 when
// initbox was started with nothing else: initbox's own descriptors (the
// signal, epoll and pipe descriptors of the Go runtime and the reaper) do
// not leak into it.
func TestNoFDLeakTini(t *testing.T) {
	for _, m := range modes {
		t.Run(m.String(), func(t *testing.T) {
			p := startInit(t, runSpec{mode: m, args: withMode(m, "--", "sleep", "1000")})
			root := p.cmd.Process.Pid
			pid := p.findDescendant(root, "sleep", 10*time.Second)
			wantFDs(t, "the program", pid, 0, 1, 2)
			p.stopBySIGTERM(5 * time.Second)
		})
	}
}

// TestTiniPassesInheritedFDs documents the other half of tini mode: a
// descriptor initbox inherits (socket activation, LISTEN_FDS) reaches the
// program, as under tini.
func TestTiniPassesInheritedFDs(t *testing.T) {
	requirePID1(t)
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := startInit(t, runSpec{mode: pid1, args: []string{"--", "sleep", "1000"}, extra: []*os.File{nil, nil, nil, nil, f}})
	pid := p.findDescendant(p.cmd.Process.Pid, "sleep", 10*time.Second)
	wantFDs(t, "the program", pid, 0, 1, 2, 7)
	p.stopBySIGTERM(5 * time.Second)
}

// TestNoFDLeakSpawn: `initbox spawn -- PROGRAM` gives the program exactly 0,
// 1 and 2: neither the handshake pipe between the outer and the inner
// initbox nor their own descriptors leak.
func TestNoFDLeakSpawn(t *testing.T) {
	requireRoot(t)
	p := startInit(t, runSpec{mode: direct, args: []string{"spawn", "--", "sleep", "1000"}})
	pid := p.findDescendant(p.cmd.Process.Pid, "sleep", 10*time.Second)
	wantFDs(t, "the program", pid, 0, 1, 2)
	p.stopBySIGTERM(5 * time.Second)
}

// TestNoFDLeakSupervisor: a service sees exactly 0, 1 and 2, even when
// initbox itself inherited a descriptor without close-on-exec (fd 7 here):
// the config declares no descriptors, so none reach services. The main
// service of `run -- PROGRAM` is held to the same rule.
func TestNoFDLeakSupervisor(t *testing.T) {
	requirePID1(t)
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, file := svConfig(t, `
[services.svc]
shell = '''exec sleep 1000'''

[services.quiet]
stdout = "null"
stderr = "null"
command = ["sleep", "1001"]
`)
	p := startInit(t, runSpec{mode: pid1, bin: initBin, args: []string{"run", "-c", file, "--", "sleep", "1002"}, timeout: svTimeout, extra: []*os.File{nil, nil, nil, nil, f}})
	init := p.hostInitPID()
	if fds, targets := openFDs(t, init); !slices.Contains(fds, 7) {
		t.Fatalf("test setup: initbox did not inherit fd 7: %v %v", fds, targets)
	}
	want := map[string]bool{"1000": true, "1001": true, "1002": true}
	deadline := time.Now().Add(10 * time.Second)
	for len(want) > 0 && time.Now().Before(deadline) {
		for _, pid := range descendants(init) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil {
				continue
			}
			argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
			if len(argv) == 2 && argv[0] == "sleep" && want[argv[1]] {
				delete(want, argv[1])
				wantFDs(t, "service running sleep "+argv[1], pid, 0, 1, 2)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(want) > 0 {
		t.Fatalf("services not found: %v\n%s", want, p.stderr.String())
	}
	p.stopBySIGTERM(10 * time.Second)
}

// ---------------------------------------------------------------------------
// Identities, secrets, user namespaces

// statusLines returns the Uid, Gid, Groups and Cap* lines of
// /proc/self/status as a service printed them ("NAME | Key:\tvalues").
func statusLines(out, name string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(l, name+" | ")
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(rest, ":")
		if ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

// TestServiceUserExact: `user = "nobody"` sets the real, effective, saved
// and filesystem uid and gid to nobody's, the supplementary groups to
// exactly nobody's (root's are gone), and leaves no capability; a numeric
// uid without a passwd entry gets gid = uid and no supplementary groups.
func TestServiceUserExact(t *testing.T) {
	nob, err := user.Lookup("nobody")
	if err != nil {
		skipOrFail(t, "no user nobody: %v", err)
	}
	if _, err := user.LookupId("4242"); err == nil {
		t.Fatal("uid 4242 has a passwd entry; the test needs an unknown uid")
	}
	const probe = `
shell = '''grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapAmb):' /proc/self/status'''
working_dir = "/"
restart = { policy = "never" }
`
	_, file := svConfig(t, "[services.nob]\nuser = \"nobody\"\n"+probe+"\n[services.num]\nuser = \"4242\"\n"+probe)
	r := svRun(t, file, nil)
	wantExit(t, r, 0)
	// Supplementary groups: those /etc/group gives nobody, other than its
	// primary group (which the kernel lists in Gid).
	gids, err := nob.GroupIds()
	if err != nil {
		t.Fatalf("groups of nobody: %v", err)
	}
	var supp []string
	for _, g := range gids {
		if g != nob.Gid && !slices.Contains(supp, g) {
			supp = append(supp, g)
		}
	}
	slices.SortFunc(supp, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
	const noCaps = "0000000000000000"
	for name, w := range map[string]map[string]string{
		"nob": {"Uid": strings.Repeat(nob.Uid+" ", 3) + nob.Uid, "Gid": strings.Repeat(nob.Gid+" ", 3) + nob.Gid, "Groups": strings.Join(supp, " ")},
		"num": {"Uid": "4242 4242 4242 4242", "Gid": "4242 4242 4242 4242", "Groups": ""},
	} {
		got := statusLines(r.stdout, name)
		for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
			w[k] = noCaps
		}
		for k, v := range w {
			g, ok := got[k]
			if !ok {
				t.Errorf("%s: no %s line\n%v", name, k, r)
			} else if g != v {
				t.Errorf("%s: %s = %q, want %q", name, k, g, v)
			}
		}
	}
}

// TestEnvFileSecretsNotLogged: when an env file cannot be parsed, the
// error names the file, the line and the variable, never a value; nothing
// initbox prints holds the secret.
func TestEnvFileSecretsNotLogged(t *testing.T) {
	const secret = "hunter2-s3cr3t"
	files := map[string]string{
		"unterminated.env": "OK=1\nTOKEN=\"" + secret + "\n",
		"escape.env":       "TOKEN=\"" + secret + `\q"` + "\n",
		"trailing.env":     "TOKEN='" + secret + "' " + secret + "\n",
		"noequals.env":     secret + "\n",
		"badname.env":      "1" + secret + "=" + secret + "\n",
		"nul.env":          "TOKEN=" + secret + "\x00" + secret + "\n",
	}
	var cfg strings.Builder
	names := slices.Sorted(maps.Keys(files))
	for i, f := range names {
		fmt.Fprintf(&cfg, "[services.s%d]\nenv_file = [\"%s\"]\nshell = \"true\"\nrestart = { policy = \"never\" }\n\n", i, f)
	}
	dir, file := svConfig(t, cfg.String())
	for f, text := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := svRun(t, file, nil)
	if r.code == 0 {
		t.Errorf("want a failure status: %v", r)
	}
	for _, f := range names {
		if !strings.Contains(r.stderr, f) {
			t.Errorf("no message names %s\n%v", f, r)
		}
	}
	if strings.Contains(r.stderr, secret) || strings.Contains(r.stdout, secret) {
		t.Errorf("the secret appears in initbox's output\n%v", r)
	}
	// `initbox check` reads no env file, so it has nothing to leak; run it
	// anyway to hold it to the same rule.
	c := runInit(t, runSpec{mode: direct, bin: initBin, args: []string{"check", "-c", file}})
	if strings.Contains(c.stderr+c.stdout, secret) {
		t.Errorf("the secret appears in `initbox check`'s output\n%v", c)
	}
}

// uidMap parses /proc/self/uid_map lines as printed.
func uidMap(out string) [][3]string {
	var m [][3]string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 {
			m = append(m, [3]string{f[0], f[1], f[2]})
		}
	}
	return m
}

// TestSpawnNoUserNamespaceUnasked: as root, spawn makes no user namespace
// unless asked (the program sees the initial namespace's identity map); as
// nobody, the user namespace maps nobody to root inside and nothing else,
// never host root.
func TestSpawnNoUserNamespaceUnasked(t *testing.T) {
	requireRoot(t)
	t.Run("root", func(t *testing.T) {
		r := spawnRun(t, "--", "cat", "/proc/self/uid_map", "/proc/self/gid_map")
		wantExit(t, r, 0)
		want := [][3]string{{"0", "0", "4294967295"}, {"0", "0", "4294967295"}}
		if got := uidMap(r.stdout); !slices.Equal(got, want) {
			t.Errorf("uid_map, gid_map: %v, want the initial namespace's %v\n%v", got, want, r)
		}
	})
	t.Run("nobody", func(t *testing.T) {
		r := spawnAsNobody(t, "--", "cat", "/proc/self/uid_map", "/proc/self/gid_map")
		wantExit(t, r, 0)
		want := [][3]string{{"0", nobody, "1"}, {"0", nobody, "1"}}
		got := uidMap(r.stdout)
		if !slices.Equal(got, want) {
			t.Errorf("uid_map, gid_map: %v, want only %s → 0: %v", got, nobody, r)
		}
		for _, l := range got {
			if l[1] == "0" {
				t.Errorf("host id 0 is mapped: %v", got)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Faults

// logHas reports whether stderr has a log line naming the service that
// holds every one of want.
func logHas(stderr, service string, want ...string) bool {
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.Contains(l, `"service": "`+service+`"`) {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// waitLog waits until logHas(stderr, service, want...).
func (p *proc) waitLog(d time.Duration, service string, want ...string) {
	p.t.Helper()
	p.waitOut(p.stderr, func(s string) bool { return logHas(s, service, want...) }, fmt.Sprintf("%q logged for %s", want, service), d)
}

// TestSupervisorStartFailuresIsolated: a service whose program is missing
// (127) or not executable (126), whose user does not exist, or whose
// working directory is missing fails with a message that says which and
// why; initbox and the other service keep running, and SIGTERM still stops
// everything.
func TestSupervisorStartFailuresIsolated(t *testing.T) {
	dir, file := svConfig(t, `
[services.missing]
command = ["/nonexistent/initbox-no-such-program"]
restart = { policy = "never" }

[services.noexec]
command = ["@D@/not-executable"]
restart = { policy = "never" }

[services.baduser]
user = "initbox-no-such-user"
shell = "true"
restart = { policy = "never" }

[services.nodir]
working_dir = "/nonexistent/initbox-no-such-dir"
shell = "true"
restart = { policy = "never" }

[services.sibling]
shell = '''touch @D@/sibling.up; exec sleep 1000'''
`)
	if err := os.WriteFile(filepath.Join(dir, "not-executable"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := svStart(t, file, nil)
	p.waitExists(filepath.Join(dir, "sibling.up"), 10*time.Second)
	p.waitLog(10*time.Second, "missing", "initbox-no-such-program", "no such file or directory")
	p.waitLog(10*time.Second, "missing", "exit status 127")
	p.waitLog(10*time.Second, "noexec", "not-executable", "permission denied")
	p.waitLog(10*time.Second, "noexec", "exit status 126")
	p.waitLog(10*time.Second, "baduser", `user \"initbox-no-such-user\"`, "no such user")
	p.waitLog(10*time.Second, "nodir", "working directory: stat /nonexistent/initbox-no-such-dir", "no such file or directory")
	// Every failed service has failed for good; the sibling still runs.
	sleeper := p.findDescendant(p.hostInitPID(), "sleep", 5*time.Second)
	if p.exited() {
		t.Fatalf("initbox exited: %v", p.wait())
	}
	st, ok := readStat(sleeper)
	if !ok {
		t.Fatalf("cannot read /proc/%d/stat of the sibling", sleeper)
	}
	r := p.stopBySIGTERM(10 * time.Second)
	if alive(sleeper, st.startTime) {
		t.Errorf("the sibling survived the stop")
	}
	if r.code == 0 {
		t.Errorf("want a failure status after services failed: %v", r)
	}
}

// TestSupervisorUnreadableEnvFile: initbox run as nobody (setpriv) meets an
// env file it may not read: that service fails with a message naming the
// file and the reason, the sibling runs, SIGTERM stops everything. (As
// root every file is readable, hence nobody.)
func TestSupervisorUnreadableEnvFile(t *testing.T) {
	requireRoot(t)
	requireTool(t, "setpriv")
	pub := publicDir(t)
	bin := filepath.Join(pub, "initbox")
	b, err := os.ReadFile(initBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(pub, "work")
	if err := os.Mkdir(work, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(work, 0o777); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(pub, "locked.env")
	if err := os.WriteFile(locked, []byte("A=1\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(pub, "initbox.toml")
	cfg := fmt.Sprintf(`
[services.locked]
env_file = [%q]
shell = "true"
restart = { policy = "never" }

[services.sibling]
shell = '''touch %s/sibling.up; exec sleep 1000'''
`, locked, work)
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startInit(t, runSpec{mode: direct, bin: "setpriv", timeout: svTimeout,
		args: []string{"--reuid", nobody, "--regid", nobody, "--clear-groups", bin, "run", "-c", file}})
	p.waitExists(filepath.Join(work, "sibling.up"), 10*time.Second)
	p.waitLog(10*time.Second, "locked", "locked.env", "permission denied")
	if p.exited() {
		t.Fatalf("initbox exited: %v", p.wait())
	}
	p.stopBySIGTERM(10 * time.Second)
}

// TestSupervisorStdoutBlocked: the reader of initbox's stdout stops reading
// (a pipe nobody drains) while a service floods it. initbox's own loop
// keeps going (a crash-looping service with its output discarded keeps
// being restarted) and SIGTERM still stops everything within the shutdown
// timeout plus the bounded wait for output.
func TestSupervisorStdoutBlocked(t *testing.T) {
	requirePID1(t)
	dir, file := svConfig(t, `
[init]
shutdown_timeout = "3s"

[services.flood]
command = ["yes", "flood flood flood flood flood flood flood flood flood flood flood"]

[services.looper]
stdout = "null"
shell = '''echo x >> @D@/runs; exit 1'''
restart = { policy = "always", delay = "20ms", multiplier = 1, limit_burst = 100000, limit_interval = "1s" }
`)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := startInit(t, runSpec{mode: pid1, bin: initBin, args: []string{"run", "-c", file}, timeout: svTimeout, stdout: w})
	w.Close()
	// Wait until the pipe is full (TIOCINQ is FIONREAD): initbox's writes now block.
	size, err := unix.FcntlInt(r.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if n >= size-4096 {
			break
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("stdout pipe holds %d of %d bytes: %v", n, size, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	runs := func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "runs"))
		return strings.Count(string(b), "x")
	}
	before := runs()
	deadline = time.Now().Add(10 * time.Second)
	for runs() < before+5 {
		if time.Now().After(deadline) {
			t.Fatalf("the looping service was not restarted while stdout was blocked (%d runs)\n%s", runs(), p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	res := p.stopBySIGTERM(3*time.Second + 4*time.Second)
	if !strings.Contains(res.stderr, "supervisor done") {
		t.Errorf("no orderly end logged\n%v", res)
	}
}

// TestSpawnMissingWorkingDir: `spawn --chdir DIR` with DIR missing fails
// with one message naming the directory, and status 1 (initbox could not
// start the program), not a misleading exec error.
func TestSpawnMissingWorkingDir(t *testing.T) {
	requireRoot(t)
	r := spawnRun(t, "--chdir", "/nonexistent/initbox-no-such-dir", "--", "true")
	wantExit(t, r, 1)
	if !strings.Contains(r.stderr, "chdir /nonexistent/initbox-no-such-dir: no such file or directory") {
		t.Errorf("no message names the missing directory\n%v", r)
	}
}
