//go:build linux

package realworld

// The stack in a Docker container, initbox its PID 1, as an image would
// ship it. No registry is reachable, so the image is made from scratch:
//
//  1. debootstrap --variant=minbase bookworm, from the Debian mirror the
//     host's apt sources use, packed as a tarball (about 200 MB);
//  2. that imported, the stack's packages installed in a container of it
//     (apt-get, with a policy-rc.d so that no daemon starts), and the
//     container's file system exported as a second tarball;
//  3. at each run, the second tarball imported and, on top of it, the
//     built initbox and examples/stack.
//
// Both tarballs are kept in /var/cache/initbox-tests/realworld (or
// $INITBOX_TEST_CACHE) between runs, the second one named after what went
// into it; every image and container made is removed at the end of the
// test.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/tests/internal/testenv"
)

const (
	// suite is Debian 12, whose postgresql-15 the stack's paths name.
	suite = "bookworm"
	// stackPackages are what the image needs beside initbox; procps for
	// a look inside with docker exec ps.
	stackPackages = "nginx-light postgresql-15 redis-server redis-tools procps"
	// dockerTimeout bounds each docker command but the image's making.
	dockerTimeout = 2 * time.Minute
)

// installScript runs in a container of the base image: the packages, with
// no daemon started by their postinst (policy-rc.d). What the image does
// not need is left out, since every run imports the whole file system
// (about 60 % of the time the Docker test takes): documentation, manual
// pages and translations (as Debian's slim images do), the apt lists, and
// the cluster postgresql-common makes at install (the stack makes its own
// in /var/lib/stack).
const installScript = `set -e
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
printf 'path-exclude=/usr/share/doc/*\npath-exclude=/usr/share/man/*\npath-exclude=/usr/share/locale/*\n' >/etc/dpkg/dpkg.cfg.d/excludes
rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends ` + stackPackages + `
pg_dropcluster 15 main
rm -f /usr/sbin/policy-rc.d
apt-get clean
rm -rf /var/lib/apt/lists/*
`

// stackDockerfile puts initbox and examples/stack on the imported file
// system. STACK_ETC and STACK_DATA are the config's defaults, written out
// for whoever reads the image.
const stackDockerfile = `FROM %s
COPY initbox /initbox
COPY stack/ /etc/stack/
ENV STACK_ETC=/etc/stack STACK_DATA=/var/lib/stack
RUN ["/initbox", "check", "-c", "/etc/stack/stack.toml"]
EXPOSE 8080
ENTRYPOINT ["/initbox", "run", "-c", "/etc/stack/stack.toml"]
`

// cacheDir is where the root file system tarballs are kept between runs.
func cacheDir() string {
	if d := os.Getenv("INITBOX_TEST_CACHE"); d != "" {
		return filepath.Join(d, "realworld")
	}
	return "/var/cache/initbox-tests/realworld"
}

// docker: see testenv.Docker.
var docker = testenv.Docker

// dockerDo runs a docker command that must succeed within d and returns
// its stdout.
func dockerDo(d time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out, stderr, rc, err := docker(ctx, args...)
	if err == nil && rc != 0 {
		err = fmt.Errorf("docker %s: exit %d: %s", strings.Join(args, " "), rc, strings.TrimSpace(stderr))
	}
	return out, err
}

