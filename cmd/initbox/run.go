//go:build linux

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/initbox/initbox/cgroup"
	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/control"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/mem"
	"github.com/initbox/initbox/reaper"
	"github.com/initbox/initbox/signals"
	"github.com/initbox/initbox/supervisor"
)

// defaultConfig is where initbox looks for its configuration when neither
// -c nor INITBOX_CONFIG names one.
const defaultConfig = "/etc/initbox/initbox.toml"

// The supervisor gives memory back (mem.Trimmer: a collection, the free
// heap, the pages of its binary) releaseSettle after every enabled service
// is up (or cannot be), when their first checks have run, or at the latest
// releaseAfter after its start (scheduled jobs are never "up"); then
// trimAfter after any later work (restarts, checks, requests), which maps
// pages back and grows the heap.
const (
	releaseSettle = 500 * time.Millisecond
	releaseAfter  = 10 * time.Second
	trimAfter     = 10 * time.Second
)

// defaultDropIns is the directory whose *.toml files are merged over
// defaultConfig, in lexical order, when neither -c nor INITBOX_CONFIG
// names the configuration: an image adds or changes services with a file
// of its own instead of editing its base image's.
const defaultDropIns = "/etc/initbox/initbox.d"

const runUsage = `Usage: %[1]s run [-c FILE]... [-v] [--] [PROGRAM [ARGS]]

Supervises the services defined in the configuration (TOML, see
docs/config.md): starts them in dependency order, each in a cgroup of its
own where cgroups allow, restarts them as their restart policy says, and on
SIGTERM or SIGINT stops them in reverse order. PROGRAM, if given, is added
as the main service: its exit ends the run and its status is initbox's.
SIGHUP (or '%[1]s ctl reload') reads every file of the configuration again.

Options:
  -c, --config FILE  a config file, or a directory whose *.toml files are
                     read in lexical order; may be repeated: later files
                     merge over earlier ones, key by key (default:
                     $INITBOX_CONFIG, else /etc/initbox/initbox.toml then
                     /etc/initbox/initbox.d/*.toml, each of which may be
                     missing; both when PROGRAM is given)
  -v                 debug lines from initbox
  -h, --help         show this help and exit

Environment variables:
  INITBOX_CONFIG            as one -c (a file or a directory), instead of
                            both defaults
  INITBOX_LOG_FORMAT        console or json, over init.log_format
  INITBOX_SHUTDOWN_TIMEOUT  a duration (30s), over init.shutdown_timeout
  GOGC, GOMEMLIMIT          either one replaces initbox's own GC target
                            (GOGC=50; docs/config.md)

Exit status: the main service's (128+N if killed by signal N), 2 for a bad
command line or config (FILE:LINE:COL: message), 1 if initbox cannot start.
Running services are managed with '%[1]s ctl'.
`

const checkUsage = `Usage: %[1]s check [-c FILE]... [--print]

Reads, merges and validates the configuration as '%[1]s run' would, without
starting anything. Prints 'FILES: ok, N services (E enabled, D disabled)'
and exits 0, or prints each problem as FILE:LINE:COL: message and exits 2.

Options:
  -c, --config FILE  a config file or a directory of *.toml files, as for
                     run; may be repeated (default: $INITBOX_CONFIG, else
                     /etc/initbox/initbox.toml then
                     /etc/initbox/initbox.d/*.toml)
      --print        print the merged configuration as TOML instead, each
                     key with a comment naming the file it comes from; the
                     'ok' line and INITBOX_SHUTDOWN_TIMEOUT come first, as
                     comments
  -h, --help         show this help and exit
`

type runOptions struct {
	// configs are the files and directories -c or INITBOX_CONFIG name, in
	// merge order; with neither, the defaults are read.
	configs   []string
	explicit  bool // -c or INITBOX_CONFIG given
	print     bool // check --print
	verbosity int
	help      bool
	argv      []string
}

