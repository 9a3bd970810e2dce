package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/initbox/initbox/cgroup"
	"github.com/initbox/initbox/schedule"

	"github.com/initbox/initbox/signals"
)

// Keys of each table. A key in a "later" list belongs to a feature of a
// later version: it gets a clear "not supported by this version" instead
// of "unknown key" until the feature lands. None is left for now; the
// lists stay for the next one.
var (
	topKeys       = []string{"init", "services"}
	initKeys      = []string{"shutdown_timeout", "log_format", "log_prefix", "grace", "cgroups", "control_socket", "http_listen", "timezone"}
	initLater     = []string(nil)
	cgroupsKeys   = []string{"mode", "init", "services"}
	serviceKeys   = []string{"command", "shell", "type", "main", "essential", "enabled", "user", "group", "working_dir", "env", "env_file", "inherit_env", "stdout", "stderr", "forward_signals", "no_new_privs", "capabilities", "depends_on", "restart", "stop", "resources", "ready", "health", "schedule"}
	serviceLater  = []string(nil)
	restartKeys   = []string{"policy", "delay", "multiplier", "max_delay", "reset_after", "limit_burst", "limit_interval", "success_exit_codes"}
	stopKeys      = []string{"signal", "timeout", "mode"}
	resourcesKeys = []string{"memory_max", "memory_high", "memory_swap_max", "cpu_max", "cpu_weight", "pids_max", "io_weight", "oom_group", "oom_score_adj"}
	readyKeys     = []string{"notify", "fd", "tcp", "http", "exec", "file", "interval", "timeout"}
	healthKeys    = []string{"exec", "http", "tcp", "start_period", "interval", "timeout", "failure_threshold", "success_threshold", "action", "watchdog"}
)

// ErrInsecure is wrapped by Load's error for a config file every user may
// write, or a config directory every user may add files to.
var ErrInsecure = errors.New("insecure config file")

// Load reads and parses the config file at path; see Parse. Relative paths
// in the file are relative to the file's directory. An error reading the
// file is returned wrapped (errors.Is(err, fs.ErrNotExist) works); a bad
// file gives an *Errors. A directory is read as LoadFiles reads it.
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	return LoadFiles([]string{path}, env)
}

// Parse decodes and validates a config file's contents. name is what error
// messages call the file; relative paths in it are made relative to
// filepath.Dir(name). env looks up the variables of ${VAR} references; nil
// means os.LookupEnv.
//
// The result is either a complete, valid *Config and a nil error, or a nil
// *Config and an *Errors with every problem found, each at the line and
// column of the offending key or value. A TOML syntax error stops the
// parse, so it comes alone.
func Parse(name string, data []byte, env func(string) (string, bool)) (*Config, error) {
	return ParseFiles([]File{{Name: name, Data: data}}, env)
}

func parseSources(srcs []*source, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	var syntax []Error
	for _, src := range srcs {
		root, md, err := decodeTOML(src.data)
		if err != nil {
			syntax = append(syntax, syntaxError(src.name, src.data, err).List...)
			continue
		}
		src.root, src.md, src.ix = root, md, newIndex(src.data)
	}
	m := &meta{files: srcs, rel: map[string]string{}, bad: map[string]bool{}, added: map[string]bool{}}
	if len(syntax) > 0 {
		return nil, m.errorList(syntax)
	}
	m.merge()
	d := &decoder{m: m, env: env, bad: m.bad}
	c := New()
	c.Files = m.names()
	if len(c.Files) > 0 {
		c.File = c.Files[0]
	}
	d.document(c, m.root)
	c.meta = m
	if err := m.errorList(append(d.errs, c.validate()...)); err != nil {
		return nil, err
	}
	// After the files' checks: the variable is in no file, so its error
	// has no line to name.
	if err := c.ApplyEnv(env); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// decodeTOML parses data into generic maps. A panic in the TOML library
// becomes an error: a reload must not take PID 1 down.
func decodeTOML(data []byte) (root map[string]any, md toml.MetaData, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("TOML parser failed: %v", r)
		}
	}()
	md, err = toml.Decode(string(data), &root)
	return root, md, err
}

// syntaxError turns the TOML parser's error into an *Errors.
func syntaxError(name string, data []byte, err error) *Errors {
	e := Error{File: name, Line: 1, Col: 1, Msg: err.Error(), Err: err}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		e.Msg = "TOML syntax: " + pe.Message
		// Line and column come from the byte offset, as for every other
		// error here: the parser's offsets are past the byte order mark it
		// skipped, and its line number is one too far for an error at a
		// newline ("expected ']' but got '\n'"), since it counts the
		// newline it has just read.
		ix := newLines(data)
		if off := pe.Position.Start + ix.bom; off >= 0 && off <= len(data) {
			e.Line, e.Col = ix.lineCol(off)
		} else if pe.Position.Line > 0 {
			e.Line, e.Col = pe.Position.Line, max(1, pe.Position.Col)
		}
	}
	return &Errors{List: []Error{e}}
}

