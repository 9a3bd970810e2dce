package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// soakWorkload runs the stack under initbox alone for o.soak (issue #17:
// "RSS, real stack, after an hour of restarts and checks"): the health
// checks of stack.toml run all along, and every o.soakEvery one
// disturbance, in turn: `initbox ctl restart --wait redis`, kill -9 of the
// postmaster, kill -9 of the worker, `initbox ctl restart --wait nginx`.
// initbox's VmRSS, RssAnon and RssFile are read every o.soakSample.
//
// The namespace has a network of its own (--net, loopback up), so that
// the soak keeps ports 8080 and 6379 off the host's and anything else may
// run beside it (the black-box suites use them); the bench's own checks
// therefore go through initbox ctl, not the network.
func soakWorkload(r *report, o options, tmp string) {
	e, err := prepareStack(o, tmp)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: soak left out: %v\n", err)
		return
	}
	sup := stackSup{name: "initbox", argv: func(e *stackEnv) []string {
		return []string{"--net", "sh", "-c", `ip link set lo up && exec "$0" "$@"`,
			e.initbox, "run", "-c", filepath.Join(e.etc, "stack.toml"), "-c", e.dropin}
	}}
	s, t0, err := e.start(sup)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: soak: %v\n", err)
		return
	}
	defer s.kill()
	ctl := func(args ...string) error {
		cmd := exec.Command(e.initbox, append([]string{"ctl", "--socket", e.sock}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("initbox ctl %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	all := []string{"postgres", "redis", "nginx", "worker"}
	// up waits for every long-running service to be up again.
	up := func() error {
		var err error
		for end := time.Now().Add(2 * time.Minute); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if err = ctl(append([]string{"start", "--wait", "--timeout", "30s"}, all...)...); err == nil {
				return nil
			}
		}
		return err
	}
	if err := up(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: soak: the stack did not come up: %v\n%s", err, s.out.tail())
		return
	}
	kill9 := func(comm string) error {
		for _, p := range procChildren()[s.pid1] {
			if procComm(p) == comm {
				return syscall.Kill(p, syscall.SIGKILL)
			}
		}
		return fmt.Errorf("no %s under initbox", comm)
	}
	disturb := []struct {
		name string
		do   func() error
	}{
		{"restart redis", func() error { return ctl("restart", "--wait", "--timeout", "60s", "redis") }},
		{"kill -9 postgres", func() error { return kill9("postgres") }},
		{"kill -9 worker", func() error { return kill9("sh") }},
		{"restart nginx", func() error { return ctl("restart", "--wait", "--timeout", "60s", "nginx") }},
	}
	type sample struct {
		at                 time.Duration
		rss, anon, file    float64
		restarts, failures int
	}
	var samples []sample
	restarts, failures := 0, 0
	nextSample, nextDisturb := time.Duration(0), o.soakEvery
	fmt.Fprintf(os.Stderr, "bench: soak: the stack is up after %v; %v to go\n", time.Since(t0).Round(time.Millisecond), o.soak)
	for {
		el := time.Since(t0)
		if el >= nextSample {
			samples = append(samples, sample{at: el, rss: statusKB(s.pid1, "VmRSS") / 1024,
				anon: statusKB(s.pid1, "RssAnon") / 1024, file: statusKB(s.pid1, "RssFile") / 1024,
				restarts: restarts, failures: failures})
			nextSample += o.soakSample
			if s.exited() {
				fmt.Fprintf(os.Stderr, "bench: soak: initbox exited:\n%s", s.out.tail())
				break
			}
		}
		if el >= o.soak {
			break
		}
		if el >= nextDisturb {
			d := disturb[restarts%len(disturb)]
			err := d.do()
			if err == nil {
				err = up()
			}
			if err != nil {
				failures++
				fmt.Fprintf(os.Stderr, "bench: soak: %s: %v\n", d.name, err)
			}
			restarts++
			nextDisturb += o.soakEvery
		}
		time.Sleep(100 * time.Millisecond)
	}
	res, err := s.stop(30 * time.Second)
	stopNote := fmt.Sprintf("stopped in %v, exit status %d, PostgreSQL shut down cleanly: %v", res.took.Round(time.Millisecond), res.exit, res.clean)
	if err != nil {
		stopNote = fmt.Sprintf("stop: %v", err)
	}
	if len(samples) == 0 {
		return
	}
	// Flat: the spread of the samples after the first five minutes.
	var late []float64
	for _, sm := range samples {
		if sm.at >= 5*time.Minute {
			late = append(late, sm.rss)
		}
	}
	last := samples[len(samples)-1]
	extra := fmt.Sprintf("after %v, %d disturbances (%d failed); %s", last.at.Round(time.Second), last.restarts, last.failures, stopNote)
	if len(late) > 0 {
		extra = fmt.Sprintf("after 5 min: median %.2f MiB, %.2f–%.2f MiB; ", medianF(late), slices.Min(late), slices.Max(late)) + extra
	}
	// The figure: the median after the first five minutes (the last
	// sample when the soak is shorter), the p99 column its maximum.
	f := r.add(&figure{Workload: "soak", Metric: "rss", Init: "initbox", Unit: "MiB", Median: last.rss, P99: last.rss, Samples: len(samples), Extra: extra})
	if len(late) > 0 {
		f.Median, f.P99 = medianF(late), slices.Max(late)
	}
	t := table{Title: fmt.Sprintf("soak: initbox's memory running the stack for %v", o.soak),
		Note: fmt.Sprintf("examples/stack under initbox alone, as PID 1 of new PID, IPC and network namespaces, its health checks running; every %v one disturbance in turn "+
			"(`initbox ctl restart --wait redis`, kill -9 of the postmaster, kill -9 of the worker, `initbox ctl restart --wait nginx`), each followed by "+
			"`initbox ctl start --wait` of the four until they are up. initbox's /proc/PID/status every %v. %s.", o.soakEvery, o.soakSample, extra),
		Header: []string{"time", "VmRSS", "RssAnon", "RssFile", "disturbances", "failed"}}
	for i, sm := range samples {
		// Every sample of the first 5 minutes, then one in five.
		if sm.at > 5*time.Minute && i%5 != 0 && i != len(samples)-1 {
			continue
		}
		t.Rows = append(t.Rows, []string{sm.at.Round(time.Second).String(), fmtVal(sm.rss, "MiB"), fmtVal(sm.anon, "MiB"), fmtVal(sm.file, "MiB"),
			fmt.Sprint(sm.restarts), fmt.Sprint(sm.failures)})
	}
	r.Tables = append(r.Tables, t)
	printTable(t)
}