// parseRun reads `run` and `check` options: -c PATH (or --config PATH,
// --config=PATH), repeated, -v and -h, then an optional [--] PROGRAM ARGS.
func parseRun(args []string, getenv func(string) (string, bool)) (runOptions, error) {
	var o runOptions
	fromEnv := false
	if v, ok := getenv("INITBOX_CONFIG"); ok && v != "" {
		o.configs, o.explicit, fromEnv = []string{v}, true, true
	}
	addConfig := func(path string) {
		// The command line replaces the environment's choice rather than
		// adding to it, as for every other option.
		if fromEnv {
			o.configs, fromEnv = nil, false
		}
		o.configs, o.explicit = append(o.configs, path), true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			o.argv = args[i+1:]
			return o, nil
		case a == "-c" || a == "--config":
			if i+1 >= len(args) {
				return o, fmt.Errorf("option %s needs a file or a directory", a)
			}
			i++
			addConfig(args[i])
		case strings.HasPrefix(a, "--config="):
			addConfig(strings.TrimPrefix(a, "--config="))
		case strings.HasPrefix(a, "-c") && len(a) > 2:
			addConfig(a[2:])
		case a == "-v":
			o.verbosity++
		case isHelp(a):
			o.help = true
		case strings.HasPrefix(a, "-") && a != "-":
			return o, fmt.Errorf("unknown option %s", a)
		default:
			o.argv = args[i:]
			return o, nil
		}
	}
	return o, nil
}

// parseCheck reads `check` options: those of parseRun, and --print.
func parseCheck(args []string, getenv func(string) (string, bool)) (runOptions, error) {
	rest := make([]string, 0, len(args))
	wantPrint := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--print":
			wantPrint = true
			continue
		case a == "--" || a == "-" || !strings.HasPrefix(a, "-"):
			// The program, if any, and all after it are its own (as
			// parseRun reads them), --print included.
			rest = append(rest, args[i:]...)
			i = len(args)
			continue
		case (a == "-c" || a == "--config") && i+1 < len(args):
			rest = append(rest, a) // its value may be called --print
			i++
			a = args[i]
		}
		rest = append(rest, args[i])
	}
	o, err := parseRun(rest, getenv)
	o.print = wantPrint
	return o, err
}

// loadConfig reads and merges the configuration o names, and refuses what
// initbox could not grant as the uid it runs as (run, a reload and check
// alike). Without -c or INITBOX_CONFIG, that is defaultConfig then
// defaultDropIns, either of which may be missing; both may be when a
// program is given: then the program is the only service.
func loadConfig(o runOptions) (*config.Config, error) {
	paths := o.configs
	if !o.explicit {
		paths = present(defaultConfig, defaultDropIns)
		if len(paths) == 0 && len(o.argv) > 0 {
			c := config.New()
			return c, c.ApplyEnv(os.LookupEnv) // as LoadFiles does
		}
		if len(paths) == 0 {
			paths = []string{defaultConfig} // whose error says what is missing
		}
	}
	c, err := config.LoadFiles(paths, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return c, supervisor.CheckPrivileges(c)
}

// runConfig is the configuration run starts and a reload applies:
// buildConfig's, without the files' positions, which nothing needs once
// it is accepted (see config.ForgetPositions).
func runConfig(o runOptions) (*config.Config, string, error) {
	c, implicit, err := buildConfig(o)
	if err != nil {
		return nil, "", err
	}
	c.ForgetPositions()
	return c, implicit, nil
}

// present returns the paths that exist, or that fail otherwise than by not
// existing (reading them will say how).
func present(paths ...string) []string {
	var out []string
	for _, p := range paths {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			out = append(out, p)
		}
	}
	return out
}

// buildConfig reads the configuration o names and adds the program given
// after -- as the implicit main service; implicit is its name, or "".
func buildConfig(o runOptions) (c *config.Config, implicit string, err error) {
	c, err = loadConfig(o)
	if err != nil {
		return nil, "", err
	}
	if len(o.argv) > 0 {
		m := config.NewService("main")
		m.Command, m.Main = o.argv, true
		m.Restart.Policy = config.RestartNever
		if err := c.Add(m); err != nil {
			return nil, "", fmt.Errorf("-- %s: %w", o.argv[0], err)
		}
		if err := c.Validate(); err != nil {
			return nil, "", err
		}
		implicit = "main"
	}
	return c, implicit, nil
}