// decoder turns the merged generic maps into a Config, collecting every
// problem.
type decoder struct {
	m    *meta
	env  func(string) (string, bool)
	errs []Error
	bad  map[string]bool
}

// errAt reports msg at p's value (or key, with onKey), in the file that
// set p.
func (d *decoder) errAt(p keyPath, onKey bool, msg string) {
	file, line, col := d.m.pos(p, onKey)
	d.errs = append(d.errs, Error{File: file, Line: line, Col: col, Msg: msg})
}

// fail reports a bad value at p and marks p so that Validate does not
// report the consequence of the same mistake again.
func (d *decoder) fail(p keyPath, format string, args ...any) {
	d.bad[p.id()] = true
	d.errAt(p, false, p.String()+": "+fmt.Sprintf(format, args...))
}

// unknown reports the key at p, which is not in known.
func (d *decoder) unknown(p keyPath, known, later []string) {
	k := p[len(p)-1]
	where := ""
	if len(p) > 1 {
		where = " in [" + p[:len(p)-1].String() + "]"
	}
	for _, l := range later {
		if k == l {
			d.errAt(p, true, fmt.Sprintf("key %q%s is not supported by this version of initbox", k, where))
			return
		}
	}
	candidates := append(append([]string(nil), known...), later...)
	if s := suggest(k, candidates); s != "" {
		// The key meant is as good as reported: Validate must not add
		// that it is missing ("comand" and then "set command or shell").
		d.bad[p[:len(p)-1].key(s).id()] = true
	}
	d.errAt(p, true, fmt.Sprintf("unknown key %q%s%s", k, where, didYouMean(k, candidates)))
}

// keys returns m's keys sorted, so that decoding is deterministic.
func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// typeName names the TOML type of a decoded value, with its article.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	}
	return fmt.Sprintf("a %T", v)
}

func (d *decoder) table(p keyPath, v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(p, "want a table, not %s", typeName(v))
	}
	return m, ok
}

// text is a string value after ${VAR} expansion, and as written.
type text struct{ val, src string }

// String quotes the value for a message. An expanded value is shown as
// written, never expanded: it may come from a secret.
func (t text) String() string {
	if t.val == t.src {
		return strconv.Quote(t.val)
	}
	return strconv.Quote(t.src) + " (expanded)"
}

// expanded reports whether ${VAR} expansion changed the value.
func (t text) expanded() bool { return t.val != t.src }

func (d *decoder) str(p keyPath, v any) (text, bool) {
	s, ok := v.(string)
	if !ok {
		d.fail(p, "want a string, not %s", typeName(v))
		return text{}, false
	}
	val, err := expand(s, d.env)
	if err != nil {
		d.bad[p.id()] = true
		e := Error{Msg: p.String() + ": " + err.msg}
		if src := d.m.source(p); src != nil {
			e.File = src.name
			e.Line, e.Col = src.ix.lineCol(expandOffset(src.ix, p, s, err.off))
		}
		d.errs = append(d.errs, e)
		return text{}, false
	}
	return text{val: val, src: s}, true
}

// expandOffset finds, in the source, the "${" at offset off of the decoded
// string s: the n-th "${" of the one is the n-th of the other, unless TOML
// escapes made or hid one, in which case the value's start will do.
func expandOffset(ix *index, p keyPath, s string, off int) int {
	sp, exact := ix.lookup(p)
	if !exact || sp.val < 0 || sp.end < sp.val || sp.end > len(ix.src) {
		if sp.val >= 0 {
			return sp.val
		}
		return sp.key
	}
	raw := string(ix.src[sp.val:sp.end])
	if strings.Count(raw, "${") != strings.Count(s, "${") {
		return sp.val
	}
	n := strings.Count(s[:off], "${")
	for i := 0; ; {
		j := strings.Index(raw[i:], "${")
		if j < 0 {
			return sp.val
		}
		if n == 0 {
			return sp.val + i + j
		}
		n--
		i += j + 2
	}
}

func (d *decoder) boolean(p keyPath, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		d.fail(p, "want true or false, not %s", typeName(v))
	}
	return b, ok
}

func (d *decoder) integer(p keyPath, v any) (int, bool) {
	n, ok := v.(int64)
	if !ok {
		d.fail(p, "want an integer, not %s", typeName(v))
		return 0, false
	}
	if n > math.MaxInt32 || n < math.MinInt32 {
		d.fail(p, "%d is out of range", n)
		return 0, false
	}
	return int(n), true
}

func (d *decoder) float(p keyPath, v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	}
	d.fail(p, "want a number, not %s", typeName(v))
	return 0, false
}

