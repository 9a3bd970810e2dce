package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// EnvVar is one NAME=VALUE of an env file.
type EnvVar struct {
	Name  string
	Value string
}

// maxEnvFile bounds what is read of an env file; the kernel refuses an
// environment much larger than this anyway, and an env_file pointing at a
// device must not hang the start of a service.
const maxEnvFile = 1 << 20

// ParseEnvFile parses the contents of an env file, in order (a name given
// twice appears twice; the last one wins when applied):
//
//	# a comment, and blank lines, are skipped
//	NAME=value               the rest of the line, trailing blanks removed; # is literal
//	export NAME=value        "export " is allowed and ignored
//	NAME = value             blanks around = are allowed
//	NAME='literal'           no escapes; may span lines
//	NAME="a\tb\n\"c\" \\ \$" escapes \n \t \r \" \\ \$; may span lines
//	NAME="value"  # comment  a comment may follow a quoted value
//
// Names are letters, digits and _, not starting with a digit. There is no
// ${VAR} expansion: values are used as written.
//
// Every problem is reported, as an *Errors at name:line:col. Messages never
// quote values, which are often secrets.
func ParseEnvFile(name string, data []byte) ([]EnvVar, error) {
	p := envParser{ix: newLines(data), file: name, data: data, i: bomLen(data)}
	for p.i < len(data) {
		p.line()
	}
	if err := errorList(p.errs); err != nil {
		return nil, err
	}
	return p.vars, nil
}

type envParser struct {
	ix   *index
	file string
	data []byte
	i    int
	vars []EnvVar
	errs []Error
}

func (p *envParser) errorf(off int, format string, args ...any) {
	line, col := p.ix.lineCol(off)
	p.errs = append(p.errs, Error{File: p.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (p *envParser) blanks() {
	for p.i < len(p.data) && (p.data[p.i] == ' ' || p.data[p.i] == '\t') {
		p.i++
	}
}

// skipLine moves past the end of the current line.
func (p *envParser) skipLine() {
	for p.i < len(p.data) && p.data[p.i] != '\n' {
		p.i++
	}
	p.i++
}

// atEOL reports whether only blanks, a carriage return or a comment are left
// on the line.
func (p *envParser) atEOL() bool {
	p.blanks()
	return p.i >= len(p.data) || p.data[p.i] == '\n' || p.data[p.i] == '#' ||
		p.data[p.i] == '\r' && (p.i+1 == len(p.data) || p.data[p.i+1] == '\n')
}

func (p *envParser) line() {
	if p.atEOL() {
		p.skipLine()
		return
	}
	start := p.i
	if rest := p.data[p.i:]; len(rest) > 6 && string(rest[:6]) == "export" && (rest[6] == ' ' || rest[6] == '\t') {
		p.i += 6
		p.blanks()
		start = p.i
	}
	for p.i < len(p.data) && !strings.ContainsRune("= \t\r\n", rune(p.data[p.i])) {
		p.i++
	}
	name := string(p.data[start:p.i])
	p.blanks()
	if p.i >= len(p.data) || p.data[p.i] != '=' {
		p.errorf(start, "want NAME=VALUE")
		p.skipLine()
		return
	}
	if !validEnvName(name) {
		// The text before '=' is not shown: a malformed line may be a value.
		p.errorf(start, "bad variable name (letters, digits and _, not starting with a digit)")
		p.skipLine()
		return
	}
	p.i++ // =
	p.blanks()
	var value string
	var ok bool
	if p.i < len(p.data) && (p.data[p.i] == '"' || p.data[p.i] == '\'') {
		value, ok = p.quoted(name)
		if ok && !p.atEOL() {
			p.errorf(p.i, "text after the closing quote of %s", name)
			ok = false
		}
	} else {
		from := p.i
		for p.i < len(p.data) && p.data[p.i] != '\n' {
			p.i++
		}
		value, ok = strings.TrimRight(string(p.data[from:p.i]), " \t\r"), true
	}
	if ok && strings.IndexByte(value, 0) >= 0 {
		p.errorf(start, "value of %s contains a NUL byte", name)
		ok = false
	}
	if ok {
		p.vars = append(p.vars, EnvVar{Name: name, Value: value})
	}
	p.skipLine()
}

// quoted reads a quoted value; p.i is at the opening quote.
func (p *envParser) quoted(name string) (string, bool) {
	open, q := p.i, p.data[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.data) {
		c := p.data[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), true
		case c == '\\' && q == '"':
			if p.i+1 >= len(p.data) {
				break
			}
			switch e := p.data[p.i+1]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '"', '\\', '$':
				b.WriteByte(e)
			default:
				p.errorf(p.i, "unknown escape in the value of %s (want \\n \\t \\r \\\" \\\\ or \\$)", name)
				p.closeQuote(q)
				return "", false
			}
			p.i += 2
			continue
		}
		b.WriteByte(c)
		p.i++
	}
	p.errorf(open, "unterminated %s value of %s", map[byte]string{'"': "double-quoted", '\'': "single-quoted"}[q], name)
	return "", false
}

// closeQuote skips to just past the closing quote, so that one bad escape
// does not turn the rest of the file into errors.
func (p *envParser) closeQuote(q byte) {
	for p.i < len(p.data) {
		c := p.data[p.i]
		p.i++
		if c == '\\' && q == '"' {
			p.i++
			continue
		}
		if c == q {
			p.blanks()
			return
		}
	}
}

// Environ builds the environment the service runs with, from base
// (initbox's own, in os.Environ form): the variables inherit_env lets
// through, then each env file in order, then the env table; a later
// definition of a name replaces an earlier one in place.
//
// Env files are read now, not at Load, because secrets may appear after
// initbox starts. An optional file that does not exist is skipped; any
// other problem with a file (unreadable, too large, a bad line) is an
// *Errors naming the file and, for a bad line, its line and column. No
// error quotes a value.
func (s *Service) Environ(base []string) ([]string, error) {
	var env envList
	for _, kv := range base {
		name, _, ok := strings.Cut(kv, "=")
		if ok && name != "" && s.InheritEnv.Inherits(name) {
			env.set(name, kv)
		}
	}
	for _, ef := range s.EnvFile {
		data, err := readEnvFile(ef.Path)
		if err != nil {
			if ef.Optional && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			msg := "cannot read env file: " + err.Error()
			var pe *fs.PathError
			if errors.As(err, &pe) {
				msg = "cannot read env file: " + pe.Err.Error()
			}
			return nil, &Errors{List: []Error{{File: ef.Path, Msg: msg, Err: err}}}
		}
		vars, err := ParseEnvFile(ef.Path, data)
		if err != nil {
			return nil, err
		}
		for _, v := range vars {
			env.set(v.Name, v.Name+"="+v.Value)
		}
	}
	for _, k := range keys(s.Env) {
		env.set(k, k+"="+s.Env[k])
	}
	return env.list, nil
}

func readEnvFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxEnvFile+1))
	if err != nil {
		return nil, err // an *fs.PathError from (*os.File).Read
	}
	if len(data) > maxEnvFile {
		return nil, fmt.Errorf("larger than %d bytes", maxEnvFile)
	}
	return data, nil
}

// envList is an environment in os.Environ form that keeps the order in
// which names first appear.
type envList struct {
	list []string
	at   map[string]int
}

func (e *envList) set(name, kv string) {
	if i, ok := e.at[name]; ok {
		e.list[i] = kv
		return
	}
	if e.at == nil {
		e.at = map[string]int{}
	}
	e.at[name] = len(e.list)
	e.list = append(e.list, kv)
}
