package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// A supervisor under test: setup writes its configuration for n services
// into dir and returns its argv; stop is the signal that asks it to stop
// everything and exit.
type supervisor struct {
	name  string
	bin   string
	setup func(dir string, n int, svc string) []string
	stop  syscall.Signal
	note  string
}

// Every service runs svc.sh: it writes its PID to the bench's FIFO and
// execs `sleep 3600`. The FIFO tells the bench, without polling, the
// moment each service (re)started: restart latency and start-up are read
// from it. /bin/sh is dash: its start is ~0.5 ms, the same for all.
const svcScript = "#!/bin/sh\necho $$ > %s\nexec sleep 3600\n"

func supervisorsUnderTest(o options) []supervisor {
	var s []supervisor
	if _, err := os.Stat(o.initbox); err == nil {
		s = append(s, supervisor{name: "initbox", bin: o.initbox, stop: syscall.SIGTERM,
			note: `restart = { policy = "always", delay = "0s" }, limit_burst high enough never to trip`,
			setup: func(dir string, n int, svc string) []string {
				var b strings.Builder
				for i := range n {
					fmt.Fprintf(&b, "[services.s%d]\ncommand = [%q]\nstdout = \"null\"\nstderr = \"null\"\n", i, svc)
					b.WriteString("restart = { policy = \"always\", delay = \"0s\", limit_burst = 1000000, limit_interval = \"1s\" }\n\n")
				}
				f := filepath.Join(dir, "initbox.toml")
				check(os.WriteFile(f, []byte(b.String()), 0o644))
				return []string{o.initbox, "run", "-c", f}
			}})
	}
	if p, err := exec.LookPath("supervisord"); err == nil {
		s = append(s, supervisor{name: "supervisord", bin: p, stop: syscall.SIGTERM,
			note: "nodaemon=true, autorestart=true, startsecs=0",
			setup: func(dir string, n int, svc string) []string {
				var b strings.Builder
				fmt.Fprintf(&b, "[supervisord]\nnodaemon=true\nlogfile=%s/supervisord.log\npidfile=%s/supervisord.pid\nchildlogdir=%s\nloglevel=warn\n\n", dir, dir, dir)
				for i := range n {
					fmt.Fprintf(&b, "[program:s%d]\ncommand=%s\nautorestart=true\nstartsecs=0\nstartretries=1000000\nstdout_logfile=NONE\nstderr_logfile=NONE\n\n", i, svc)
				}
				f := filepath.Join(dir, "supervisord.conf")
				check(os.WriteFile(f, []byte(b.String()), 0o644))
				return []string{p, "-n", "-c", f}
			}})
	}
	scanDir := func(dir string, n int, svc string) string {
		sd := filepath.Join(dir, "scan")
		for i := range n {
			d := filepath.Join(sd, fmt.Sprintf("s%d", i))
			check(os.MkdirAll(d, 0o755))
			check(os.Symlink(svc, filepath.Join(d, "run")))
		}
		return sd
	}
	if p, err := exec.LookPath("s6-svscan"); err == nil {
		s = append(s, supervisor{name: "s6", bin: p, stop: syscall.SIGTERM,
			note: "s6-svscan DIR, one s6-supervise per service; SIGTERM = s6-svscanctl -t",
			setup: func(dir string, n int, svc string) []string {
				return []string{p, scanDir(dir, n, svc)}
			}})
	}
	if p, err := exec.LookPath("runsvdir"); err == nil {
		s = append(s, supervisor{name: "runit", bin: p, stop: syscall.SIGHUP,
			note: "runsvdir DIR, one runsv per service; SIGHUP makes runsvdir TERM every runsv and exit",
			setup: func(dir string, n int, svc string) []string {
				return []string{p, scanDir(dir, n, svc)}
			}})
	}
	return s
}

// session is one supervisor running n services, started by the bench,
// which is a child subreaper meanwhile so that the whole tree, orphans
// included, ends up reaped by it: "stopped" means wait4(-1) says no child
// is left, which needs no polling.
type session struct {
	pid   int
	fifo  int
	lines chan event
	buf   []byte
}

