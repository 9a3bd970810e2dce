package main

// The stack workload (issue #16): examples/stack (nginx, PostgreSQL 15,
// redis and the redis-cli worker, from Debian's packages) under initbox,
// supervisord and s6 in turn, each as PID 1 of a new PID namespace, over
// one data directory.
//
// PID 1 of a namespace rather than a child of a subreaper bench: it is
// where each of the three is meant to run (a container's init), the
// supervisor itself reaps what a killed postmaster leaves, and the
// kernel reports PID 1's exit to unshare only once every process of the
// namespace is gone, so "stopped" needs no polling. tests/realworld runs
// the stack the same way.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// pgBin is where Debian's postgresql-15 puts the server and its clients,
// the stack's default ${PG_BIN}.
const pgBin = "/usr/lib/postgresql/15/bin"

// The stack's addresses (examples/stack/nginx.conf and stack.toml): it
// shares the host's network, so the ports must be free.
const (
	stackURL  = "http://127.0.0.1:8080/"
	redisPort = "6379"
)

// stackEnv is one prepared stack: a copy of examples/stack, the data
// directory a first initbox run made, and the environment of every run.
type stackEnv struct {
	dir     string // 0755, holds etc/, data/, the drop-in, the socket, s6's scan dir
	etc     string // STACK_ETC
	data    string // STACK_DATA
	sock    string // initbox's control socket
	dropin  string // sets it
	initbox string
	env     []string
	s6      []stackService // stack.toml's long-running services, for s6
}

// stackSup is one supervisor of the stack: its command line, its restart
// command for redis, and the names (comm) of its own processes.
type stackSup struct {
	name    string
	argv    func(e *stackEnv) []string
	restart func(e *stackEnv) []string
	own     []string
	setup   func(e *stackEnv) error
	note    string
}

func stackSupervisors(o options) []stackSup {
	var s []stackSup
	if _, err := os.Stat(o.initbox); err == nil {
		s = append(s, stackSup{name: "initbox",
			note: "`initbox run -c stack.toml` and a drop-in naming the control socket; `initbox ctl restart redis`",
			argv: func(e *stackEnv) []string {
				return []string{e.initbox, "run", "-c", filepath.Join(e.etc, "stack.toml"), "-c", e.dropin}
			},
			restart: func(e *stackEnv) []string {
				return []string{e.initbox, "ctl", "--socket", e.sock, "restart", "redis"}
			}})
	}
	if sd, err := exec.LookPath("supervisord"); err == nil {
		if sc, err := exec.LookPath("supervisorctl"); err == nil {
			s = append(s, stackSup{name: "supervisord",
				note: "`supervisord -n -c examples/stack/supervisord.conf`; `supervisorctl restart redis`",
				argv: func(e *stackEnv) []string {
					return []string{sd, "-n", "-c", filepath.Join(e.etc, "supervisord.conf")}
				},
				restart: func(e *stackEnv) []string {
					return []string{sc, "-c", filepath.Join(e.etc, "supervisord.conf"), "restart", "redis"}
				}})
		}
	}
	if sv, err := exec.LookPath("s6-svscan"); err == nil {
		s = append(s, stackSup{name: "s6",
			note: "`s6-svscan DIR` over service directories the bench writes from stack.toml (a `run` script per long-running service, `down-signal` and `timeout-kill` from its stop keys, no `finish`); `s6-svc -r`",
			own:  []string{"s6-supervise"},
			setup: func(e *stackEnv) error {
				return writeScanDir(filepath.Join(e.dir, "scan"), e.s6)
			},
			argv: func(e *stackEnv) []string { return []string{sv, filepath.Join(e.dir, "scan")} },
			restart: func(e *stackEnv) []string {
				return []string{"s6-svc", "-r", filepath.Join(e.dir, "scan", "redis")}
			}})
	}
	return s
}

// stackStats holds one supervisor's samples.
type stackStats struct {
	up, restart, kill9, stop []time.Duration
	rss, pss                 []float64 // the supervisor's own processes
	procs                    int
	svcRSS, svcPSS           []float64 // everything else in the namespace
	svcProcs                 int
	clean, exit0, failed     int
}

