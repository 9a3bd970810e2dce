//go:build linux

package docker

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const bb = "/bin/busybox"

// TestShippedImage checks the image built from the root Dockerfile's final
// stage: ENTRYPOINT ["/initbox", "--"], no CMD, and one file, /initbox,
// byte for byte the binary under test.
func TestShippedImage(t *testing.T) {
	needDocker(t)
	var cfg []struct {
		Config struct {
			Entrypoint []string
			Cmd        []string
		}
	}
	out := dockerOK(t, "image", "inspect", shipImage)
	if err := json.Unmarshal([]byte(out), &cfg); err != nil || len(cfg) != 1 {
		t.Fatalf("docker image inspect: %v\n%s", err, out)
	}
	if ep := cfg[0].Config.Entrypoint; strings.Join(ep, "\x00") != "/initbox\x00--" {
		t.Errorf("Entrypoint = %q, want [/initbox --]", ep)
	}
	if cmd := cfg[0].Config.Cmd; len(cmd) != 0 {
		t.Errorf("Cmd = %q, want none", cmd)
	}

	archive := filepath.Join(t.TempDir(), "image.tar")
	dockerOK(t, "save", "-o", archive, shipImage)
	files := imageFiles(t, archive)
	want, err := os.ReadFile(initBin)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files["initbox"] == nil {
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		t.Fatalf("image files = %q, want only initbox", names)
	}
	if got := files["initbox"]; !bytes.Equal(got.data, want) || got.mode&0o111 != 0o111 {
		t.Errorf("/initbox in the image: %d bytes sha256 %x mode %o; binary under test: %d bytes sha256 %x",
			len(got.data), sha256.Sum256(got.data), got.mode, len(want), sha256.Sum256(want))
	}
}

type imageFile struct {
	mode int64
	data []byte
}

// imageFiles reads the regular files and links of every layer of a
// `docker save` archive (directories are not counted).
func imageFiles(t *testing.T, archive string) map[string]*imageFile {
	t.Helper()
	blobs := map[string][]byte{}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if blobs[h.Name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(blobs["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("docker save: manifest.json: %v", err)
	}
	files := map[string]*imageFile{}
	for _, l := range manifest[0].Layers {
		lr := tar.NewReader(bytes.NewReader(blobs[l]))
		for {
			h, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l, err)
			}
			if h.Typeflag == tar.TypeDir {
				continue
			}
			data, err := io.ReadAll(lr)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(h.Name, "./")] = &imageFile{mode: h.Mode, data: data}
		}
	}
	return files
}

// TestExitStatus: the program's exit code is the container's, 128+N when
// it dies from signal N, 127 when it does not exist.
func TestExitStatus(t *testing.T) {
	needDocker(t)
	for _, c := range []struct {
		name string
		argv []string
		want int
	}{
		{"exit-0", []string{bb, "sh", "-c", "exit 0"}, 0},
		{"exit-3", []string{bb, "sh", "-c", "exit 3"}, 3},
		{"exit-255", []string{bb, "sh", "-c", "exit 255"}, 255},
		{"SIGTERM-143", []string{bb, "sh", "-c", "kill -TERM $$; " + bb + " sleep 30"}, 143},
		{"SIGKILL-137", []string{bb, "sh", "-c", "kill -KILL $$; " + bb + " sleep 30"}, 137},
		{"not-found-127", []string{"/no/such/program"}, 127},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := containerName(t)
			dockerRun(t, append([]string{"run", "--name", name, testImage}, c.argv...)...)
			// The container's status as the engine recorded it, not the
			// CLI's (which has 125-127 of its own).
			got := strings.TrimSpace(dockerOK(t, "inspect", "-f", "{{.State.ExitCode}}", name))
			if got != strconv.Itoa(c.want) {
				t.Errorf("container exit code = %s, want %d", got, c.want)
			}
		})
	}
}

// TestStopReachesProgram: `docker stop` sends SIGTERM to PID 1, initbox
// forwards it, the program's trap runs and the container is gone long
// before docker's 10 s SIGKILL.
func TestStopReachesProgram(t *testing.T) {
	needDocker(t)
	name := containerName(t)
	a := runAttached(t, name, testImage, bb, "sh", "-c",
		`trap 'echo got-TERM; exit 0' TERM; echo ready; while :; do `+bb+` sleep 0.1; done`)
	a.waitLine(t, "ready", cmdTimeout)
	start := time.Now()
	dockerOK(t, "stop", name) // default timeout: 10 s
	took := time.Since(start)
	rc := a.wait(t, cmdTimeout)
	if !a.has("got-TERM") {
		t.Errorf("the program's TERM trap did not run\n%s", a.output())
	}
	if rc != 0 {
		t.Errorf("docker run exit status = %d, want 0 (the trap's exit 0)", rc)
	}
	if took >= 3*time.Second {
		t.Errorf("docker stop took %v, want < 3s (its timeout is 10s)", took)
	}
	t.Logf("docker stop took %v", took)
}

