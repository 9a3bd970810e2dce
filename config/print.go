package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNoFile is returned by WriteTOML for a Config that was not read from
// files.
var ErrNoFile = errors.New("config: not read from a file")

// WriteTOML writes the merged configuration of c's files as TOML, each key
// followed by a comment naming the file it came from: what the files say
// after the merge, not the defaults, and with ${VAR} references as written.
// Parsed again (from any directory, with the same environment), it gives
// the same configuration: relative paths are written resolved, as
// "/etc/initbox/app.env" where the file said "app.env" (expanded, when
// they hold a ${VAR}). Services added
// with Add, and the environment's overrides (ApplyEnv), are not part of
// it.
func (c *Config) WriteTOML(w io.Writer) error {
	if c.meta == nil || c.meta.root == nil {
		return ErrNoFile
	}
	pr := &printer{m: c.meta, w: bufio.NewWriter(w)}
	pr.table(nil, c.meta.root, false)
	return pr.w.Flush()
}

type printer struct {
	m       *meta
	w       *bufio.Writer
	started bool // something was written: headers get a blank line before them
}

// table writes the keys of t, at p: its plain keys first, as TOML wants
// them before any sub-table's header, then each sub-table under a header
// of its own. header says whether t needs one; a table with only
// sub-tables is implied by theirs.
func (pr *printer) table(p keyPath, t map[string]any, header bool) {
	ks := pr.m.sortedKeys(p, t)
	var plain, subs []string
	for _, k := range ks {
		if _, ok := t[k].(map[string]any); ok {
			subs = append(subs, k)
		} else {
			plain = append(plain, k)
		}
	}
	if header && (len(plain) > 0 || len(subs) == 0) {
		if pr.started {
			pr.w.WriteString("\n")
		}
		pr.w.WriteString("[" + tomlKeyPath(p) + "]" + pr.from(p) + "\n")
		pr.started = true
	}
	for _, k := range plain {
		kp := p.key(k)
		pr.w.WriteString(tomlKey(k) + " = " + pr.value(kp, t[k]) + pr.from(kp) + "\n")
		pr.started = true
	}
	for _, k := range subs {
		pr.table(p.key(k), t[k].(map[string]any), true)
	}
}

// from is the comment naming the file p came from.
func (pr *printer) from(p keyPath) string {
	if src := pr.m.source(p); src != nil {
		return "  # " + strings.ReplaceAll(src.name, "\n", `\n`)
	}
	return ""
}

// value writes v, the value at p, inline.
func (pr *printer) value(p keyPath, v any) string {
	switch x := v.(type) {
	case string:
		return tomlValueString(pr.resolved(p, x))
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return tomlFloat(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pr.value(p.index(i), e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []map[string]any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pr.value(p.index(i), e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		ks := pr.m.sortedKeys(p, x)
		parts := make([]string, len(ks))
		for i, k := range ks {
			parts[i] = tomlKey(k) + " = " + pr.value(p.key(k), x[k])
		}
		if len(parts) == 0 {
			return "{}"
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	return tomlString(fmt.Sprint(v))
}

// resolved returns the string s at p, with a relative path made absolute
// as the decoder made it. That is the decoded value, ${VAR} references
// expanded: the raw text cannot be joined to a directory in general
// ("./${A}" would stay unclean, and "${KIND}:out.log" cannot be split).
// "$" is escaped, so that expansion gives the path back.
func (pr *printer) resolved(p keyPath, s string) string {
	if r, ok := pr.m.rel[p.id()]; ok {
		return escapeDollar(r)
	}
	return s
}

func escapeDollar(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// tomlKeyPath writes p as a dotted TOML key.
func tomlKeyPath(p keyPath) string {
	parts := make([]string, len(p))
	for i, k := range p {
		parts[i] = tomlKey(k)
	}
	return strings.Join(parts, ".")
}

// tomlKey writes k bare when it can be, quoted otherwise.
func tomlKey(k string) string {
	if k == "" {
		return `""`
	}
	for i := 0; i < len(k); i++ {
		if !isBareKeyByte(k[i]) {
			return tomlString(k)
		}
	}
	return k
}

// tomlString quotes s as a TOML basic string. strconv.Quote will not do:
// TOML has no \a, \v or \x escapes in every version.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f || r == utf8.RuneError {
				fmt.Fprintf(&b, `\u%04X`, r)
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlValueString writes a string value: a script of several lines as a
// multi-line literal string, which reads as the file most likely wrote it,
// when it can be one; any other string as tomlString does.
func tomlValueString(s string) string {
	literal := strings.Contains(s, "\n") && !strings.Contains(s, "'''") && !strings.HasSuffix(s, "'")
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			literal = false
		}
	}
	if !literal {
		return tomlString(s)
	}
	// The newline after the opening quotes is not part of the string.
	return "'''\n" + s + "'''"
}

// tomlFloat writes f so that TOML reads it back as the same float, never
// as an integer.
func tomlFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}