// stackWorkload runs the stack under each supervisor in turn, rounds times.
func stackWorkload(r *report, o options, tmp string) {
	var sups []stackSup
	for _, s := range stackSupervisors(o) {
		if len(o.supervisors) == 0 || o.supervisors[s.name] {
			sups = append(sups, s)
		}
	}
	if len(sups) == 0 {
		return
	}
	e, err := prepareStack(o, tmp)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: stack left out: %v\n", err)
		return
	}
	stats := make([]stackStats, len(sups))
	for round := range o.stackRounds {
		for i, s := range sups {
			if err := e.round(s, &stats[i]); err != nil {
				stats[i].failed++
				fmt.Fprintf(os.Stderr, "bench: stack round %d, %s: %v\n", round+1, s.name, err)
			}
			fmt.Fprintf(os.Stderr, "bench: stack round %d: %s done\n", round+1, s.name)
		}
	}
	stackReport(r, sups, stats, o.stackRounds)
}

// prepareStack copies examples/stack, checks what the stack needs, and
// makes the data directory (cluster, table) with a first, unmeasured run
// of initbox: supervisord and s6 have no oneshots, so the prepare, initdb
// and schema steps of stack.toml would be an entrypoint script's work
// before them, as in tests/realworld.
func prepareStack(o options, tmp string) (*stackEnv, error) {
	if err := stackPrerequisites(); err != nil {
		return nil, err
	}
	// The daemons' users must reach the files: the bench's temporary
	// directory is 0700, and a checkout may sit under a 0700 home.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	e := &stackEnv{dir: filepath.Join(tmp, "stack"), initbox: o.initbox}
	e.etc, e.data = filepath.Join(e.dir, "etc"), filepath.Join(e.dir, "data")
	e.sock, e.dropin = filepath.Join(e.dir, "control.sock"), filepath.Join(e.dir, "bench.toml")
	if err := copyTree(o.stackDir, e.etc); err != nil {
		return nil, fmt.Errorf("copying %s: %w", o.stackDir, err)
	}
	// The control socket in the bench's directory, not /run/initbox: the
	// namespace shares the host's file system, where another initbox may
	// listen.
	if err := os.WriteFile(e.dropin, fmt.Appendf(nil, "[init]\ncontrol_socket = %q\n", e.sock), 0o644); err != nil {
		return nil, err
	}
	e.env = stackEnviron(e.etc, e.data)
	svcs, err := stackServices(o.initbox, filepath.Join(e.etc, "stack.toml"))
	if err != nil {
		return nil, err
	}
	e.s6 = svcs
	first := stackSup{name: "initbox (first run)", argv: func(e *stackEnv) []string {
		return []string{e.initbox, "run", "-c", filepath.Join(e.etc, "stack.toml"), "-c", e.dropin}
	}}
	s, t0, err := e.start(first)
	if err != nil {
		return nil, err
	}
	if _, err := e.waitAnswering(s, t0, 3*time.Minute); err != nil {
		s.kill()
		return nil, fmt.Errorf("first run (initdb): %w", err)
	}
	if err := e.waitTable(s, time.Minute); err != nil {
		s.kill()
		return nil, err
	}
	if _, err := s.stop(30 * time.Second); err != nil {
		return nil, fmt.Errorf("first run: %w", err)
	}
	fmt.Fprintf(os.Stderr, "bench: stack: data directory made in %v\n", time.Since(t0).Round(time.Millisecond))
	return e, nil
}

// stackPrerequisites: the programs, users and ports the stack needs.
func stackPrerequisites() error {
	for _, p := range []string{"/usr/sbin/nginx", pgBin + "/postgres", pgBin + "/initdb", pgBin + "/psql",
		pgBin + "/pg_isready", "/usr/bin/redis-server", "/usr/bin/redis-cli", "/usr/bin/unshare", "/etc/nginx/mime.types"} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("needs %s (apt-get install nginx-light postgresql-15 redis-server redis-tools): %w", p, err)
		}
	}
	for _, u := range []string{"postgres", "redis", "www-data", "nobody"} {
		if _, err := passwdEntry(u); err != nil {
			return err
		}
	}
	for _, p := range []string{"8080", redisPort} {
		l, err := net.Listen("tcp", "127.0.0.1:"+p)
		if err != nil {
			return fmt.Errorf("port %s is taken (a daemon the packages started?): %w", p, err)
		}
		l.Close()
	}
	return nil
}