// TestStopGrace: on `docker stop` the program exits at once and leaves a
// child behind that needs SIGTERM to clean up. With INITBOX_GRACE (as
// --grace) initbox sends it SIGTERM and waits for it, and the container
// still stops well inside docker's 10 s; without, as with tini, the kernel
// SIGKILLs it when initbox exits and its cleanup never runs.
func TestStopGrace(t *testing.T) {
	needDocker(t)
	child := bb + ` sh -c "trap 'echo child-cleanup; exit 0' TERM; echo child-ready; while :; do ` + bb + ` sleep 0.1; done" & `
	program := child + `trap 'exit 0' TERM; echo ready; while :; do ` + bb + ` sleep 0.1; done`
	for _, c := range []struct {
		name    string
		env     []string
		cleanup bool
	}{
		{"INITBOX_GRACE=5s", []string{"-e", "INITBOX_GRACE=5s"}, true},
		{"no-grace", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := containerName(t)
			args := append(append([]string{}, c.env...), testImage, bb, "sh", "-c", program)
			a := runAttached(t, name, args...)
			a.waitLine(t, "ready", cmdTimeout)
			a.waitLine(t, "child-ready", cmdTimeout)
			start := time.Now()
			dockerOK(t, "stop", name)
			took := time.Since(start)
			if rc := a.wait(t, cmdTimeout); rc != 0 {
				t.Errorf("exit status = %d, want 0 (the program's)\n%s", rc, a.output())
			}
			if got := a.has("child-cleanup"); got != c.cleanup {
				t.Errorf("child's cleanup ran: %v, want %v\n%s", got, c.cleanup, a.output())
			}
			if took >= 3*time.Second {
				t.Errorf("docker stop took %v, want < 3s", took)
			}
		})
	}
}

// TestKillUSR1Forwarded: `docker kill -s USR1` reaches the program.
func TestKillUSR1Forwarded(t *testing.T) {
	needDocker(t)
	name := containerName(t)
	a := runAttached(t, name, testImage, bb, "sh", "-c",
		`trap 'echo got-USR1; exit 42' USR1; echo ready; while :; do `+bb+` sleep 0.1; done`)
	a.waitLine(t, "ready", cmdTimeout)
	dockerOK(t, "kill", "-s", "USR1", name)
	if rc := a.wait(t, cmdTimeout); rc != 42 {
		t.Errorf("exit status = %d, want 42 (from the USR1 trap)\n%s", rc, a.output())
	}
	if !a.has("got-USR1") {
		t.Errorf("the program's USR1 trap did not run\n%s", a.output())
	}
}

// TestProgramOrphansReaped: the program double-forks ten children (each
// `sh -c 'sleep 1 &'` exits at once, orphaning its sleep to PID 1); when
// they exit, initbox reaps them: none is left, no zombie anywhere.
func TestProgramOrphansReaped(t *testing.T) {
	needDocker(t)
	name := containerName(t)
	a := runAttached(t, name, testImage, bb, "sh", "-c",
		`for i in 1 2 3 4 5 6 7 8 9 10; do `+
			bb+` sh -c '`+bb+` sleep 1 </dev/null >/dev/null 2>&1 & echo orphan $!'; done; `+
			`echo ready; exec `+bb+` sleep 300`)
	a.waitLine(t, "ready", cmdTimeout)
	pids := orphanPids(t, a)
	if len(pids) != 10 {
		t.Fatalf("%d orphans reported, want 10\n%s", len(pids), a.output())
	}
	waitReaped(t, name, pids, 20*time.Second)
}

