//go:build linux

// Package docker tests initbox under a real Docker Engine, in the image the
// root Dockerfile ships. Nothing is pulled: TestMain builds the static
// binary (CGO_ENABLED=0 go build -trimpath -ldflags '-s -w'), an image from
// the root Dockerfile's final stage with that binary in place of the build
// stage, and, on top of it, a test-only layer adding busybox-static
// (/bin/busybox, Debian's busybox-static package) for the test programs.
//
// The engine is the docker CLI's: DOCKER_HOST, else /var/run/docker.sock.
// When no engine answers, or busybox-static is missing, the tests skip with
// the reason, and fail instead when CI is set.
//
//	go test -count=1 ./tests/docker/
//
// INITBOX_BIN tests an existing static binary instead of building one;
// BUSYBOX names another static busybox than /bin/busybox.
package docker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/initbox/initbox/tests/internal/testenv"
)

// cmdTimeout bounds every docker command, so a hung engine or container
// fails its test instead of hanging the suite.
const cmdTimeout = 60 * time.Second

var (
	repoRoot   string // the module root, holding the root Dockerfile
	initBin    string // the binary under test, absolute
	busyboxBin string // the static busybox put in the test image

	// shipImage is built from the root Dockerfile's final stage: what ships.
	shipImage string
	// testImage is shipImage plus /bin/busybox (test only).
	testImage string
	// plainImage holds /bin/busybox alone (no init), for Docker's --init.
	plainImage string
	// plainContext is plainImage's build context, for a private daemon.
	plainContext string
	// derived is the Dockerfile shipImage was built from.
	derived string

	// skipReason, when set, says why the Docker tests cannot run here.
	skipReason string
	// setupErr, when set, is a failure of the set-up every Docker test
	// shares (a build that failed): each of them reports it.
	setupErr error
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests/docker: getwd:", err)
		return 1
	}
	repoRoot = filepath.Dir(filepath.Dir(wd))
	dir, err := os.MkdirTemp("", "initbox-docker-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests/docker: mkdtemp:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	skipReason, setupErr = setup(dir)
	code := m.Run()
	// Derived images first: an image another is built from cannot go
	// before it.
	for _, img := range []string{supImage, testImage, shipImage, plainImage} {
		if img != "" {
			ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
			if _, stderr, rc, err := docker(ctx, "rmi", "-f", img); err != nil || rc != 0 {
				fmt.Fprintf(os.Stderr, "tests/docker: cleanup: docker rmi -f %s: %v %s\n", img, err, stderr)
			}
			cancel()
		}
	}
	return code
}

// setup finds the engine and busybox, builds the binary and the images.
// It returns why the tests must skip, or what failed.
func setup(dir string) (skip string, err error) {
	if skip = findEngine(); skip != "" {
		return skip, nil
	}
	busyboxBin = os.Getenv("BUSYBOX")
	if busyboxBin == "" {
		busyboxBin = "/bin/busybox"
	}
	if skip = checkStatic(busyboxBin); skip != "" {
		return skip + " (Debian: apt-get install busybox-static)", nil
	}

	suffix := randomSuffix()
	ship := filepath.Join(dir, "ship")
	test := filepath.Join(dir, "test")
	plainContext = filepath.Join(dir, "plain")
	for _, d := range []string{ship, test, plainContext} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", err
		}
	}

	src, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		return "", err
	}
	if derived, err = deriveTestDockerfile(string(src)); err != nil {
		return "", fmt.Errorf("root Dockerfile: %w", err)
	}

	if b := os.Getenv("INITBOX_BIN"); b != "" {
		if initBin, err = filepath.Abs(b); err != nil {
			return "", err
		}
		if err := copyFile(initBin, filepath.Join(ship, "initbox")); err != nil {
			return "", fmt.Errorf("INITBOX_BIN: %w", err)
		}
	} else {
		initBin = filepath.Join(ship, "initbox")
		// The release build, as the Dockerfile's build stage runs it.
		if err := testenv.BuildInitbox(repoRoot, initBin); err != nil {
			return "", err
		}
	}
	if s := checkStatic(initBin); s != "" {
		return "", errors.New(s + ": a FROM scratch image needs a static binary")
	}
	if err := copyFile(busyboxBin, filepath.Join(test, "busybox")); err != nil {
		return "", err
	}
	if err := copyFile(busyboxBin, filepath.Join(plainContext, "busybox")); err != nil {
		return "", err
	}

	shipImage = "initbox-test-" + suffix
	testImage = "initbox-test-" + suffix + "-busybox"
	plainImage = "initbox-test-" + suffix + "-plain"
	files := map[string]string{
		filepath.Join(ship, "Dockerfile"):         derived,
		filepath.Join(test, "Dockerfile"):         "# Test only: the shipped image plus busybox for the test programs.\nFROM " + shipImage + "\nCOPY busybox /bin/busybox\n",
		filepath.Join(plainContext, "Dockerfile"): "# No init: for Docker's own --init.\nFROM scratch\nCOPY busybox /bin/busybox\n",
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	for _, b := range []struct{ tag, dir string }{{shipImage, ship}, {testImage, test}, {plainImage, plainContext}} {
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		_, stderr, rc, err := docker(ctx, "build", "-q", "-t", b.tag, b.dir)
		cancel()
		if err != nil || rc != 0 {
			return "", fmt.Errorf("docker build -t %s: exit %d %v\n%s", b.tag, rc, err, stderr)
		}
	}
	return "", nil
}

