//go:build linux

package docker

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDaemonInitPath is `docker run --init` with initbox as the daemon's
// init: a private dockerd started with `--init-path <initbox named
// docker-init>` (the daemon.json key is "init-path"; `docker run` has no
// such flag). It checks that the container's PID 1 is initbox mounted at
// /sbin/docker-init, that the program's status passes, and that the daemon
// parses initbox's --version as tini's (docker info and docker version show
// its version and commit, not "N/A").
func TestDaemonInitPath(t *testing.T) {
	needDocker(t)
	if os.Geteuid() != 0 {
		skipOrFail(t, "a private dockerd (for --init-path) needs root")
	}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		skipOrFail(t, "no dockerd on PATH to run a private daemon with --init-path: %v", err)
	}
	d := startDaemon(t, dockerd)

	dockerOK(t, "-H", d.host, "build", "-q", "-t", plainImage, plainContext)
	out, rc := dockerRun(t, "-H", d.host, "run", "--rm", "--init", "--network", "none", plainImage, bb, "sh", "-c", initScript)
	checkInitOutput(t, out, rc)

	// What the daemon made of `docker-init --version`.
	line := initboxVersion(t)
	head, commit, _ := strings.Cut(line, " - git.")
	version := strings.TrimPrefix(head, "tini version ")
	var ic struct{ ID string }
	info := dockerOK(t, "-H", d.host, "info", "--format", "{{json .InitCommit}}")
	if err := json.Unmarshal([]byte(info), &ic); err != nil {
		t.Fatalf("docker info InitCommit %q: %v", info, err)
	}
	if ic.ID != commit {
		t.Errorf("docker info InitCommit.ID = %q, want %q (from %q)", ic.ID, commit, line)
	}
	var comps []struct {
		Name    string
		Version string
		Details map[string]string
	}
	vout := dockerOK(t, "-H", d.host, "version", "--format", "{{json .Server.Components}}")
	if err := json.Unmarshal([]byte(vout), &comps); err != nil {
		t.Fatalf("docker version components %q: %v", vout, err)
	}
	found := false
	for _, c := range comps {
		if c.Name == "docker-init" {
			found = true
			if c.Version != version || c.Details["GitCommit"] != commit {
				t.Errorf("docker version: docker-init %s (git %s), want %s (git %s)", c.Version, c.Details["GitCommit"], version, commit)
			}
		}
	}
	if !found {
		t.Errorf("docker version lists no docker-init component: %s", vout)
	}
	// "failed to retrieve .../docker-init version: unknown output format"
	for _, l := range d.logLines("docker-init") {
		t.Errorf("daemon log: %s", l)
	}
}

// daemon is a private dockerd for one test.
type daemon struct {
	host string // unix://...
	dir  string
	log  string
}

// startDaemon starts a dockerd of its own in a temporary directory and a
// network namespace of its own, stopped and removed when the test ends.
//
// The network namespace is not optional: with --bridge none a dockerd
// deletes any interface named docker0, which in the host's namespace is the
// shared engine's bridge. vfs storage and no iptables keep it off the host.
func startDaemon(t *testing.T, dockerd string) *daemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "ibxd-")
	if err != nil {
		t.Fatal(err)
	}
	// containerd's sockets live under the exec root: a unix socket path
	// has at most 107 bytes.
	if len(dir) > 40 {
		os.RemoveAll(dir)
		if dir, err = os.MkdirTemp("/tmp", "ibxd-"); err != nil {
			t.Fatal(err)
		}
	}
	d := &daemon{host: "unix://" + filepath.Join(dir, "docker.sock"), dir: dir, log: filepath.Join(dir, "dockerd.log")}
	initPath := filepath.Join(dir, "bin", "docker-init")
	if err := os.Mkdir(filepath.Dir(initPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(initBin, initPath); err != nil {
		t.Fatal(err)
	}
	// An empty config, so that the host's /etc/docker/daemon.json (its
	// data root, storage driver) is not read.
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	ns := "initbox-test-" + randomSuffix()
	cmd := exec.Command(dockerd,
		"--host", d.host,
		"--config-file", filepath.Join(dir, "daemon.json"),
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--init-path", initPath,
		"--storage-driver", "vfs",
		"--bridge", "none",
		"--iptables=false",
		"--ip-masq=false",
		"--ip-forward=false",
		"--containerd-namespace", ns,
		"--containerd-plugins-namespace", ns+"-plugins",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// In go test's process group, so that ^C stops it too (dockerd shuts
	// down cleanly on SIGINT) even though the test's cleanup does not run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		skipOrFail(t, "cannot start a private dockerd in a new network namespace: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(cmdTimeout):
			t.Logf("private dockerd (pid %d) still running %v after SIGTERM: SIGKILL", cmd.Process.Pid, cmdTimeout)
			_ = cmd.Process.Kill()
			<-exited
		}
		unmountUnder(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})

	deadline := time.Now().Add(cmdTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, rc, err := docker(ctx, "-H", d.host, "version", "--format", "{{.Server.Version}}")
		cancel()
		if err == nil && rc == 0 {
			return d
		}
		select {
		case <-exited:
			t.Fatalf("private dockerd exited at start:\n%s", d.tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("private dockerd not answering after %v:\n%s", cmdTimeout, d.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logLines returns the daemon's warning and error lines containing word.
func (d *daemon) logLines(word string) []string {
	f, err := os.Open(d.log)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if (strings.Contains(l, "level=warn") || strings.Contains(l, "level=error")) && strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return out
}

// tail is the end of the daemon's log, for failure messages.
func (d *daemon) tail() string {
	b, err := os.ReadFile(d.log)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// unmountUnder detaches whatever a killed daemon left mounted under dir,
// deepest first, so that the directory can be removed.
func unmountUnder(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			t.Logf("cleanup: umount %s: %v", p, err)
		} else {
			t.Logf("cleanup: %s was still mounted", p)
		}
	}
}
