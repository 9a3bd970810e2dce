//go:build linux

package realworld

// examples/apps/apps.toml as it is: PHP-FPM and gunicorn from Debian's
// packages under initbox as PID 1 of a new PID namespace (issue #16, the
// guide's recipes for them). Each must get ready its own way (php-fpm's
// sd_notify, gunicorn's HTTP), answer as www-data, reload gracefully on
// the signal its documentation names (new workers, the same master), and
// stop gracefully on SIGTERM to initbox: its own stop signal to its
// master alone, exit 0, nothing left, nothing killed.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	fpmBin      = "/usr/sbin/php-fpm8.2"
	gunicornURL = "http://127.0.0.1:8000/"
)

// fcgiGet asks php-fpm for script with cgi-fcgi (libfcgi-bin) and returns
// the body of the answer.
func fcgiGet(script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "cgi-fcgi", "-bind", "-connect", "127.0.0.1:9000")
	cmd.Env = baseEnv("SCRIPT_FILENAME="+script, "REQUEST_METHOD=GET", "QUERY_STRING=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("cgi-fcgi: %v: %s", err, out)
	}
	_, body, _ := strings.Cut(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n\n")
	return body, nil
}

// workerLine matches both servers' answers: which worker, as which uid.
var workerLine = regexp.MustCompile(`^hello from (php-fpm|gunicorn) worker (\d+) uid (\d+)\n$`)

// answer parses an answer into the worker's pid and uid.
func answer(t *testing.T, body string) (pid, uid int) {
	t.Helper()
	m := workerLine.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("unexpected answer %q", body)
	}
	pid, _ = strconv.Atoi(m[2])
	uid, _ = strconv.Atoi(m[3])
	return pid, uid
}

func TestAppServers(t *testing.T) {
	requireRoot(t)
	requireFiles(t, "apt-get install php8.2-fpm libfcgi-bin gunicorn", fpmBin, "/usr/bin/cgi-fcgi", "/usr/bin/gunicorn", "/usr/bin/unshare")
	if !hasUser("www-data") {
		skipOrFail(t, "requires the user www-data")
	}
	requirePortsFree(t, 8000, 9000)
	dir, err := os.MkdirTemp("", "initbox-apps-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyExample(t, "apps", filepath.Join(dir, "apps"))
	dropin := fmt.Sprintf("[init]\ncontrol_socket = %q\n", filepath.Join(dir, "control.sock"))
	if err := os.WriteFile(filepath.Join(dir, "test.toml"), []byte(dropin), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startPID1(t, dir, initBin, "run", "-c", filepath.Join(dir, "apps", "apps.toml"), "-c", filepath.Join(dir, "test.toml"))

	// Ready each its own way: READY=1 from php-fpm, an answer from gunicorn.
	for _, name := range []string{"php-fpm", "gunicorn"} {
		s.waitStatus(name, startTimeout, "ready", func(st serviceStatus) bool { return st.State == "running" && st.Ready == "ready" })
	}
	figure(t, "php-fpm and gunicorn ready %v after the start", time.Since(s.started).Round(time.Millisecond))
	// Its STATUS= every systemd_interval (2 s), in ctl status's JSON.
	for deadline := time.Now().Add(20 * time.Second); ; {
		out, _, _ := ctl(s.sock, "--json", "status", "php-fpm")
		if strings.Contains(out, "Processes active") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("php-fpm's sd_notify STATUS= is not in ctl status after 20 s:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}

	script := filepath.Join(dir, "apps", "www", "index.php")
	ask := map[string]func() (string, error){
		"php-fpm":  func() (string, error) { return fcgiGet(script) },
		"gunicorn": func() (string, error) { _, b, err := httpGet(gunicornURL); return b, err },
	}
	reload := map[string]string{"php-fpm": "USR2", "gunicorn": "HUP"}
	for _, name := range []string{"php-fpm", "gunicorn"} {
		body, err := ask[name]()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		worker, uid := answer(t, body)
		if uid != 33 {
			t.Errorf("%s's worker runs as uid %d, want www-data (33)", name, uid)
		}
		before, err := status(s.sock, name)
		if err != nil {
			t.Fatal(err)
		}
		// A graceful reload, as each documents it: new workers, the same
		// master, initbox's service untouched.
		if out, rc, err := ctl(s.sock, "signal", reload[name], name); rc != 0 || err != nil {
			t.Fatalf("ctl signal %s %s: %d %v %s", reload[name], name, rc, err, out)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			body, err := ask[name]()
			if err == nil {
				if w, _ := answer(t, body); w != worker {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no new worker 30 s after SIGUSR2/SIGHUP (last %q, %v)", name, body, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		st, err := status(s.sock, name)
		if err != nil || st.PID != before.PID || st.Restarts != 0 || st.State != "running" {
			t.Errorf("%s after its reload: %+v (%v), want master %d running, no restart", name, st, err, before.PID)
		}
	}

	// SIGTERM to initbox: each master gets its own graceful signal
	// (php-fpm QUIT, gunicorn TERM), exits 0, and nothing is left.
	everything := s.procs("")
	from := s.mark()
	took, code := s.stop()
	figure(t, "php-fpm and gunicorn: SIGTERM to initbox exited in %v", took.Round(time.Millisecond))
	all, _ := s.out.snapshot()
	out := strings.Join(all[from:], "\n")
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	for _, svc := range []string{"php-fpm", "gunicorn"} {
		i := find(all, from, "stopped", svc)
		if i < 0 || !strings.Contains(all[i], `"status": "exit status 0"`) {
			t.Errorf("%s did not stop with exit status 0 on its stop signal", svc)
		}
	}
	for _, want := range []string{`"signal": "SIGQUIT"`, "Shutting down: Master"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the stop's output", want)
		}
	}
	if strings.Contains(out, "SIGKILL") || strings.Contains(out, "killing") {
		t.Errorf("something had to be killed:\n%s", out)
	}
	if left := waitGone(everything, time.Second); len(left) > 0 {
		t.Errorf("left after initbox exited: %v", left)
	}
}
