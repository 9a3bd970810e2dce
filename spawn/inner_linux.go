//go:build linux

package spawn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/launch"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/pid1"
	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
)

// handshakeFD is the read end of the pipe from Run, in the inner process.
const handshakeFD = 3

// Supervise runs the supervisor with the configuration file config and,
// if argv is not empty, argv as the main service; the process environment
// is already the program's. It returns the exit status. Package spawn
// knows nothing of services (DESIGN), so the command passes it in.
type Supervise func(config string, argv []string) int

// Inner is the inner process of `initbox spawn`, argv `initbox
// __spawn-inner [flags] -- PROGRAM ARGS`: PID 1 of the new namespaces. It
// ties its life to the outer process, sets up the mounts, the hostname and
// the loopback, and runs the program in tini mode. in and r are the
// process's own intake and reaper, created first thing in main (the inner
// process is a fresh exec of initbox).
func Inner(args []string, in *signals.Intake, r *reaper.Reaper, supervise Supervise) int {
	o, err := ParseArgs(args)
	if err == nil {
		err = o.Validate()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "initbox %s: %v\n", InnerMarker, err)
		return 2
	}
	log := logging.Stderr(logFormat(), logging.VerbosityLevel(o.Verbosity))
	if err := handshake(); err != nil {
		fmt.Fprintf(os.Stderr, "initbox spawn: %v\n", err)
		return pid1.ExitFailure
	}
	if err := setup(o, log); err != nil {
		fmt.Fprintf(os.Stderr, "initbox spawn: %v\n", err)
		return pid1.ExitFailure
	}
	// Re-executed through /proc/self/exe, the init would be called "exe"
	// in ps and /proc/1/comm. (PR_SET_NAME would rename this thread only.)
	_ = os.WriteFile("/proc/self/comm", []byte("initbox"), 0)
	env := o.Environ(os.Environ())
	if o.Config != "" {
		// The supervisor gives its services the process environment.
		os.Clearenv()
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, v)
		}
		return supervise(o.Config, o.Argv)
	}
	if o.Rootfs != "" {
		if code, err := findProgram(o.Argv[0], env); err != nil {
			fmt.Fprintf(os.Stderr, "initbox spawn: %v in the root file system %s: put it there (or --bind it in), or give its path inside the rootfs\n", err, o.Rootfs)
			return code
		}
	}
	return pid1.Run(pid1.Config{Argv: o.Argv, Env: env, Grace: o.Grace, Log: log}, in, r)
}

// logFormat is $INITBOX_LOG_FORMAT, console when unset or invalid (the
// outer process reports an invalid one).
func logFormat() logging.Format {
	f, err := logging.ParseFormat(os.Getenv("INITBOX_LOG_FORMAT"))
	if err != nil {
		return logging.Console
	}
	return f
}

// handshake checks that this process really is the inner init started by
// Run, and makes sure it dies with the outer process.
func handshake() error {
	var st unix.Stat_t
	if os.Getpid() != 1 || unix.Fstat(handshakeFD, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return fmt.Errorf("%s is internal to `initbox spawn` and cannot be run by hand", InnerMarker)
	}
	// PR_SET_PDEATHSIG is per thread here too: it is checked on each thread
	// of the child when the parent thread dies, and set only on the calling
	// one. This goroutine stays on its thread for good, so that thread,
	// which carries the setting, lives as long as the process.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("cannot set the parent-death signal: %w", os.NewSyscallError("prctl(PR_SET_PDEATHSIG)", err))
	}
	// If the outer process died before the prctl, no signal will come: its
	// end of the pipe is closed then, and poll reports a hang-up.
	fds := []unix.PollFd{{Fd: handshakeFD, Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		if err == nil && n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLIN) != 0 {
			return errors.New("the outer initbox died while the inner one started")
		}
		break
	}
	unix.Close(handshakeFD)
	return nil
}

// setup makes the namespace's mounts, hostname and loopback, and pivots into
// the root file system if one was given.
func setup(o Options, log *logging.Logger) error {
	// Nothing mounted here may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("cannot make / private in the new mount namespace: %w", os.NewSyscallError("mount", err))
	}
	if o.Hostname != "" {
		if err := unix.Sethostname([]byte(o.Hostname)); err != nil {
			return fmt.Errorf("cannot set the hostname %q: %w", o.Hostname, os.NewSyscallError("sethostname", err))
		}
	}
	if o.Net {
		if err := loopbackUp(); err != nil {
			return fmt.Errorf("cannot bring lo up in the new network namespace: %w", err)
		}
	}
	if o.Rootfs == "" {
		if err := mountProc("/proc"); err != nil {
			return err
		}
		if o.Cgroup {
			mountCgroup("/sys/fs/cgroup", log)
		}
	} else if err := pivot(o, log); err != nil {
		return err
	}
	if o.Chdir != "" {
		if err := os.Chdir(o.Chdir); err != nil {
			return fmt.Errorf("--chdir: %w", err)
		}
	}
	return nil
}