// stackEnviron is the bench's environment without what would change the
// supervisors' or the clients' behaviour, plus the stack's two places.
func stackEnviron(etc, data string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TINI_") || strings.HasPrefix(k, "INITBOX_") || strings.HasPrefix(k, "STACK_") || strings.HasPrefix(k, "PG") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "STACK_ETC="+etc, "STACK_DATA="+data)
}

// copyTree copies src to dst with every file 0644 and directory 0755,
// whatever the umask: the daemons run as other users and read them.
func copyTree(src, dst string) error {
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		return err
	}
	return filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if fi.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
}

// round is one supervisor's turn: start to everything answering, memory,
// restart of redis, kill -9 of the postmaster, stop.
func (e *stackEnv) round(sup stackSup, st *stackStats) error {
	s, t0, err := e.start(sup)
	if err != nil {
		return err
	}
	defer s.kill()
	up, err := e.waitAnswering(s, t0, 2*time.Minute)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	st.up = append(st.up, up)
	// Memory in the steady state: the worker writes, the health checks
	// have run, and initbox has let go of its start-up pages (10 s into
	// initbox run, 9cc7f77).
	time.Sleep(max(2*time.Second, memAt-time.Since(t0)))
	m := stackMem(s.pid1, sup.own)
	st.rss, st.pss = append(st.rss, m.rss), append(st.pss, m.pss)
	st.svcRSS, st.svcPSS = append(st.svcRSS, m.svcRSS), append(st.svcPSS, m.svcPSS)
	st.procs, st.svcProcs = m.procs, m.svcProcs

	d, err := e.restartRedis(s, sup.restart(e))
	if err != nil {
		return fmt.Errorf("restart redis: %w", err)
	}
	st.restart = append(st.restart, d)
	time.Sleep(time.Second)

	d, err = e.killPostmaster(s)
	if err != nil {
		return fmt.Errorf("kill -9 of the postmaster: %w", err)
	}
	st.kill9 = append(st.kill9, d)
	// Past s6-supervise's one second, and the worker back, before the stop.
	time.Sleep(2 * time.Second)

	res, err := s.stop(30 * time.Second)
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	st.stop = append(st.stop, res.took)
	if res.clean {
		st.clean++
	}
	if res.exit == 0 {
		st.exit0++
	}
	return nil
}

// memAt is when, after its start, each supervisor's memory is read.
const memAt = 12 * time.Second

// stackSession is one supervisor running the stack under unshare.
type stackSession struct {
	cmd   *exec.Cmd
	out   *syncBuffer
	pid1  int // the supervisor, as the host sees it
	done  chan struct{}
	ended time.Time
}

// start runs the supervisor as PID 1 of new PID, mount and IPC namespaces
// (--ipc: a postmaster killed with SIGKILL leaves its System V segment to
// the namespace, not to the host; --kill-child: the namespace dies with
// unshare).
func (e *stackEnv) start(sup stackSup) (*stackSession, time.Time, error) {
	if sup.setup != nil {
		if err := sup.setup(e); err != nil {
			return nil, time.Time{}, err
		}
	}
	argv := append([]string{"--pid", "--fork", "--mount-proc", "--ipc", "--kill-child"}, sup.argv(e)...)
	s := &stackSession{out: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command("unshare", argv...)
	s.cmd.Dir, s.cmd.Env = e.dir, e.env
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if os.Getenv("BENCH_DEBUG") != "" {
		w := io.MultiWriter(s.out, os.Stderr)
		s.cmd.Stdout, s.cmd.Stderr = w, w
	}
	t0 := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, t0, err
	}
	currentSupervisor.Store(int64(s.cmd.Process.Pid))
	go func() {
		_ = s.cmd.Wait()
		s.ended = time.Now()
		close(s.done)
	}()
	for s.pid1 == 0 {
		if kids := procChildren()[s.cmd.Process.Pid]; len(kids) > 0 {
			s.pid1 = kids[0]
		} else if s.exited() || time.Since(t0) > 5*time.Second {
			s.kill()
			return nil, t0, fmt.Errorf("%s did not start: %s", sup.name, s.out.tail())
		}
		time.Sleep(time.Millisecond)
	}
	return s, t0, nil
}

