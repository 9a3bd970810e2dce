//go:build linux

package vm

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/initbox/initbox/signals"
)

// Environment variables (see docs/vm.md):
//
//	CI                  an unmet prerequisite (no qemu, no kernel) fails the tests instead of skipping them
//	INITBOX_VM_KVM=1    boot with -accel kvm -cpu host instead of TCG (real VT-x/AMD-V only)
//	INITBOX_VM_CACHE    where downloaded kernels are kept
//	INITBOX_VM_KERNEL   boot this vmlinux or bzImage instead of Debian's current kernel
//	INITBOX_BIN         test this static initbox instead of building ./cmd/initbox
const (
	// bootTimeout bounds one boot, from qemu's start to its exit. A boot
	// takes ~3 s under TCG here; the budget is 60 s.
	bootTimeout = 60 * time.Second
	// guestTimeout is the guest's own limit for a scenario (seconds), shorter
	// than bootTimeout so that a hung scenario still reports what it saw.
	guestTimeout = 45
	// guestMemory is the VM's RAM; the scenarios' limits are far below it.
	guestMemory = "512"
	// busyboxPath is Debian busybox-static's binary (the busybox package's
	// is dynamic and useless in a guest without libc).
	busyboxPath = "/bin/busybox"
)

// guestFiles are the files of the guest: /init, the scenario library, the
// scenarios, their helper scripts and initbox configurations.
//
//go:embed guest
var guestFiles embed.FS

// testbed is what every boot needs; prepared once per test binary.
type testbed struct {
	qemu    string
	bios    string // qboot.rom, or "" for qemu's default SeaBIOS
	accel   []string
	kernel  kernelInfo
	initrd  string
	initbox string
}

var (
	// workDir holds the built binaries, the initramfs and extracted
	// configs; TestMain removes it.
	workDirOnce sync.Once
	workDir     string
	workDirErr  error

	bedOnce  sync.Once
	bed      *testbed
	bedSkip  string // an unmet prerequisite: skip, or fail when CI is set
	bedErr   error  // a failure of the harness or the build: always fail
	bedNotes []string

	initboxOnce sync.Once
	initboxPath string
	initboxErr  error

	bootStats struct {
		sync.Mutex
		n     int
		total time.Duration
	}
)

func TestMain(m *testing.M) {
	start := time.Now()
	code := m.Run()
	if workDir != "" {
		os.RemoveAll(workDir)
	}
	if bootStats.n > 0 {
		fmt.Printf("vm: %d boots, %v in qemu, suite wall time %v\n", bootStats.n,
			bootStats.total.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}
	os.Exit(code)
}

// unmet skips the test for a missing prerequisite, or fails it when CI is
// set: CI installs everything the suite needs, so a skip there would hide a
// broken setup.
func unmet(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this fails instead of skipping; see docs/vm.md)", reason)
	}
	t.Skip(reason)
}

func work() (string, error) {
	workDirOnce.Do(func() { workDir, workDirErr = os.MkdirTemp("", "initbox-vm-") })
	return workDir, workDirErr
}

// moduleRoot is the directory holding go.mod: tests/vm is two levels down.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root := filepath.Dir(filepath.Dir(wd))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("no go.mod two levels above %s: %v", wd, err)
	}
	return root, nil
}

