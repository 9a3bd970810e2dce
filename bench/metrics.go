package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// metricsLatency weighs initbox's own memory target (issue #17: GOGC=50
// unless the user sets GOGC or GOMEMLIMIT) against Go's default: `initbox
// run` with 20 services, 10 of them with an exec health check every 2 s,
// once as it starts and once with GOGC=100, in turns. Each request is on a
// new connection, as Prometheus and `initbox ctl status` make them: GET
// /metrics over TCP and GET /v1/status over the control socket. The figure
// is the p50 of each; the target is that the memory target costs at most
// 1.2 × in latency.
func metricsLatency(r *report, o options, tmp string) {
	rounds, per := 3, 300
	if o.quick {
		rounds, per = 1, 100
	}
	variants := []struct {
		name string
		env  []string
	}{
		{"initbox", nil},
		{"initbox GOGC=100", []string{"GOGC=100"}},
	}
	lat := map[string]map[string][]time.Duration{}
	for _, v := range variants {
		lat[v.name] = map[string][]time.Duration{}
	}
	for range rounds {
		for _, v := range variants {
			m, st, err := metricsSession(o.initbox, filepath.Join(tmp, "metrics"), v.env, per)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: metrics under %s: %v\n", v.name, err)
				return
			}
			lat[v.name]["metrics"] = append(lat[v.name]["metrics"], m...)
			lat[v.name]["status"] = append(lat[v.name]["status"], st...)
		}
	}
	for _, metric := range []string{"metrics", "status"} {
		for _, v := range variants {
			d := lat[v.name][metric]
			r.add(&figure{Workload: "metrics", Metric: metric + " p50", Init: v.name, Unit: "ms",
				Median: durMs(quantile(d, 0.5)), P99: durMs(quantile(d, 0.99)), Samples: len(d)})
		}
		r.ratios("metrics", metric+" p50", "initbox")
	}
	note := "initbox run with 20 services (10 with an exec health check every 2 s), its own GC target (GOGC=50) against GOGC=100, in turns; each request on a new connection"
	r.tableOf(fmt.Sprintf("GET /metrics over TCP, %d per session, %d session(s) each", per, rounds), note, "metrics", "metrics p50", true, "")
	r.tableOf(fmt.Sprintf("GET /v1/status over the control socket (initbox ctl status), %d per session, %d session(s) each", per, rounds), note, "metrics", "status p50", true, "")
}

// metricsSession runs one initbox with env added and returns the
// latencies of n scrapes and n status requests, taken alternately.
func metricsSession(bin, dir string, env []string, n int) (metrics, status []time.Duration, err error) {
	check(os.RemoveAll(dir))
	check(os.MkdirAll(dir, 0o755))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	addr := l.Addr().String()
	l.Close()
	sock := filepath.Join(dir, "ctl.sock")
	var b strings.Builder
	fmt.Fprintf(&b, "[init]\nhttp_listen = %q\ncontrol_socket = %q\n\n", addr, sock)
	for i := range 20 {
		fmt.Fprintf(&b, "[services.s%d]\ncommand = [\"sleep\", \"3600\"]\n", i)
		if i%2 == 0 {
			b.WriteString("health = { exec = [\"true\"], interval = \"2s\" }\n")
		}
	}
	cfg := filepath.Join(dir, "initbox.toml")
	check(os.WriteFile(cfg, []byte(b.String()), 0o644))
	cmd := exec.Command(bin, "run", "-c", cfg)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, "GOGC=") || strings.HasPrefix(e, "GOMEMLIMIT=")
	}), env...)
	if os.Getenv("BENCH_DEBUG") != "" {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	get := func(network, address, path string) (time.Duration, error) {
		t0 := time.Now()
		c, err := net.Dial(network, address)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
			return 0, err
		}
		ans, err := io.ReadAll(c)
		if err != nil {
			return 0, err
		}
		if !strings.HasPrefix(string(ans), "HTTP/1.1 200 ") {
			return 0, fmt.Errorf("GET %s: %.60q", path, ans)
		}
		return time.Since(t0), nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := get("tcp", addr, "/healthz"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("/healthz not served at %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Past the start, and through a few rounds of health checks.
	time.Sleep(5 * time.Second)
	for range n {
		d, err := get("tcp", addr, "/metrics")
		if err != nil {
			return nil, nil, err
		}
		metrics = append(metrics, d)
		if d, err = get("unix", sock, "/v1/status"); err != nil {
			return nil, nil, err
		}
		status = append(status, d)
	}
	return metrics, status, nil
}
