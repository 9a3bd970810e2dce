// Command bench measures initbox side by side with its peers on the same
// machine in one run, alternating runs so that machine noise falls on all
// of them alike (issue #8).
//
// Workloads:
//
//	startup    INIT -- /bin/true against /bin/true alone, median and p99
//	orphans    storms of 10,000 and 100,000 orphans reparented to INIT as
//	           PID 1 of a new PID namespace: time until all are reaped,
//	           peak zombies, zombies left
//	signal     kill(INIT, SIGUSR1) until the child's handler has written a
//	           byte to the bench's pipe, p50 and p99
//	idle       INIT -- sleep 1000: RSS and PSS after 5 s, context switches
//	           of all the init's threads over the next 10 s
//	binary     size of each init's binary
//	supervisor initbox run, supervisord, s6 and runit with 1, 20 and 200
//	           services: RSS, restart latency after SIGKILL, time to stop 20,
//	           time until 200 are running
//	spawn      initbox spawn -- /bin/true against unshare
//	stack      examples/stack (nginx, PostgreSQL 15, redis, a worker) under
//	           initbox, supervisord and s6, each as PID 1 of a new PID
//	           namespace: start to all answering, restart of redis, kill -9
//	           of the postmaster, stop, RSS of the supervisor
//
// Usage (as root, from bench/):
//
//	go run . [-quick] [-only LIST] [-out DIR] [-install=false] [NAME=CMD...]
//
// With no NAME=CMD the inits are initbox (../bin/initbox) and the Debian
// peers tini, tini-static, dumb-init and catatonit, installed with apt-get
// when missing. Results go to results.md, results.json and results.png; a
// run with -only writes them to partial/ unless -out is given, so that it
// does not replace a full run's report with a few rows.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// initCmd is one init under test: argv is the command prefix up to and
// including "--", with the flags that make it comparable when it is not
// PID 1 (-s for the tini-likes; catatonit is a subreaper by itself and
// dumb-init has no such mode).
type initCmd struct {
	name string
	bin  string
	argv []string
}

type options struct {
	quick       bool
	runs        int
	storms      int
	storms100k  int
	wave        int
	signals     int
	idleWait    time.Duration
	idleSpan    time.Duration
	superRounds int
	restarts    int
	initbox     string
	helper      string
	floor       string
	only        map[string]bool
	outDir      string
	keepPidMax  bool
	install     bool
	stormSizes  []int
	supervisors map[string]bool
	stackRounds int
	soak        time.Duration
	soakEvery   time.Duration
	soakSample  time.Duration
	stackDir    string
}

