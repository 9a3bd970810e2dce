//go:build linux

// Command initbox is a PID 1 for containers: a drop-in for tini that reaps
// zombies, forwards signals and passes the exit status on. See the README
// and shared/DESIGN.md for the modes it grows into.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/initbox/initbox"
	"github.com/initbox/initbox/launch"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/notify"
	"github.com/initbox/initbox/pid1"
	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
	"github.com/initbox/initbox/spawn"
)

// Set by the Makefile with -ldflags -X.
var (
	version = "0.1.0-dev"
	commit  = "unknown"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == launch.Command {
		// The trampoline that prepares a service between fork and exec
		// (cgroup, privileges): it must exec with the signal dispositions
		// it was given, so it comes before the intake.
		os.Exit(launch.Main(os.Args[2:]))
	}
	// Signals first, then the reaper: a Go PID 1 without handlers exits on
	// the first SIGTERM (DESIGN: "PID 1 never dies by accident"), and both
	// must be in place before anything forks.
	in := signals.Notify()
	r := reaper.New(reaper.Options{})
	os.Exit(run(os.Args, in, r))
}

func run(argv []string, in *signals.Intake, r *reaper.Reaper) int {
	name := filepath.Base(argv[0])
	args := argv[1:]
	tiniOnly := name == "tini" || name == "docker-init"
	if !tiniOnly && len(args) > 0 {
		switch args[0] {
		case "version":
			sup := "without"
			if hasSupervisor {
				sup = "with"
			}
			fmt.Printf("initbox %s (git %s, %s, %s/%s, %s the supervisor)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH, sup)
			return 0
		case "spawn", spawn.InnerMarker:
			return runSpawn(name, args[0], args[1:], in, r)
		case "notify":
			return runNotify(name, args[1:])
		}
		if code, ok := subcommand(name, args[0], args[1:], in, r); ok {
			return code
		}
	}
	if !tiniOnly && len(args) == 0 {
		// With no arguments, initbox runs its configuration if there is one.
		if code, ok := runDefault(name, in, r); ok {
			return code
		}
	}

	opts, err := parseTini(args, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		fmt.Fprint(os.Stderr, usage(name))
		return 2
	}
	switch {
	case opts.help:
		fmt.Print(usage(name))
		return 0
	case opts.version:
		// The only form `docker info` parses for its init binary.
		fmt.Printf("tini version %s_initbox - git.%s\n", version, commit)
		return 0
	case opts.license:
		fmt.Print(initbox.License)
		return 0
	case len(opts.argv) == 0:
		fmt.Fprintf(os.Stderr, "%s: no program to run\n", name)
		fmt.Fprint(os.Stderr, usage(name))
		return 2
	}
	log := logging.Stderr(opts.logFormat, logging.VerbosityLevel(opts.verbosity))
	return pid1.Run(pid1.Config{
		Argv:        opts.argv,
		Env:         os.Environ(),
		Subreaper:   opts.subreaper,
		Group:       opts.group,
		ZeroCodes:   opts.zeroCodes,
		ParentDeath: opts.parentDeath,
		WarnOnReap:  opts.warnOnReap,
		Grace:       opts.grace,
		Log:         log,
	}, in, r)
}

// runNotify is `initbox notify KEY=VALUE...`: sd_notify(3) for shell
// scripts, to the socket in $NOTIFY_SOCKET, e.g. `initbox notify READY=1
// STATUS="listening on :80"`.
func runNotify(name string, args []string) int {
	addr := os.Getenv("NOTIFY_SOCKET")
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(os.Stderr, "usage: %s notify KEY=VALUE... (e.g. READY=1 STATUS=\"up\"), to $NOTIFY_SOCKET\n", name)
		return 2
	}
	for _, a := range args {
		if k, _, ok := strings.Cut(a, "="); !ok || k == "" || strings.Contains(a, "\n") {
			fmt.Fprintf(os.Stderr, "%s notify: %q: want KEY=VALUE on one line\n", name, a)
			return 2
		}
	}
	if addr == "" {
		fmt.Fprintf(os.Stderr, "%s notify: NOTIFY_SOCKET is not set: run this from a service with type = \"notify\" or a [health] watchdog\n", name)
		return 1
	}
	if err := notify.Send(addr, strings.Join(args, "\n")); err != nil {
		fmt.Fprintf(os.Stderr, "%s notify: %v\n", name, err)
		return 1
	}
	// Stay alive until the supervisor has handled the message: it checks
	// that the sender is a process of the service, which it cannot once
	// the sender has exited (systemd-notify's old race).
	if err := notify.Barrier(addr, 5*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "%s notify: %v\n", name, err)
	}
	return 0
}