// goBuild builds a static x86-64 binary of pkg (relative to the module
// root) as the project releases it.
func goBuild(pkg, out string, extra ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	args := append([]string{"build", "-trimpath", "-ldflags", "-s -w", "-o", out}, extra...)
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// initboxBinary returns the static initbox under test: $INITBOX_BIN, or
// ./cmd/initbox built with CGO_ENABLED=0 -trimpath -ldflags '-s -w'.
func initboxBinary(t *testing.T) string {
	t.Helper()
	initboxOnce.Do(func() {
		if b := os.Getenv("INITBOX_BIN"); b != "" {
			if initboxPath, initboxErr = filepath.Abs(b); initboxErr == nil {
				initboxErr = staticELF(initboxPath)
			}
			return
		}
		dir, err := work()
		if err != nil {
			initboxErr = err
			return
		}
		initboxPath = filepath.Join(dir, "initbox")
		initboxErr = goBuild("./cmd/initbox", initboxPath, "-ldflags", "-s -w "+signals.EntryFlag)
	})
	if initboxErr != nil {
		t.Fatalf("initbox binary: %v", initboxErr)
	}
	return initboxPath
}

// requireBed returns the prepared test bed, preparing it on first use.
func requireBed(t *testing.T) *testbed {
	t.Helper()
	initbox := initboxBinary(t)
	first := false
	bedOnce.Do(func() {
		first = true
		start := time.Now()
		bed, bedSkip, bedErr = prepare(initbox)
		if bed != nil && bedSkip == "" && bedErr == nil {
			bedNotes = append(bedNotes, fmt.Sprintf("vm: test bed ready in %v", time.Since(start).Round(time.Millisecond)))
		}
	})
	if first {
		for _, n := range bedNotes {
			t.Log(n)
		}
	}
	if bedSkip != "" {
		unmet(t, bedSkip)
	}
	if bedErr != nil {
		t.Fatalf("vm test bed: %v", bedErr)
	}
	return bed
}

// prepare checks the prerequisites, gets the kernel and builds the
// initramfs. skip names an unmet prerequisite; err is a real failure.
func prepare(initbox string) (b *testbed, skip string, err error) {
	note := func(format string, args ...any) { bedNotes = append(bedNotes, fmt.Sprintf(format, args...)) }
	if runtime.GOARCH != "amd64" {
		return nil, "the guest is x86-64 (Debian's linux-image-amd64 and the host's busybox-static): the real-kernel tests need an amd64 host", nil
	}
	b = &testbed{initbox: initbox}
	if b.qemu, err = exec.LookPath("qemu-system-x86_64"); err != nil {
		return nil, "qemu-system-x86_64 is not installed: apt-get install --no-install-recommends qemu-system-x86", nil
	}
	if err := staticELF(busyboxPath); err != nil {
		return nil, fmt.Sprintf("a static %s is needed in the guest (apt-get install busybox-static): %v", busyboxPath, err), nil
	}
	if _, err := exec.LookPath("xz"); err != nil {
		return nil, "xz is not installed (apt-get install xz-utils): it decompresses the kernel", nil
	}

	// qboot starts a PVH vmlinux ~1 s faster than SeaBIOS under TCG.
	for _, p := range []string{"/usr/share/qemu/qboot.rom", "/usr/share/qemu/bios-microvm.bin"} {
		if _, err := os.Stat(p); err == nil {
			b.bios = p
			break
		}
	}
	if b.bios == "" {
		note("vm: qboot.rom not found in /usr/share/qemu; booting with SeaBIOS (about 1 s slower)")
	}

	// TCG unless asked: on these hosts /dev/kvm is kvm_pvm, which only runs
	// PVM guest kernels; a stock kernel hangs or qemu aborts (MSR 0x10a).
	b.accel = []string{"-accel", "tcg"}
	if v := os.Getenv("INITBOX_VM_KVM"); v != "" && v != "0" {
		b.accel = []string{"-accel", "kvm", "-cpu", "host"}
		if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
			note("vm: INITBOX_VM_KVM is set but /dev/kvm is kvm_pvm here: a stock kernel will hang; unset it to use TCG")
		}
	}

	dir, err := work()
	if err != nil {
		return nil, "", err
	}
	if k := os.Getenv("INITBOX_VM_KERNEL"); k != "" {
		if b.kernel, err = localKernel(k, dir); err != nil {
			return nil, "", err
		}
	} else {
		for _, tool := range []string{"apt-cache", "apt-get", "dpkg-deb", "tar"} {
			if _, err := exec.LookPath(tool); err != nil {
				return nil, fmt.Sprintf("%s is not installed: the kernel comes from Debian's archive (or set INITBOX_VM_KERNEL to a vmlinux or bzImage)", tool), nil
			}
		}
		if b.kernel, err = fetchKernel(note); err != nil {
			return nil, fmt.Sprintf("cannot get Debian's current kernel into %s: %v", cacheDir(), err), nil
		}
	}
	note("vm: kernel %s (%s)", b.kernel.name, b.kernel.vmlinux)

	vmctr := filepath.Join(dir, "vmctr")
	if err := goBuild("./tests/vm/vmctr", vmctr); err != nil {
		return nil, "", err
	}
	b.initrd = filepath.Join(dir, "initramfs.cpio")
	if err := buildInitramfs(b.initrd, map[string]string{"bin/busybox": busyboxPath, "bin/initbox": initbox, "bin/vmctr": vmctr}); err != nil {
		return nil, "", fmt.Errorf("building the initramfs: %w", err)
	}
	if fi, err := os.Stat(b.initrd); err == nil {
		note("vm: initramfs %s, %.1f MiB (uncompressed: the kernel reads it faster than it inflates gzip under TCG)", b.initrd, float64(fi.Size())/(1<<20))
	}
	return b, "", nil
}