// loopbackUp sets IFF_UP on lo with SIOCSIFFLAGS on a datagram socket:
// package net would cost the binary far more than this.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("ioctl(SIOCGIFFLAGS)", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("ioctl(SIOCSIFFLAGS)", err)
	}
	return nil
}

func mountProc(path string) error {
	if err := os.MkdirAll(path, 0o555); err != nil {
		return fmt.Errorf("cannot make the /proc mount point: %w", err)
	}
	if err := unix.Mount("proc", path, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		err = os.NewSyscallError("mount", err)
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("cannot mount a fresh /proc on %s: %w; the kernel refuses it when parts of the host's /proc are hidden by other mounts and initbox is not root there (inside a container?): run as root, or in a container with an unmasked /proc", path, err)
		}
		return fmt.Errorf("cannot mount a fresh /proc on %s: %w", path, err)
	}
	return nil
}

// mountCgroup mounts a cgroup2 file system, rooted at the new cgroup
// namespace, where the tree expects it: on path (a unified host, or a
// fresh /sys in a new root), or on path/unified on a hybrid host (path a
// tmpfs of v1 controllers). The host's mount would show the host's tree,
// in which the namespace's own cgroup cannot be found. Where there is no
// cgroup2 it leaves path alone and says so.
func mountCgroup(path string, log *logging.Logger) {
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err == nil && fs.Type == unix.TMPFS_MAGIC {
		unified := filepath.Join(path, "unified")
		if unix.Statfs(unified, &fs) != nil || fs.Type != unix.CGROUP2_SUPER_MAGIC {
			log.Warn("no cgroup2 hierarchy at " + path + " (cgroup v1 host): left as it is")
			return
		}
		path = unified
	}
	if err := unix.Statfs(path, &fs); err == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC {
		// The kernel refuses (EBUSY) to mount a superblock on a mountpoint
		// where it is mounted already: the host's mount goes first, from
		// this private mount namespace only.
		_ = unix.Unmount(path, unix.MNT_DETACH)
	}
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	err := unix.Mount("cgroup2", path, "cgroup2", flags, "")
	if errors.Is(err, unix.EBUSY) {
		// In a user namespace the host's mount is locked and cannot be
		// detached; a tmpfs over it gives the new mount a mountpoint of
		// its own.
		if err = unix.Mount("tmpfs", path, "tmpfs", flags, "size=4k,mode=755"); err == nil {
			err = unix.Mount("cgroup2", path, "cgroup2", flags, "")
		}
	}
	if err != nil {
		log.Warn("cannot mount a private cgroup2 on "+path+": left as it is", logging.Err(os.NewSyscallError("mount", err)))
	}
}

// devices are bind-mounted from the host into the new /dev: mknod is not
// allowed in a user namespace, and binding works with or without one.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// pivot builds the new root in o.Rootfs and pivots into it.
func pivot(o Options, log *logging.Logger) error {
	root, err := filepath.Abs(o.Rootfs)
	if err != nil {
		return fmt.Errorf("--rootfs %s: %w", o.Rootfs, err)
	}
	if fi, err := os.Stat(root); err != nil {
		return fmt.Errorf("--rootfs: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("--rootfs %s: not a directory", root)
	}
	// pivot_root needs the new root to be a mount point.
	if err := bind(root, root); err != nil {
		return fmt.Errorf("--rootfs %s: %w", root, err)
	}
	if err := mountProc(filepath.Join(root, "proc")); err != nil {
		return err
	}
	if err := makeDev(filepath.Join(root, "dev")); err != nil {
		return err
	}
	if err := makeSys(filepath.Join(root, "sys"), o.Net); err != nil {
		return err
	}
	if o.Cgroup {
		mountCgroup(filepath.Join(root, "sys/fs/cgroup"), log)
	}
	tmp := filepath.Join(root, "tmp")
	if err := os.MkdirAll(tmp, 0o1777); err != nil {
		return fmt.Errorf("cannot make /tmp in the rootfs: %w", err)
	}
	if err := unix.Mount("tmpfs", tmp, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("cannot mount a tmpfs on /tmp: %w", os.NewSyscallError("mount", err))
	}
	for _, b := range o.Binds {
		if err := bindInto(root, b); err != nil {
			return fmt.Errorf("--bind %s: %w", b, err)
		}
	}
	// pivot_root(".", ".") stacks the old root on top of the new one at
	// "/", so no put_old directory is needed; unmounting "." then drops the
	// old root (as runc does).
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("--rootfs %s: %w", root, os.NewSyscallError("chdir", err))
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("--rootfs %s: %w", root, os.NewSyscallError("pivot_root", err))
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("cannot unmount the old root: %w", os.NewSyscallError("umount2", err))
	}
	if err := unix.Chdir("/"); err != nil {
		return os.NewSyscallError("chdir", err)
	}
	return nil
}

