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

// runSpawn is `initbox spawn [flags] -- PROGRAM ARGS` (the outer process)
// and, with spawn.InnerMarker as cmd, the inner init that the outer one
// re-executes into the new namespaces (see package spawn).
func runSpawn(name, cmd string, args []string, in *signals.Intake, r *reaper.Reaper) int {
	if cmd == spawn.InnerMarker {
		var supervise spawn.Supervise
		if hasSupervisor {
			supervise = func(config string, argv []string) int {
				a := []string{"-c", config}
				if len(argv) > 0 {
					a = append(append(a, "--"), argv...)
				}
				code, _ := subcommand(name, "run", a, in, r)
				return code
			}
		}
		return spawn.Inner(args, in, r, supervise)
	}
	o, err := spawn.ParseArgs(args)
	if err == nil && !o.Help {
		err = o.Validate()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s spawn: %v\n", name, err)
		fmt.Fprintf(os.Stderr, "Try '%s spawn --help'.\n", name)
		return 2
	}
	if o.Help {
		fmt.Printf(spawn.Usage, name)
		return 0
	}
	if o.Config != "" {
		if !hasSupervisor {
			fmt.Fprintf(os.Stderr, "%s spawn: -c %s: this initbox is built without the supervisor (build with -tags supervisor); to run one program use: %s spawn [flags] -- PROGRAM ARGS\n", name, o.Config, name)
			return 2
		}
		if o.Rootfs == "" && !filepath.IsAbs(o.Config) {
			// Read by the inner process, perhaps after --chdir.
			if abs, err := filepath.Abs(o.Config); err == nil {
				o.Config = abs
			}
		}
	}
	format, err := logging.ParseFormat(os.Getenv("INITBOX_LOG_FORMAT"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s spawn: INITBOX_LOG_FORMAT: %v\n", name, err)
		return 2
	}
	log := logging.Stderr(format, logging.VerbosityLevel(o.Verbosity))
	return spawn.Run(o, in, r, log)
}
