//go:build linux

package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The forms containers really run in (issue #19): a random uid, a
// read-only root, a shared PID namespace, another init above initbox. Each
// runs `initbox run` with formsConfig and a main service, and checks that
// the services run, that `docker exec C /initbox ctl status` and `initbox
// exec` work with no flag, that a service's double-forked orphan is reaped
// by initbox (no zombie), and that `docker stop` is clean and the main
// service's status is the container's.

// formsConfig: db is a notify service (its NOTIFY_SOCKET is abstract, so
// readiness needs no writable file system either); orphans, started once db
// is ready, double-forks a sleep that outlives its parent by 3 s.
const formsConfig = `
[init]
shutdown_timeout = "8s"

[services.db]
type = "notify"
command = ["/bin/busybox", "sh", "-c", "trap 'echo db-stopped; exit 0' TERM; /initbox notify READY=1; echo db-up; while :; do /bin/busybox sleep 0.1; done"]

[services.orphans]
depends_on = { db = "ready" }
command = ["/bin/busybox", "sh", "-c", "trap 'echo orphans-stopped; exit 0' TERM; /bin/busybox sh -c '/bin/busybox sleep 3 </dev/null >/dev/null 2>&1 & echo orphan $!'; echo orphans-up; while :; do /bin/busybox sleep 0.1; done"]

[services.env]
type = "oneshot"
inherit_env = false
command = ["/bin/busybox", "sh", "-c", "echo home=$${HOME-unset} user=$${USER-unset}"]
`

// nobodyConfig asks for a user that initbox can grant only as root with
// CAP_SETUID (and that a FROM scratch image does not even have): under
// any other uid, or as root without capabilities, run and check refuse
// it at its line.
const nobodyConfig = `[services.web]
command = ["/bin/busybox", "true"]
user = "nobody"
`

// formsMain is the main service (the image's CMD): its status, 7 after
// SIGTERM, must be the container's.
const formsMain = `trap 'echo main-stopped; exit 7' TERM; echo main-up; while :; do /bin/busybox sleep 0.1; done`

// formsImage builds the test image plus a /tmp (1777, as any distribution
// image has: the fallback of the control socket for a uid that may not
// write /run), the config at initbox's default path, nobodyConfig beside
// it as nobody.toml, and ENTRYPOINT
// ["/initbox", "run", "--"]. The image is removed when t ends.
func formsImage(t *testing.T) string {
	t.Helper()
	needDocker(t)
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile": "FROM " + testImage + "\n" +
			"RUN [\"/bin/busybox\", \"mkdir\", \"-m\", \"1777\", \"/tmp\"]\n" +
			"COPY initbox.toml nobody.toml /etc/initbox/\n" +
			"ENTRYPOINT [\"/initbox\", \"run\", \"--\"]\n" +
			"CMD [\"/bin/busybox\", \"sh\", \"-c\", " + strconv.Quote(formsMain) + "]\n",
		"initbox.toml": formsConfig,
		"nobody.toml":  nobodyConfig,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tag := testImage + "-forms"
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if _, stderr, rc, err := docker(ctx, "build", "-q", "-t", tag, dir); err != nil || rc != 0 {
		t.Fatalf("docker build -t %s: exit %d %v\n%s", tag, rc, err, stderr)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		if _, stderr, rc, err := docker(ctx, "rmi", "-f", tag); err != nil || rc != 0 {
			t.Errorf("cleanup: docker rmi -f %s: exit %d %v %s", tag, rc, err, stderr)
		}
	})
	return tag
}

