//go:build linux

// Package realworld runs real servers from Debian's packages under initbox
// (issue #16): the stack of examples/stack (nginx, PostgreSQL 15, redis and
// a worker that writes rows) with the built binary as PID 1 of a new PID
// namespace (stack_test.go), inside a Docker container made from a Debian
// root filesystem (docker_test.go), and beside supervisord on the same
// stack (supervisord_test.go); and PHP-FPM and gunicorn, the application
// servers of examples/apps (apps_test.go).
//
// The tests need root (unshare --pid, users for the daemons) and the
// packages nginx-light, postgresql-15, redis-server and redis-tools, and,
// for the container, debootstrap and a Docker engine. Without them they skip
// and say why, and fail instead when CI is set: CI installs them (.ci/run).
//
//	go test -count=1 -v ./tests/realworld/
//
// INITBOX_BIN tests an existing static binary instead of building one.
// Lines starting with "figure:" in the verbose output are the measurements
// docs/realworld.md quotes.
package realworld

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/initbox/initbox/tests/internal/procfs"
	"github.com/initbox/initbox/tests/internal/testenv"
)

var (
	// repoRoot is the module root, holding examples/stack.
	repoRoot string
	// initBin is the absolute path of the binary under test.
	initBin string
)

// pgBin is where Debian's postgresql-15 puts the server and its clients;
// the stack's default for ${PG_BIN}.
const pgBin = "/usr/lib/postgresql/15/bin"

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests/realworld: getwd:", err)
		return 1
	}
	repoRoot = filepath.Dir(filepath.Dir(wd))
	dir, err := os.MkdirTemp("", "initbox-realworld-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests/realworld: mkdtemp:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if b := os.Getenv("INITBOX_BIN"); b != "" {
		if initBin, err = filepath.Abs(b); err != nil {
			fmt.Fprintln(os.Stderr, "tests/realworld: INITBOX_BIN:", err)
			return 1
		}
	} else {
		// The release build: static, so that the same file goes into the
		// Docker image.
		initBin = filepath.Join(dir, "initbox")
		if err := testenv.BuildInitbox(repoRoot, initBin); err != nil {
			fmt.Fprintf(os.Stderr, "tests/realworld: %v\n", err)
			return 1
		}
	}
	return m.Run()
}

// skipOrFail: see testenv.SkipOrFail.
var skipOrFail = testenv.SkipOrFail

// requireRoot: unshare --pid and the daemons' users need root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "requires root: unshare --pid needs CAP_SYS_ADMIN, and the stack runs its daemons as postgres, redis and www-data")
	}
}

// requireFiles skips (or fails under CI) unless every path exists; hint
// says which packages give them.
func requireFiles(t *testing.T, hint string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			skipOrFail(t, "requires %s (%s): %v", p, hint, err)
		}
	}
}

// requireStackPackages: the programs examples/stack/stack.toml runs, from
// Debian 12's packages, and the users they run as.
func requireStackPackages(t *testing.T) {
	t.Helper()
	requireFiles(t, "apt-get install nginx-light postgresql-15 redis-server redis-tools",
		"/usr/sbin/nginx", pgBin+"/postgres", pgBin+"/initdb", pgBin+"/psql", pgBin+"/pg_isready",
		"/usr/bin/redis-server", "/usr/bin/redis-cli", "/usr/bin/unshare", "/etc/nginx/mime.types")
	for _, u := range []string{"postgres", "redis", "www-data", "nobody"} {
		if !hasUser(u) {
			skipOrFail(t, "requires the user %s (made by the packages above)", u)
		}
	}
}

// hasUser reports whether /etc/passwd has name.
func hasUser(name string) bool {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+":") {
			return true
		}
	}
	return false
}

// requirePortsFree skips (or fails under CI) when another program holds a
// port the stack listens on: in a new PID namespace the stack still shares
// the host's network.
func requirePortsFree(t *testing.T, ports ...int) {
	t.Helper()
	for _, p := range ports {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			skipOrFail(t, "port %d is taken on this host (a daemon the packages started?): %v", p, err)
		}
		l.Close()
	}
}

// baseEnv is the test's environment without the variables that change
// initbox's behaviour, so that the host's cannot leak into a run.
func baseEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TINI_") || strings.HasPrefix(k, "INITBOX_") || strings.HasPrefix(k, "STACK_") || strings.HasPrefix(k, "APPS_") || strings.HasPrefix(k, "PG") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// figure logs a measurement in the form docs/realworld.md quotes.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("figure: "+format, args...)
}

// ---------------------------------------------------------------------------
// Output, line by line

// lines collects a stream line by line and wakes waiters on each line.
type lines struct {
	mu      sync.Mutex
	partial []byte
	all     []string
	changed chan struct{} // closed and replaced on every new line
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.all = append(l.all, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		added = true
	}
	if added {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return len(p), nil
}

// snapshot returns the lines so far and a channel closed on the next one.
func (l *lines) snapshot() ([]string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...), l.changed
}

func (l *lines) String() string {
	all, _ := l.snapshot()
	return strings.Join(all, "\n")
}

// event is one of initbox's own log lines: "TIME LEVEL initbox MESSAGE
// {fields}", tab-separated.
type event struct {
	index   int // line number in the output
	msg     string
	service string
	line    string
}

var serviceField = regexp.MustCompile(`"service": "([^"]*)"`)

// parseEvent reads one of initbox's log lines; ok is false for a
// service's output line ("NAME | ...").
func parseEvent(i int, line string) (event, bool) {
	f := strings.Split(line, "\t")
	if len(f) < 4 || f[2] != "initbox" {
		return event{}, false
	}
	e := event{index: i, msg: f[3], line: line}
	if len(f) > 4 {
		if m := serviceField.FindStringSubmatch(f[4]); m != nil {
			e.service = m[1]
		}
	}
	return e, true
}