// dockerOK is dockerDo for a test.
func dockerOK(t *testing.T, args ...string) string {
	t.Helper()
	out, err := dockerDo(dockerTimeout, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// requireDocker skips (or fails under CI) without an engine or debootstrap.
func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		skipOrFail(t, "no docker CLI: %v", err)
	}
	if out, err := dockerDo(30*time.Second, "version", "--format", "{{.Server.Version}}"); err != nil || strings.TrimSpace(out) == "" {
		skipOrFail(t, "no Docker engine answers: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cacheDir(), baseName)); err != nil {
		if _, err := exec.LookPath("debootstrap"); err != nil {
			skipOrFail(t, "no debootstrap to make the image's root file system (apt-get install debootstrap): %v", err)
		}
	}
}

func randomSuffix() string {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// baseName is the debootstrap tarball in cacheDir.
const baseName = "debian-" + suite + "-minbase.tar"

// debianMirror is the Debian archive the host's apt sources name (not the
// security archive), or $INITBOX_DEBIAN_MIRROR.
func debianMirror() (string, error) {
	if m := os.Getenv("INITBOX_DEBIAN_MIRROR"); m != "" {
		return m, nil
	}
	// deb822 stanzas: "Types: deb" with "URIs:", signed by Debian's key.
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, stanza := range strings.Split(string(b), "\n\n") {
			var types, uri, signed string
			for _, l := range strings.Split(stanza, "\n") {
				k, v, ok := strings.Cut(l, ":")
				if !ok || strings.HasPrefix(strings.TrimSpace(l), "#") {
					continue
				}
				switch strings.TrimSpace(k) {
				case "Types":
					types = v
				case "URIs":
					if f := strings.Fields(v); len(f) > 0 {
						uri = f[0]
					}
				case "Signed-By":
					signed = v
				}
			}
			if strings.Contains(" "+types+" ", " deb ") && uri != "" && strings.Contains(signed, "debian-archive-keyring") && !strings.Contains(uri, "security") {
				return uri, nil
			}
		}
	}
	// One-line entries: deb [options] URI SUITE COMPONENTS.
	lists, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	for _, f := range append([]string{"/etc/apt/sources.list"}, lists...) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			fs := strings.Fields(l)
			if len(fs) < 3 || fs[0] != "deb" {
				continue
			}
			i := 1
			if strings.HasPrefix(fs[1], "[") {
				for i < len(fs) && !strings.HasSuffix(fs[i], "]") {
					i++
				}
				i++
			}
			if i+1 < len(fs) && strings.HasPrefix(fs[i+1], suite) && !strings.Contains(fs[i], "security") {
				return fs[i], nil
			}
		}
	}
	return "", errors.New("no Debian archive in the apt sources; set INITBOX_DEBIAN_MIRROR")
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// removeTree removes a debootstrap target, but only once nothing is
// mounted in it: debootstrap mounts /proc and /sys there (and may bind
// /dev), and removing through a bind mount would remove the host's files.
func removeTree(dir string) error {
	for range 3 {
		ms := mountsUnder(dir)
		if len(ms) == 0 {
			return os.RemoveAll(dir)
		}
		for i := len(ms) - 1; i >= 0; i-- {
			_ = exec.Command("umount", "-l", ms[i]).Run()
		}
	}
	return fmt.Errorf("%s still has mounts (%v): left in place", dir, mountsUnder(dir))
}

// baseTarball makes (once) the debootstrap root file system as a tarball
// in the cache, and returns its path.
func baseTarball(t *testing.T) string {
	t.Helper()
	dir := cacheDir()
	path := filepath.Join(dir, baseName)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mirror, err := debianMirror()
	if err != nil {
		t.Fatal(err)
	}
	target, err := os.MkdirTemp(dir, "rootfs-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := removeTree(target); err != nil {
			t.Error(err)
		}
	}()
	at := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", suite, target, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debootstrap --variant=minbase %s %s %s: %v\n%s", suite, target, mirror, err, tail(out, 30))
	}
	tmp := path + ".part-" + randomSuffix()
	tarCmd := exec.CommandContext(ctx, "tar", "-C", target, "--numeric-owner", "-cf", tmp, ".")
	if out, err := tarCmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		t.Fatalf("tar: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	figure(t, "debootstrap --variant=minbase %s from %s and tar: %v, %d MB", suite, mirror, time.Since(at).Round(time.Second), fileSize(path)>>20)
	return path
}

