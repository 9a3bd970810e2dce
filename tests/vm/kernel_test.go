//go:build linux

package vm

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The kernel comes from Debian's archive: the linux-image-amd64 metapackage
// depends on the current ABI's image (linux-image-6.1.0-57-amd64 at the time
// of writing). The ABI name changes with point releases, so it is resolved
// on every run and the cache is keyed by package name and version. The
// package is downloaded and unpacked, never installed: installing pulls
// initramfs-tools, runs update-initramfs and writes /boot.
const kernelMetaPackage = "linux-image-amd64"

// kernelInfo is a ready-to-boot kernel.
type kernelInfo struct {
	vmlinux string // uncompressed ELF image with the PVH entry note
	name    string // package name and version, or the file given by INITBOX_VM_KERNEL
	fetched bool   // downloaded during this run (not from the cache)
}

// cacheDir is where downloaded kernels are kept: $INITBOX_VM_CACHE, else
// initbox-vm in the user's cache directory ($XDG_CACHE_HOME or ~/.cache),
// else /var/cache/initbox-vm.
func cacheDir() string {
	if d := os.Getenv("INITBOX_VM_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "initbox-vm")
	}
	return "/var/cache/initbox-vm"
}

// aptEnv runs apt's tools in the C locale: their output ("Depends:",
// "Candidate:") is parsed and would otherwise be translated.
func aptEnv() []string {
	return append(os.Environ(), "LC_ALL=C", "LANG=C", "LANGUAGE=")
}

// runTool runs a command and returns its stdout; the error carries stderr.
func runTool(dir string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = aptEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// resolveKernelPackage returns the image package linux-image-amd64 depends
// on today and the version apt would download.
func resolveKernelPackage() (pkg, version string, err error) {
	out, err := runTool("", "apt-cache", "depends", kernelMetaPackage)
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		// "  Depends: linux-image-6.1.0-57-amd64"; "|Depends:" marks an
		// alternative, which Debian's metapackage does not use.
		if len(f) == 2 && strings.TrimPrefix(f[0], "|") == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			pkg = f[1]
			break
		}
	}
	if pkg == "" {
		return "", "", fmt.Errorf("apt-cache depends %s names no linux-image-* package (is deb.debian.org in the apt sources, and has apt-get update run?):\n%s", kernelMetaPackage, out)
	}
	out, err = runTool("", "apt-cache", "policy", pkg)
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:"); ok {
			version = strings.TrimSpace(v)
		}
	}
	if version == "" || version == "(none)" {
		return "", "", fmt.Errorf("apt-cache policy %s: no candidate version:\n%s", pkg, out)
	}
	return pkg, version, nil
}

