//go:build linux

// Package vm tests initbox inside a real Linux kernel with cgroup v2, booted
// under qemu. The project's hosts have a hybrid cgroup v1/v2 layout, so
// cgroup v2 limits (memory.max, pids.max, cpu.max) cannot be tested on them
// directly; a stock Debian kernel booted with an initramfs can.
//
// `go test ./tests/vm/` downloads Debian's current kernel package (cached),
// extracts its uncompressed vmlinux, builds an initramfs holding
// busybox-static, the static initbox, a minimal container launcher (vmctr)
// and the scenario scripts, and boots it once per scenario under qemu TCG.
// Each scenario writes its checks to the guest's second serial port and its
// verdict to qemu's isa-debug-exit device. See docs/vm.md.
//
// The only non-test code is the newc cpio writer, which tools could reuse to
// build an initramfs without root or a cpio binary.
package vm