type event struct {
	pid int
	at  time.Time
}

func startSession(s supervisor, dir string, n int) (*session, time.Time, error) {
	check(os.RemoveAll(dir))
	check(os.MkdirAll(dir, 0o755))
	fifo := filepath.Join(dir, "fifo")
	check(syscall.Mkfifo(fifo, 0o644))
	// O_RDWR: the bench is a reader and a writer, so services never block
	// opening it and the bench never sees EOF between services.
	fd, err := syscall.Open(fifo, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	check(err)
	svc := filepath.Join(dir, "svc.sh")
	check(os.WriteFile(svc, []byte(fmt.Sprintf(svcScript, fifo)), 0o755))
	argv := s.setup(dir, n, svc)
	ss := &session{fifo: fd, lines: make(chan event, 4096)}
	go ss.read()
	null, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0) // writable: supervisord dies on a failed write to stderr
	defer null.Close()
	t0 := time.Now()
	errf := null
	if os.Getenv("BENCH_DEBUG") != "" {
		errf = os.Stderr
	}
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Dir: dir, Files: []*os.File{null, errf, errf}})
	if err != nil {
		return nil, t0, err
	}
	ss.pid = p.Pid
	currentSupervisor.Store(int64(p.Pid))
	return ss, t0, nil
}

// read turns the FIFO's lines into timestamped events. A blocking read(2)
// on the raw fd wakes as soon as a service writes.
func (ss *session) read() {
	b := make([]byte, 4096)
	var part []byte
	for {
		k, err := syscall.Read(ss.fifo, b)
		at := time.Now()
		if k <= 0 || err != nil {
			close(ss.lines)
			return
		}
		part = append(part, b[:k]...)
		for {
			i := bytes.IndexByte(part, '\n')
			if i < 0 {
				break
			}
			pid, _ := strconv.Atoi(string(part[:i]))
			part = part[i+1:]
			if pid < 0 {
				// The sentinel of stopAll: only now is the fd closed, by its
				// only reader, so no read(2) can ever hit a reused number.
				syscall.Close(ss.fifo)
				close(ss.lines)
				return
			}
			ss.lines <- event{pid, at}
		}
	}
}

func (ss *session) next(timeout time.Duration) (event, error) {
	select {
	case e, ok := <-ss.lines:
		if !ok {
			return e, errors.New("fifo closed")
		}
		return e, nil
	case <-time.After(timeout):
		return event{}, errors.New("timed out")
	}
}

// stopAll signals the supervisor and reaps until no child is left.
func (ss *session) stopAll(sig syscall.Signal, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	if err := syscall.Kill(ss.pid, sig); err != nil {
		return 0, err
	}
	kill := time.AfterFunc(timeout, func() { _ = syscall.Kill(-ss.pid, syscall.SIGKILL); _ = syscall.Kill(ss.pid, syscall.SIGKILL) })
	defer kill.Stop()
	for {
		_, err := syscall.Wait4(-1, nil, 0, nil)
		if err == syscall.ECHILD {
			break
		}
		if err != nil && err != syscall.EINTR {
			return 0, err
		}
	}
	d := time.Since(t0)
	currentSupervisor.Store(0)
	// Closing the fd would not wake the reader blocked in read(2) (and the
	// bench holds a write end, so no EOF comes): a sentinel line ends it.
	_, _ = syscall.Write(ss.fifo, []byte("-1\n"))
	if d >= timeout {
		return d, fmt.Errorf("not stopped within %v, killed", timeout)
	}
	return d, nil
}

// currentSupervisor is the root of the running session, for cleanUp.
var currentSupervisor atomic.Int64