// duration reads a Go duration string: "100ms", "1m30s", "0".
func (d *decoder) duration(p keyPath, v any) (time.Duration, bool) {
	switch n := v.(type) {
	case int64, float64:
		d.fail(p, "want a duration string with a unit, such as \"%vs\", not a number", n)
		return 0, false
	}
	t, ok := d.str(p, v)
	if !ok {
		return 0, false
	}
	dur, err := time.ParseDuration(strings.TrimSpace(t.val))
	if err != nil {
		hint := " (want a number with a unit: ns, us, ms, s, m, h; e.g. \"1m30s\")"
		if _, nerr := strconv.ParseFloat(strings.TrimSpace(t.val), 64); nerr == nil && !t.expanded() {
			hint = fmt.Sprintf(": missing unit; did you mean %q?", strings.TrimSpace(t.val)+"s")
		}
		d.fail(p, "bad duration %s%s", t, hint)
		return 0, false
	}
	return dur, true
}

// enum reads one of choices. A value in later belongs to a feature of a
// later version and gets a message saying so.
func (d *decoder) enum(p keyPath, v any, what string, choices []string, later ...string) (string, bool) {
	t, ok := d.str(p, v)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if t.val == c {
			return c, true
		}
	}
	for _, c := range later {
		if t.val == c {
			d.fail(p, "%s %s is not supported by this version of initbox (want %s)", what, t, list(choices))
			return "", false
		}
	}
	hint := ""
	if !t.expanded() {
		hint = didYouMean(t.val, choices)
	}
	d.fail(p, "unknown %s %s (want %s)%s", what, t, list(choices), hint)
	return "", false
}

func (d *decoder) strings(p keyPath, v any, what string) ([]string, bool) {
	arr, ok := v.([]any)
	if !ok {
		d.fail(p, "want %s, not %s", what, typeName(v))
		return nil, false
	}
	out := make([]string, 0, len(arr))
	good := true
	for i, e := range arr {
		t, ok := d.str(p.index(i), e)
		if !ok {
			good = false
			continue
		}
		out = append(out, t.val)
	}
	if !good {
		d.bad[p.id()] = true
	}
	return out, good
}

// path makes s, the path in the value at p after prefix, relative to the
// directory of the file that set p, and remembers that it did for Print.
func (d *decoder) path(p keyPath, prefix, s string) string {
	src := d.m.source(p)
	if s == "" || filepath.IsAbs(s) || src == nil {
		return s
	}
	abs := filepath.Join(src.dir, s)
	d.m.rel[p.id()] = prefix + abs
	return abs
}

// userOrGroup reads a name or a numeric id, as a string or an integer.
func (d *decoder) userOrGroup(p keyPath, v any) (string, bool) {
	if n, ok := v.(int64); ok {
		if n < 0 || n > math.MaxUint32-1 {
			d.fail(p, "id %d is out of range", n)
			return "", false
		}
		return strconv.FormatInt(n, 10), true
	}
	t, ok := d.str(p, v)
	return t.val, ok
}

func (d *decoder) document(c *Config, root map[string]any) {
	for _, k := range keys(root) {
		p := keyPath{k}
		switch k {
		case "init":
			if m, ok := d.table(p, root[k]); ok {
				d.init(&c.Init, p, m)
			}
		case "services":
			d.services(c, p, root[k])
		default:
			d.unknown(p, topKeys, nil)
		}
	}
}

func (d *decoder) init(in *Init, p keyPath, m map[string]any) {
	for _, k := range keys(m) {
		kp, v := p.key(k), m[k]
		switch k {
		case "shutdown_timeout":
			if dur, ok := d.duration(kp, v); ok {
				in.ShutdownTimeout = dur
			}
		case "log_format":
			if s, ok := d.enum(kp, v, "log format", logFormats); ok {
				in.LogFormat = LogFormat(s)
			}
		case "log_prefix":
			if b, ok := d.boolean(kp, v); ok {
				in.LogPrefix = b
			}
		case "grace":
			if dur, ok := d.duration(kp, v); ok {
				in.Grace = dur
			}
		case "cgroups":
			if cm, ok := d.table(kp, v); ok {
				d.cgroups(&in.Cgroups, kp, cm)
			}
		case "control_socket":
			if t, ok := d.str(kp, v); ok {
				if msg := socketProblem(t.val, t.String()); t.val != "" && msg != "" {
					d.fail(kp, "%s", msg)
					continue
				}
				in.ControlSocket = t.val
			}
		case "http_listen":
			if t, ok := d.str(kp, v); ok {
				if t.val != "" && !d.addr(kp, t, false) {
					continue
				}
				in.HTTPListen = t.val
			}
		case "timezone":
			if t, ok := d.str(kp, v); ok {
				loc, err := time.LoadLocation(t.val)
				if err != nil {
					d.fail(kp, "time zone %s: %v (a name of the tz database, such as \"Europe/Paris\"; the image needs /usr/share/zoneinfo, or use \"UTC\")", t, err)
					continue
				}
				in.Timezone = loc
			}
		default:
			d.unknown(kp, initKeys, initLater)
		}
	}
}

