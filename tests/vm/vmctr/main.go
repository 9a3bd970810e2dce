//go:build linux

// Command vmctr is a minimal container launcher for the test guest of
// tests/vm. It gives a program what Docker gives an ENTRYPOINT, so that
// initbox can be tested as a container's PID 1 before `initbox spawn`
// exists:
//
//	vmctr [-cgroup NAME] [-cgroupfs rw|ro] [-hostname NAME] -- PROGRAM [ARGS]
//
// It creates the cgroup /sys/fs/cgroup/NAME, starts itself again directly
// inside it (clone3 CLONE_INTO_CGROUP) in new PID, mount, UTS and IPC
// namespaces, and that second stage, PID 1 of the new PID namespace,
// unshares a cgroup namespace rooted at NAME, mounts a fresh /proc and a
// fresh cgroup2 at /sys/fs/cgroup (read-only with -cgroupfs ro, as Docker
// does for unprivileged containers) and execs PROGRAM, which thus becomes
// PID 1 and sees `0::/` in /proc/self/cgroup. SIGTERM, SIGINT, SIGHUP,
// SIGQUIT, SIGUSR1 and SIGUSR2 sent to vmctr are forwarded to it (as
// `docker stop` and `docker kill -s` do); vmctr exits with its status, or
// 128+N if it died from signal N, or 125 if vmctr itself failed (as
// `docker run` does).
//
// The cgroup is left in place after the program exits, so the scenario can
// inspect it (cgroup.events, leftover sub-cgroups).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	cgroupRoot = "/sys/fs/cgroup"
	stageEnv   = "VMCTR_STAGE2" // set to the cgroupfs mode for the second stage
	hostEnv    = "VMCTR_HOSTNAME"
	failed     = 125
)

// controllers are enabled in the guest's root cgroup so that the
// container's cgroup offers them, as on a systemd host where Docker runs.
// The root cgroup is exempt from the no-internal-process rule, so this works
// although the guest's own processes live there.
const controllers = "+cpu +memory +pids"

func main() {
	if mode, ok := os.LookupEnv(stageEnv); ok {
		stage2(mode, os.Getenv(hostEnv), os.Args[1:])
		return
	}
	os.Exit(stage1())
}

func die(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "vmctr: "+format+"\n", args...)
	return failed
}

func stage1() int {
	name := flag.String("cgroup", "ctr", "name of the container's cgroup under "+cgroupRoot)
	fsMode := flag.String("cgroupfs", "rw", "mount the container's cgroup2 filesystem rw or ro")
	hostname := flag.String("hostname", "ctr", "hostname inside the container")
	flag.Parse()
	argv := flag.Args()
	switch {
	case len(argv) == 0:
		return die("no program given (usage: vmctr [-cgroup NAME] [-cgroupfs rw|ro] -- PROGRAM [ARGS])")
	case *fsMode != "rw" && *fsMode != "ro":
		return die("-cgroupfs must be rw or ro, not %q", *fsMode)
	case *name == "" || strings.Contains(*name, "/") || *name == "." || *name == "..":
		return die("-cgroup must be a plain name, not %q", *name)
	}

	if err := os.WriteFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"), []byte(controllers), 0); err != nil {
		return die("enabling %s in the root cgroup: %v", controllers, err)
	}
	dir := filepath.Join(cgroupRoot, *name)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return die("%v", err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return die("open %s: %v", dir, err)
	}

	self, err := os.Executable()
	if err != nil {
		return die("%v", err)
	}
	cmd := exec.Command(self, argv...)
	cmd.Args[0] = "vmctr-init"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), stageEnv+"="+*fsMode, hostEnv+"="+*hostname)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// The cgroup namespace is not created here: clone3 builds the new
		// namespaces before it moves the child into CgroupFD, so a
		// CLONE_NEWCGROUP here would be rooted at vmctr's own cgroup.
		// Stage 2 unshares it once it is inside NAME.
		Cloneflags:  syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		UseCgroupFD: true,
		CgroupFD:    fd,
		Pdeathsig:   syscall.SIGKILL,
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	if err := cmd.Start(); err != nil {
		return die("starting the container: %v", err)
	}
	unix.Close(fd)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ok && ws.Exited():
		return ws.ExitStatus()
	case ok && ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return die("waiting for the container: %v", err)
}

// stage2 runs as PID 1 of the new PID namespace, already inside the
// container's cgroup. It never returns: it execs the program or exits 125.
func stage2(fsMode, hostname string, argv []string) {
	// Namespaces and the cgroup-namespace-relative view of a cgroup2 mount
	// belong to the calling thread: do the unshare, the mounts and the exec
	// on one locked thread, so the program inherits them.
	runtime.LockOSThread()
	fail := func(format string, args ...any) {
		os.Exit(die(format, args...))
	}
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		fail("unshare(CLONE_NEWCGROUP): %v", err)
	}
	// Keep every mount made below inside this mount namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fail("making / private: %v", err)
	}
	// A /proc of the new PID namespace, over the guest's.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fail("mounting /proc: %v", err)
	}
	// A fresh cgroup2 mount shows the cgroup namespace's root (NAME) as
	// /sys/fs/cgroup, as in a container with --cgroupns=private.
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Unmount(cgroupRoot, unix.MNT_DETACH); err != nil {
		fail("unmounting the guest's %s: %v", cgroupRoot, err)
	}
	if err := unix.Mount("cgroup2", cgroupRoot, "cgroup2", flags, ""); err != nil {
		fail("mounting cgroup2: %v", err)
	}
	if fsMode == "ro" {
		// Read-only for this mount only: a bind remount sets the mount's
		// MNT_READONLY and leaves the superblock, which the guest's own rw
		// mount shares, writable.
		if err := unix.Mount("", cgroupRoot, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|flags, ""); err != nil {
			fail("remounting cgroup2 read-only: %v", err)
		}
	}
	if err := unix.Sethostname([]byte(hostname)); err != nil {
		fail("sethostname: %v", err)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fail("%v", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, stageEnv+"=") && !strings.HasPrefix(kv, hostEnv+"=") {
			env = append(env, kv)
		}
	}
	err = syscall.Exec(path, argv, env)
	fail("exec %s: %v", path, err)
}