func (s *stackSession) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// kill ends a session that is still running, namespace and all.
func (s *stackSession) kill() {
	if !s.exited() {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	currentSupervisor.Store(0)
}

type stopResult struct {
	took  time.Duration
	exit  int
	clean bool // PostgreSQL logged its shutdown
}

// stop sends SIGTERM to the supervisor and waits for unshare to exit, which
// it does once its child, PID 1, has: after every process of the
// namespace is gone.
func (s *stackSession) stop(timeout time.Duration) (stopResult, error) {
	from := s.out.len()
	t0 := time.Now()
	if err := syscall.Kill(s.pid1, syscall.SIGTERM); err != nil {
		return stopResult{}, err
	}
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.kill()
		return stopResult{}, fmt.Errorf("still running %v after SIGTERM, killed", timeout)
	}
	currentSupervisor.Store(0)
	res := stopResult{took: s.ended.Sub(t0), exit: s.cmd.ProcessState.ExitCode()}
	if ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.exit = 128 + int(ws.Signal())
	}
	res.clean = strings.Contains(s.out.from(from), "database system is shut down")
	return res, nil
}

// waitAnswering polls until nginx, PostgreSQL and redis all answer, and
// returns the time from t0 to the last one's first answer. Polling cannot
// be avoided (nothing tells an outsider that a server listens); a check
// that has passed is not run again.
func (e *stackEnv) waitAnswering(s *stackSession, t0 time.Time, timeout time.Duration) (time.Duration, error) {
	pending := map[string]func() bool{
		"nginx":    nginxAnswers,
		"postgres": func() bool { return e.pgReady() },
		"redis":    func() bool { return redisPing(e.env) },
	}
	var last time.Time
	for len(pending) > 0 {
		for name, ok := range pending {
			if ok() {
				delete(pending, name)
				last = time.Now()
			}
		}
		if len(pending) == 0 {
			break
		}
		if s.exited() {
			return 0, fmt.Errorf("the supervisor exited: %s", s.out.tail())
		}
		if time.Since(t0) > timeout {
			return 0, fmt.Errorf("%v not answering after %v: %s", slices.Sorted(maps.Keys(pending)), timeout, s.out.tail())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return last.Sub(t0), nil
}

// waitTable waits for the worker's table, which the schema step makes
// once PostgreSQL is ready, perhaps after nginx answers.
func (e *stackEnv) waitTable(s *stackSession, timeout time.Duration) error {
	t0 := time.Now()
	for {
		cmd := exec.Command(pgBin+"/psql", "-X", "-q", "-At", "-h", filepath.Join(e.data, "run"), "-U", "postgres", "-c", "SELECT count(*) FROM jobs")
		cmd.Env = e.env
		if cmd.Run() == nil {
			return nil
		}
		if s.exited() || time.Since(t0) > timeout {
			return fmt.Errorf("no table jobs within %v: %s", timeout, s.out.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nginxClient opens a new connection for each check: a kept-alive one
// would talk to an nginx process that is already gone.
var nginxClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func nginxAnswers() bool {
	resp, err := nginxClient.Get(stackURL)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// pgReady runs pg_isready (the binary, not Debian's perl wrapper) on the
// stack's socket directory, as stack.toml's readiness check does.
func (e *stackEnv) pgReady() bool {
	cmd := exec.Command(pgBin+"/pg_isready", "-q", "-h", filepath.Join(e.data, "run"), "-U", "postgres")
	cmd.Env = e.env
	return cmd.Run() == nil
}

func redisPing(env []string) bool {
	cmd := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", redisPort, "ping")
	cmd.Env = env
	out, err := cmd.Output()
	return err == nil && strings.TrimSpace(string(out)) == "PONG"
}

// redisRunID is the run_id of the redis that answers, "" if none does.
// Each redis-server start draws a new one, so it tells the restarted
// redis from the old one, which answers PING until it is stopped.
func redisRunID(env []string) string {
	cmd := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", redisPort, "info", "server")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "run_id:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// restartRedis runs the supervisor's restart command and times it until a
// new redis answers. The command runs meanwhile: supervisorctl returns
// only after startsecs, s6-svc at once; what counts is the outage.
func (e *stackEnv) restartRedis(s *stackSession, argv []string) (time.Duration, error) {
	old := redisRunID(e.env)
	if old == "" {
		return 0, errors.New("redis does not answer before the restart")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = e.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var d time.Duration
	for {
		if id := redisRunID(e.env); id != "" && id != old {
			d = time.Since(t0)
			break
		}
		if s.exited() || time.Since(t0) > 30*time.Second {
			_ = cmd.Process.Kill()
			return 0, fmt.Errorf("no new redis answering within 30 s: %s", s.out.tail())
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-waited:
		if err != nil {
			return d, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, out.Bytes())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return d, fmt.Errorf("%s did not return within 30 s", strings.Join(argv, " "))
	}
	return d, nil
}

// killPostmaster sends SIGKILL to the postmaster and times it until
// pg_isready answers again. No check can reach the killed one once kill(2)
// has returned: it accepts nothing more.
func (e *stackEnv) killPostmaster(s *stackSession) (time.Duration, error) {
	pm := postmaster(s.pid1)
	if pm == 0 {
		return 0, errors.New("no postmaster among the supervisor's descendants")
	}
	t0 := time.Now()
	if err := syscall.Kill(pm, syscall.SIGKILL); err != nil {
		return 0, err
	}
	for !e.pgReady() {
		if s.exited() || time.Since(t0) > time.Minute {
			return 0, fmt.Errorf("PostgreSQL not ready within a minute: %s", s.out.tail())
		}
		time.Sleep(10 * time.Millisecond)
	}
	d := time.Since(t0)
	if p := postmaster(s.pid1); p == 0 || p == pm {
		return d, fmt.Errorf("pg_isready answered, but the postmaster is %d (killed: %d)", p, pm)
	}
	return d, nil
}

// postmaster is the descendant of root named postgres whose parent is not:
// its backends and helpers carry the same name.
func postmaster(root int) int {
	kids := procChildren()
	q := []int{root}
	for len(q) > 0 {
		p := q[0]
		q = append(q[1:], kids[p]...)
		for _, c := range kids[p] {
			if procComm(c) == "postgres" && procComm(p) != "postgres" {
				return c
			}
		}
	}
	return 0
}

func procComm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// stackMemory splits the namespace's processes into the supervisor's own
// (PID 1 and those named in own: s6's s6-supervise) and the services.
type stackMemory struct {
	rss, pss       float64
	procs          int
	svcRSS, svcPSS float64
	svcProcs       int
}

func stackMem(root int, own []string) stackMemory {
	var m stackMemory
	kids := procChildren()
	q := []int{root}
	for len(q) > 0 {
		p := q[0]
		q = append(q[1:], kids[p]...)
		rss, pss := statusKB(p, "VmRSS")/1024, pssKB(p)/1024
		if p == root || slices.Contains(own, procComm(p)) {
			m.rss, m.pss, m.procs = m.rss+rss, m.pss+pss, m.procs+1
		} else {
			m.svcRSS, m.svcPSS, m.svcProcs = m.svcRSS+rss, m.svcPSS+pss, m.svcProcs+1
		}
	}
	return m
}

// syncBuffer collects a session's output; written by os/exec's copying
// goroutine, read by the bench.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.b)
}

func (s *syncBuffer) from(i int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b[i:])
}

// tail is the end of the output, for error messages.
func (s *syncBuffer) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "output ends:\n" + string(s.b[max(0, len(s.b)-2000):])
}

// stackReport adds the figures, ratios and tables.
func stackReport(r *report, sups []stackSup, stats []stackStats, rounds int) {
	for i, s := range sups {
		st := &stats[i]
		ex := fmt.Sprintf("%d of %d", st.failed, rounds)
		durFig := func(metric string, d []time.Duration, extra string) {
			r.add(&figure{Workload: "stack", Metric: metric, Init: s.name, Unit: "ms",
				Median: durMs(quantile(d, 0.5)), P99: durMs(quantile(d, 1)), Samples: len(d), Extra: extra})
		}
		durFig("all answering", st.up, ex)
		durFig("restart redis", st.restart, "")
		durFig("kill -9 postgres", st.kill9, "")
		durFig("stop", st.stop, fmt.Sprintf("exit 0: %d/%d; PostgreSQL shut down cleanly: %d/%d", st.exit0, len(st.stop), st.clean, len(st.stop)))
		r.add(&figure{Workload: "stack", Metric: "rss", Init: s.name, Unit: "MiB", Median: medianF(st.rss), Samples: len(st.rss),
			Extra: fmt.Sprintf("%.2f MiB PSS, %d processes; services: %.1f MiB RSS, %.1f MiB PSS, %d processes",
				medianF(st.pss), st.procs, medianF(st.svcRSS), medianF(st.svcPSS), st.svcProcs)})
	}
	var notes []string
	for _, s := range sups {
		notes = append(notes, fmt.Sprintf("%s: %s", s.name, s.note))
	}
	base := fmt.Sprintf("examples/stack (nginx, PostgreSQL 15, redis, the worker), each supervisor as PID 1 of a new PID namespace, over one data directory that a first, unmeasured initbox run made; %d rounds, the supervisors taking turns. ", rounds) +
		strings.Join(notes, "; ") + "."
	for i, t := range []struct{ metric, title, note, extraCol string }{
		{"all answering", "stack start: until nginx, PostgreSQL and redis all answer",
			"From the fork of unshare until the last of GET / (200), `pg_isready` and `redis-cli ping` first answers (polled every 10 ms). " +
				"initbox runs stack.toml's oneshots too (prepare, initdb finding the cluster, schema) and starts nginx and the worker only once PostgreSQL and redis are ready; " +
				"supervisord starts everything at once after its first one-second tick, s6 at once. p99 column = slowest. " + base, "rounds failed"},
		{"restart redis", "stack: restart redis until the new one answers",
			"From the start of `initbox ctl restart redis`, `supervisorctl restart redis` or `s6-svc -r` until a redis with a new `run_id` answers `redis-cli info`: " +
				"the command's own start-up counts (supervisorctl is Python), its return does not. " +
				"s6-supervise 2.11 starts `run` again about 1 s after it ended, however long it ran. p99 column = slowest.", ""},
		{"kill -9 postgres", "stack: kill -9 of the postmaster until pg_isready answers again",
			"initbox waits stack.toml's `restart.delay = \"1s\"` first and kills what the postmaster left (`stop.mode = \"mixed\"`); " +
				"supervisord starts it again at once, s6-supervise after its 1 s; all then wait for PostgreSQL's crash recovery. p99 column = slowest.", ""},
		{"stop", "stack: SIGTERM to the supervisor until every process is gone",
			"Until unshare exits, which the kernel lets happen only once the whole namespace is empty; the stop signals are stack.toml's " +
				"(nginx QUIT, PostgreSQL INT, redis TERM) under all three. p99 column = slowest.", "exit status; PostgreSQL's shutdown"},
	} {
		r.ratios("stack", t.metric, "initbox")
		if i > 0 {
			t.note += " Setup as in the start table."
		}
		r.tableOf(t.title, t.note, "stack", t.metric, true, t.extraCol)
	}
	r.ratios("stack", "rss", "initbox")
	r.tableOf(fmt.Sprintf("stack: memory of the supervisor, %v after its start (2 s after everything answered at the earliest)", memAt),
		"VmRSS summed over the supervisor's own processes (initbox; supervisord; s6-svscan and its s6-supervise), the services apart (their RSS counts PostgreSQL's shared memory in each process, their PSS once). Setup as in the start table.",
		"stack", "rss", false, "PSS, processes; the services")
}