func (d *decoder) services(c *Config, p keyPath, v any) {
	if _, ok := v.([]map[string]any); ok {
		d.fail(p, "want a table of services such as [services.web], not an array of tables [[services]]")
		return
	}
	m, ok := d.table(p, v)
	if !ok {
		return
	}
	c.Order = d.m.serviceOrder(m)
	for _, name := range c.Order {
		sp := p.key(name)
		st, ok := d.table(sp, m[name])
		if !ok {
			continue
		}
		c.Services[name] = d.service(name, sp, st)
	}
}

func (d *decoder) service(name string, p keyPath, m map[string]any) *Service {
	s := NewService(name)
	policySet, notifySet := false, false
	for _, k := range keys(m) {
		kp, v := p.key(k), m[k]
		switch k {
		case "command":
			if argv, ok := d.strings(kp, v, "an array of strings (for a command line, use shell)"); ok {
				s.Command = argv
			}
		case "shell":
			if t, ok := d.str(kp, v); ok {
				s.Shell = t.val
			}
		case "type":
			if e, ok := d.enum(kp, v, "type", types); ok {
				s.Type = Type(e)
			}
		case "main":
			s.Main, _ = d.boolean(kp, v)
		case "essential":
			s.Essential, _ = d.boolean(kp, v)
		case "enabled":
			if b, ok := d.boolean(kp, v); ok {
				s.Enabled = b
			}
		case "user":
			s.User, _ = d.userOrGroup(kp, v)
		case "group":
			s.Group, _ = d.userOrGroup(kp, v)
		case "working_dir":
			if t, ok := d.str(kp, v); ok {
				s.WorkingDir = d.path(kp, "", t.val)
			}
		case "env":
			s.Env = d.envTable(kp, v)
		case "env_file":
			s.EnvFile = d.envFiles(kp, v)
		case "inherit_env":
			if ie, ok := d.inheritEnv(kp, v); ok {
				s.InheritEnv = ie
			}
		case "stdout":
			if o, ok := d.output(kp, v, false); ok {
				s.Stdout = o
			}
		case "stderr":
			if o, ok := d.output(kp, v, true); ok {
				s.Stderr = o
			}
		case "forward_signals":
			s.ForwardSignals, _ = d.boolean(kp, v)
		case "schedule":
			if t, ok := d.str(kp, v); ok {
				sch, err := schedule.Parse(t.val)
				if err != nil {
					d.fail(kp, "%v", err)
					continue
				}
				s.Schedule = sch
			}
		case "no_new_privs":
			s.NoNewPrivs, _ = d.boolean(kp, v)
		case "capabilities":
			s.Capabilities = d.capabilities(kp, v)
		case "depends_on":
			s.DependsOn = d.dependsOn(kp, v)
		case "restart":
			if rm, ok := d.table(kp, v); ok {
				policySet = d.restart(&s.Restart, kp, rm)
			}
		case "stop":
			if sm, ok := d.table(kp, v); ok {
				d.stop(&s.Stop, kp, sm)
			}
		case "resources":
			if rm, ok := d.table(kp, v); ok {
				d.resources(&s.Resources, kp, rm)
			}
		case "ready":
			if rm, ok := d.table(kp, v); ok {
				notifySet = d.ready(&s.Ready, kp, rm)
			}
		case "health":
			if hm, ok := d.table(kp, v); ok {
				d.health(&s.Health, kp, hm)
			}
		default:
			d.unknown(kp, serviceKeys, serviceLater)
		}
	}
	if s.Type == TypeOneshot && !policySet {
		s.Restart.Policy = RestartNever
	}
	if s.Type == TypeNotify && !notifySet {
		s.Ready.Notify = true
	}
	return s
}

func (d *decoder) envTable(p keyPath, v any) map[string]string {
	m, ok := d.table(p, v)
	if !ok {
		return nil
	}
	env := make(map[string]string, len(m))
	for _, k := range keys(m) {
		kp := p.key(k)
		if !validEnvName(k) {
			d.errAt(kp, true, fmt.Sprintf("%s: %q is not a valid variable name (letters, digits and _, not starting with a digit)", p, k))
			continue
		}
		switch x := m[k].(type) {
		case int64:
			env[k] = strconv.FormatInt(x, 10)
		case bool:
			env[k] = strconv.FormatBool(x)
		default:
			t, ok := d.str(kp, x)
			if !ok {
				continue
			}
			if strings.IndexByte(t.val, 0) >= 0 {
				d.fail(kp, "value contains a NUL byte")
				continue
			}
			env[k] = t.val
		}
	}
	return env
}