// buildInitramfs writes the guest's root filesystem:
//
//	/init                   guest/init
//	/bin/busybox, sh -> busybox, initbox, vmctr
//	/dev/console            c 5 1, for the kernel to open as init's stdio
//	/scenarios/             guest/lib.sh and guest/scenarios/*.sh
//	/helpers/               guest/helpers/*.sh, programs the services run
//	/etc/initbox/           guest/configs/*.toml
//	/proc /sys /tmp /run    mount points
//
// binaries maps archive names to host files.
func buildInitramfs(out string, binaries map[string]string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := NewCPIOWriter(bw)
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	for _, d := range []string{"bin", "dev", "etc", "etc/initbox", "helpers", "proc", "run", "scenarios", "sys"} {
		add(w.Dir(d, 0o755))
	}
	add(w.Dir("tmp", 0o1777))
	add(w.CharDev("dev/console", 0o600, 5, 1))
	names := make([]string, 0, len(binaries))
	for n := range binaries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		data, err := os.ReadFile(binaries[n])
		if err != nil {
			return err
		}
		add(w.File(n, 0o755, data))
	}
	add(w.Symlink("bin/sh", "busybox"))
	copyDir := func(from, to string, perm uint32) {
		entries, err := fs.ReadDir(guestFiles, from)
		add(err)
		for _, e := range entries {
			data, err := guestFiles.ReadFile(path.Join(from, e.Name()))
			add(err)
			add(w.File(path.Join(to, e.Name()), perm, data))
		}
	}
	initScript, err := guestFiles.ReadFile("guest/init")
	add(err)
	add(w.File("init", 0o755, initScript))
	lib, err := guestFiles.ReadFile("guest/lib.sh")
	add(err)
	add(w.File("scenarios/lib.sh", 0o644, lib))
	copyDir("guest/scenarios", "scenarios", 0o644)
	copyDir("guest/helpers", "helpers", 0o755)
	copyDir("guest/configs", "etc/initbox", 0o644)
	add(w.Close())
	add(bw.Flush())
	return errors.Join(errs...)
}

// bootResult is how one boot ended.
type bootResult struct {
	scenario string
	rc       int // qemu's exit status; -1 when killed
	elapsed  time.Duration
	timedOut bool
	console  string // ttyS0: kernel messages and the scenario's output
	report   string // ttyS1: check, info and verdict lines
	qemuOut  string // qemu's own stdout and stderr
}