func main() {
	o := options{}
	flag.BoolVar(&o.quick, "quick", false, "a quick run (about 2 minutes): fewer runs, one 10,000 storm, 1,000 signals")
	flag.IntVar(&o.runs, "runs", 300, "start-up and spawn runs per init")
	flag.IntVar(&o.storms, "storms", 3, "10,000-orphan storms per init")
	flag.IntVar(&o.storms100k, "storms100k", 3, "100,000-orphan storms per init (issue #17: three; 0 skips them)")
	flag.IntVar(&o.wave, "wave", 25000, "largest wave of live orphans at once (pid_max here is 32768)")
	flag.IntVar(&o.signals, "signals", 10000, "SIGUSR1 round trips per init")
	flag.DurationVar(&o.idleWait, "idle-wait", 5*time.Second, "settle time before the idle figures")
	flag.DurationVar(&o.idleSpan, "idle-span", 10*time.Second, "span over which idle context switches are counted")
	flag.IntVar(&o.superRounds, "super-rounds", 3, "supervisor sessions per supervisor and size")
	flag.IntVar(&o.restarts, "restarts", 20, "SIGKILL-and-restart samples per supervisor per round")
	flag.IntVar(&o.stackRounds, "stack-rounds", 5, "rounds of the stack workload, each supervisor once per round")
	flag.DurationVar(&o.soak, "soak", time.Hour, "how long the soak workload runs the stack (only with -only soak)")
	flag.DurationVar(&o.soakEvery, "soak-every", 2*time.Minute, "one disturbance of the stack every this long in the soak")
	flag.DurationVar(&o.soakSample, "soak-sample", time.Minute, "how often the soak reads initbox's memory")
	flag.StringVar(&o.stackDir, "stack", "../examples/stack", "the stack's directory: stack.toml, supervisord.conf, nginx.conf, worker.sh, www/")
	flag.StringVar(&o.initbox, "initbox", "../bin/initbox", "initbox binary (make build), for every workload")
	only := flag.String("only", "", "comma-separated workloads: startup,orphans,signal,idle,binary,supervisor,spawn,metrics,stack, and soak (an hour, only by name)")
	supList := flag.String("supervisors", "", "comma-separated supervisors to run: initbox,supervisord,s6,runit (default all found)")
	flag.StringVar(&o.outDir, "out", ".", "directory for results.md, results.json, results.png (with -only: partial)")
	flag.BoolVar(&o.install, "install", true, "apt-get install missing peers")
	replot := flag.Bool("replot", false, "measure nothing: rewrite results.md and results.png from results.json in -out")
	flag.Parse()
	if *replot {
		check(replotFrom(o.outDir))
		return
	}
	if o.quick {
		o.runs, o.storms, o.storms100k, o.signals = 200, 1, 0, 1000
		o.idleWait, o.idleSpan = 2*time.Second, 3*time.Second
		o.superRounds, o.restarts, o.stackRounds = 1, 5, 2
	}
	o.only = map[string]bool{}
	for _, w := range strings.Split(*only, ",") {
		if w != "" {
			o.only[w] = true
		}
	}
	if len(o.only) > 0 && !flagGiven("out") {
		o.outDir = "partial"
	}
	o.supervisors = map[string]bool{}
	for _, w := range strings.Split(*supList, ",") {
		if w != "" {
			o.supervisors[w] = true
		}
	}
	o.stormSizes = []int{10000}
	if o.storms100k > 0 {
		o.stormSizes = append(o.stormSizes, 100000)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: run as root (PID namespaces, pid_max, apt-get)")
		os.Exit(2)
	}
	check(os.MkdirAll(o.outDir, 0o755))
	t0 := time.Now()
	if a, err := filepath.Abs(o.initbox); err == nil {
		o.initbox = a
	}
	if a, err := filepath.Abs(o.stackDir); err == nil {
		o.stackDir = a
	}
	want := func(w string) bool { return len(o.only) == 0 || o.only[w] }
	if o.install {
		installPeers(want("stack") || o.only["soak"])
	}
	inits := parseInits(flag.Args(), o.initbox)
	dir, err := os.MkdirTemp("", "initbox-bench-")
	check(err)
	defer os.RemoveAll(dir)
	o.helper = filepath.Join(dir, "helper")
	// Built once, up front, so that no workload measures the Go toolchain.
	b := exec.Command("go", "build", "-o", o.helper, "./helper")
	b.Stdout, b.Stderr = os.Stderr, os.Stderr
	check(b.Run())
	// The Go floor, static and stripped as initbox is (issue #17).
	o.floor = filepath.Join(dir, "go-floor")
	b = exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", o.floor, "./floor")
	b.Env = append(os.Environ(), "CGO_ENABLED=0")
	b.Stdout, b.Stderr = os.Stderr, os.Stderr
	check(b.Run())

	// pid_max is raised for the storms and restored on every way out.
	restore := func() {}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		restore()
		cleanUp()
		os.Exit(130)
	}()

	r := &report{Started: t0.UTC().Format(time.RFC3339), Quick: o.quick, Args: os.Args[1:]}
	r.Machine = machine()
	r.LoadStart = loadavg()
	var names []string
	for _, in := range inits {
		names = append(names, in.name+" ("+in.bin+")")
	}
	fmt.Printf("bench: inits %s\n", strings.Join(names, ", "))
	r.Inits = names
	if want("startup") {
		startup(r, inits, floorCmd(o), o.runs)
	}
	if want("orphans") {
		restore = raisePidMax(o)
		storms(r, inits, o)
		restore()
		restore = func() {}
	}
	if want("signal") {
		signalLatency(r, inits, o)
	}
	if want("idle") {
		idle(r, append(slices.Clone(inits), floorCmd(o)), o)
	}
	if want("binary") {
		binarySize(r, inits)
	}
	if want("supervisor") {
		supervisors(r, o, dir)
	}
	if want("spawn") {
		spawnStartup(r, inits[0], o.runs)
	}
	if want("metrics") {
		metricsLatency(r, o, dir)
	}
	if want("stack") {
		stackWorkload(r, o, dir)
	}
	// An hour: only when asked for by name.
	if o.only["soak"] {
		soakWorkload(r, o, dir)
	}
	r.WallSeconds = time.Since(t0).Seconds()
	r.LoadEnd = loadavg()
	r.evaluateTargets()
	check(r.write(o.outDir))
	fmt.Print(r.targetsText())
	fmt.Printf("bench: wall time %.0f s; wrote %s\n", r.WallSeconds, strings.Join([]string{
		filepath.Join(o.outDir, "results.md"), filepath.Join(o.outDir, "results.json"), filepath.Join(o.outDir, "results.png")}, ", "))
}

// replotFrom redraws the report and chart of an earlier run, for changes
// of presentation that do not need a new measurement.
func replotFrom(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	return r.write(dir)
}

