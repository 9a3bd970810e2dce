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

	"github.com/initbox/initbox"
	"github.com/initbox/initbox/cgroup"
	"github.com/initbox/initbox/logging"
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
	if len(os.Args) > 1 && os.Args[1] == cgroup.EnterCommand {
		// The trampoline that starts a service inside its cgroup where
		// clone3 is refused: it must exec with the signal dispositions it
		// was given, so it comes before the intake.
		os.Exit(cgroup.Enter(os.Args[2:]))
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
