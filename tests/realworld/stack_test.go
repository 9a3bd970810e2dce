//go:build linux

package realworld

// examples/stack/stack.toml as it is, with initbox as PID 1 of a new PID
// namespace on the host. One stack goes through every scenario in turn
// (initdb alone takes seconds on a loaded machine, so the stack is not
// started afresh for each): the start in order of readiness, nginx
// answering, `initbox ctl restart redis` and the worker's recovery, kill -9
// of the postmaster, a frozen nginx restarted by its health check, the stop
// on SIGTERM; then the same data directory is started a second time, to see
// what the first run wrote.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	nginxURL  = "http://127.0.0.1:8080"
	redisAddr = "127.0.0.1:6379"
	// startTimeout bounds the first start, initdb included: 11 s here
	// while another job loaded both cores.
	startTimeout = 2 * time.Minute
	// stopBudget is the stack's shutdown_timeout: a stop that takes it
	// all has killed something.
	stopBudget = 9 * time.Second
)

// stack is one `initbox run -c stack.toml` as PID 1 of a new PID namespace.
type stack struct {
	t       *testing.T
	dir     string // holds etc/ (a copy of examples/stack), data/, the drop-in and the socket
	data    string // STACK_DATA
	sock    string // the control socket
	cmd     *exec.Cmd
	out     *lines // initbox's stdout and stderr, in the order written
	started time.Time
	done    chan struct{}
	elapsed time.Duration
	initPID int // host pid of initbox
}