// parseInits turns NAME=CMD arguments into inits; without any, it names
// initbox and each Debian peer found on PATH, in that order: initbox must
// come first, since ratios are initbox/peer.
func parseInits(args []string, initbox string) []initCmd {
	var inits []initCmd
	for _, a := range args {
		name, cmd, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "bench: %q: want NAME=COMMAND\n", a)
			os.Exit(2)
		}
		f := strings.Fields(cmd)
		inits = append(inits, initCmd{name, f[0], append(f, "--")})
	}
	if len(inits) > 0 {
		return inits
	}
	inits = append(inits, initCmd{"initbox", initbox, []string{initbox, "-s", "--"}})
	for _, p := range []struct{ name, bin, flags string }{
		{"tini", "tini", "-s"},
		{"tini-static", "tini-static", "-s"},
		{"dumb-init", "dumb-init", ""},
		{"catatonit", "catatonit", ""},
	} {
		path, err := exec.LookPath(p.bin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s not found, left out\n", p.name)
			continue
		}
		argv := append([]string{path}, strings.Fields(p.flags)...)
		inits = append(inits, initCmd{p.name, path, append(argv, "--")})
	}
	return inits
}

// flagGiven reports whether the flag was on the command line.
func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// installPeers installs the Debian packages of the peers whose binary is
// missing, so that a fresh machine runs the whole comparison; with stack,
// the stack's servers too.
func installPeers(stack bool) {
	want := [][2]string{{"tini", "tini"}, {"tini-static", "tini"}, {"dumb-init", "dumb-init"},
		{"catatonit", "catatonit"}, {"supervisord", "supervisor"}, {"s6-svscan", "s6"}, {"runsvdir", "runit"}, {"bwrap", "bubblewrap"}}
	if stack {
		want = append(want, [][2]string{{"/usr/sbin/nginx", "nginx-light"}, {pgBin + "/postgres", "postgresql-15"},
			{"redis-server", "redis-server"}, {"redis-cli", "redis-tools"}}...)
	}
	var pkgs []string
	for _, p := range want {
		if _, err := exec.LookPath(p[0]); err != nil && !slices.Contains(pkgs, p[1]) {
			pkgs = append(pkgs, p[1])
		}
	}
	if len(pkgs) == 0 {
		return
	}
	fmt.Printf("bench: installing %s\n", strings.Join(pkgs, " "))
	// The packages' postinst scripts start nginx, PostgreSQL, redis and
	// supervisord where an init system lets them, and redis would hold the
	// stack's port: a policy-rc.d that refuses every start keeps them
	// down, as in .ci/run.
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); errors.Is(err, fs.ErrNotExist) {
		if os.WriteFile(policy, []byte("#!/bin/sh\nexit 101\n"), 0o755) == nil {
			defer os.Remove(policy)
		}
	}
	cmd := exec.Command("apt-get", append([]string{"install", "-y", "-q", "--no-install-recommends"}, pkgs...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		// A stale package list is the usual cause on a fresh machine.
		u := exec.Command("apt-get", "update", "-q")
		u.Stdout, u.Stderr = os.Stderr, os.Stderr
		_ = u.Run()
		cmd = exec.Command(cmd.Args[0], cmd.Args[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: apt-get install: %v; missing peers are left out\n", err)
		}
	}
}

// raisePidMax makes room for the largest wave of live orphans plus the rest
// of the machine, and returns the function that puts the old value back.
func raisePidMax(o options) func() {
	const f = "/proc/sys/kernel/pid_max"
	b, err := os.ReadFile(f)
	if err != nil {
		return func() {}
	}
	old := strings.TrimSpace(string(b))
	var cur int
	fmt.Sscan(old, &cur)
	need := o.wave + 16384
	if cur >= need {
		return func() {}
	}
	if err := os.WriteFile(f, []byte(fmt.Sprint(need)), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "bench: cannot raise pid_max (%v); waves larger than %d may fail\n", err, cur-16384)
		return func() {}
	}
	fmt.Printf("bench: pid_max %s -> %d for the storms\n", old, need)
	return func() { _ = os.WriteFile(f, []byte(old), 0o644) }
}

func machine() string {
	var u syscall.Utsname
	_ = syscall.Uname(&u)
	rel := make([]byte, 0, 65)
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	osr := ""
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				osr = strings.Trim(v, `"`)
			}
		}
	}
	return fmt.Sprintf("%s, kernel %s, %d CPUs, %s", osr, rel, runtime.NumCPU(), runtime.Version())
}

// loadavg is recorded at both ends of the run: the machine may be shared,
// and a high load explains wide p99s.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func check(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// floorCmd is the Go floor as a row: it takes no options, only the
// program (issue #17).
func floorCmd(o options) initCmd {
	return initCmd{"go-floor", o.floor, []string{o.floor, "--"}}
}