func bind(src, dst string) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting %s on %s: %w", src, dst, os.NewSyscallError("mount", err))
	}
	return nil
}

// readOnly makes the mount at path and those below it read-only.
func readOnly(path string) error {
	err := unix.MountSetattr(-1, path, unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
	if err != unix.ENOSYS {
		if err != nil {
			return fmt.Errorf("making %s read-only: %w", path, os.NewSyscallError("mount_setattr", err))
		}
		return nil
	}
	// Before Linux 5.12: remount the top mount only, keeping the flags a
	// user namespace may not clear (nosuid, nodev, noexec).
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return os.NewSyscallError("statfs", err)
	}
	keep := uintptr(fs.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_NODIRATIME)
	if err := unix.Mount("", path, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|keep, ""); err != nil {
		return fmt.Errorf("making %s read-only: %w", path, os.NewSyscallError("mount", err))
	}
	return nil
}

func makeDev(dev string) error {
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return fmt.Errorf("cannot make /dev in the rootfs: %w", err)
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755,size=64k"); err != nil {
		return fmt.Errorf("cannot mount a tmpfs on /dev: %w", os.NewSyscallError("mount", err))
	}
	for _, d := range devices {
		p := filepath.Join(dev, d)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o666)
		if err != nil {
			return fmt.Errorf("cannot make /dev/%s: %w", d, err)
		}
		f.Close()
		if err := unix.Mount("/dev/"+d, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("cannot bind the host's /dev/%s: %w", d, os.NewSyscallError("mount", err))
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return fmt.Errorf("cannot make /dev/%s: %w", name, err)
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return fmt.Errorf("cannot make /dev/%s: %w", d, err)
		}
	}
	if err := unix.Mount("tmpfs", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("cannot mount a tmpfs on /dev/shm: %w", os.NewSyscallError("mount", err))
	}
	return nil
}

// makeSys mounts /sys read-only: a fresh sysfs when the network namespace
// is new (it shows that namespace's interfaces), else the host's, bound.
func makeSys(sys string, newNet bool) error {
	if err := os.MkdirAll(sys, 0o555); err != nil {
		return fmt.Errorf("cannot make /sys in the rootfs: %w", err)
	}
	if newNet {
		err := unix.Mount("sysfs", sys, "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		if err == nil {
			return nil
		}
	}
	if err := bind("/sys", sys); err != nil {
		return err
	}
	return readOnly(sys)
}

// bindInto mounts the host's b.Src at b.Dst inside root, making the mount
// point (a directory, or an empty file for a file) if needed.
func bindInto(root string, b Bind) error {
	fi, err := os.Stat(b.Src)
	if err != nil {
		return err
	}
	dst := filepath.Join(root, b.Dst)
	if fi.IsDir() {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
	} else if _, err := os.Stat(dst); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		f.Close()
	}
	if err := bind(b.Src, dst); err != nil {
		return err
	}
	if b.ReadOnly {
		return readOnly(dst)
	}
	return nil
}

// findProgram looks argv0 up as pid1.Run will, and returns the exit status
// for a failure: 127 not found, 126 cannot execute.
func findProgram(argv0 string, env []string) (int, error) {
	path, err := launch.LookPath(argv0, env)
	if err == nil {
		_, err = os.Stat(path)
		if err != nil {
			err = launch.ExecError(err)
		}
	}
	switch {
	case err == nil:
		return 0, nil
	case errors.Is(err, launch.ErrNotFound):
		return pid1.ExitNotFound, fmt.Errorf("program %s not found (%v)", argv0, err)
	case errors.Is(err, launch.ErrCannotExec):
		return pid1.ExitCannotExec, fmt.Errorf("program %s cannot be executed (%v)", argv0, err)
	}
	return pid1.ExitFailure, fmt.Errorf("program %s: %v", argv0, err)
}