func (d *decoder) envFiles(p keyPath, v any) []EnvFile {
	var items []any
	var paths []keyPath
	switch x := v.(type) {
	case string:
		items, paths = []any{x}, []keyPath{p}
	case []any:
		items = x
		for i := range x {
			paths = append(paths, p.index(i))
		}
	default:
		d.fail(p, "want a path or an array of paths, not %s", typeName(v))
		return nil
	}
	var out []EnvFile
	for i, it := range items {
		raw, ok := it.(string)
		if !ok {
			d.fail(paths[i], "want a path, not %s", typeName(it))
			continue
		}
		// The '-' is looked for before expansion, so that a variable's
		// value can never make a required file optional.
		ef := EnvFile{}
		if rest, ok := strings.CutPrefix(raw, "-"); ok {
			ef.Optional, raw = true, rest
		}
		t, ok := d.str(paths[i], raw)
		if !ok {
			continue
		}
		if t.val == "" {
			d.fail(paths[i], "empty path")
			continue
		}
		prefix := ""
		if ef.Optional {
			prefix = "-"
		}
		ef.Path = d.path(paths[i], prefix, t.val)
		out = append(out, ef)
	}
	return out
}

func (d *decoder) inheritEnv(p keyPath, v any) (InheritEnv, bool) {
	switch x := v.(type) {
	case bool:
		return InheritEnv{All: x}, true
	case []any:
		names, ok := d.strings(p, x, "")
		if !ok {
			return InheritEnv{}, false
		}
		for i, n := range names {
			if !validEnvName(n) {
				d.fail(p.index(i), "%q is not a valid variable name (letters, digits and _, not starting with a digit)", n)
				ok = false
			}
		}
		return InheritEnv{Names: names}, ok
	}
	d.fail(p, "want true, false or an array of variable names, not %s", typeName(v))
	return InheritEnv{}, false
}

// output reads inherit | null | file:PATH | append:PATH, and stdout for
// stderr.
func (d *decoder) output(p keyPath, v any, stderr bool) (Output, bool) {
	t, ok := d.str(p, v)
	if !ok {
		return Output{}, false
	}
	choices := outputKinds
	if stderr {
		choices = append(append([]string(nil), outputKinds...), string(OutputStdout))
	}
	kind, path, hasPath := strings.Cut(t.val, ":")
	switch {
	case !hasPath && (kind == string(OutputInherit) || kind == string(OutputNull) || stderr && kind == string(OutputStdout)):
		return Output{Kind: OutputKind(kind)}, true
	case hasPath && (kind == string(OutputFile) || kind == string(OutputAppend)):
		if path == "" {
			d.fail(p, "%s: wants a path after the colon", t)
			return Output{}, false
		}
		return Output{Kind: OutputKind(kind), Path: d.path(p, kind+":", path)}, true
	}
	hint := ""
	if !t.expanded() {
		words := []string{"inherit", "null", "file", "append"}
		if stderr {
			words = append(words, "stdout")
		}
		hint = didYouMean(kind, words)
		if hint != "" && (strings.HasPrefix(hint, `; did you mean "file"`) || strings.HasPrefix(hint, `; did you mean "append"`)) {
			hint = strings.TrimSuffix(hint, `"?`) + `:PATH"?`
		}
	}
	d.fail(p, "unknown output %s (want %s)%s", t, list(choices), hint)
	return Output{}, false
}

func (d *decoder) dependsOn(p keyPath, v any) map[string]Condition {
	if _, ok := v.([]any); ok {
		d.fail(p, "want a table of conditions such as { db = \"ready\" }, not an array")
		return nil
	}
	m, ok := d.table(p, v)
	if !ok {
		return nil
	}
	deps := make(map[string]Condition, len(m))
	for _, name := range keys(m) {
		// A dependency with a bad condition is still recorded (as
		// started), so that Validate checks the name and cycles.
		cond := ConditionStarted
		if e, ok := d.enum(p.key(name), m[name], "condition", conditions); ok {
			cond = Condition(e)
		}
		deps[name] = cond
	}
	return deps
}

// restart decodes the restart table and reports whether it set a policy.
func (d *decoder) restart(r *Restart, p keyPath, m map[string]any) (policySet bool) {
	for _, k := range keys(m) {
		kp, v := p.key(k), m[k]
		switch k {
		case "policy":
			policySet = true
			if e, ok := d.enum(kp, v, "restart policy", policies); ok {
				r.Policy = RestartPolicy(e)
			}
		case "delay":
			if dur, ok := d.duration(kp, v); ok {
				r.Delay = dur
			}
		case "multiplier":
			if f, ok := d.float(kp, v); ok {
				r.Multiplier = f
			}
		case "max_delay":
			if dur, ok := d.duration(kp, v); ok {
				r.MaxDelay = dur
			}
		case "reset_after":
			if dur, ok := d.duration(kp, v); ok {
				r.ResetAfter = dur
			}
		case "limit_burst":
			if n, ok := d.integer(kp, v); ok {
				r.LimitBurst = n
			}
		case "limit_interval":
			if dur, ok := d.duration(kp, v); ok {
				r.LimitInterval = dur
			}
		case "success_exit_codes":
			arr, ok := v.([]any)
			if !ok {
				d.fail(kp, "want an array of exit codes, not %s", typeName(v))
				continue
			}
			codes := []int{}
			for i, e := range arr {
				if n, ok := d.integer(kp.index(i), e); ok {
					codes = append(codes, n)
				}
			}
			r.SuccessExitCodes = codes
		default:
			d.unknown(kp, restartKeys, nil)
		}
	}
	return policySet
}