// cleanUp kills the running supervisor's tree when the bench is
// interrupted, so that no `sleep 3600` outlives it.
func cleanUp() {
	root := int(currentSupervisor.Load())
	if root == 0 {
		return
	}
	kids := procChildren()
	q := []int{root}
	for len(q) > 0 {
		p := q[0]
		q = append(q[1:], kids[p]...)
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// procChildren maps each PID to its children, from /proc/*/stat.
func procChildren() map[int][]int {
	kids := map[int][]int{}
	d, _ := os.ReadDir("/proc")
	for _, e := range d {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) {
			continue
		}
		f := strings.Fields(s[i+2:])
		ppid, _ := strconv.Atoi(f[1])
		kids[ppid] = append(kids[ppid], pid)
	}
	return kids
}

// treeMem sums VmRSS and PSS of the supervisor's processes: the root and
// its descendants, less the services themselves (their PIDs came through
// the FIFO).
func treeMem(root int, services map[int]bool) (rss, pss float64, procs int) {
	kids := procChildren()
	q := []int{root}
	for len(q) > 0 {
		p := q[0]
		q = append(q[1:], kids[p]...)
		if services[p] {
			continue
		}
		rss += statusKB(p, "VmRSS")
		pss += pssKB(p)
		procs++
	}
	return rss / 1024, pss / 1024, procs
}

type superStats struct {
	rss, pss      map[int][]float64
	procs         map[int]int
	allUp         []time.Duration // until the 200th service wrote
	restart       []time.Duration
	stop20        []time.Duration
	stop200       []time.Duration
	restartFailed int
}

func supervisors(r *report, o options, tmp string) {
	var sups []supervisor
	for _, s := range supervisorsUnderTest(o) {
		if len(o.supervisors) == 0 || o.supervisors[s.name] {
			sups = append(sups, s)
		}
	}
	if len(sups) == 0 {
		return
	}
	// Become a subreaper for the duration (see session).
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		check(e)
	}
	defer syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
	stats := make([]superStats, len(sups))
	for i := range stats {
		stats[i] = superStats{rss: map[int][]float64{}, pss: map[int][]float64{}, procs: map[int]int{}}
	}
	settle := time.Second
	for round := range o.superRounds {
		for _, n := range []int{200, 20, 1} {
			for i, s := range sups {
				st := &stats[i]
				dir := filepath.Join(tmp, "sup-"+s.name)
				ss, t0, err := startSession(s, dir, n)
				if err != nil {
					fmt.Fprintf(os.Stderr, "bench: %s: %v\n", s.name, err)
					continue
				}
				services := map[int]bool{}
				var last time.Time
				ok := true
				for range n {
					e, err := ss.next(60 * time.Second)
					if err != nil {
						fmt.Fprintf(os.Stderr, "bench: %s with %d services: %v after %d started\n", s.name, n, err, len(services))
						ok = false
						break
					}
					services[e.pid] = true
					last = e.at
				}
				if ok && n == 200 {
					st.allUp = append(st.allUp, last.Sub(t0))
				}
				time.Sleep(settle)
				rss, pss, procs := treeMem(ss.pid, services)
				st.rss[n] = append(st.rss[n], rss)
				st.pss[n] = append(st.pss[n], pss)
				st.procs[n] = procs
				if n == 20 && ok {
					// Kill services in turn, so that each victim has run for a
					// while: this measures the restart path, not a crash-loop
					// throttle (s6 and runit wait 1 s for a service that dies
					// within 1 s of its start).
					victims := make([]int, 0, len(services))
					for p := range services {
						victims = append(victims, p)
					}
					for k := range o.restarts {
						v := victims[k%len(victims)]
						t := time.Now()
						if err := syscall.Kill(v, syscall.SIGKILL); err != nil {
							st.restartFailed++
							continue
						}
						e, err := ss.next(5 * time.Second)
						if err != nil {
							st.restartFailed++
							break
						}
						st.restart = append(st.restart, e.at.Sub(t))
						victims[k%len(victims)] = e.pid
						time.Sleep(20 * time.Millisecond)
					}
				}
				if n == 20 {
					// Let the last replacement run past 1 s first: s6 and
					// runit treat a service that dies within 1 s of its start
					// as crash-looping, and the stop should not measure that.
					time.Sleep(1500 * time.Millisecond)
				}
				d, err := ss.stopAll(s.stop, 30*time.Second)
				if err != nil {
					fmt.Fprintf(os.Stderr, "bench: stopping %s: %v\n", s.name, err)
				}
				switch n {
				case 20:
					st.stop20 = append(st.stop20, d)
				case 200:
					st.stop200 = append(st.stop200, d)
				}
				fmt.Fprintf(os.Stderr, "bench: supervisor round %d: %s with %d services done\n", round+1, s.name, n)
			}
		}
	}
	for i, s := range sups {
		st := &stats[i]
		for _, n := range []int{1, 20, 200} {
			r.add(&figure{Workload: "supervisor", Metric: fmt.Sprintf("rss %d", n), Init: s.name, Unit: "MiB",
				Median: medianF(st.rss[n]), Samples: len(st.rss[n]),
				Extra: fmt.Sprintf("%.2f MiB PSS, %d processes", medianF(st.pss[n]), st.procs[n])})
		}
		ex := ""
		if st.restartFailed > 0 {
			ex = fmt.Sprintf("%d kills not followed by a restart within 5 s", st.restartFailed)
		}
		r.add(&figure{Workload: "supervisor", Metric: "restart", Init: s.name, Unit: "ms",
			Median: durMs(quantile(st.restart, 0.5)), P99: durMs(quantile(st.restart, 0.99)), Samples: len(st.restart), Extra: ex})
		r.add(&figure{Workload: "supervisor", Metric: "stop 20", Init: s.name, Unit: "ms",
			Median: durMs(quantile(st.stop20, 0.5)), P99: durMs(quantile(st.stop20, 1)), Samples: len(st.stop20)})
		r.add(&figure{Workload: "supervisor", Metric: "stop 200", Init: s.name, Unit: "ms",
			Median: durMs(quantile(st.stop200, 0.5)), P99: durMs(quantile(st.stop200, 1)), Samples: len(st.stop200)})
		r.add(&figure{Workload: "supervisor", Metric: "all up 200", Init: s.name, Unit: "ms",
			Median: durMs(quantile(st.allUp, 0.5)), P99: durMs(quantile(st.allUp, 1)), Samples: len(st.allUp)})
	}
	var notes []string
	for _, s := range sups {
		notes = append(notes, fmt.Sprintf("%s: %s", s.name, s.note))
	}
	base := "Services are `sleep 3600` behind a 3-line sh script that first writes its PID to a FIFO the bench reads. " + strings.Join(notes, "; ") + "."
	ref := "initbox"
	for _, n := range []int{1, 20, 200} {
		m := fmt.Sprintf("rss %d", n)
		r.ratios("supervisor", m, ref)
		r.tableOf(fmt.Sprintf("supervisor memory: %d service(s), %v after all started", n, settle),
			"VmRSS summed over the supervisor's processes (services excluded). "+base, "supervisor", m, false, "PSS, processes")
	}
	r.ratios("supervisor", "restart", ref)
	r.tableOf(fmt.Sprintf("supervisor restart latency: SIGKILL of a service until its replacement runs (20 services, %d kills per round, rounds %d)", o.restarts, o.superRounds),
		"Restart delay 0 (initbox `delay = \"0s\"`, supervisord `startsecs=0`; s6 and runit have none to set). Victims rotate over the 20 services, 20 ms apart.", "supervisor", "restart", true, "")
	r.ratios("supervisor", "stop 20", ref)
	r.tableOf("supervisor stop: 20 services that exit on SIGTERM",
		"From the stop signal to the supervisor (runit: SIGHUP) until every process of the tree has exited and been reaped (the bench is their subreaper); 1.5 s after the last restart of the restart test. p99 column = slowest.", "supervisor", "stop 20", true, "")
	r.ratios("supervisor", "all up 200", ref)
	r.tableOf("supervisor start: time until 200 services are all running",
		"From the supervisor's fork until the 200th service has written its PID. p99 column = slowest.", "supervisor", "all up 200", true, "")
	r.ratios("supervisor", "stop 200", ref)
	r.tableOf("supervisor stop: 200 services", "As the stop of 20. p99 column = slowest.", "supervisor", "stop 200", true, "")
}

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER, which package syscall
// does not name (the bench takes no dependency for golang.org/x/sys).
const prSetChildSubreaper = 36