// runSupervisor is `initbox run`.
func runSupervisor(e *env, args []string) int {
	name, in, r := e.name, e.in, e.r
	o, err := parseRun(args, os.LookupEnv)
	if err != nil {
		return usageError(e, "run", err)
	}
	if o.help {
		fmt.Print(lookup("run").usage(name))
		return 0
	}
	c, implicit, err := runConfig(o)
	if err != nil {
		printConfigError(name, err)
		return 2
	}
	if len(c.Order) == 0 {
		fmt.Fprintf(os.Stderr, "%s: %s defines no service and no program was given\n", name, c.File)
		return 2
	}
	format := logging.Format(c.Init.LogFormat)
	if v, ok := os.LookupEnv("INITBOX_LOG_FORMAT"); ok {
		if format, err = logging.ParseFormat(v); err != nil {
			fmt.Fprintf(os.Stderr, "%s: INITBOX_LOG_FORMAT: %v\n", name, err)
			return 2
		}
	}
	level := logging.InfoLevel
	if o.verbosity > 0 {
		level = logging.DebugLevel
	}
	log := logging.Stderr(format, level)
	if ign := in.Ignored(); ign != 0 {
		log.Warn(ignoredLine(ign))
	}
	if os.Getpid() != 1 {
		// Outside a PID namespace, orphans must still come to initbox: PID
		// 1 may be a pause container (--pid container:X,
		// shareProcessNamespace) or another init (docker run --init).
		if err := reaper.SetSubreaper(); err != nil {
			log.Warn("cannot register as a child subreaper: orphans will not be reaped", logging.Err(err))
		} else {
			log.Info("not PID 1: child subreaper, so the services' orphans come to initbox", logging.Int("pid", os.Getpid()))
		}
	}
	tree, ok := openCgroups(c, log)
	if !ok {
		return 1
	}
	if tree != nil {
		defer func() {
			if err := tree.Close(); err != nil {
				log.Warn("cannot remove the services' cgroups", logging.Err(err))
			}
		}()
	}
	trim := mem.NewTrimmer(trimAfter, func(err error) {
		log.Debug("pages kept", logging.Err(err))
	})
	s := supervisor.New(supervisor.Options{
		Config:       c,
		Starter:      r,
		Sweep:        r.Sweep,
		Fork:         in,
		Env:          os.Environ(),
		Stdout:       os.Stdout,
		Stderr:       os.Stderr,
		Log:          log,
		ImplicitMain: implicit,
		Cgroups:      tree,
		Reload: func() (*config.Config, error) {
			c, _, err := runConfig(o)
			return c, err
		},
		Worked: trim.Touch,
	})
	if path := c.Init.ControlSocket; path != "" {
		// An aid to operators, not a service: initbox runs without it.
		serve := func() (*control.Server, error) { return control.Serve(path, controlAPI{s}, log) }
		if path == config.ControlSocketAuto {
			serve = func() (*control.Server, error) { return control.ServeAuto(controlAPI{s}, log) }
		}
		if srv, err := serve(); err != nil {
			log.Warn("no control socket: initbox ctl will not reach this initbox", logging.String("path", path), logging.Err(err))
		} else {
			defer srv.Close()
		}
	}
	if addr := c.Init.HTTPListen; addr != "" {
		// Probes that cannot be served would fail the pod anyway: say it
		// now rather than after the services have started.
		srv, err := control.ServeProbes(addr, controlAPI{s}, log)
		if err != nil {
			log.Error("cannot serve init.http_listen", logging.String("addr", addr), logging.Err(err))
			return 1
		}
		defer srv.Close()
	}
	// The supervisor's start-up is not on a program's exec path: every
	// signal is taken before the first service starts.
	in.TakeRest()
	// Once the services are up, reading the config, laying out cgroups and
	// the listeners are done with (issue #17: 20 services, 6.0 -> 3.4 MiB
	// resident 1 s after they started).
	var enabled []string
	for _, n := range c.Order {
		if c.Services[n].Enabled {
			enabled = append(enabled, n)
		}
	}
	go func() {
		_ = s.Wait(enabled, supervisor.GoalUp, releaseAfter)
		trim.TrimAfter(releaseSettle)
	}()
	return s.Run(in.C)
}