func (d *decoder) stop(st *Stop, p keyPath, m map[string]any) {
	for _, k := range keys(m) {
		kp, v := p.key(k), m[k]
		switch k {
		case "signal":
			if sig, ok := d.signal(kp, v); ok {
				st.Signal = sig
			}
		case "timeout":
			if dur, ok := d.duration(kp, v); ok {
				st.Timeout = dur
			}
		case "mode":
			if e, ok := d.enum(kp, v, "stop mode", stopModes); ok {
				st.Mode = StopMode(e)
			}
		default:
			d.unknown(kp, stopKeys, nil)
		}
	}
}

func (d *decoder) cgroups(cg *Cgroups, p keyPath, m map[string]any) {
	for _, k := range keys(m) {
		kp, v := p.key(k), m[k]
		switch k {
		case "mode":
			if e, ok := d.enum(kp, v, "cgroup mode", cgroupModes); ok {
				cg.Mode = CgroupMode(e)
			}
		case "init":
			if name, ok := d.cgroupName(kp, v); ok {
				cg.Init = name
			}
		case "services":
			if name, ok := d.cgroupName(kp, v); ok {
				cg.Services = name
			}
		default:
			d.unknown(kp, cgroupsKeys, nil)
		}
	}
}

func (d *decoder) cgroupName(p keyPath, v any) (string, bool) {
	t, ok := d.str(p, v)
	if !ok {
		return "", false
	}
	if !validCgroupName(t.val) {
		d.fail(p, "bad cgroup name %s: %s", t, cgroupNameRule)
		return "", false
	}
	return t.val, true
}

func (d *decoder) resources(r *Resources, p keyPath, m map[string]any) {
	for _, k := range keys(m) {
		kp, v := p.key(k), m[k]
		switch k {
		case "memory_max":
			r.MemoryMax, _ = d.size(kp, v)
		case "memory_high":
			r.MemoryHigh, _ = d.size(kp, v)
		case "memory_swap_max":
			r.MemorySwapMax, _ = d.size(kp, v)
		case "cpu_max":
			r.CPUMax, _ = d.cpuMax(kp, v)
		case "cpu_weight":
			r.CPUWeight, _ = d.weight(kp, v)
		case "io_weight":
			r.IOWeight, _ = d.weight(kp, v)
		case "pids_max":
			r.PidsMax, _ = d.pidsMax(kp, v)
		case "oom_group":
			if b, ok := d.boolean(kp, v); ok {
				r.OOMGroup = b
			}
		case "oom_score_adj":
			if n, ok := d.integer(kp, v); ok {
				if n < -1000 || n > 1000 {
					d.fail(kp, "%d is outside -1000..1000", n)
					continue
				}
				r.OOMScoreAdj, r.OOMScoreAdjSet = n, true
			}
		default:
			d.unknown(kp, resourcesKeys, nil)
		}
	}
}

// ready decodes the ready table and reports whether it set notify.
func (d *decoder) ready(r *Ready, p keyPath, m map[string]any) (notifySet bool) {
	for _, k := range keys(m) {
		kp, v := p.key(k), m[k]
		switch k {
		case "notify":
			if b, ok := d.boolean(kp, v); ok {
				r.Notify, notifySet = b, true
			}
		case "fd":
			if n, ok := d.integer(kp, v); ok {
				if n < 3 || n > MaxReadyFD {
					d.fail(kp, "%s", fdProblem(n))
					continue
				}
				r.FD = n
			}
		case "tcp":
			r.TCP, _ = d.tcp(kp, v)
		case "http":
			r.HTTP, _ = d.url(kp, v)
		case "exec":
			r.Exec, _ = d.argv(kp, v)
		case "file":
			if t, ok := d.str(kp, v); ok {
				if t.val == "" {
					d.fail(kp, "empty path")
					continue
				}
				r.File = d.path(kp, "", t.val)
			}
		case "interval":
			r.Interval, _ = d.positive(kp, v, r.Interval)
		case "timeout":
			r.Timeout, _ = d.positive(kp, v, r.Timeout)
		default:
			d.unknown(kp, readyKeys, nil)
		}
	}
	return notifySet
}