// findEngine returns why no Docker engine can be used, or "".
func findEngine() string {
	if _, err := exec.LookPath("docker"); err != nil {
		return "no docker CLI on PATH: " + err.Error()
	}
	where := os.Getenv("DOCKER_HOST")
	if where == "" {
		where = "unix:///var/run/docker.sock"
		fi, err := os.Stat("/var/run/docker.sock")
		if err != nil {
			return "no Docker engine: DOCKER_HOST is unset and " + err.Error()
		}
		if fi.Mode()&os.ModeSocket == 0 {
			return "no Docker engine: DOCKER_HOST is unset and /var/run/docker.sock is not a socket"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, stderr, rc, err := docker(ctx, "version", "--format", "{{.Server.Version}}")
	switch {
	case err != nil:
		return fmt.Sprintf("no Docker engine answers at %s: %v", where, err)
	case rc != 0 || strings.TrimSpace(out) == "":
		return fmt.Sprintf("no Docker engine answers at %s: docker version: exit %d: %s", where, rc, strings.TrimSpace(stderr))
	}
	return ""
}

// checkStatic returns why path is not a static executable, or "".
func checkStatic(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Sprintf("%s is not usable: %v", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return path + " is dynamically linked"
		}
	}
	return ""
}

// needDocker skips the test (or fails it under CI) when there is no engine,
// and fails it when the shared set-up failed.
func needDocker(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		skipOrFail(t, "%s", skipReason)
	}
	if setupErr != nil {
		t.Fatalf("set-up failed: %v", setupErr)
	}
}

// skipOrFail: see testenv.SkipOrFail.
var skipOrFail = testenv.SkipOrFail

func randomSuffix() string {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o755)
}

// docker: see testenv.Docker.
var docker = testenv.Docker

// dockerRun runs a docker command under cmdTimeout and returns its stdout
// and exit status; it fails the test when the command cannot run or hangs.
func dockerRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, stderr, rc, err := docker(ctx, args...)
	if err != nil {
		t.Fatalf("%v\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	if rc != 0 && stderr != "" {
		t.Logf("docker %s: exit %d, stderr: %s", strings.Join(args, " "), rc, stderr)
	}
	return out, rc
}

// dockerOK is dockerRun for a command that must succeed.
func dockerOK(t *testing.T, args ...string) string {
	t.Helper()
	out, rc := dockerRun(t, args...)
	if rc != 0 {
		t.Fatalf("docker %s: exit %d\n%s", strings.Join(args, " "), rc, out)
	}
	return out
}

// containerName returns a unique container name, removed (with its
// container, if any) when the test ends.
func containerName(t *testing.T) string {
	t.Helper()
	name := "initbox-test-" + randomSuffix()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		_, stderr, rc, err := docker(ctx, "rm", "-f", name)
		if err != nil || (rc != 0 && !strings.Contains(stderr, "No such container")) {
			t.Logf("cleanup: docker rm -f %s: exit %d %v %s", name, rc, err, stderr)
		}
	})
	return name
}

// attached is a `docker run` in the foreground whose output is read line
// by line, so a test can wait for a marker instead of sleeping.
type attached struct {
	args    []string
	mu      sync.Mutex
	lines   []string
	eof     bool
	changed chan struct{} // closed and replaced whenever lines or eof change
	stderr  bytes.Buffer
	done    chan struct{} // closed when docker run has exited
	rc      int
	err     error
	cancel  context.CancelFunc
}