// stackTarball makes (once for each base and package list) the base with
// the stack's packages installed, as a tarball in the cache.
func stackTarball(t *testing.T) string {
	t.Helper()
	base := baseTarball(t)
	fi, err := os.Stat(base)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s %d %d\n%s", base, fi.Size(), fi.ModTime().UnixNano(), installScript)))
	path := filepath.Join(cacheDir(), "stack-"+hex.EncodeToString(h[:6])+".tar")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	at := time.Now()
	suffix := randomSuffix()
	baseImage := "initbox-realworld-base-" + suffix
	if _, err := dockerDo(5*time.Minute, "import", base, baseImage); err != nil {
		t.Fatal(err)
	}
	defer removeImage(t, baseImage)
	box := "initbox-realworld-install-" + suffix
	defer removeContainer(t, box)
	// The host's network: the default bridge may have no way out where
	// the host has one.
	if out, err := dockerDo(15*time.Minute, "run", "--name", box, "--network", "host", baseImage, "sh", "-c", installScript); err != nil {
		t.Fatalf("installing %s in %s: %v\n%s", stackPackages, baseImage, err, out)
	}
	tmp := path + ".part-" + suffix
	if _, err := dockerDo(5*time.Minute, "export", "-o", tmp, box); err != nil {
		os.Remove(tmp)
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	// Older tarballs of the stack (another package list) are of no use.
	old, _ := filepath.Glob(filepath.Join(cacheDir(), "stack-*.tar"))
	for _, o := range old {
		if o != path {
			os.Remove(o)
		}
	}
	figure(t, "the stack's packages installed and exported: %v, %d MB", time.Since(at).Round(time.Second), fileSize(path)>>20)
	return path
}

// stackImage builds the image of the stack: the cached root file system,
// initbox, examples/stack. It is removed when the test ends.
func stackImage(t *testing.T) string {
	t.Helper()
	rootfs := stackTarball(t)
	at := time.Now()
	suffix := randomSuffix()
	rootImage := "initbox-realworld-rootfs-" + suffix
	if _, err := dockerDo(5*time.Minute, "import", rootfs, rootImage); err != nil {
		t.Fatal(err)
	}
	image := "initbox-realworld-stack-" + suffix
	// Cleanups run last first: the stack's image, then the one it is
	// built on.
	t.Cleanup(func() { removeImage(t, rootImage) })
	t.Cleanup(func() { removeImage(t, image) })
	ctxDir, err := os.MkdirTemp("", "initbox-realworld-image-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(ctxDir)
	// COPY keeps the modes of the context: copyStack's.
	copyStack(t, filepath.Join(ctxDir, "stack"))
	bin, err := os.ReadFile(initBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "initbox"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(fmt.Sprintf(stackDockerfile, rootImage)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := dockerDo(5*time.Minute, "build", "-q", "-t", image, ctxDir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	figure(t, "image from the cached root file system (import and build): %v", time.Since(at).Round(time.Millisecond))
	return image
}

func removeImage(t *testing.T, image string) {
	if _, err := dockerDo(dockerTimeout, "rmi", "-f", image); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

func removeContainer(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	_, stderr, rc, err := docker(ctx, "rm", "-f", name)
	if err != nil || (rc != 0 && !strings.Contains(stderr, "No such container")) {
		t.Errorf("cleanup: docker rm -f %s: exit %d %v %s", name, rc, err, stderr)
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// tail is the last n lines of out.
func tail(out []byte, n int) string {
	ls := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// TestStackDocker: the stack in a container, initbox its PID 1: nginx
// answers through a published port, the worker writes rows, and docker
// stop ends it cleanly (PostgreSQL's fast shutdown complete, exit status
// 0) well inside docker's 10 s.
func TestStackDocker(t *testing.T) {
	requireRoot(t)
	requireDocker(t)
	image := stackImage(t)
	name := "initbox-realworld-" + randomSuffix()
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("REALWORLD_LOG") != "" {
			if out, err := dockerDo(dockerTimeout, "logs", name); err == nil {
				t.Logf("docker logs:\n%s", out)
			}
		}
		removeContainer(t, name)
	})
	at := time.Now()
	// The port published on the loopback address, at a port the engine
	// picks, so that nothing on the host can be in the way.
	dockerOK(t, "run", "-d", "--name", name, "-p", "127.0.0.1::8080", image)
	hostPort := strings.TrimSpace(dockerOK(t, "port", name, "8080/tcp"))
	if i := strings.LastIndexByte(hostPort, '\n'); i >= 0 {
		hostPort = hostPort[:i]
	}
	_, port, ok := strings.Cut(hostPort, "127.0.0.1:")
	if !ok {
		t.Fatalf("docker port %s 8080/tcp: %q", name, hostPort)
	}
	url := "http://127.0.0.1:" + strings.TrimSpace(port)
	body := waitHTTP(t, url+"/", startTimeout, func() string {
		out, err := dockerDo(dockerTimeout, "inspect", "-f", "{{.State.Running}}", name)
		if err == nil && strings.TrimSpace(out) == "false" {
			logs, _ := dockerDo(dockerTimeout, "logs", name)
			return "the container exited:\n" + logs
		}
		return ""
	})
	figure(t, "docker run to nginx answering through the published port (initdb included): %v", time.Since(at).Round(time.Millisecond))
	if !strings.Contains(body, "initbox stack") {
		t.Errorf("GET /: not the stack's page: %q", body)
	}

	// PID 1 is initbox, and the control socket is where ctl looks first.
	if comm := strings.TrimSpace(dockerOK(t, "exec", name, "cat", "/proc/1/comm")); comm != "initbox" {
		t.Errorf("PID 1 of the container is %q", comm)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := dockerDo(dockerTimeout, "exec", name, pgBin+"/psql", "-X", "-At", "-h", "/var/lib/stack/run", "-U", "postgres", "-c", "SELECT count(*) FROM jobs")
		if c, _ := strconv.Atoi(strings.TrimSpace(n)); err == nil && c >= 3 {
			break
		}
		if time.Now().After(deadline) {
			st, _ := dockerDo(dockerTimeout, "exec", name, "/initbox", "ctl", "status")
			t.Fatalf("the worker wrote no 3 rows within a minute (%q, %v)\n%s", n, err, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	st := dockerOK(t, "exec", name, "/initbox", "ctl", "status")
	for _, svc := range []string{"postgres", "redis", "worker", "nginx"} {
		if !hasStatusLine(st, svc, "running") {
			t.Errorf("%s is not running:\n%s", svc, st)
		}
	}
	t.Logf("initbox ctl status:\n%s", st)
	if pid, err := dockerDo(dockerTimeout, "inspect", "-f", "{{.State.Pid}}", name); err == nil {
		if n, _ := strconv.Atoi(strings.TrimSpace(pid)); n > 0 {
			figure(t, "initbox RSS in the container: %.1f MiB", float64(rssKiB(n))/1024)
		}
	}

	at = time.Now()
	dockerOK(t, "stop", name)
	took := time.Since(at)
	figure(t, "docker stop: %v", took.Round(time.Millisecond))
	code := strings.TrimSpace(dockerOK(t, "inspect", "-f", "{{.State.ExitCode}}", name))
	if code != "0" {
		t.Errorf("the container's exit status is %s, want 0", code)
	}
	// docker stop sends SIGKILL after 10 s: the stop must end long before.
	if took >= stopBudget {
		t.Errorf("docker stop took %v, the whole of shutdown_timeout", took)
	}
	logs, err := dockerLogs(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"stopping on signal", "database system is shut down", "supervisor done"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %q in the container's output", want)
		}
	}
	if strings.Contains(logs, "SIGKILL") || strings.Contains(logs, "killing") {
		t.Errorf("something had to be killed in the stop")
	}
}

// dockerLogs is the container's stdout and stderr together.
func dockerLogs(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "logs", name)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hasStatusLine reports whether `initbox ctl status` shows svc in state.
func hasStatusLine(status, svc, state string) bool {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 1 && f[0] == svc && f[1] == state {
			return true
		}
	}
	return false
}