// verdictLine returns the guest's verdict line, if any.
func (r *bootResult) verdictLine() string {
	for _, l := range strings.Split(r.report, "\n") {
		if strings.HasPrefix(l, "verdict ") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// passed: only rc 1 (the guest wrote 0 to isa-debug-exit) with a pass
// verdict is a pass; poweroff and kernel panics give rc 0.
func (r *bootResult) passed() bool {
	return !r.timedOut && r.rc == 1 && strings.HasPrefix(r.verdictLine(), "verdict pass")
}

// checks returns the report's check lines by name: "ok" or "FAIL", and the
// detail.
func (r *bootResult) checks() map[string][2]string {
	m := map[string][2]string{}
	for _, l := range strings.Split(r.report, "\n") {
		f := strings.SplitN(strings.TrimSpace(l), " ", 4)
		if len(f) >= 3 && f[0] == "check" {
			d := ""
			if len(f) == 4 {
				d = f[3]
			}
			m[f[1]] = [2]string{f[2], d}
		}
	}
	return m
}

// explain describes a failed boot: what qemu's status means, the failed
// checks, the report and the console.
func (r *bootResult) explain() string {
	var b strings.Builder
	switch {
	case r.timedOut:
		fmt.Fprintf(&b, "scenario %s: qemu killed after the %v boot timeout\n", r.scenario, bootTimeout)
	case r.rc == 1:
		fmt.Fprintf(&b, "scenario %s: qemu rc 1 but no pass verdict on ttyS1\n", r.scenario)
	case r.rc == 3:
		fmt.Fprintf(&b, "scenario %s failed (the guest wrote 1 to isa-debug-exit: qemu rc 3)\n", r.scenario)
	case r.rc == 0:
		fmt.Fprintf(&b, "scenario %s: the guest powered off or the kernel panicked before isa-debug-exit (qemu rc 0)\n", r.scenario)
	default:
		fmt.Fprintf(&b, "scenario %s: qemu exited with status %d\n", r.scenario, r.rc)
	}
	for _, l := range strings.Split(r.report, "\n") {
		if strings.HasPrefix(l, "check ") && strings.Contains(l, " FAIL ") {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	fmt.Fprintf(&b, "--- report (ttyS1):\n%s", r.report)
	fmt.Fprintf(&b, "--- console (ttyS0):\n%s", tail(r.console, 64<<10))
	if strings.TrimSpace(r.qemuOut) != "" {
		fmt.Fprintf(&b, "--- qemu:\n%s", r.qemuOut)
	}
	return b.String()
}

// tail returns the last n bytes of s, marked when cut.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[... " + fmt.Sprint(len(s)-n) + " bytes cut ...]\n" + s[len(s)-n:]
}

// boot starts the VM for one scenario and waits until qemu exits or the
// boot timeout passes.
func (b *testbed) boot(t *testing.T, scenario string) *bootResult {
	t.Helper()
	dir := t.TempDir()
	console, report := filepath.Join(dir, "console.txt"), filepath.Join(dir, "report.txt")
	args := []string{
		"-nodefaults", "-no-user-config",
		"-machine", "pc", "-m", guestMemory, "-smp", "1", // one vCPU: MTTCG on 2 was slower
		"-display", "none", "-no-reboot",
		"-kernel", b.kernel.vmlinux, "-initrd", b.initrd,
		// panic=-1 with -no-reboot: a dying /init ends qemu at once.
		"-append", fmt.Sprintf("console=ttyS0 panic=-1 quiet initbox.scenario=%s initbox.timeout=%d", scenario, guestTimeout),
		// Files, not stdio: qemu would put a terminal on stdin into raw mode.
		"-serial", "file:" + console,
		"-serial", "file:" + report,
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
	}
	args = append(args, b.accel...)
	if b.bios != "" {
		args = append(args, "-bios", b.bios)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.qemu, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := &bootResult{scenario: scenario, elapsed: time.Since(start), qemuOut: out.String(), rc: -1}
	r.timedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
	if cmd.ProcessState != nil {
		r.rc = cmd.ProcessState.ExitCode()
	} else if err != nil {
		t.Fatalf("starting qemu: %v", err)
	}
	c, _ := os.ReadFile(console)
	rep, _ := os.ReadFile(report)
	r.console = strings.ReplaceAll(string(c), "\r", "")
	r.report = strings.ReplaceAll(string(rep), "\r", "")

	bootStats.Lock()
	bootStats.n++
	bootStats.total += r.elapsed
	bootStats.Unlock()
	accel := "TCG"
	if b.accel[1] == "kvm" {
		accel = "KVM"
	}
	t.Logf("boot %s: %.2f s (qemu rc %d, %s, kernel %s)", scenario, r.elapsed.Seconds(), r.rc, accel, b.kernel.name)
	return r
}

// runScenario boots the guest for one scenario and requires a pass with
// every check in want reported ok.
func runScenario(t *testing.T, scenario string, want ...string) {
	t.Helper()
	b := requireBed(t)
	r := b.boot(t, scenario)
	if !r.passed() {
		t.Fatal(r.explain())
	}
	got := r.checks()
	for _, l := range strings.Split(strings.TrimSpace(r.report), "\n") {
		t.Log("  " + l)
	}
	for _, name := range want {
		c, ok := got[name]
		switch {
		case !ok:
			t.Errorf("scenario %s reported no check %q", scenario, name)
		case c[0] != "ok":
			t.Errorf("scenario %s: check %s: %s %s", scenario, name, c[0], c[1])
		}
	}
	if r.elapsed >= bootTimeout {
		t.Errorf("boot took %v, over the %v budget", r.elapsed, bootTimeout)
	}
}

// checkConfigs runs `initbox check` on a scenario's configurations on the
// host first: a config the binary refuses is a bug in the scenario, told
// here with initbox's own file:line:col message rather than as a guest that
// never started its services.
func checkConfigs(t *testing.T, configs ...string) {
	t.Helper()
	initbox := initboxBinary(t)
	dir, err := work()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range configs {
		data, err := guestFiles.ReadFile("guest/configs/" + c)
		if err != nil {
			t.Fatalf("scenario config: %v", err)
		}
		p := filepath.Join(dir, c)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(initbox, "check", "-c", p).CombinedOutput(); err != nil {
			t.Fatalf("initbox check rejects the scenario's config %s: %v\n%s", c, err, out)
		}
	}
}
