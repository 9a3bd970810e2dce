// Command floor is the least a Go init can be (issue #17): a static
// program that forks and execs its arguments, waits for that child and
// exits with its status. No signal handling, no reaping of anything else,
// nothing initbox does beyond that. It is the bench's floor for start-up
// and idle memory: what any Go PID 1 pays for the Go runtime alone.
//
//	floor [--] PROGRAM [ARGS]
package main

import (
	"os"
	"syscall"
)

func main() {
	argv := os.Args[1:]
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		os.Exit(2)
	}
	path := argv[0]
	for _, dir := range []string{"/usr/local/bin", "/usr/bin", "/bin"} {
		if path[0] == '/' {
			break
		}
		if _, err := os.Stat(dir + "/" + argv[0]); err == nil {
			path = dir + "/" + argv[0]
			break
		}
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}})
	if err != nil {
		os.Exit(127)
	}
	var ws syscall.WaitStatus
	for {
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR {
			break
		}
	}
	if ws.Signaled() {
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(ws.ExitStatus())
}