func (d *decoder) health(h *Health, p keyPath, m map[string]any) {
	for _, k := range keys(m) {
		kp, v := p.key(k), m[k]
		switch k {
		case "exec":
			h.Exec, _ = d.argv(kp, v)
		case "http":
			h.HTTP, _ = d.url(kp, v)
		case "tcp":
			h.TCP, _ = d.tcp(kp, v)
		case "start_period":
			if dur, ok := d.duration(kp, v); ok {
				if dur < 0 {
					d.fail(kp, "must not be negative")
					continue
				}
				h.StartPeriod = dur
			}
		case "interval":
			h.Interval, _ = d.positive(kp, v, h.Interval)
		case "timeout":
			h.Timeout, _ = d.positive(kp, v, h.Timeout)
		case "failure_threshold":
			h.FailureThreshold, _ = d.threshold(kp, v, h.FailureThreshold)
		case "success_threshold":
			h.SuccessThreshold, _ = d.threshold(kp, v, h.SuccessThreshold)
		case "action":
			if e, ok := d.enum(kp, v, "health action", healthActions); ok {
				h.Action = HealthAction(e)
			}
		case "watchdog":
			if dur, ok := d.duration(kp, v); ok {
				// 0 is off only in code: in the file, leave the key out.
				if dur <= 0 {
					d.fail(kp, "must be positive (leave watchdog out for none)")
					continue
				}
				h.Watchdog = dur
			}
		default:
			d.unknown(kp, healthKeys, nil)
		}
	}
}

// positive reads a duration above 0; on failure it returns def.
func (d *decoder) positive(p keyPath, v any, def time.Duration) (time.Duration, bool) {
	dur, ok := d.duration(p, v)
	if !ok {
		return def, false
	}
	if dur <= 0 {
		d.fail(p, "must be positive")
		return def, false
	}
	return dur, true
}

// threshold reads an integer of at least 1; on failure it returns def.
func (d *decoder) threshold(p keyPath, v any, def int) (int, bool) {
	n, ok := d.integer(p, v)
	if !ok {
		return def, false
	}
	if n < 1 {
		d.fail(p, "must be at least 1, not %d", n)
		return def, false
	}
	return n, true
}

// argv reads the exec of a check: a non-empty array of strings whose
// first is not empty.
func (d *decoder) argv(p keyPath, v any) ([]string, bool) {
	argv, ok := d.strings(p, v, `an array of strings (for a command line, use ["/bin/sh", "-c", "..."])`)
	switch {
	case !ok:
		return nil, false
	case len(argv) == 0:
		d.fail(p, "empty command")
		return nil, false
	case argv[0] == "":
		d.fail(p.index(0), "empty program name")
		d.bad[p.id()] = true
		return nil, false
	}
	return argv, true
}

// tcp reads the host:port of a tcp check.
func (d *decoder) tcp(p keyPath, v any) (string, bool) {
	t, ok := d.str(p, v)
	if !ok {
		return "", false
	}
	if t.val == "" {
		d.fail(p, "empty address (%s)", tcpForm)
		return "", false
	}
	if !d.addr(p, t, true) {
		return "", false
	}
	return t.val, true
}

// addr checks a host:port address and reports what is wrong with it.
func (d *decoder) addr(p keyPath, t text, needHost bool) bool {
	msg := addrProblem(t.val, needHost)
	if msg == "" {
		return true
	}
	if t.expanded() { // the reason may quote part of the value
		msg = tcpForm
		if !needHost {
			msg = listenForm
		}
	}
	d.fail(p, "bad address %s: %s", t, msg)
	return false
}

// url reads the URL of an http check. Messages do not show the URL, which
// may hold a password.
func (d *decoder) url(p keyPath, v any) (string, bool) {
	t, ok := d.str(p, v)
	if !ok {
		return "", false
	}
	if msg := urlProblem(t.val); msg != "" {
		d.fail(p, "%s", msg)
		return "", false
	}
	return t.val, true
}