// fetchKernel returns the vmlinux of Debian's current kernel, from the cache
// or downloaded and extracted into it. logf reports the steps taken.
func fetchKernel(logf func(string, ...any)) (kernelInfo, error) {
	cache := cacheDir()
	pkg, version, err := resolveKernelPackage()
	if err != nil {
		// Offline, or apt's lists were removed (as in slim images): a kernel
		// cached by an earlier run still serves, said loudly.
		cached, _ := filepath.Glob(filepath.Join(cache, "linux-image-*", "vmlinux"))
		if len(cached) == 1 {
			name := filepath.Base(filepath.Dir(cached[0]))
			logf("vm: cannot resolve Debian's current kernel (%v); using the cached %s", err, name)
			return kernelInfo{vmlinux: cached[0], name: name}, nil
		}
		return kernelInfo{}, err
	}
	name := pkg + "_" + version
	final := filepath.Join(cache, name)
	vmlinux := filepath.Join(final, "vmlinux")
	if _, err := os.Stat(vmlinux); err == nil {
		return kernelInfo{vmlinux: vmlinux, name: name}, nil
	}

	start := time.Now()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return kernelInfo{}, err
	}
	tmp, err := os.MkdirTemp(cache, ".download-")
	if err != nil {
		return kernelInfo{}, err
	}
	defer os.RemoveAll(tmp)

	args := []string{"download"}
	if os.Geteuid() == 0 {
		// As root apt downloads as the _apt user, which cannot write into a
		// root-owned 0700 directory; it would fall back with a warning.
		args = append(args, "-o", "APT::Sandbox::User=root")
	}
	// pkg=version pins what is downloaded to the cache key.
	if _, err := runTool(tmp, "apt-get", append(args, pkg+"="+version)...); err != nil {
		return kernelInfo{}, err
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return kernelInfo{}, fmt.Errorf("apt-get download %s=%s left %d .deb files in %s", pkg, version, len(debs), tmp)
	}
	logf("vm: downloaded %s in %v", filepath.Base(debs[0]), time.Since(start).Round(time.Millisecond))

	bz, err := extractVmlinuz(debs[0], tmp)
	if err != nil {
		return kernelInfo{}, err
	}
	img, err := os.ReadFile(bz)
	if err != nil {
		return kernelInfo{}, err
	}
	elfImage, err := extractVmlinux(img)
	if err != nil {
		return kernelInfo{}, fmt.Errorf("%s: %w", filepath.Base(bz), err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "vmlinux"), elfImage, 0o644); err != nil {
		return kernelInfo{}, err
	}
	// Publish atomically: a directory appears complete or not at all, so a
	// run killed half-way or a concurrent run never sees a partial vmlinux.
	staged := filepath.Join(tmp, "kernel")
	if err := os.Mkdir(staged, 0o755); err != nil {
		return kernelInfo{}, err
	}
	if err := os.Rename(filepath.Join(tmp, "vmlinux"), filepath.Join(staged, "vmlinux")); err != nil {
		return kernelInfo{}, err
	}
	if err := os.Rename(staged, final); err != nil {
		if _, statErr := os.Stat(vmlinux); statErr != nil {
			return kernelInfo{}, err
		}
		// A concurrent run published the same kernel first.
	}
	logf("vm: %s extracted to %s in %v", name, vmlinux, time.Since(start).Round(time.Millisecond))
	pruneKernels(cache, name, logf)
	return kernelInfo{vmlinux: vmlinux, name: name, fetched: true}, nil
}

// pruneKernels removes cached kernels other than keep (each is ~66 MB), so
// the cache holds only the kernel Debian currently ships.
func pruneKernels(cache, keep string, logf func(string, ...any)) {
	old, _ := filepath.Glob(filepath.Join(cache, "linux-image-*"))
	for _, d := range old {
		if filepath.Base(d) != keep {
			if err := os.RemoveAll(d); err == nil {
				logf("vm: removed the superseded kernel %s from the cache", filepath.Base(d))
			}
		}
	}
}

// extractVmlinuz unpacks ./boot/vmlinuz-* from a kernel .deb into dir with
// `dpkg-deb --fsys-tarfile DEB | tar -x` and returns its path.
func extractVmlinuz(deb, dir string) (string, error) {
	dpkg := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	tar := exec.Command("tar", "-x", "-C", dir, "--wildcards", "./boot/vmlinuz-*")
	pipe, err := dpkg.StdoutPipe()
	if err != nil {
		return "", err
	}
	tar.Stdin = pipe
	var dpkgErr, tarErr bytes.Buffer
	dpkg.Stderr, tar.Stderr = &dpkgErr, &tarErr
	if err := dpkg.Start(); err != nil {
		return "", err
	}
	if err := tar.Run(); err != nil {
		_ = dpkg.Process.Kill()
		_ = dpkg.Wait()
		return "", fmt.Errorf("tar -x ./boot/vmlinuz-* from %s: %v: %s", filepath.Base(deb), err, tarErr.String())
	}
	if err := dpkg.Wait(); err != nil {
		return "", fmt.Errorf("dpkg-deb --fsys-tarfile %s: %v: %s", filepath.Base(deb), err, dpkgErr.String())
	}
	found, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(found) != 1 {
		return "", fmt.Errorf("%s holds %d boot/vmlinuz-* files, want 1", filepath.Base(deb), len(found))
	}
	return found[0], nil
}

// x86 boot protocol offsets (Documentation/arch/x86/boot.rst).
const (
	bootSetupSects    = 0x1f1 // u8: number of 512-byte setup sectors after the boot sector (0 means 4)
	bootHeaderMagic   = 0x202 // "HdrS"
	bootVersion       = 0x206 // u16: boot protocol version
	bootPayloadOffset = 0x248 // u32: offset of the compressed kernel from the start of the protected-mode code (2.08+)
	bootPayloadLength = 0x24c // u32: its length (2.08+)
)