// newStackDir makes the directories a stack runs in. They are 0755, since
// the daemons run as postgres, redis and www-data (t.TempDir is 0700), and
// the config is a copy of examples/stack: wherever the repository is
// checked out, its parents may not be open to those users.
func newStackDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "initbox-realworld-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyStack(t, filepath.Join(dir, "etc"))
	// The control socket in the test's directory, not /run/initbox: the
	// stack shares the host's mount namespace's /run, where another
	// initbox may be listening. A drop-in, as an image would add one.
	dropin := fmt.Sprintf("[init]\ncontrol_socket = %q\n", filepath.Join(dir, "control.sock"))
	if err := os.WriteFile(filepath.Join(dir, "test.toml"), []byte(dropin), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startStack starts the stack in dir as PID 1 of a new PID namespace.
func startStack(t *testing.T, dir string) *stack {
	t.Helper()
	return startPID1(t, dir, initBin, "run", "-c", filepath.Join(dir, "etc", "stack.toml"), "-c", filepath.Join(dir, "test.toml"))
}

// startPID1 starts argv as PID 1 of a new PID namespace, with the stack's
// and the application servers' directories in its environment: initbox,
// or supervisord for the figures side by side.
func startPID1(t *testing.T, dir string, argv ...string) *stack {
	t.Helper()
	s := &stack{
		t:    t,
		dir:  dir,
		data: filepath.Join(dir, "data"),
		sock: filepath.Join(dir, "control.sock"),
		out:  newLines(),
		done: make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	// --kill-child: if the test kills unshare, initbox gets SIGKILL, and
	// with it the whole namespace. --ipc: PostgreSQL's System V segment,
	// left behind by a postmaster killed with SIGKILL, goes with the
	// namespace instead of staying on the host.
	s.cmd = exec.CommandContext(ctx, "unshare", append([]string{"--pid", "--fork", "--mount-proc", "--ipc", "--kill-child"}, argv...)...)
	s.cmd.Env = baseEnv("STACK_ETC="+filepath.Join(dir, "etc"), "STACK_DATA="+s.data, "APPS_ETC="+filepath.Join(dir, "apps"))
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.WaitDelay = 2 * time.Second
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		s.elapsed = time.Since(s.started)
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
		}
		cancel()
		<-s.done
		if t.Failed() || os.Getenv("REALWORLD_LOG") != "" {
			t.Logf("%s's output:\n%s", filepath.Base(argv[0]), s.out.String())
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for s.initPID == 0 {
		if kids := childrenOf(s.cmd.Process.Pid); len(kids) > 0 {
			s.initPID = kids[0]
		} else if time.Now().After(deadline) || s.exited() {
			t.Fatalf("no %s under unshare (pid %d)\n%s", argv[0], s.cmd.Process.Pid, s.out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	return s
}

func (s *stack) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// whyStop says why waiting is pointless: initbox has exited.
func (s *stack) whyStop() string {
	if s.exited() {
		return fmt.Sprintf("initbox exited (%v)\n%s", s.cmd.ProcessState, s.out.String())
	}
	return ""
}

// waitEvent waits for initbox's log line msg about service at or after
// line from, and returns its line number.
func (s *stack) waitEvent(from int, msg, service string, d time.Duration) int {
	s.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		all, changed := s.out.snapshot()
		if i := find(all, from, msg, service); i >= 0 {
			return i
		}
		select {
		case <-changed:
		case <-s.done:
			all, _ = s.out.snapshot()
			if i := find(all, from, msg, service); i >= 0 {
				return i
			}
			s.t.Fatalf("initbox exited before logging %q for %s: %s", msg, service, s.whyStop())
		case <-deadline.C:
			s.t.Fatalf("initbox did not log %q for %s within %v\n%s", msg, service, d, s.out.String())
		}
	}
}

// waitLine waits for an output line containing text, at or after line
// from, and returns its line number.
func (s *stack) waitLine(from int, text string, d time.Duration) int {
	s.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		all, changed := s.out.snapshot()
		for i := max(from, 0); i < len(all); i++ {
			if strings.Contains(all[i], text) {
				return i
			}
		}
		select {
		case <-changed:
		case <-s.done:
			all, _ = s.out.snapshot()
			for i := max(from, 0); i < len(all); i++ {
				if strings.Contains(all[i], text) {
					return i
				}
			}
			s.t.Fatalf("initbox exited before a line with %q: %s", text, s.whyStop())
		case <-deadline.C:
			s.t.Fatalf("no line with %q within %v\n%s", text, d, s.out.String())
		}
	}
}

// mark is the number of lines so far: events after it are new.
func (s *stack) mark() int {
	all, _ := s.out.snapshot()
	return len(all)
}

// procs lists the stack's processes (initbox's descendants) by name.
func (s *stack) procs(comm string) []pstat {
	var out []pstat
	for _, pid := range descendants(s.initPID) {
		if st, ok := readStat(pid); ok && (comm == "" || st.comm == comm) {
			out = append(out, st)
		}
	}
	return out
}

// mainProc is the process initbox started for a service whose program
// is comm: its child of that name.
func (s *stack) mainProc(comm string) (pstat, bool) {
	for _, pid := range childrenOf(s.initPID) {
		if st, ok := readStat(pid); ok && st.comm == comm {
			return st, true
		}
	}
	return pstat{}, false
}

// zombies lists the processes of the stack's PID namespace that are
// zombies, after giving a working reaper a second to collect those caught
// between their exit and its wait.
func (s *stack) zombies() []pstat {
	var z []pstat
	for range 50 {
		z = z[:0]
		for _, p := range append([]pstat{{pid: s.initPID}}, s.procs("")...) {
			if st, ok := readStat(p.pid); ok && st.state == "Z" {
				z = append(z, st)
			}
		}
		if len(z) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return z
}

// waitStatus polls the control socket until ok holds for the service.
func (s *stack) waitStatus(name string, d time.Duration, what string, ok func(serviceStatus) bool) serviceStatus {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := status(s.sock, name)
		if err == nil && ok(st) {
			return st
		}
		if why := s.whyStop(); why != "" {
			s.t.Fatalf("waiting for %s to be %s: %s", name, what, why)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s not %s within %v: last status %+v, %v", name, what, d, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sql runs one command through the stack's socket.
func (s *stack) sql(q string) string {
	s.t.Helper()
	out, err := psql(filepath.Join(s.data, "run"), q)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// jobs reads how many rows the worker wrote, and the highest job number.
func (s *stack) jobs() (count, maxN int) {
	s.t.Helper()
	out := s.sql("SELECT count(*), coalesce(max(n), 0) FROM jobs")
	a, b, _ := strings.Cut(out, "|")
	count, _ = strconv.Atoi(a)
	maxN, _ = strconv.Atoi(b)
	return count, maxN
}

// waitJobs waits until the worker has written a row with a job number
// above n, and returns the new highest.
func (s *stack) waitJobs(n int, d time.Duration) int {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		if out, err := psql(filepath.Join(s.data, "run"), "SELECT coalesce(max(n), 0) FROM jobs"); err == nil {
			if m, _ := strconv.Atoi(out); m > n {
				return m
			}
		}
		if why := s.whyStop(); why != "" {
			s.t.Fatalf("waiting for a job above %d: %s", n, why)
		}
		if time.Now().After(deadline) {
			out, _, _ := ctl(s.sock, "status")
			s.t.Fatalf("no job above %d written within %v\n%s\n%s", n, d, out, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM to initbox and waits for it to end; it returns how
// long that took and initbox's exit status (as unshare passes it on).
func (s *stack) stop() (time.Duration, int) {
	s.t.Helper()
	at := time.Now()
	if err := syscall.Kill(s.initPID, syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("initbox still running 30 s after SIGTERM\n%s", s.out.String())
	}
	took := time.Since(at)
	ws := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	return took, code
}

// TestStack: examples/stack/stack.toml under initbox as PID 1 of a new PID
// namespace, scenario after scenario.
func TestStack(t *testing.T) {
	requireRoot(t)
	requireStackPackages(t)
	requirePortsFree(t, 8080, 6379)
	dir := newStackDir(t)
	s := startStack(t, dir)
	var marker string

	// The start follows readiness, not merely the order of the starts:
	// each service starts once what it depends on is ready (or, for the
	// oneshots, has succeeded).
	if !t.Run("start order by readiness", func(t *testing.T) {
		s.t = t
		body := waitHTTP(t, nginxURL+"/", startTimeout, s.whyStop)
		answered := time.Since(s.started)
		if !strings.Contains(body, "initbox stack") {
			t.Errorf("GET /: not the stack's page: %q", body)
		}
		figure(t, "first start (initdb included) to nginx answering: %v", answered.Round(time.Millisecond))
		// nginx and the worker wait on different services: the worker may
		// start a little after nginx answers.
		s.waitEvent(0, "started", "worker", 30*time.Second)
		all, _ := s.out.snapshot()
		at := func(msg, svc string) int {
			i := find(all, 0, msg, svc)
			if i < 0 {
				t.Fatalf("initbox did not log %q for %s\n%s", msg, svc, strings.Join(all, "\n"))
			}
			return i
		}
		for _, o := range []struct{ before, beforeSvc, after, afterSvc string }{
			{"exited", "prepare", "started", "initdb"},
			{"exited", "prepare", "started", "redis"},
			{"exited", "initdb", "started", "postgres"},
			{"ready", "postgres", "started", "schema"},
			{"ready", "postgres", "started", "nginx"},
			{"ready", "redis", "started", "nginx"},
			{"ready", "redis", "started", "worker"},
			{"exited", "schema", "started", "worker"},
		} {
			if b, a := at(o.before, o.beforeSvc), at(o.after, o.afterSvc); b > a {
				t.Errorf("%s %s (line %d) after %s %s (line %d)", o.beforeSvc, o.before, b, o.afterSvc, o.after, a)
			}
		}
		for _, svc := range []string{"prepare", "initdb", "schema"} {
			if l := all[at("exited", svc)]; !strings.Contains(l, `"status": "exit status 0"`) {
				t.Errorf("%s: %s", svc, l)
			}
		}
		if i := find(all, 0, "ready", "postgres"); i >= 0 && !strings.Contains(all[i], `"by": "exec"`) {
			t.Errorf("postgres ready by other than pg_isready: %s", all[i])
		}
		code, body, err := httpGet(nginxURL + "/healthz")
		if err != nil || code != 200 || body != "ok\n" {
			t.Errorf("GET /healthz: %d %q %v", code, body, err)
		}
		// nginx runs as www-data, no process of the stack's daemons as root.
		for _, p := range s.procs("") {
			if p.comm == "nginx" || p.comm == "postgres" || p.comm == "redis-server" {
				if uid := procUID(p.pid); uid == 0 {
					t.Errorf("%v runs as root", p)
				}
			}
		}
	}) {
		return
	}

	t.Run("worker writes rows", func(t *testing.T) {
		s.t = t
		s.waitJobs(3, 30*time.Second)
		marker = fmt.Sprintf("written at %s", time.Now().Format(time.RFC3339Nano))
		s.sql("CREATE TABLE IF NOT EXISTS realworld (v text)")
		s.sql("INSERT INTO realworld VALUES ('" + marker + "')")
	})

	// `ctl restart redis`: redis stops on TERM (its append-only file
	// flushed), starts again, and the worker, which exits when redis
	// goes, is started again by its restart policy and goes on counting
	// where redis left off.
	t.Run("ctl restart redis", func(t *testing.T) {
		s.t = t
		_, before := s.jobs()
		old, _ := s.mainProc("redis-server")
		from := s.mark()
		at := time.Now()
		if out, rc, err := ctl(s.sock, "restart", "--wait", "--timeout", "30s", "redis"); err != nil || rc != 0 {
			t.Fatalf("initbox ctl restart --wait redis: exit %d %v: %s", rc, err, out)
		}
		waited := time.Since(at)
		for {
			if r, err := redisCmd(redisAddr, "PING"); err == nil && r == "+PONG" {
				break
			}
			if time.Since(at) > 30*time.Second {
				t.Fatal("redis does not answer PING 30 s after the restart")
			}
			time.Sleep(5 * time.Millisecond)
		}
		figure(t, "ctl restart redis to redis answering PING: %v (ctl restart --wait returned after %v)", time.Since(at).Round(time.Millisecond), waited.Round(time.Millisecond))
		s.waitEvent(from, "stopped: starting again", "redis", 10*time.Second)
		if left := waitGone([]pstat{old}, 5*time.Second); len(left) > 0 {
			t.Errorf("the old redis-server is still there: %v", left)
		}
		if l := s.out.String(); !strings.Contains(l, "Redis is now ready to exit") {
			t.Errorf("redis did not log its clean exit")
		}
		recovered := s.waitJobs(before, 30*time.Second)
		figure(t, "worker writing again %v after ctl restart redis", time.Since(at).Round(time.Millisecond))
		// The counter went on from where it was (the append-only file):
		// no job number twice.
		if dup := s.sql("SELECT count(*) - count(DISTINCT n) FROM jobs"); dup != "0" {
			t.Errorf("%s job numbers written twice: redis lost its counter", dup)
		}
		w, err := status(s.sock, "worker")
		t.Logf("worker: %d restarts, last exit %q; jobs %d before, %d after", w.Restarts, w.LastExit, before, recovered)
		if err != nil || w.State != "running" {
			t.Errorf("worker after the restart of redis: %+v %v", w, err)
		}
	})

	// kill -9 of the postmaster: its children leave by themselves (they
	// watch the postmaster), initbox kills what is left (stop.mode mixed),
	// reaps every one of them and starts PostgreSQL again, which runs crash
	// recovery; what was committed before is there after.
	t.Run("kill -9 of the postmaster", func(t *testing.T) {
		s.t = t
		pm, ok := s.mainProc("postgres")
		if !ok {
			t.Fatalf("no postmaster among initbox's children: %v", s.procs(""))
		}
		kids := s.procs("postgres")
		_, before := s.jobs()
		from := s.mark()
		at := time.Now()
		if err := syscall.Kill(pm.pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		s.waitEvent(from, "started", "postgres", 30*time.Second)
		s.waitEvent(from, "ready", "postgres", startTimeout)
		figure(t, "kill -9 of the postmaster to PostgreSQL ready again: %v", time.Since(at).Round(time.Millisecond))
		if left := waitGone(kids, 10*time.Second); len(left) > 0 {
			t.Errorf("processes of the killed postmaster still there: %v", left)
		}
		if z := s.zombies(); len(z) > 0 {
			t.Errorf("zombies in the stack's namespace: %v", z)
		}
		if got := s.sql("SELECT count(*) FROM realworld WHERE v = '" + marker + "'"); marker != "" && got != "1" {
			t.Errorf("the row written before the kill: found %s times, want 1", got)
		}
		if l := s.out.String(); !strings.Contains(l, "database system was interrupted") && !strings.Contains(l, "database system was not properly shut down") {
			t.Errorf("no crash recovery logged by PostgreSQL")
		}
		s.waitJobs(before, 60*time.Second)
		figure(t, "worker writing again %v after kill -9 of the postmaster", time.Since(at).Round(time.Millisecond))
		st, err := status(s.sock, "postgres")
		if err != nil || st.State != "running" || st.Restarts < 1 {
			t.Errorf("postgres after the kill: %+v %v", st, err)
		}
	})

	// A frozen nginx (master and workers stopped with SIGSTOP) still
	// accepts connections in the kernel but answers none: its health check
	// fails three times, and initbox restarts it. QUIT, then SIGCONT, reach
	// every nginx process, so the frozen ones leave too.
	t.Run("health failure: frozen nginx restarted", func(t *testing.T) {
		s.t = t
		frozen := s.procs("nginx")
		if len(frozen) < 2 {
			t.Fatalf("want nginx's master and workers, got %v", frozen)
		}
		from := s.mark()
		at := time.Now()
		for _, p := range frozen {
			_ = syscall.Kill(p.pid, syscall.SIGSTOP)
		}
		s.waitEvent(from, "unhealthy", "nginx", 30*time.Second)
		s.waitEvent(from, "started", "nginx", 30*time.Second)
		waitHTTP(t, nginxURL+"/", 30*time.Second, s.whyStop)
		figure(t, "SIGSTOP of nginx to nginx answering again: %v (health interval 2 s, 3 failures)", time.Since(at).Round(time.Millisecond))
		if left := waitGone(frozen, 10*time.Second); len(left) > 0 {
			t.Errorf("frozen nginx processes still there: %v", left)
		}
		// nginx answers a moment before initbox's own check sees it.
		s.waitStatus("nginx", 10*time.Second, "running and healthy", func(st serviceStatus) bool {
			return st.State == "running" && st.Health == "healthy" && st.Restarts == 1
		})
	})

	// SIGTERM (what docker stop sends): the ordered stop, each daemon by
	// its own signal, PostgreSQL's fast shutdown complete, exit 0, well
	// within shutdown_timeout and with nothing left.
	t.Run("SIGTERM: clean stop", func(t *testing.T) {
		s.t = t
		stopAndCheck(t, s, "")
	})

	// The same data directory started again: initdb finds the cluster and
	// does nothing, the row written before is there, and redis's counter
	// goes on where it was.
	t.Run("second start: the data is there", func(t *testing.T) {
		s2 := startStack(t, dir)
		waitHTTP(t, nginxURL+"/", startTimeout, s2.whyStop)
		figure(t, "second start (the cluster exists) to nginx answering: %v", time.Since(s2.started).Round(time.Millisecond))
		all, _ := s2.out.snapshot()
		if i := find(all, 0, "exited", "initdb"); i < 0 || !strings.Contains(all[i], `"status": "exit status 0"`) {
			t.Errorf("initdb on the second start: %v", i)
		}
		if strings.Contains(strings.Join(all, "\n"), "initdb | The files belonging") {
			t.Errorf("initdb ran again over the existing cluster")
		}
		count, maxN := s2.jobs()
		if marker != "" {
			if got := s2.sql("SELECT count(*) FROM realworld WHERE v = '" + marker + "'"); got != "1" {
				t.Errorf("the row written in the first run: found %s times, want 1", got)
			}
		}
		s2.waitJobs(maxN, 30*time.Second)
		if dup := s2.sql("SELECT count(*) - count(DISTINCT n) FROM jobs"); dup != "0" {
			t.Errorf("%s job numbers written twice across the restart", dup)
		}
		t.Logf("%d rows from the first run", count)
		stopAndCheck(t, s2, "second ")
	})
}

// stopAndCheck stops the stack with SIGTERM and checks the stop.
func stopAndCheck(t *testing.T, s *stack, which string) {
	t.Helper()
	everything := s.procs("")
	rss := rssKiB(s.initPID)
	figure(t, "initbox RSS with the stack running (%d processes): %.1f MiB", len(everything), float64(rss)/1024)
	from := s.mark()
	took, code := s.stop()
	figure(t, "%sSIGTERM to initbox exited: %v", which, took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if took >= stopBudget {
		t.Errorf("the stop took %v: the whole of shutdown_timeout (%v)", took, stopBudget)
	}
	all, _ := s.out.snapshot()
	out := strings.Join(all[from:], "\n")
	if !strings.Contains(out, "database system is shut down") {
		t.Errorf("PostgreSQL did not log \"database system is shut down\"")
	}
	// Each daemon ended by its own stop signal, not by a SIGKILL after
	// its timeout.
	for _, svc := range []string{"nginx", "postgres", "redis"} {
		i := find(all, from, "stopped", svc)
		if i < 0 {
			t.Errorf("no \"stopped\" line for %s", svc)
		} else if !strings.Contains(all[i], `"status": "exit status 0"`) {
			t.Errorf("%s did not exit 0 on its stop signal: %s", svc, all[i])
		}
	}
	if strings.Contains(out, "SIGKILL") || strings.Contains(out, "killing") {
		t.Errorf("something had to be killed:\n%s", out)
	}
	if left := waitGone(everything, time.Second); len(left) > 0 {
		t.Errorf("left after initbox exited: %v", left)
	}
	if !strings.Contains(out, "supervisor done") {
		t.Errorf("no \"supervisor done\" line")
	}
}

// procUID reads the real uid of pid, or -1.
func procUID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Uid:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return -1
}