// size reads bytes as an integer, or a size string ("512M", "max"); see
// cgroup.ParseSize. Unlike in code, where 0 is unset, 0 here is a mistake.
func (d *decoder) size(p keyPath, v any) (Bytes, bool) {
	switch n := v.(type) {
	case int64:
		if n < 1 {
			d.fail(p, "want a size of at least 1 byte (or \"max\"), not %d", n)
			return 0, false
		}
		return Bytes(n), true
	case float64:
		d.fail(p, "want a size as an integer of bytes or a string such as \"1.5G\", not a float")
		return 0, false
	case string:
	default:
		d.fail(p, "want a size (an integer of bytes, or a string such as \"512M\" or \"max\"), not %s", typeName(v))
		return 0, false
	}
	t, ok := d.str(p, v)
	if !ok {
		return 0, false
	}
	n, err := cgroup.ParseSize(t.val)
	b := Bytes(n)
	var ue *cgroup.UnitError
	switch {
	case err == nil:
		return b, true
	case err == cgroup.ErrSizeZero:
		d.fail(p, "want a size of at least 1 byte (or \"max\"), not %s", t)
	case err == cgroup.ErrSizeFraction:
		d.fail(p, "bad size %s: a fraction of a byte (use a larger unit, such as \"1.5K\")", t)
	case err == cgroup.ErrSizeTooLarge:
		d.fail(p, "bad size %s: too large (at most 2^63-1 bytes, just under 8EiB)", t)
	case errors.As(err, &ue) && !t.expanded():
		d.fail(p, "bad size %s: unknown unit %q (want %s)%s", t, ue.Unit, cgroup.SizeUnitList, didYouMean(ue.Unit, cgroup.UnitNames))
	default:
		d.fail(p, "bad size %s (want a number and a unit, such as \"512M\" or \"1.5G\", or \"max\")", t)
	}
	return 0, false
}

// cpuMax reads a number of CPUs (1.5), a percentage of one ("150%") or
// "max".
func (d *decoder) cpuMax(p keyPath, v any) (float64, bool) {
	var f float64
	var shown string
	switch n := v.(type) {
	case int64:
		f, shown = float64(n), strconv.FormatInt(n, 10)
	case float64:
		f, shown = n, strconv.FormatFloat(n, 'g', -1, 64)
	case string:
		t, ok := d.str(p, v)
		if !ok {
			return 0, false
		}
		var err error
		if f, err = cgroup.ParseCPUs(t.val); err != nil {
			d.fail(p, "bad CPU limit %s (want a number of CPUs such as 1.5, a percentage of one CPU such as \"150%%\", or \"max\")", t)
			return 0, false
		}
		if strings.EqualFold(strings.TrimSpace(t.val), "max") {
			return Unlimited, true
		}
		shown = t.String()
	default:
		d.fail(p, "want a number of CPUs, a string such as \"150%%\", or \"max\", not %s", typeName(v))
		return 0, false
	}
	if msg := cpuProblem(f, shown); msg != "" {
		d.fail(p, "%s", msg)
		return 0, false
	}
	return f, true
}

// weight reads cpu_weight or io_weight.
func (d *decoder) weight(p keyPath, v any) (int, bool) {
	n, ok := d.integer(p, v)
	if !ok {
		return 0, false
	}
	if n < 1 || n > MaxWeight {
		d.fail(p, "weight %d is outside 1..%d (the kernel's default is 100)", n, MaxWeight)
		return 0, false
	}
	return n, true
}

// pidsMax reads an integer from 1 to MaxPids, or "max".
func (d *decoder) pidsMax(p keyPath, v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		if msg := pidsProblem(n); msg != "" {
			d.fail(p, "%s", msg)
			return 0, false
		}
		return n, true
	case string:
		t, ok := d.str(p, v)
		if !ok {
			return 0, false
		}
		if strings.EqualFold(strings.TrimSpace(t.val), "max") {
			return Unlimited, true
		}
		d.fail(p, "want an integer or \"max\", not %s", t)
		return 0, false
	}
	d.fail(p, "want an integer or \"max\", not %s", typeName(v))
	return 0, false
}

// capabilities reads an array of capability names; the result is never
// nil (an empty array keeps none), and names are as Capability spells
// them.
func (d *decoder) capabilities(p keyPath, v any) []string {
	arr, ok := v.([]any)
	if !ok {
		d.fail(p, "want an array of capability names such as [\"CAP_NET_BIND_SERVICE\"], not %s", typeName(v))
		return nil
	}
	out := []string{}
	for i, e := range arr {
		t, ok := d.str(p.index(i), e)
		if !ok {
			continue
		}
		c, ok := Capability(t.val)
		if !ok {
			d.fail(p.index(i), "unknown capability %s%s", t, didYouMean(strings.ToUpper(t.val), capabilities))
			continue
		}
		out = append(out, capabilities[c])
	}
	return out
}

// signal reads "SIGTERM", "TERM", "15", 15 or "RTMIN+3".
func (d *decoder) signal(p keyPath, v any) (syscall.Signal, bool) {
	var t text
	if n, ok := v.(int64); ok {
		s := strconv.FormatInt(n, 10)
		t = text{val: s, src: s}
	} else if t, ok = d.str(p, v); !ok {
		return 0, false
	}
	sig, err := signals.Parse(t.val)
	if err != nil {
		d.fail(p, "unknown signal %s (want a name such as SIGTERM or TERM, a number from 1 to %d, or RTMIN+N)", t, signals.NSIG-1)
		return 0, false
	}
	return sig, true
}

// validEnvName reports whether s is a portable environment variable name.
func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
