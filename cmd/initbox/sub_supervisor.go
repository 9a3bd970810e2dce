//go:build linux && supervisor

package main

import (
	"os"

	"github.com/initbox/initbox/control"
	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
)

// hasSupervisor is true in builds with the supervisor (-tags supervisor).
const hasSupervisor = true

// subcommand runs the supervisor's subcommands; ok is false for any other
// name.
func subcommand(name, cmd string, args []string, in *signals.Intake, r *reaper.Reaper) (code int, ok bool) {
	switch cmd {
	case "run":
		return runSupervisor(name, args, in, r), true
	case "check":
		return check(name, args), true
	case "ctl":
		return control.Ctl(args, os.Stdout, os.Stderr), true
	}
	return 0, false
}

// runDefault runs the configuration at $INITBOX_CONFIG or the default
// path, when initbox is given no arguments and one exists.
func runDefault(name string, in *signals.Intake, r *reaper.Reaper) (code int, ok bool) {
	if c, set := os.LookupEnv("INITBOX_CONFIG"); (set && c != "") || fileExists(defaultConfig) {
		return runSupervisor(name, nil, in, r), true
	}
	return 0, false
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
