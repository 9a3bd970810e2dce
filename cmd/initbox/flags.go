//go:build linux

package main

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/pid1"
	"github.com/initbox/initbox/signals"
)

// tiniOptions is tini's command line plus initbox's --grace.
type tiniOptions struct {
	subreaper   bool
	group       bool
	zeroCodes   []int
	parentDeath syscall.Signal
	verbosity   int
	warnOnReap  bool
	license     bool
	help        bool
	version     bool
	grace       time.Duration
	logFormat   logging.Format
	argv        []string
}

// parseTini reads tini's options. Parsing stops at "--" or at the first
// argument that is not an option, so everything after the program is the
// program's own: `initbox sh -c 'exit 7'` runs sh with -c (tini's permuting
// getopt takes -c for itself and fails). Environment variables are read
// first and options override them, as in tini.
func parseTini(args []string, getenv func(string) (string, bool)) (tiniOptions, error) {
	o := tiniOptions{verbosity: 1, logFormat: logging.Console}
	if _, ok := getenv("TINI_SUBREAPER"); ok {
		o.subreaper = true
	}
	if _, ok := getenv("TINI_KILL_PROCESS_GROUP"); ok {
		o.group = true
	}
	if v, ok := getenv("TINI_VERBOSITY"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return o, fmt.Errorf("TINI_VERBOSITY=%q: not a number", v)
		}
		o.verbosity = n
	}
	if v, ok := getenv("INITBOX_GRACE"); ok && v != "" {
		d, err := pid1.ParseGrace(v)
		if err != nil {
			return o, fmt.Errorf("INITBOX_GRACE: %w", err)
		}
		o.grace = d
	}
	if v, ok := getenv("INITBOX_LOG_FORMAT"); ok {
		f, err := logging.ParseFormat(v)
		if err != nil {
			return o, fmt.Errorf("INITBOX_LOG_FORMAT: %w", err)
		}
		o.logFormat = f
	}

	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			o.argv = args[i+1:]
			return o, nil
		case a == "--version":
			o.version = true
			continue
		case a == "--help":
			o.help = true
			continue
		case a == "--grace" || strings.HasPrefix(a, "--grace="):
			v, ok := strings.CutPrefix(a, "--grace=")
			if !ok {
				if i+1 >= len(args) {
					return o, fmt.Errorf("option --grace needs a duration")
				}
				i++
				v = args[i]
			}
			d, err := pid1.ParseGrace(v)
			if err != nil {
				return o, fmt.Errorf("--grace: %w", err)
			}
			o.grace = d
			continue
		case strings.HasPrefix(a, "--"):
			return o, fmt.Errorf("unknown option %s", a)
		case len(a) < 2 || a[0] != '-':
			o.argv = args[i:]
			return o, nil
		}
		// A cluster of short options: -sgv, -e143, -e 143, -pSIGKILL.
		for j := 1; j < len(a); j++ {
			c := a[j]
			switch c {
			case 's':
				o.subreaper = true
			case 'g':
				o.group = true
			case 'v':
				o.verbosity++
			case 'w':
				o.warnOnReap = true
			case 'l':
				o.license = true
			case 'h':
				o.help = true
			case 'e', 'p':
				v := a[j+1:]
				if v == "" {
					if i+1 >= len(args) {
						return o, fmt.Errorf("option -%c needs a value", c)
					}
					i++
					v = args[i]
				}
				if c == 'e' {
					code, err := strconv.Atoi(v)
					if err != nil || code < 0 || code > 255 {
						return o, fmt.Errorf("-e %q: want an exit code from 0 to 255", v)
					}
					o.zeroCodes = append(o.zeroCodes, code)
				} else {
					sig, err := signals.Parse(v)
					if err != nil {
						return o, fmt.Errorf("-p: %w", err)
					}
					o.parentDeath = sig
				}
				j = len(a)
			default:
				return o, fmt.Errorf("unknown option -%c", c)
			}
		}
	}
	return o, nil
}

// tiniUsage is the help of tini mode alone, as printed when initbox is
// called as tini or docker-init.
func tiniUsage(name string) string {
	return fmt.Sprintf(`Usage: %[1]s [OPTIONS] [--] PROGRAM [ARGS] | --version

Run PROGRAM as the child of an init that reaps zombies, forwards signals and
exits with PROGRAM's status (a drop-in for tini).

`, name) + tiniOptionsHelp
}

// tiniOptionsHelp lists tini mode's options and environment, in the order
// and words of tini's own help where it has them.
const tiniOptionsHelp = `Options:
  --version      Show version and exit.
  -h, --help     Show this help message and exit.
  -s             Register as a process subreaper (when not PID 1).
  -p SIGNAL      Trigger SIGNAL when parent dies, e.g. "-p SIGKILL".
  -v             Generate more verbose output. Repeat up to 3 times.
  -w             Print a warning when processes are getting reaped.
  -g             Send signals to the child's process group.
  -e EXIT_CODE   Remap EXIT_CODE (from 0 to 255) to 0. Repeatable.
  -l             Show license and exit.
  --grace DUR    After PROGRAM exits, send SIGTERM to the processes left,
                 wait up to DUR, then SIGKILL them (PID 1 or subreaper).

Environment variables:
  TINI_SUBREAPER           Register as a process subreaper.
  TINI_VERBOSITY           Set the verbosity level (default: 1).
  TINI_KILL_PROCESS_GROUP  Send signals to the child's process group.
  INITBOX_GRACE            As --grace.
  INITBOX_LOG_FORMAT       console (default) or json.
`
