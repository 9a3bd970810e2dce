//go:build linux

package realworld

// initbox and supervisord 4.2 (Debian's supervisor package) side by side on
// the same stack and the same data directory, each as PID 1 of a new PID
// namespace, alternately: the figures of docs/realworld.md's comparison.
// Only that each ran the stack is asserted; the rest is measured.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sideBySide is what one run of a supervisor measured.
type sideBySide struct {
	start        time.Duration // start to nginx answering
	restartRedis time.Duration // restart command to the new redis answering PING
	workerBack   time.Duration // restart command to a new row from the worker; 0: not within the wait
	stop         time.Duration // SIGTERM to the supervisor's exit
	exit         int
	rssMiB       float64 // the supervisor's own RSS
	clean        bool    // PostgreSQL logged "database system is shut down"
}

func (f sideBySide) String() string {
	back := "no new row within 20 s"
	if f.workerBack > 0 {
		back = f.workerBack.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("start to nginx answering %v, restart redis to answering %v, worker writing again after %s, SIGTERM stop %v (exit %d, PostgreSQL shut down cleanly: %v), RSS %.1f MiB",
		f.start.Round(time.Millisecond), f.restartRedis.Round(time.Millisecond), back, f.stop.Round(time.Millisecond), f.exit, f.clean, f.rssMiB)
}

// measure runs the same steps on a started stack, whatever supervises it.
func measure(t *testing.T, s *stack, restartRedis func() error, lastJob *int) sideBySide {
	t.Helper()
	var f sideBySide
	waitHTTP(t, nginxURL+"/", startTimeout, s.whyStop)
	f.start = time.Since(s.started)
	*lastJob = s.waitJobs(*lastJob, time.Minute)
	f.rssMiB = float64(rssKiB(s.initPID)) / 1024

	old, ok := s.mainProc("redis-server")
	if !ok {
		t.Fatalf("no redis-server among the supervisor's children: %v", s.procs(""))
	}
	at := time.Now()
	if err := restartRedis(); err != nil {
		t.Fatal(err)
	}
	for {
		cur, ok := s.mainProc("redis-server")
		if ok && cur.pid != old.pid {
			if r, err := redisCmd(redisAddr, "PING"); err == nil && r == "+PONG" {
				break
			}
		}
		if time.Since(at) > 30*time.Second {
			t.Fatal("no new redis answering PING 30 s after the restart")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.restartRedis = time.Since(at)
	for time.Since(at) < 20*time.Second {
		if n, err := psql(filepath.Join(s.data, "run"), "SELECT coalesce(max(n), 0) FROM jobs"); err == nil {
			var m int
			fmt.Sscan(n, &m)
			if m > *lastJob {
				f.workerBack = time.Since(at)
				*lastJob = m
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}

	from := s.mark()
	f.stop, f.exit = s.stop()
	all, _ := s.out.snapshot()
	f.clean = strings.Contains(strings.Join(all[from:], "\n"), "database system is shut down")
	return f
}

// TestSideBySideSupervisord: the stack under initbox and under supervisord,
// twice each, alternately, over one data directory that a first run of
// initbox made (supervisord has no oneshots for initdb and the schema).
func TestSideBySideSupervisord(t *testing.T) {
	requireRoot(t)
	requireStackPackages(t)
	requireFiles(t, "apt-get install supervisor", "/usr/bin/supervisord", "/usr/bin/supervisorctl")
	requirePortsFree(t, 8080, 6379)
	dir := newStackDir(t)
	conf := filepath.Join(dir, "etc", "supervisord.conf")
	env := []string{"STACK_ETC=" + filepath.Join(dir, "etc"), "STACK_DATA=" + filepath.Join(dir, "data")}

	// The data directory, the cluster and the table, made by initbox.
	first := startStack(t, dir)
	waitHTTP(t, nginxURL+"/", startTimeout, first.whyStop)
	last := first.waitJobs(0, time.Minute)
	if _, code := first.stop(); code != 0 {
		t.Fatalf("the first run exited %d", code)
	}

	var runs []string
	for round := 1; round <= 2; round++ {
		s := startStack(t, dir)
		f := measure(t, s, func() error {
			out, rc, err := ctl(s.sock, "restart", "redis")
			if err != nil || rc != 0 {
				return fmt.Errorf("initbox ctl restart redis: exit %d %v: %s", rc, err, out)
			}
			return nil
		}, &last)
		figure(t, "initbox, round %d: %v", round, f)
		runs = append(runs, "initbox "+f.String())
		if f.exit != 0 || !f.clean {
			t.Errorf("initbox round %d: exit %d, clean %v", round, f.exit, f.clean)
		}

		s = startPID1(t, dir, "/usr/bin/supervisord", "-c", conf)
		f = measure(t, s, func() error {
			cmd := exec.Command("supervisorctl", "-c", conf, "restart", "redis")
			cmd.Env = baseEnv(env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("supervisorctl restart redis: %v: %s", err, out)
			}
			return nil
		}, &last)
		figure(t, "supervisord, round %d: %v", round, f)
		runs = append(runs, "supervisord "+f.String())
	}
	if path := os.Getenv("REALWORLD_FIGURES"); path != "" {
		_ = os.WriteFile(path, []byte(strings.Join(runs, "\n")+"\n"), 0o644)
	}
}
