//go:build linux && !supervisor

package main

import (
	"fmt"
	"os"

	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
)

// hasSupervisor is false in the default build: with the required TOML
// library the supervisor takes the binary past its 2.5 MiB budget (issue
// #2), so it is built only with -tags supervisor until that is settled
// (see the notes on issue #3).
const hasSupervisor = false

// subcommand refuses the supervisor's subcommands with a clear message
// rather than running a program called "run" or "check" (DESIGN: such a
// program is run with `initbox -- NAME`).
func subcommand(name, cmd string, args []string, in *signals.Intake, r *reaper.Reaper) (code int, ok bool) {
	switch cmd {
	case "run", "check", "ctl":
		fmt.Fprintf(os.Stderr, "%s %s: this initbox is built without the supervisor (build with -tags supervisor); to run a program called %q use: %s -- %s\n", name, cmd, cmd, name, cmd)
		return 2, true
	}
	return 0, false
}

func runDefault(string, *signals.Intake, *reaper.Reaper) (int, bool) { return 0, false }