// xzMagic starts an .xz stream; Debian builds its kernels with KERNEL_XZ.
var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}

// extractVmlinux returns the uncompressed ELF kernel inside a bzImage.
//
// Booting the ELF vmlinux through its PVH entry note saves the ~4 s a
// bzImage spends decompressing itself under TCG. The compressed payload is
// found from the boot-protocol header; the kernel build appends the
// uncompressed size as 4 little-endian bytes after the xz stream (inside
// payload_length), which plain `xz -d` rejects as "Unexpected end of
// input", hence --single-stream, and which serves here as a length check.
// Decompression uses the xz tool because the project takes no new Go
// dependency for an xz decoder.
func extractVmlinux(bz []byte) ([]byte, error) {
	if len(bz) < bootPayloadLength+4 {
		return nil, fmt.Errorf("%d bytes is too short for a bzImage", len(bz))
	}
	if string(bz[bootHeaderMagic:bootHeaderMagic+4]) != "HdrS" {
		return nil, errors.New("not a bzImage: no HdrS boot-protocol header at 0x202")
	}
	if v := binary.LittleEndian.Uint16(bz[bootVersion:]); v < 0x208 {
		return nil, fmt.Errorf("boot protocol %d.%02d has no payload fields (2.08+ needed)", v>>8, v&0xff)
	}
	setupSects := int(bz[bootSetupSects])
	if setupSects == 0 {
		setupSects = 4
	}
	start := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(bz[bootPayloadOffset:]))
	length := int(binary.LittleEndian.Uint32(bz[bootPayloadLength:]))
	if length < len(xzMagic)+4 || start+length > len(bz) {
		return nil, fmt.Errorf("payload [%d, +%d) lies outside the %d-byte image", start, length, len(bz))
	}
	payload := bz[start : start+length]
	if !bytes.HasPrefix(payload, xzMagic) {
		return nil, fmt.Errorf("payload is not xz (starts % x); only xz-compressed kernels (Debian's) are supported", payload[:6])
	}
	want := binary.LittleEndian.Uint32(payload[length-4:])

	cmd := exec.Command("xz", "--decompress", "--stdout", "--single-stream")
	cmd.Stdin = bytes.NewReader(payload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("xz -d --single-stream: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if uint32(len(out)) != want {
		return nil, fmt.Errorf("decompressed %d bytes, the image says %d", len(out), want)
	}
	f, err := elf.NewFile(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("decompressed payload is not ELF: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("vmlinux is for %v, not x86-64", f.Machine)
	}
	return out, nil
}

// isVmlinux reports whether the file at path is an x86-64 ELF image (as
// opposed to a bzImage), for INITBOX_VM_KERNEL.
func isVmlinux(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Machine == elf.EM_X86_64
}

// localKernel prepares the kernel named by INITBOX_VM_KERNEL: a vmlinux is
// used as it is, a bzImage is decompressed into dir.
func localKernel(path, dir string) (kernelInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return kernelInfo{}, err
	}
	if isVmlinux(abs) {
		return kernelInfo{vmlinux: abs, name: abs}, nil
	}
	bz, err := os.ReadFile(abs)
	if err != nil {
		return kernelInfo{}, err
	}
	img, err := extractVmlinux(bz)
	if err != nil {
		return kernelInfo{}, fmt.Errorf("INITBOX_VM_KERNEL=%s: %w", path, err)
	}
	out := filepath.Join(dir, "vmlinux")
	if err := os.WriteFile(out, img, 0o644); err != nil {
		return kernelInfo{}, err
	}
	return kernelInfo{vmlinux: out, name: abs}, nil
}

// staticELF checks that path is a static x86-64 executable: the guest has
// no dynamic loader and no libc.
func staticELF(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%s is built for %v, the guest is x86-64", path, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(bufio.NewReader(p.Open()))
			return fmt.Errorf("%s is dynamically linked (interpreter %s); the guest has no libc", path, strings.TrimRight(string(interp), "\x00"))
		}
	}
	return nil
}
