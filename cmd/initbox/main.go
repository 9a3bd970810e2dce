//go:build linux

// Command initbox is a PID 1 for containers: a drop-in for tini that reaps
// zombies, forwards signals and passes the exit status on, a supervisor of
// services from TOML, and a launcher into new namespaces. One binary holds
// every command (issue #13); see `initbox --help` and shared/DESIGN.md.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/initbox/initbox"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/mem"
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
	// (initbox re-executed as the trampoline never gets here: package
	// launch's init takes it over.)
	// Before anything allocates: see mem.Apply (issue #17).
	mem.Apply(os.LookupEnv)
	os.Exit(run(os.Args))
}

// startInit starts what an init needs before anything else: signals first,
// then the reaper. A Go PID 1 without handlers exits on the first SIGTERM
// (DESIGN: "PID 1 never dies by accident"), and both must be in place
// before anything forks. Only the choice of the command comes before it.
func startInit() (*signals.Intake, *reaper.Reaper) {
	in := signals.Notify()
	return in, reaper.New(reaper.Options{})
}

func run(argv []string) int {
	name := filepath.Base(argv[0])
	args := argv[1:]
	// Called as tini or docker-init, initbox is tini and nothing else: a
	// program called "run" is run, as tini would.
	tiniOnly := name == "tini" || name == "docker-init"
	if !tiniOnly && len(args) > 0 {
		if args[0] == spawn.InnerMarker {
			in, r := startInit()
			return runSpawnInner(name, args[1:], in, r)
		}
		if c := lookup(args[0]); c != nil {
			e := &env{name: name}
			if c.init {
				e.in, e.r = startInit()
			} else {
				signals.Unblock(c.takes...)
			}
			return c.run(e, args[1:])
		}
	}
	if !tiniOnly && len(args) == 0 {
		// With no arguments, initbox runs its configuration if there is one.
		if c, set := os.LookupEnv("INITBOX_CONFIG"); (set && c != "") || hasDefaultConfig() {
			in, r := startInit()
			return runSupervisor(&env{name: name, in: in, r: r}, nil)
		}
	}
	in, r := startInit()

	opts, err := parseTini(args, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		fmt.Fprintf(os.Stderr, "Usage: %s [OPTIONS] [--] PROGRAM [ARGS]\nTry '%s --help'.\n", name, name)
		return 2
	}
	usage := mainUsage
	if tiniOnly {
		usage = tiniUsage
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

// hasDefaultConfig reports whether the default configuration has a file:
// the default file, or a drop-in in the default directory.
func hasDefaultConfig() bool {
	if _, err := os.Stat(defaultConfig); err == nil {
		return true
	}
	dropIns, _ := filepath.Glob(filepath.Join(defaultDropIns, "*.toml"))
	return len(dropIns) > 0
}