// openCgroups lays out initbox's cgroup for the services as
// [init.cgroups] says, and logs one line saying what is available. It
// returns a nil tree when cgroups are off or unavailable; ok is false
// when they are required and unavailable.
func openCgroups(c *config.Config, log *logging.Logger) (tree *cgroup.Tree, ok bool) {
	mode := c.Init.Cgroups.Mode
	if mode == config.CgroupOff {
		log.Info("cgroups off (init.cgroups.mode): services are stopped by process group")
		return nil, true
	}
	info := cgroup.Detect()
	tree, err := cgroup.Open(info, cgroup.Options{Init: c.Init.Cgroups.Init, Services: c.Init.Cgroups.Services})
	if err != nil {
		// Detect found a writable cgroup and laying it out failed, or
		// Detect said why there is none.
		info.Err = err
		if mode == config.CgroupRequired {
			msg := fmt.Sprintf("cgroups unavailable: %v; init.cgroups.mode is required: not starting", err)
			if h := info.Hint(); h != "" {
				msg += " (" + h + ")"
			}
			log.Error(msg)
			return nil, false
		}
		log.Warn(info.Describe())
		return nil, true
	}
	log.Info(info.Describe(), logging.String("services", tree.Path()), logging.Int("moved_to_init", tree.Moved), logging.String("start_inside", map[bool]string{true: "clone3", false: "trampoline"}[tree.CloneInto]))
	return tree, true
}

// printConfigError prints what is wrong with the configuration. Problems
// in the file are printed one per line as FILE:LINE:COL: message, exactly
// as `initbox check` prints them, so that editors and CI annotators can
// parse them; a "name: " prefix would spoil the first line only. Other
// errors (the file cannot be read) get the prefix.
func printConfigError(name string, err error) {
	var list *config.Errors
	if errors.As(err, &list) {
		fmt.Fprintln(os.Stderr, list)
		return
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
}

// check is `initbox check`: it validates the configuration and prints every
// problem, exiting 0 when there is none and 2 otherwise.
func check(e *env, args []string) int {
	name := e.name
	o, err := parseCheck(args, os.LookupEnv)
	if err == nil && len(o.argv) > 0 {
		err = fmt.Errorf("takes no program (%s)", o.argv[0])
	}
	if err != nil {
		return usageError(e, "check", err)
	}
	if o.help {
		fmt.Print(lookup("check").usage(name))
		return 0
	}
	c, err := loadConfig(o)
	if err != nil {
		printConfigError(name, err)
		return 2
	}
	enabled := 0
	for _, n := range c.Order {
		if c.Services[n].Enabled {
			enabled++
		}
	}
	files := c.File
	if len(c.Files) > 0 {
		files = strings.Join(c.Files, ", ")
	}
	ok := fmt.Sprintf("%s: ok, %s (%d enabled, %d disabled)", files, plural(len(c.Order), "service"), enabled, len(c.Order)-enabled)
	if !o.print {
		fmt.Println(ok)
		return 0
	}
	// Comments, so that the output as a whole is the config: it can be
	// saved and run with -c.
	fmt.Printf("# %s\n", ok)
	if v, set := os.LookupEnv(config.ShutdownTimeoutEnv); set {
		fmt.Printf("# %s=%s overrides init.shutdown_timeout\n", config.ShutdownTimeoutEnv, v)
	}
	fmt.Println()
	if err := c.WriteTOML(os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// plural is "1 service", "2 services".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// ignoredLine says which signals initbox leaves ignored because they were
// ignored when it started (nohup, a shell's background job), and how to do
// without them (issue #14). Services still start with every signal at its
// default action.
func ignoredLine(ign signals.Set) string {
	var names []string
	for n := 1; n < signals.NSIG; n++ {
		sig := syscall.Signal(n)
		if !ign.Has(sig) {
			continue
		}
		name := signals.Name(sig)
		switch sig {
		case syscall.SIGHUP:
			name += " (reload with `initbox ctl reload`)"
		case syscall.SIGINT, syscall.SIGQUIT:
			name += " (stop with SIGTERM)"
		}
		names = append(names, name)
	}
	return "signals ignored when initbox started stay ignored by initbox, and are not forwarded: " + strings.Join(names, ", ")
}