// TestContainerForms runs one subtest per form of issue #19.
func TestContainerForms(t *testing.T) {
	img := formsImage(t)
	for _, f := range []struct {
		name string
		args []string
		// shared: run in the PID namespace of another container whose
		// PID 1 (busybox sleep) reaps nothing.
		shared bool
		// socket is where the control socket must be; a trailing "*"
		// makes it a prefix.
		socket  string
		notPID1 bool
		// budget, if set, is INITBOX_SHUTDOWN_TIMEOUT: the first
		// service stopped gets no more than that.
		budget time.Duration
		// refused, if set, is what run and check say of nobodyConfig,
		// exiting 2, in this form.
		refused string
	}{
		// No passwd entry, may not write /: the socket falls back to
		// /tmp/initbox-12345/.
		{name: "user-12345", args: []string{"--user", "12345:0"}, socket: "/tmp/initbox-12345/control.sock", refused: nobodyAs12345},
		// Nothing writable: the abstract socket.
		{name: "read-only", args: []string{"--read-only"}, socket: "@initbox/mnt-*"},
		{name: "read-only-tmpfs-run", args: []string{"--read-only", "--tmpfs", "/run"}, socket: "/run/initbox/control.sock"},
		// Root without capabilities still owns / and may write /run.
		{name: "cap-drop-all", args: []string{"--cap-drop", "ALL"}, socket: "/run/initbox/control.sock",
			refused: `/etc/initbox/nobody.toml:3:8: services.web.user: "nobody" is not in /etc/passwd, and initbox (uid 0, gid 0) cannot switch to another user without CAP_SETUID: remove user to run the service as uid 0, or give initbox CAP_SETUID (docker run --cap-add SETUID)`},
		// Kubernetes' shareProcessNamespace is the same: the pause
		// container is PID 1.
		{name: "pid-container", shared: true, socket: "/run/initbox/control.sock", notPID1: true},
		// The engine's own docker-init (tini here) is PID 1.
		{name: "docker-init", args: []string{"--init"}, socket: "/run/initbox/control.sock", notPID1: true},
		// The nearest Docker gets to docs/kubernetes.md's pod under a
		// restricted policy: a random uid, a read-only root with a
		// volume at /run, no capabilities, no privilege escalation, and
		// the stop budget from the environment.
		{name: "restricted-pod", args: []string{"--user", "12345:0", "--read-only", "--tmpfs", "/run", "--cap-drop", "ALL",
			"--security-opt", "no-new-privileges", "-e", "INITBOX_SHUTDOWN_TIMEOUT=3s"}, socket: "/run/initbox/control.sock", budget: 3 * time.Second, refused: nobodyAs12345},
	} {
		t.Run(f.name, func(t *testing.T) {
			if f.refused != "" {
				refusedNobody(t, img, f.args, f.refused)
			}
			args := append([]string{}, f.args...)
			if f.shared {
				x := containerName(t)
				dockerOK(t, "run", "-d", "--name", x, plainImage, bb, "sleep", "300")
				args = append(args, "--pid", "container:"+x)
			}
			name := containerName(t)
			a := runAttached(t, name, append(args, img)...)
			// A uid without a passwd entry (every uid in a FROM
			// scratch image, root too) gets HOME=/ and no USER.
			for _, s := range []string{"main-up", "db | db-up", "orphans | orphans-up", "env | home=/ user=unset"} {
				waitContains(t, a, s)
			}

			// ctl with no flag, as the container's user.
			out, rc := dockerRun(t, "exec", name, "/initbox", "ctl", "status")
			if rc != 0 {
				t.Errorf("docker exec %s /initbox ctl status: exit %d\n%s", name, rc, out)
			}
			for _, want := range []string{`(?m)^db +running +\d+ +\S+ +0 +ready `, `(?m)^orphans +running `, `(?m)^main +running `} {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("ctl status has no line %s:\n%s", want, out)
				}
			}

			// initbox exec finds the same socket, with no flag; the
			// program's status is docker exec's (issue #18).
			out, rc = dockerRun(t, "exec", name, "/initbox", "exec", "-T", "db", "--", "/bin/busybox", "sh", "-c", "echo exec-as-db; exit 3")
			if rc != 3 || strings.TrimSpace(out) != "exec-as-db" {
				t.Errorf("docker exec %s /initbox exec db: exit %d, want 3\n%s", name, rc, out)
			}

			// The orphan is initbox's child once its parent is gone
			// (initbox is PID 1 or a subreaper), then reaped.
			orphan := orphanOf(t, a)
			ps := procs(t, name)
			initbox, parent := 0, -1
			for _, p := range ps {
				if p.comm == "initbox" {
					initbox = p.pid
				}
				if p.pid == orphan {
					parent = p.ppid
				}
			}
			if initbox == 0 || parent != initbox {
				t.Errorf("orphan %d has parent %d, want initbox's pid %d: %v", orphan, parent, initbox, ps)
			}
			if (initbox != 1) != f.notPID1 {
				t.Errorf("initbox is pid %d; want PID 1: %v", initbox, !f.notPID1)
			}
			waitReaped(t, name, []int{orphan}, 20*time.Second)

			start := time.Now()
			dockerOK(t, "stop", name)
			took := time.Since(start)
			rc = a.wait(t, cmdTimeout)
			all := a.output()
			if rc != 7 {
				t.Errorf("container exit status = %d, want 7 (the main service's)\n%s", rc, all)
			}
			if got := strings.TrimSpace(dockerOK(t, "inspect", "-f", "{{.State.ExitCode}}", name)); got != "7" {
				t.Errorf("engine's exit code = %s, want 7", got)
			}
			if took >= 5*time.Second {
				t.Errorf("docker stop took %v, want well inside its 10 s", took)
			}
			for _, s := range []string{"main", "orphans", "db"} {
				if !regexp.MustCompile(`\tstopped\t\{"service": "` + s + `"`).MatchString(all) {
					t.Errorf("no line says %s stopped\n%s", s, all)
				}
			}
			if strings.Contains(all, "SIGKILL") || strings.Contains(all, "ERROR") {
				t.Errorf("the stop was not clean\n%s", all)
			}
			if f.budget > 0 {
				// Each service's stop timeout (5 s by default) is cut
				// to what is left of shutdown_timeout.
				m := regexp.MustCompile(`\tstopping\t\{"service": "main".*"timeout": "([^"]+)"`).FindStringSubmatch(all)
				if m == nil {
					t.Fatalf("no line says main is stopping\n%s", all)
				}
				if d, err := time.ParseDuration(m[1]); err != nil || d > f.budget {
					t.Errorf("main's stop timeout %s, want at most INITBOX_SHUTDOWN_TIMEOUT's %v", m[1], f.budget)
				}
			}

			// What initbox said at start: one line for the control
			// socket, one for not being PID 1 when it is not.
			var said []string
			sockets, subreaper := 0, 0
			for _, l := range strings.Split(all, "\n") {
				if _, msg, ok := strings.Cut(l, "\tcontrol socket at "); ok {
					sockets++
					said = append(said, l)
					path, _, _ := strings.Cut(msg, " ")
					want, prefix := strings.CutSuffix(f.socket, "*")
					if path != want && !(prefix && strings.HasPrefix(path, want)) {
						t.Errorf("control socket at %s, want %s", path, f.socket)
					}
				}
				if strings.Contains(l, "not PID 1: child subreaper") {
					subreaper++
					said = append(said, l)
				}
			}
			if sockets != 1 {
				t.Errorf("%d lines say where the control socket is, want 1\n%s", sockets, all)
			}
			if want := map[bool]int{true: 1, false: 0}[f.notPID1]; subreaper != want {
				t.Errorf("%d lines say initbox is a subreaper, want %d\n%s", subreaper, want, all)
			}
			t.Logf("%s: docker stop took %v, exit status %d; initbox said:\n%s", f.name, took.Round(time.Millisecond), rc, strings.Join(said, "\n"))
		})
	}
}