// orphanPids returns the pids of the "orphan N" lines.
func orphanPids(t *testing.T, a *attached) []int {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	var pids []int
	for _, l := range a.lines {
		if s, ok := strings.CutPrefix(l, "orphan "); ok {
			pid, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("bad line %q", l)
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestExecOrphansReaped: a process started by `docker exec` whose parent
// exits is orphaned to the container's PID 1, initbox, which reaps it.
func TestExecOrphansReaped(t *testing.T) {
	needDocker(t)
	name := containerName(t)
	a := runAttached(t, name, testImage, bb, "sh", "-c", "echo ready; exec "+bb+" sleep 300")
	a.waitLine(t, "ready", cmdTimeout)
	var pids []int
	for i := 0; i < 3; i++ {
		out := dockerOK(t, "exec", name, bb, "sh", "-c", bb+" sleep 0.2 </dev/null >/dev/null 2>&1 & echo $!; exit")
		pid, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("docker exec printed %q", out)
		}
		pids = append(pids, pid)
	}
	waitReaped(t, name, pids, 20*time.Second)
}

// TestControlZombiesWithoutInit checks the check the reaping tests rely on:
// with busybox sleep as PID 1 (no init) the same exec'ed orphan stays a
// zombie, and procs sees it as one.
func TestControlZombiesWithoutInit(t *testing.T) {
	needDocker(t)
	name := containerName(t)
	dockerOK(t, "run", "-d", "--name", name, "--entrypoint", bb, testImage, "sleep", "300")
	out := dockerOK(t, "exec", name, bb, "sh", "-c", bb+" sleep 0.2 </dev/null >/dev/null 2>&1 & echo $!; exit")
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("docker exec printed %q", out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ps := procs(t, name)
		for _, p := range ps {
			if p.pid == pid && p.state == "Z" && p.ppid == 1 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never showed as a zombie of PID 1: %v", pid, ps)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTTYForeground: with `docker run -t`, the program initbox starts is
// in its own process group and that group is the terminal's foreground
// group, so ^C and job control reach it. cat reads its own stat: field 5
// is its process group, 7 its terminal, 8 the terminal's foreground group.
func TestTTYForeground(t *testing.T) {
	needDocker(t)
	name := containerName(t)
	out, rc := dockerRun(t, "run", "-t", "--name", name, testImage, bb, "cat", "/proc/self/stat")
	if rc != 0 {
		t.Fatalf("exit %d: %s", rc, out)
	}
	p, f, err := parseStat(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	pgrp, ttyNr, tpgid := f[2], f[4], f[5] // fields 5, 7, 8
	t.Logf("pid=%d ppid=%d pgrp=%s tty_nr=%s tpgid=%s", p.pid, p.ppid, pgrp, ttyNr, tpgid)
	if ttyNr == "0" {
		t.Fatalf("the program has no controlling terminal: %s", out)
	}
	if p.ppid != 1 {
		t.Errorf("ppid = %d, want 1 (initbox)", p.ppid)
	}
	if pgrp == "1" || pgrp != strconv.Itoa(p.pid) {
		t.Errorf("pgrp = %s, want the program's own group %d", pgrp, p.pid)
	}
	if tpgid != pgrp {
		t.Errorf("terminal foreground group = %s, want the program's group %s", tpgid, pgrp)
	}
}

// initScript runs in a plain busybox image under Docker's --init: it
// prints PID 1's argv and --version line, then checks that, called
// docker-init, the binary is tini mode only (a subcommand name is a
// program name: "version" is not found, 127).
const initScript = bb + ` tr '\0' ' ' </proc/1/cmdline; echo; ` +
	`/sbin/docker-init --version; ` +
	`/sbin/docker-init version >/dev/null 2>&1; echo "version-subcommand $?"; exit 7`

// checkInitOutput checks what initScript printed.
func checkInitOutput(t *testing.T, out string, rc int) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if rc != 7 {
		t.Errorf("exit status = %d, want 7 (the program's)", rc)
	}
	if len(lines) != 3 {
		t.Fatalf("output:\n%s", out)
	}
	if !strings.HasPrefix(lines[0], "/sbin/docker-init -- "+bb+" sh -c ") {
		t.Errorf("PID 1 argv = %q, want /sbin/docker-init -- %s sh -c ...", lines[0], bb)
	}
	if want := initboxVersion(t); lines[1] != want {
		t.Errorf("/sbin/docker-init --version = %q, want initbox's %q", lines[1], want)
	}
	if lines[2] != "version-subcommand 127" {
		t.Errorf("%q: as docker-init, `version` should be run as a program (not found: 127)", lines[2])
	}
}

// initboxVersion is the --version line of the binary under test.
func initboxVersion(t *testing.T) string {
	t.Helper()
	out, err := execOutput(initBin, "--version")
	if err != nil {
		t.Fatalf("%s --version: %v", initBin, err)
	}
	return strings.TrimSpace(out)
}

// TestDockerInitMount runs initbox the way dockerd runs its init for
// `docker run --init`: bind-mounted read-only at /sbin/docker-init in an
// image without an init, argv `/sbin/docker-init -- PROGRAM ARGS`. The
// shared engine's own init cannot be swapped per container (`--init-path`
// is a dockerd option, not a `docker run` one); TestDaemonInitPath does
// that with a private daemon.
func TestDockerInitMount(t *testing.T) {
	needDocker(t)
	name := containerName(t)
	out, rc := dockerRun(t, "run", "--name", name,
		"-v", initBin+":/sbin/docker-init:ro", "--entrypoint", "/sbin/docker-init",
		plainImage, "--", bb, "sh", "-c", initScript)
	checkInitOutput(t, out, rc)
}

// execOutput runs a local program and returns its stdout.
func execOutput(name string, args ...string) (string, error) {
	var o bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout = &o
	err := cmd.Run()
	if err != nil {
		return o.String(), fmt.Errorf("%v (stdout %q)", err, o.String())
	}
	return o.String(), nil
}
