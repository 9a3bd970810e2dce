package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/initbox/initbox/signals"
)

// Validate checks what decoding cannot see on its own: command or shell,
// value ranges, at most one main service, dependencies on services that
// exist and are enabled, no dependency cycles, service names. Load and
// Parse call it; call it again after changing a Config in code (Add).
// It returns nil or an *Errors with every problem, at positions in the
// file where the Config came from one.
func (c *Config) Validate() error {
	if c.meta != nil {
		return c.meta.errorList(c.validate())
	}
	return errorList(c.validate())
}

type validator struct {
	c     *Config
	names []string // every service, in file order
	errs  []Error
}

// errorf reports a problem with p, at its value (or key, with onKey).
func (v *validator) errorf(p keyPath, onKey bool, format string, args ...any) {
	v.errorAt(p, onKey, p, format, args...)
}

// errorAt reports a problem with label at p's value (or key, with onKey).
func (v *validator) errorAt(p keyPath, onKey bool, label keyPath, format string, args ...any) {
	e := Error{File: v.c.File, Msg: label.String() + ": " + fmt.Sprintf(format, args...)}
	m := v.c.meta
	switch {
	case len(p) >= 2 && p[0] == "services" && (m == nil || m.added[p[1]]):
		e.File = "" // a service added in code has no place in the file
	case m != nil:
		e.File, e.Line, e.Col = m.pos(p, onKey)
	}
	v.errs = append(v.errs, e)
}

// skip reports whether p's value failed to decode, which was reported then.
func (v *validator) skip(p keyPath) bool {
	return v.c.meta != nil && v.c.meta.bad[p.id()]
}

// defined reports whether a file sets p; without a file, whether set says so.
func (v *validator) defined(p keyPath, set bool) bool {
	m := v.c.meta
	if m == nil || len(p) >= 2 && p[0] == "services" && m.added[p[1]] {
		return set
	}
	return m.defined(p) || set
}

func (c *Config) validate() []Error {
	v := &validator{c: c, names: c.names()}
	v.init()
	var mains []string
	for _, name := range v.names {
		s := c.Services[name]
		v.service(s)
		if s.Main {
			if len(mains) > 0 {
				v.errorf(keyPath{"services", name, "main"}, false, "more than one main service (%q is main too)", mains[0])
			}
			mains = append(mains, name)
		}
	}
	v.cycles()
	return v.errs
}