// nobodyAs12345 is what initbox, as uid 12345 with gid 0, says of
// nobodyConfig.
const nobodyAs12345 = `/etc/initbox/nobody.toml:3:8: services.web.user: "nobody" is not in /etc/passwd, and initbox (uid 12345, gid 0) cannot switch to another user without CAP_SETUID: remove user to run the service as uid 12345, or start initbox as root`

// refusedNobody checks that in the form args, run and check refuse
// nobodyConfig with the line want and exit 2, starting nothing, while
// check passes the image's own config. check runs as a user would run it
// to vet a config for that uid: docker run --user UID --entrypoint
// /initbox IMG check -c FILE.
func refusedNobody(t *testing.T, img string, args []string, want string) {
	t.Helper()
	for _, cmd := range [][]string{{"run", "-c", "/etc/initbox/nobody.toml"}, {"check", "-c", "/etc/initbox/nobody.toml"}, {"check"}} {
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		a := append(append(append([]string{"run", "--rm"}, args...), "--entrypoint", "/initbox", img), cmd...)
		out, stderr, rc, err := docker(ctx, a...)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(cmd) == 1 {
			if rc != 0 || !strings.HasPrefix(out, "/etc/initbox/initbox.toml: ok") {
				t.Errorf("docker %s: exit %d, stdout %q, stderr %q; want 0 and ok", strings.Join(a, " "), rc, out, stderr)
			}
			continue
		}
		if rc != 2 || strings.TrimSpace(stderr) != want || out != "" {
			t.Errorf("docker %s: exit %d, stdout %q, stderr %q; want 2 and, on stderr alone,\n%s", strings.Join(a, " "), rc, out, stderr, want)
		}
	}
}

// orphanOf returns the pid of the orphans service's "orphan N" line.
func orphanOf(t *testing.T, a *attached) int {
	t.Helper()
	waitContains(t, a, "orphans | orphan ")
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.lines {
		if s, ok := strings.CutPrefix(l, "orphans | orphan "); ok {
			pid, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("bad line %q", l)
			}
			return pid
		}
	}
	panic(fmt.Sprintf("no orphan line in %q", a.lines))
}

// TestShutdownTimeoutEnvInvalid: a bad INITBOX_SHUTDOWN_TIMEOUT is a usage
// error, exit 2, that names the variable; nothing starts.
func TestShutdownTimeoutEnvInvalid(t *testing.T) {
	img := formsImage(t)
	name := containerName(t)
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, stderr, rc, err := docker(ctx, "run", "--name", name, "-e", "INITBOX_SHUTDOWN_TIMEOUT=30", img)
	if err != nil {
		t.Fatal(err)
	}
	want := `initbox: config: INITBOX_SHUTDOWN_TIMEOUT="30": bad duration: missing unit; did you mean "30s"?`
	if rc != 2 || strings.TrimSpace(stderr) != want || strings.Contains(out, "main-up") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q alone", rc, out, stderr, want)
	}
}