// runAttached starts `docker run --name name ARGS` and reads its stdout.
func runAttached(t *testing.T, name string, args ...string) *attached {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*cmdTimeout)
	a := &attached{
		args:    append([]string{"run", "--name", name}, args...),
		changed: make(chan struct{}),
		done:    make(chan struct{}),
		cancel:  cancel,
	}
	cmd := exec.CommandContext(ctx, "docker", a.args...)
	cmd.Stderr = &a.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			a.mu.Lock()
			a.lines = append(a.lines, strings.TrimRight(sc.Text(), "\r"))
			close(a.changed)
			a.changed = make(chan struct{})
			a.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, out)
		err := cmd.Wait()
		var ee *exec.ExitError
		a.mu.Lock()
		switch {
		case ctx.Err() != nil:
			a.rc, a.err = -1, ctx.Err()
		case errors.As(err, &ee):
			a.rc = ee.ExitCode()
		case err != nil:
			a.rc, a.err = -1, err
		}
		a.eof = true
		close(a.changed)
		a.changed = make(chan struct{})
		a.mu.Unlock()
		close(a.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-a.done
	})
	return a
}

// waitLine waits for a line starting with prefix and returns it.
func (a *attached) waitLine(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := 0
	for {
		a.mu.Lock()
		for ; seen < len(a.lines); seen++ {
			if strings.HasPrefix(a.lines[seen], prefix) {
				l := a.lines[seen]
				a.mu.Unlock()
				return l
			}
		}
		eof, changed := a.eof, a.changed
		a.mu.Unlock()
		if eof {
			t.Fatalf("docker %s exited (%d) before printing %q\n%s", strings.Join(a.args, " "), a.rc, prefix, a.output())
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no line %q from docker %s within %v\n%s", prefix, strings.Join(a.args, " "), timeout, a.output())
		}
	}
}

// wait waits for docker run to exit and returns its status.
func (a *attached) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(timeout):
		t.Fatalf("docker %s still running after %v\n%s", strings.Join(a.args, " "), timeout, a.output())
	}
	if a.err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(a.args, " "), a.err, a.output())
	}
	return a.rc
}

// output is what the container printed so far, for failure messages.
func (a *attached) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return "stdout:\n" + strings.Join(a.lines, "\n") + "\nstderr:\n" + a.stderr.String()
}

// has reports whether the container printed exactly line.
func (a *attached) has(line string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.lines {
		if l == line {
			return true
		}
	}
	return false
}

// proc is one line of /proc/PID/stat inside a container.
type proc struct {
	pid, ppid int
	state     string
	comm      string
}

func (p proc) String() string {
	return fmt.Sprintf("%d(%s) %s ppid=%d", p.pid, p.comm, p.state, p.ppid)
}

// parseStat reads the fields of a /proc/PID/stat line: the comm is in
// parentheses and may hold spaces, so the fields after it are split after
// the last ')'.
func parseStat(line string) (proc, []string, error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return proc{}, nil, fmt.Errorf("not a stat line: %q", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return proc{}, nil, fmt.Errorf("stat line %q: %v", line, err)
	}
	rest := strings.Fields(line[end+1:]) // rest[0] is field 3 (state)
	if len(rest) < 6 {
		return proc{}, nil, fmt.Errorf("short stat line: %q", line)
	}
	ppid, err := strconv.Atoi(rest[1])
	if err != nil {
		return proc{}, nil, fmt.Errorf("stat line %q: %v", line, err)
	}
	return proc{pid: pid, ppid: ppid, state: rest[0], comm: line[open+1 : end]}, rest, nil
}

// procs lists the processes in the container's PID namespace, as the
// container sees them, by running busybox in it with docker exec.
func procs(t *testing.T, name string) []proc {
	t.Helper()
	out := dockerOK(t, "exec", name, "/bin/busybox", "sh", "-c", "/bin/busybox cat /proc/[0-9]*/stat 2>/dev/null; true")
	var ps []proc
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		p, _, err := parseStat(l)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		t.Fatalf("no process listed in %s", name)
	}
	return ps
}

// waitReaped waits until none of pids is left in the container, not even
// as a zombie, and no process there is a zombie; only PID 1 can reap an
// orphan, so this is initbox reaping them. It fails after timeout with the
// last listing.
func waitReaped(t *testing.T, name string, pids []int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ps := procs(t, name)
		var left []string
		for _, p := range ps {
			wanted := p.state == "Z"
			for _, pid := range pids {
				wanted = wanted || p.pid == pid
			}
			if wanted {
				left = append(left, p.String())
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, still in the container: %s\nall: %v", timeout, strings.Join(left, ", "), ps)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