// names returns every service name: Order first, then any missing from it.
func (c *Config) names() []string {
	names := make([]string, 0, len(c.Services))
	seen := make(map[string]bool, len(c.Services))
	for _, n := range c.Order {
		if _, ok := c.Services[n]; ok && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range keys(c.Services) {
		if !seen[n] {
			names = append(names, n)
		}
	}
	return names
}

func (v *validator) init() {
	in, p := &v.c.Init, keyPath{"init"}
	if k := p.key("shutdown_timeout"); in.ShutdownTimeout <= 0 && !v.skip(k) {
		v.errorf(k, false, "must be positive")
	}
	if k := p.key("grace"); in.Grace < 0 && !v.skip(k) {
		v.errorf(k, false, "must not be negative")
	}
	if k := p.key("log_format"); !oneOf(string(in.LogFormat), logFormats) && !v.skip(k) {
		v.errorf(k, false, "unknown log format %q (want %s)", in.LogFormat, list(logFormats))
	}
	v.cgroups(&in.Cgroups, p.key("cgroups"))
	if k := p.key("control_socket"); in.ControlSocket != "" && !v.skip(k) {
		if msg := socketProblem(in.ControlSocket, strconv.Quote(in.ControlSocket)); msg != "" {
			v.errorf(k, false, "%s", msg)
		}
	}
	if k := p.key("http_listen"); in.HTTPListen != "" && !v.skip(k) {
		if msg := addrProblem(in.HTTPListen, false); msg != "" {
			v.errorf(k, false, "bad address %q: %s", in.HTTPListen, msg)
		}
	}
}

func (v *validator) cgroups(cg *Cgroups, p keyPath) {
	if k := p.key("mode"); !oneOf(string(cg.Mode), cgroupModes) && !v.skip(k) {
		v.errorf(k, false, "unknown cgroup mode %q (want %s)", cg.Mode, list(cgroupModes))
	}
	in, sv := p.key("init"), p.key("services")
	if !validCgroupName(cg.Init) && !v.skip(in) {
		v.errorf(in, false, "bad cgroup name %q: %s", cg.Init, cgroupNameRule)
	}
	if !validCgroupName(cg.Services) && !v.skip(sv) {
		v.errorf(sv, false, "bad cgroup name %q: %s", cg.Services, cgroupNameRule)
	}
	if cg.Init == cg.Services && !v.skip(in) && !v.skip(sv) {
		// At the one the file sets, which is the one to change.
		k := sv
		if !v.defined(sv, false) && v.defined(in, false) {
			k = in
		}
		v.errorf(k, false, "init and services must be different cgroups")
	}
}

func oneOf(s string, choices []string) bool {
	for _, c := range choices {
		if s == c {
			return true
		}
	}
	return false
}

// validName reports whether a service name is usable everywhere it goes:
// log prefixes, cgroup directories, `initbox ctl` arguments.
func validName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func (v *validator) service(s *Service) {
	p := keyPath{"services", s.Name}
	if !validName(s.Name) {
		v.errorf(p, true, "bad service name: use letters, digits, '_', '.' and '-' (and not . or ..)")
	}
	v.command(s, p)
	if k := p.key("type"); !oneOf(string(s.Type), types) && !v.skip(k) {
		v.errorf(k, false, "unknown type %q (want %s)", s.Type, list(types))
	}
	if s.Main && !s.Enabled {
		v.errorf(p.key("enabled"), false, "a main service cannot be disabled")
	}
	if k := p.key("schedule"); s.Schedule != nil && !v.skip(k) {
		switch {
		case s.Type != TypeOneshot:
			v.errorf(k, true, "a schedule needs type = \"oneshot\": a job that runs to completion at each time (this service is %s)", s.Type)
		case s.Main:
			v.errorf(k, true, "the main service cannot have a schedule: its exit ends initbox")
		}
	}
	v.output(p.key("stdout"), s.Stdout, false)
	v.output(p.key("stderr"), s.Stderr, true)
	for i, ef := range s.EnvFile {
		if ef.Path == "" {
			v.errorf(p.key("env_file").index(i), false, "empty path")
		}
	}
	for _, k := range keys(s.Env) {
		if !validEnvName(k) {
			v.errorf(p.key("env").key(k), true, "not a valid variable name (letters, digits and _, not starting with a digit)")
		}
	}
	v.restart(&s.Restart, p.key("restart"))
	v.stop(&s.Stop, p.key("stop"))
	v.resources(&s.Resources, p.key("resources"))
	v.ready(s, p)
	v.health(s, p)
	v.dependsOn(s, p.key("depends_on"))
}

// ready checks the ready table of the service at sp. Values set in code
// are checked too; the decoder has checked the file's.
func (v *validator) ready(s *Service, sp keyPath) {
	r, p := &s.Ready, sp.key("ready")
	ms := r.methods()
	if !v.defined(p, len(ms) > 0 || s.Type == TypeNotify) || v.skip(p) {
		return
	}
	if s.Type == TypeOneshot {
		v.errorf(p, true, "a oneshot is done when it exits: it takes no ready table (dependents wait for it with completed or succeeded)")
		return
	}
	typeOK := !v.skip(sp.key("type"))
	nk := p.key("notify")
	if typeOK && !v.skip(nk) {
		switch {
		case r.Notify && s.Type != TypeNotify:
			v.errorf(nk, false, "READY=1 is read only from a service of type notify, and %s is %s; set type = \"notify\"", s.Name, s.Type)
		case !r.Notify && s.Type == TypeNotify:
			v.errorf(nk, false, "false contradicts type = \"notify\", which waits for READY=1")
		}
	}
	switch {
	case len(ms) > 1:
		names := append([]string(nil), ms...)
		if names[0] == MethodNotify && !v.defined(nk, false) {
			names[0] = `notify (type = "notify")`
		}
		v.errorAt(p.key(ms[1]), true, p, "more than one readiness method: %s; keep one", listAnd(names))
	case len(ms) == 0 && s.Type != TypeNotify && !v.anyBad(p, readyKeys[:6]):
		v.errorf(p, true, "no readiness method: set one of fd, tcp, http, exec or file (or type = \"notify\" for READY=1)")
	}
	if k := p.key("fd"); r.FD != 0 && (r.FD < 3 || r.FD > MaxReadyFD) && !v.skip(k) {
		v.errorf(k, false, "%s", fdProblem(r.FD))
	}
	v.probe(p, r.Exec, r.HTTP, r.TCP)
	if k := p.key("interval"); r.Interval <= 0 && !v.skip(k) {
		v.errorf(k, false, "must be positive")
	}
	if k := p.key("timeout"); r.Timeout <= 0 && !v.skip(k) {
		v.errorf(k, false, "must be positive")
	}
}

// health checks the health table of the service at sp, as ready does.
func (v *validator) health(s *Service, sp keyPath) {
	h, p := &s.Health, sp.key("health")
	ms := h.methods()
	if !v.defined(p, len(ms) > 0 || h.Watchdog != 0) || v.skip(p) {
		return
	}
	if s.Type == TypeOneshot {
		v.errorf(p, true, "a oneshot is done when it exits: it takes no health table")
		return
	}
	switch {
	case len(ms) > 1:
		v.errorAt(p.key(ms[1]), true, p, "more than one health check: %s; keep one", listAnd(ms))
	case len(ms) == 0 && h.Watchdog == 0 && !v.anyBad(p, []string{"exec", "http", "tcp", "watchdog"}):
		v.errorf(p, true, "no health check: set exec, http or tcp, or watchdog (with type = \"notify\")")
	}
	v.probe(p, h.Exec, h.HTTP, h.TCP)
	if k := p.key("watchdog"); h.Watchdog != 0 && !v.skip(k) {
		switch {
		case h.Watchdog < 0:
			v.errorf(k, false, "must be positive (leave watchdog out for none)")
		case s.Type != TypeNotify && !v.skip(sp.key("type")):
			v.errorf(k, false, "WATCHDOG=1 comes by sd_notify, and %s is %s; set type = \"notify\"", s.Name, s.Type)
		}
	}
	if k := p.key("action"); s.Main && h.Action == HealthStop && !v.skip(k) {
		// Its exit is initbox's: it is never stopped alone.
		v.errorf(k, false, "the main service cannot be stopped alone; use \"shutdown\" (everything stops) or \"restart\"")
	}
	if k := p.key("start_period"); h.StartPeriod < 0 && !v.skip(k) {
		v.errorf(k, false, "must not be negative")
	}
	if k := p.key("interval"); h.Interval <= 0 && !v.skip(k) {
		v.errorf(k, false, "must be positive")
	}
	if k := p.key("timeout"); h.Timeout <= 0 && !v.skip(k) {
		v.errorf(k, false, "must be positive")
	}
	if k := p.key("failure_threshold"); h.FailureThreshold < 1 && !v.skip(k) {
		v.errorf(k, false, "must be at least 1, not %d", h.FailureThreshold)
	}
	if k := p.key("success_threshold"); h.SuccessThreshold < 1 && !v.skip(k) {
		v.errorf(k, false, "must be at least 1, not %d", h.SuccessThreshold)
	}
	if k := p.key("action"); !oneOf(string(h.Action), healthActions) && !v.skip(k) {
		v.errorf(k, false, "unknown health action %q (want %s)", h.Action, list(healthActions))
	}
}

// probe checks the exec, http and tcp of a check set in code.
func (v *validator) probe(p keyPath, exec []string, http, tcp string) {
	if k := p.key("exec"); exec != nil && !v.skip(k) {
		switch {
		case len(exec) == 0:
			v.errorf(k, false, "empty command")
		case exec[0] == "":
			v.errorf(k.index(0), false, "empty program name")
		}
	}
	if k := p.key("http"); http != "" && !v.skip(k) {
		if msg := urlProblem(http); msg != "" {
			v.errorf(k, false, "%s", msg)
		}
	}
	if k := p.key("tcp"); tcp != "" && !v.skip(k) {
		if msg := addrProblem(tcp, true); msg != "" {
			v.errorf(k, false, "bad address %q: %s", tcp, msg)
		}
	}
}

// anyBad reports whether any of the keys of table p failed to decode.
func (v *validator) anyBad(p keyPath, ks []string) bool {
	for _, k := range ks {
		if v.skip(p.key(k)) {
			return true
		}
	}
	return false
}

func (v *validator) command(s *Service, p keyPath) {
	cmd, sh := p.key("command"), p.key("shell")
	if v.skip(cmd) || v.skip(sh) {
		return // the decoder has said what is wrong with them
	}
	hasCmd := v.defined(cmd, s.Command != nil)
	hasShell := v.defined(sh, s.Shell != "")
	switch {
	case hasCmd && hasShell:
		v.errorf(sh, true, "set either command or shell, not both")
	case !hasCmd && !hasShell:
		v.errorf(p, true, "set command (an argv array) or shell (a command line for /bin/sh -c)")
	case hasCmd && len(s.Command) == 0:
		v.errorf(cmd, false, "empty command")
	case hasCmd && s.Command[0] == "":
		v.errorf(cmd.index(0), false, "empty program name")
	case hasShell && strings.TrimSpace(s.Shell) == "":
		v.errorf(sh, false, "empty shell command line")
	}
}

func (v *validator) output(p keyPath, o Output, stderr bool) {
	if v.skip(p) {
		return
	}
	switch o.Kind {
	case OutputInherit, OutputNull:
		return
	case OutputFile, OutputAppend:
		if o.Path == "" {
			v.errorf(p, false, "%s: wants a path", o.Kind)
		}
		return
	case OutputStdout:
		if stderr {
			return
		}
	}
	v.errorf(p, false, "unknown output %q", o.String())
}

func (v *validator) restart(r *Restart, p keyPath) {
	if k := p.key("policy"); !oneOf(string(r.Policy), policies) && !v.skip(k) {
		v.errorf(k, false, "unknown restart policy %q (want %s)", r.Policy, list(policies))
	}
	if k := p.key("delay"); r.Delay < 0 && !v.skip(k) {
		v.errorf(k, false, "must not be negative")
	}
	if k := p.key("multiplier"); !v.skip(k) {
		switch m := r.Multiplier; {
		case math.IsNaN(m) || math.IsInf(m, 0):
			v.errorf(k, false, "must be a finite number")
		case m < 1:
			v.errorf(k, false, "must be at least 1 (1 keeps every delay the same), not %v", m)
		}
	}
	if k := p.key("max_delay"); r.MaxDelay < r.Delay && r.Delay >= 0 && !v.skip(k) && !v.skip(p.key("delay")) {
		v.errorf(k, false, "is less than delay (%v < %v)", r.MaxDelay, r.Delay)
	}
	if k := p.key("reset_after"); r.ResetAfter < 0 && !v.skip(k) {
		v.errorf(k, false, "must not be negative")
	}
	if k := p.key("limit_burst"); r.LimitBurst < 1 && !v.skip(k) {
		v.errorf(k, false, "must be at least 1, not %d", r.LimitBurst)
	}
	if k := p.key("limit_interval"); r.LimitInterval <= 0 && !v.skip(k) {
		v.errorf(k, false, "must be positive")
	}
	for i, code := range r.SuccessExitCodes {
		if k := p.key("success_exit_codes").index(i); (code < 0 || code > 255) && !v.skip(k) {
			v.errorf(k, false, "exit code %d is outside 0..255", code)
		}
	}
}

func (v *validator) stop(st *Stop, p keyPath) {
	if k := p.key("signal"); (st.Signal <= 0 || st.Signal >= signals.NSIG) && !v.skip(k) {
		v.errorf(k, false, "signal %d is outside 1..%d", int(st.Signal), signals.NSIG-1)
	}
	if k := p.key("timeout"); st.Timeout <= 0 && !v.skip(k) {
		v.errorf(k, false, "must be positive (SIGKILL follows it)")
	}
	if k := p.key("mode"); !oneOf(string(st.Mode), stopModes) && !v.skip(k) {
		v.errorf(k, false, "unknown stop mode %q (want %s)", st.Mode, list(stopModes))
	}
}

// resources checks limits set in code; the decoder has checked the file's,
// where 0 is a mistake rather than unset.
func (v *validator) resources(r *Resources, p keyPath) {
	for _, b := range []struct {
		key string
		val Bytes
	}{{"memory_max", r.MemoryMax}, {"memory_high", r.MemoryHigh}, {"memory_swap_max", r.MemorySwapMax}} {
		if k := p.key(b.key); b.val < 0 && b.val != Unlimited && !v.skip(k) {
			v.errorf(k, false, "want a size of at least 1 byte (or \"max\"), not %d", int64(b.val))
		}
	}
	if k := p.key("cpu_max"); r.CPUMax != 0 && r.CPUMax != Unlimited && !v.skip(k) {
		if msg := cpuProblem(r.CPUMax, strconv.FormatFloat(r.CPUMax, 'g', -1, 64)); msg != "" {
			v.errorf(k, false, "%s", msg)
		}
	}
	for _, w := range []struct {
		key string
		val int
	}{{"cpu_weight", r.CPUWeight}, {"io_weight", r.IOWeight}} {
		if k := p.key(w.key); (w.val < 0 || w.val > MaxWeight) && !v.skip(k) {
			v.errorf(k, false, "weight %d is outside 1..%d (the kernel's default is 100)", w.val, MaxWeight)
		}
	}
	if k := p.key("pids_max"); r.PidsMax != 0 && r.PidsMax != Unlimited && !v.skip(k) {
		if msg := pidsProblem(r.PidsMax); msg != "" {
			v.errorf(k, false, "%s", msg)
		}
	}
	if k := p.key("oom_score_adj"); r.OOMScoreAdjSet && (r.OOMScoreAdj < -1000 || r.OOMScoreAdj > 1000) && !v.skip(k) {
		v.errorf(k, false, "%d is outside -1000..1000", r.OOMScoreAdj)
	}
}

func (v *validator) dependsOn(s *Service, p keyPath) {
	for _, dep := range keys(s.DependsOn) {
		k, cond := p.key(dep), s.DependsOn[dep]
		if !oneOf(string(cond), conditions) && !v.skip(k) {
			v.errorf(k, false, "unknown condition %q (want %s)", cond, list(conditions))
		}
		t, ok := v.c.Services[dep]
		switch {
		case !ok:
			v.errorAt(k, true, p, "unknown service %q%s", dep, didYouMean(dep, v.names))
		case s.Enabled && !t.Enabled:
			v.errorf(k, true, "%s is disabled, so %s would never start (enable %s or disable %s)", dep, s.Name, dep, s.Name)
		case t.Schedule != nil:
			v.errorf(k, true, "%s is a scheduled job: it runs at its times, not at start, so nothing can wait for it", dep)
		case (cond == ConditionCompleted || cond == ConditionSucceeded) && t.Type != TypeOneshot && !v.skip(k):
			v.errorf(k, false, "condition %s needs a oneshot service; %s is %s (use started, ready or healthy)", cond, dep, t.Type)
		}
	}
}

// cycles reports each dependency cycle once, as "a -> b -> a", starting
// from the service the file defines first, at that service's depends_on
// entry for the next one.
func (v *validator) cycles() {
	names := v.names
	order := make(map[string]int, len(names))
	for i, n := range names {
		order[n] = i
	}
	const (
		white = iota
		grey
		black
	)
	color := make(map[string]int, len(names))
	var stack []string
	reported := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		for _, dep := range keys(v.c.Services[n].DependsOn) {
			if _, ok := v.c.Services[dep]; !ok {
				continue
			}
			switch color[dep] {
			case white:
				visit(dep)
			case grey:
				i := len(stack) - 1
				for stack[i] != dep {
					i--
				}
				cyc := append([]string(nil), stack[i:]...)
				// Rotate so that the cycle starts at its first service.
				first := 0
				for j, m := range cyc {
					if order[m] < order[cyc[first]] {
						first = j
					}
				}
				cyc = append(cyc[first:], cyc[:first]...)
				cyc = append(cyc, cyc[0])
				s := strings.Join(cyc, " -> ")
				if !reported[s] {
					reported[s] = true
					v.errorf(keyPath{"services", cyc[0], "depends_on", cyc[1]}, true, "dependency cycle: %s", s)
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	for _, n := range names {
		if color[n] == white {
			visit(n)
		}
	}
}

// StartOrder returns the enabled services in levels: every service of a
// level depends only on services of earlier levels, so a level's services
// may start in parallel once their conditions hold; stopping goes through
// the levels in reverse. Within a level, services are in file order.
// Dependencies on disabled services are ignored (Validate rejects them);
// services in a dependency cycle are left out (Validate rejects those too).
func (c *Config) StartOrder() [][]string {
	enabled := map[string]bool{}
	var remaining []string
	for _, n := range c.names() {
		if c.Services[n].Enabled {
			enabled[n] = true
			remaining = append(remaining, n)
		}
	}
	placed := map[string]bool{}
	var levels [][]string
	for len(remaining) > 0 {
		var level, rest []string
		for _, n := range remaining {
			ready := true
			for dep := range c.Services[n].DependsOn {
				if enabled[dep] && !placed[dep] {
					ready = false
					break
				}
			}
			if ready {
				level = append(level, n)
			} else {
				rest = append(rest, n)
			}
		}
		if len(level) == 0 {
			break
		}
		for _, n := range level {
			placed[n] = true
		}
		levels = append(levels, level)
		remaining = rest
	}
	return levels
}

// ServiceError is a problem with a key of a service that package config
// cannot see by itself: one found where the config meets the process, such
// as a user that initbox has no privilege to switch to.
type ServiceError struct {
	Service string
	// Key is below [services.NAME], dotted, with [N] for an element of an
	// array: "user", "resources.oom_score_adj", "capabilities[1]".
	Key string
	Msg string
}

// ServiceErrors returns list as an *Errors at the keys' positions, in
// file order and formatted as Validate's (services.NAME.KEY: Msg), or nil
// for an empty list.
func (c *Config) ServiceErrors(list []ServiceError) error {
	v := &validator{c: c}
	for _, e := range list {
		p := keyPath{"services", e.Service}
		for _, k := range strings.Split(e.Key, ".") {
			name, idx, _ := strings.Cut(k, "[")
			p = p.key(name)
			if n, err := strconv.Atoi(strings.TrimSuffix(idx, "]")); idx != "" && err == nil {
				p = p.index(n)
			}
		}
		v.errorAt(p, false, p, "%s", e.Msg)
	}
	if c.meta != nil {
		return c.meta.errorList(v.errs)
	}
	return errorList(v.errs)
}
