//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
	"github.com/initbox/initbox/spawn"
)

// runSpawnInner is the inner init that `initbox spawn` re-executes into the
// new namespaces (see package spawn); with -c it runs the supervisor there.
func runSpawnInner(name string, args []string, in *signals.Intake, r *reaper.Reaper) int {
	e := &env{name: name, in: in, r: r}
	return spawn.Inner(args, in, r, func(config string, argv []string) int {
		a := []string{"-c", config}
		if len(argv) > 0 {
			a = append(append(a, "--"), argv...)
		}
		return runSupervisor(e, a)
	})
}

// runSpawn is `initbox spawn [flags] -- PROGRAM ARGS`, the outer process.
func runSpawn(e *env, args []string) int {
	o, err := spawn.ParseArgs(args)
	if err == nil && !o.Help {
		err = o.Validate()
	}
	if err != nil {
		return usageError(e, "spawn", err)
	}
	if o.Help {
		fmt.Printf(spawn.Usage, e.name)
		return 0
	}
	if o.Config != "" && o.Rootfs == "" && !filepath.IsAbs(o.Config) {
		// Read by the inner process, perhaps after --chdir.
		if abs, err := filepath.Abs(o.Config); err == nil {
			o.Config = abs
		}
	}
	format, err := logging.ParseFormat(os.Getenv("INITBOX_LOG_FORMAT"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s spawn: INITBOX_LOG_FORMAT: %v\n", e.name, err)
		return 2
	}
	log := logging.Stderr(format, logging.VerbosityLevel(o.Verbosity))
	return spawn.Run(o, e.in, e.r, log)
}
