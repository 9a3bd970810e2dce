//go:build linux

package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests use an image of their own: the test image plus a config at
// initbox's default path, run with ENTRYPOINT ["/initbox"], which runs the
// default config when given no arguments. TestMain removes it with the
// others.

var (
	supOnce  sync.Once
	supImage string
	supErr   error
)

// supervisorConfig is three services in a chain: db, then app (needs db),
// then web (needs app). Each prints when it starts and when its TERM trap
// runs, so the order of the stop is read from the container's output.
const supervisorConfig = `
[init]
shutdown_timeout = "8s"

[services.db]
command = ["/bin/busybox", "sh", "-c", "trap 'echo db-stopped; exit 0' TERM; echo db-up; while :; do /bin/busybox sleep 0.1; done"]

[services.app]
command = ["/bin/busybox", "sh", "-c", "trap 'echo app-stopped; exit 0' TERM; echo app-up; while :; do /bin/busybox sleep 0.1; done"]
depends_on = { db = "started" }

[services.web]
command = ["/bin/busybox", "sh", "-c", "trap 'echo web-stopped; exit 0' TERM; echo web-up; while :; do /bin/busybox sleep 0.1; done"]
depends_on = { app = "started" }
`

func supervisorImage(t *testing.T) string {
	t.Helper()
	needDocker(t)
	supOnce.Do(func() {
		dir, err := os.MkdirTemp("", "initbox-docker-sup-")
		if err != nil {
			supErr = err
			return
		}
		defer os.RemoveAll(dir)
		files := map[string]string{
			"Dockerfile":   "FROM " + testImage + "\nCOPY initbox.toml /etc/initbox/initbox.toml\nENTRYPOINT [\"/initbox\"]\n",
			"initbox.toml": supervisorConfig,
		}
		for name, text := range files {
			if supErr = os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); supErr != nil {
				return
			}
		}
		tag := testImage + "-supervisor"
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		_, stderr, rc, err := docker(ctx, "build", "-q", "-t", tag, dir)
		if err != nil || rc != 0 {
			supErr = fmt.Errorf("docker build -t %s: exit %d %v\n%s", tag, rc, err, stderr)
			return
		}
		supImage = tag
	})
	if supErr != nil {
		t.Fatal(supErr)
	}
	return supImage
}

// TestSupervisorDockerStop: `docker stop` makes initbox stop the services
// in reverse dependency order (web, app, db), each through its own TERM
// trap, and the container exits 0 (every service stopped cleanly) well
// inside docker's 10 s.
func TestSupervisorDockerStop(t *testing.T) {
	img := supervisorImage(t)
	name := containerName(t)
	a := runAttached(t, name, img)
	for _, s := range []string{"db-up", "app-up", "web-up"} {
		waitContains(t, a, s)
	}
	start := time.Now()
	dockerOK(t, "stop", name)
	took := time.Since(start)
	rc := a.wait(t, cmdTimeout)
	if rc != 0 {
		t.Errorf("container exit status = %d, want 0\n%s", rc, a.output())
	}
	order := []int{index(a, "web-stopped"), index(a, "app-stopped"), index(a, "db-stopped")}
	if order[0] < 0 || order[1] < 0 || order[2] < 0 || !(order[0] < order[1] && order[1] < order[2]) {
		t.Errorf("stop order (line numbers of web, app, db) = %v, want increasing\n%s", order, a.output())
	}
	if took >= 5*time.Second {
		t.Errorf("docker stop took %v, want well inside its 10 s", took)
	}
	t.Logf("docker stop took %v", took)
	// Whatever the host gives the container (here: cgroup v1 only, or a
	// read-only cgroup2 on a v2 host), initbox says so in one line and the
	// ordered stop above worked through process groups (issue #4, #5).
	lines := 0
	for _, l := range strings.Split(a.output(), "\n") {
		if cgroupLine.MatchString(l) {
			lines++
			t.Logf("cgroups: %s", l)
		}
	}
	if lines != 1 {
		t.Errorf("%d lines say what cgroups offer, want 1\n%s", lines, a.output())
	}
}

// cgroupLine matches the line initbox logs about its cgroups at start.
var cgroupLine = regexp.MustCompile(`cgroups unavailable|services get their own cgroups|services are grouped and killed by cgroup`)

// TestSupervisorMainStatus: with `run -- PROGRAM` the program is the main
// service, and its exit status becomes the container's once the config's
// services are stopped.
func TestSupervisorMainStatus(t *testing.T) {
	img := supervisorImage(t)
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 7", 7},
		{"kill -TERM $$", 143},
	} {
		name := containerName(t)
		out, rc := dockerRun(t, "run", "--name", name, img, "run", "--", "/bin/busybox", "sh", "-c", "/bin/busybox sleep 0.3; "+tc.script)
		if rc != tc.want {
			t.Errorf("main %q: container exit status = %d, want %d\n%s", tc.script, rc, tc.want, out)
		}
		for _, s := range []string{"web-stopped", "app-stopped", "db-stopped"} {
			if !strings.Contains(out, s) {
				t.Errorf("main %q: %s missing: the services were not stopped in order\n%s", tc.script, s, out)
			}
		}
	}
}

// waitContains waits for a line of a's output that contains s.
func waitContains(t *testing.T, a *attached, s string) {
	t.Helper()
	deadline := time.Now().Add(cmdTimeout)
	for index(a, s) < 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output within %v\n%s", s, cmdTimeout, a.output())
		}
		a.mu.Lock()
		changed, eof := a.changed, a.eof
		a.mu.Unlock()
		if eof && index(a, s) < 0 {
			t.Fatalf("docker run ended before printing %q\n%s", s, a.output())
		}
		select {
		case <-changed:
		case <-time.After(time.Second):
		}
	}
}

// index returns the number of the first line of a's output containing s,
// or -1.
func index(a *attached, s string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, l := range a.lines {
		if strings.Contains(l, s) {
			return i
		}
	}
	return -1
}