// find returns the index of the first event with msg for service at or
// after from, or -1. A message may go on after a colon ("unhealthy: 3
// health checks failed in a row, ...").
func find(all []string, from int, msg, service string) int {
	for i := max(from, 0); i < len(all); i++ {
		if e, ok := parseEvent(i, all[i]); ok && (e.msg == msg || strings.HasPrefix(e.msg, msg+":")) && e.service == service {
			return i
		}
	}
	return -1
}

// ---------------------------------------------------------------------------
// /proc

// childrenOf and descendants: see package procfs.
var (
	childrenOf  = procfs.ChildrenOf
	descendants = procfs.Descendants
)

// pstat is the part of /proc/PID/stat the tests use.
type pstat struct {
	pid, ppid int
	comm      string
	state     string
	start     uint64
}

func (p pstat) String() string {
	return fmt.Sprintf("%d(%s) %s ppid=%d", p.pid, p.comm, p.state, p.ppid)
}

// readStat reads /proc/PID/stat; ok is false once the process is gone.
func readStat(pid int) (pstat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return pstat{}, false
	}
	line := string(b)
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return pstat{}, false
	}
	f := strings.Fields(line[end+1:])
	if len(f) < 20 {
		return pstat{}, false
	}
	s := pstat{pid: pid, comm: line[open+1 : end], state: f[0]}
	s.ppid, _ = strconv.Atoi(f[1])
	s.start, _ = strconv.ParseUint(f[19], 10, 64)
	return s, true
}

// alive reports whether the process pid, started at start, still runs
// (exists and is not a zombie); the start time guards against pid reuse.
func alive(p pstat) bool {
	s, ok := readStat(p.pid)
	return ok && s.start == p.start && s.state != "Z"
}

// exists reports whether the process is still there, zombie or not.
func exists(p pstat) bool {
	s, ok := readStat(p.pid)
	return ok && s.start == p.start
}

// waitGone waits until none of ps is left, not even as a zombie, and
// returns those still there after d.
func waitGone(ps []pstat, d time.Duration) []pstat {
	deadline := time.Now().Add(d)
	for {
		var left []pstat
		for _, p := range ps {
			if exists(p) {
				if s, ok := readStat(p.pid); ok {
					left = append(left, s)
				}
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rssKiB reads VmRSS of pid in KiB.
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return -1
}

// ---------------------------------------------------------------------------
// Clients: HTTP, redis, psql

// httpGet GETs url with a short timeout and returns the status and body.
func httpGet(url string) (int, string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitHTTP polls url until it answers 200 and returns the body; it fails
// the test after d, or once stop says so.
func waitHTTP(t *testing.T, url string, d time.Duration, stop func() string) string {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for {
		code, body, err := httpGet(url)
		if err == nil && code == 200 {
			return body
		}
		last = fmt.Sprintf("status %d, error %v", code, err)
		if why := stop(); why != "" {
			t.Fatalf("GET %s: no 200 (%s): %s", url, last, why)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: no 200 within %v (last: %s)", url, d, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// redisCmd sends one inline command to redis at addr and returns its
// first reply line ("+PONG", ":42", "-ERR ...").
func redisCmd(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, cmd+"\r\n"); err != nil {
		return "", err
	}
	l, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// psql runs one SQL command as postgres over the socket in dir and returns
// its unaligned output.
func psql(dir, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgBin+"/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", dir, "-U", "postgres", "-d", "postgres", "-c", sql)
	cmd.Env = baseEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql -c %q: %v: %s", sql, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// ---------------------------------------------------------------------------
// initbox ctl

// serviceStatus is the part of `initbox ctl --json status NAME` the tests
// read (docs/ctl.md, JSON shapes).
type serviceStatus struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	PID      int    `json:"pid"`
	Restarts int    `json:"restarts"`
	Ready    string `json:"ready"`
	Health   string `json:"health"`
	LastExit string `json:"last_exit"`
	Reason   string `json:"reason"`
}

// ctl runs `initbox ctl ARGS` against socket (a path, or "" for the
// default places) and returns its output and exit status.
func ctl(socket string, args ...string) (string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := []string{"ctl"}
	if socket != "" {
		a = append(a, "--socket", socket)
	}
	cmd := exec.CommandContext(ctx, initBin, append(a, args...)...)
	cmd.Env = baseEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode(), nil
	}
	if err != nil {
		return string(out), -1, err
	}
	return string(out), 0, nil
}

// status reads one service's status through the control socket.
func status(socket, name string) (serviceStatus, error) {
	out, rc, err := ctl(socket, "--json", "status", name)
	if err != nil || rc != 0 {
		return serviceStatus{}, fmt.Errorf("initbox ctl status %s: exit %d %v: %s", name, rc, err, out)
	}
	var s serviceStatus
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return serviceStatus{}, fmt.Errorf("initbox ctl status %s: %v: %s", name, err, out)
	}
	return s, nil
}

// copyStack copies examples/stack to dst (see copyExample).
func copyStack(t *testing.T, dst string) { t.Helper(); copyExample(t, "stack", dst) }

// copyExample copies examples/NAME to dst, every file 0644 and directory
// 0755: os.CopyFS makes them 0666 and 0777 less the umask, and the
// daemons' users must read them under any umask.
func copyExample(t *testing.T, name, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(repoRoot, "examples", name))); err != nil {
		t.Fatal(err)
	}
	if err := filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if fi.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	}); err != nil {
		t.Fatal(err)
	}
}
