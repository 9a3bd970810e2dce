//go:build linux

package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/initbox/initbox/control"
	"github.com/initbox/initbox/notify"
	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
	"github.com/initbox/initbox/spawn"
)

// env is what a command gets from main: the name initbox was called by
// (for messages) and, for an init, the process's one signal intake and
// reaper.
type env struct {
	name string
	in   *signals.Intake
	r    *reaper.Reaper
}

// A command is one of initbox's subcommands.
type command struct {
	name    string
	summary string // one line in `initbox --help`
	// usage is the command's whole help for the name initbox was called
	// by.
	usage func(name string) string
	run   func(e *env, args []string) int
	// init is set for the commands that are an init (they start and reap
	// processes and take signals): the others keep Go's default signal
	// behaviour, so that Ctrl-C and SIGTERM end `initbox ctl` as any
	// client.
	init bool
	// takes are the signals a client takes itself with os/signal, which
	// signals.Unblock leaves to it.
	takes []os.Signal
}

// commands is every subcommand, in the order `initbox --help` lists them.
// It is filled in init so that `help` can refer to the table it is in.
var commands []command

func init() {
	commands = []command{
		{"run", "supervise the services of a TOML config as PID 1", named(runUsage), runSupervisor, true, nil},
		{"check", "validate a config; errors name file, line and column", named(checkUsage), check, false, nil},
		{"ctl", "ask a running initbox: status, start, stop, restart, reload, logs, ...",
			func(string) string { return control.Usage },
			func(e *env, args []string) int { return control.Ctl(args, os.Stdout, os.Stderr) }, false, nil},
		{"exec", "run a program as a running service runs, through the running initbox",
			func(string) string { return control.ExecUsage },
			func(e *env, args []string) int { return control.Exec(args, os.Stdin, os.Stdout, os.Stderr) }, false,
			control.ExecSignals()},
		{"notify", "send sd_notify messages (READY=1, STATUS=...) from a service", named(notifyUsage), runNotify, false, nil},
		{"spawn", "run PROGRAM or a config as PID 1 of new namespaces, rootless too", named(spawn.Usage), runSpawn, true, nil},
		{"version", "print initbox's version", named(versionUsage), printVersion, false, nil},
		{"help", "print the help of initbox or of one command", named(helpUsage), help, false, nil},
	}
}

// named returns a usage function for a help text in which %[1]s stands for
// the name initbox was called by.
func named(format string) func(string) string {
	return func(name string) string { return fmt.Sprintf(format, name) }
}

// lookup returns the command called cmd, or nil.
func lookup(cmd string) *command {
	for i := range commands {
		if commands[i].name == cmd {
			return &commands[i]
		}
	}
	return nil
}

// isHelp reports whether a is one of the spellings of "print the help".
func isHelp(a string) bool { return a == "-h" || a == "--help" }

// usageError prints what is wrong, the command's usage line and where to
// read more, and returns the usage exit status.
func usageError(e *env, cmd string, err error) int {
	fmt.Fprintf(os.Stderr, "%s %s: %v\n", e.name, cmd, err)
	if c := lookup(cmd); c != nil {
		line, _, _ := strings.Cut(c.usage(e.name), "\n")
		fmt.Fprintln(os.Stderr, line)
	}
	fmt.Fprintf(os.Stderr, "Try '%s %s --help'.\n", e.name, cmd)
	return 2
}

// mainUsage is `initbox --help`: the commands, a line each, and tini mode.
func mainUsage(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `Usage: %[1]s [OPTIONS] [--] PROGRAM [ARGS]   run PROGRAM under initbox (tini mode)
       %[1]s COMMAND [ARGS]                 run a command

initbox is a PID 1 for containers. It reaps zombies, forwards signals and exits
with PROGRAM's status (a drop-in for tini), supervises services defined in TOML,
and launches itself into new namespaces.

Commands:
`, name)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(&b, `
With no arguments, initbox runs $INITBOX_CONFIG, or /etc/initbox/initbox.toml
and /etc/initbox/initbox.d/*.toml if there are any. A program named like a
command is run with '%[1]s -- NAME'.
Run '%[1]s help COMMAND' for a command's options.

Tini mode options:
`, name)
	b.WriteString(strings.TrimPrefix(tiniOptionsHelp, "Options:\n"))
	return b.String()
}

const helpUsage = `Usage: %[1]s help [COMMAND]

Prints the help of COMMAND, or of initbox when none is named.
`

// help is `initbox help [COMMAND]`.
func help(e *env, args []string) int {
	switch {
	case len(args) == 0:
		fmt.Print(mainUsage(e.name))
		return 0
	case len(args) > 1:
		return usageError(e, "help", fmt.Errorf("one command at a time"))
	case isHelp(args[0]):
		fmt.Print(lookup("help").usage(e.name))
		return 0
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(os.Stderr, "%s help: unknown command %q\n", e.name, args[0])
		fmt.Fprintf(os.Stderr, "Try '%s --help' for the list.\n", e.name)
		return 2
	}
	fmt.Print(c.usage(e.name))
	return 0
}

const versionUsage = `Usage: %[1]s version

Prints initbox's version, git commit, Go version and platform. (tini mode's
--version prints the one line 'docker info' parses instead.)
`

// printVersion is `initbox version`.
func printVersion(e *env, args []string) int {
	if len(args) > 0 {
		if isHelp(args[0]) {
			fmt.Print(lookup("version").usage(e.name))
			return 0
		}
		return usageError(e, "version", fmt.Errorf("takes no arguments"))
	}
	fmt.Printf("initbox %s (git %s, %s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}

const notifyUsage = `Usage: %[1]s notify KEY=VALUE...

Sends one sd_notify(3) message to $NOTIFY_SOCKET, for the shell scripts of a
service with type = "notify" or a [health] watchdog, e.g.

  %[1]s notify READY=1 STATUS="listening on :80"
  %[1]s notify WATCHDOG=1

and waits (up to 5 s) until initbox has handled it, so that initbox can still
check that the sender is a process of the service.
Exit status: 0 sent, 1 not sent (the message says why), 2 usage.
`

// runNotify is `initbox notify KEY=VALUE...`: sd_notify(3) for shell
// scripts.
func runNotify(e *env, args []string) int {
	if len(args) == 0 {
		return usageError(e, "notify", fmt.Errorf("no message"))
	}
	if isHelp(args[0]) {
		fmt.Print(lookup("notify").usage(e.name))
		return 0
	}
	for _, a := range args {
		if k, _, ok := strings.Cut(a, "="); !ok || k == "" || strings.Contains(a, "\n") {
			return usageError(e, "notify", fmt.Errorf("%q: want KEY=VALUE on one line", a))
		}
	}
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		fmt.Fprintf(os.Stderr, "%s notify: NOTIFY_SOCKET is not set: run this from a service with type = \"notify\" or a [health] watchdog\n", e.name)
		return 1
	}
	if err := notify.Send(addr, strings.Join(args, "\n")); err != nil {
		fmt.Fprintf(os.Stderr, "%s notify: %v\n", e.name, err)
		return 1
	}
	// Stay alive until the supervisor has handled the message: it checks
	// that the sender is a process of the service, which it cannot once
	// the sender has exited (systemd-notify's old race).
	if err := notify.Barrier(addr, 5*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "%s notify: %v\n", e.name, err)
	}
	return 0
}
