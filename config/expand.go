package config

import (
	"strings"
	"unicode/utf8"
)

// expandError is a problem in a ${...} reference, at byte offset off of
// the string being expanded.
type expandError struct {
	off int
	msg string
}

// maxExpandDepth bounds ${A:-${B:-...}} nesting; real configs use one or two.
const maxExpandDepth = 8

// expand replaces ${NAME} and ${NAME:-default} in s with values from env,
// and $$ with $. A default is used when NAME is unset or empty (as in sh)
// and may itself contain references. A '$' followed by anything else is
// kept as written, so that "$HOME" in a shell command line reaches the
// shell. NAME unset without a default is an error, at the offending "${".
func expand(s string, env func(string) (string, bool)) (string, *expandError) {
	return expandDepth(s, env, 0)
}

func expandDepth(s string, env func(string) (string, bool), depth int) (string, *expandError) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			b.WriteByte('$')
			i++
			continue
		}
		end := closingBrace(s, i+2)
		if end < 0 {
			return "", &expandError{i, "unterminated ${ (want ${NAME} or ${NAME:-default}; write $$ for a literal $)"}
		}
		body := s[i+2 : end]
		name, def, hasDef := strings.Cut(body, ":-")
		if !validEnvName(name) {
			return "", &expandError{i, "bad reference ${" + clip(body) + "} (want ${NAME} or ${NAME:-default}; write $$ for a literal $)"}
		}
		v, set := env(name)
		switch {
		case set && (v != "" || !hasDef):
			b.WriteString(v)
		case hasDef:
			if depth >= maxExpandDepth {
				return "", &expandError{i, "${...} nested too deeply"}
			}
			dv, err := expandDepth(def, env, depth+1)
			if err != nil {
				err.off += i + 2 + len(name) + 2
				return "", err
			}
			b.WriteString(dv)
		default:
			return "", &expandError{i, "variable " + name + " is not set (write ${" + name + ":-default} to give a default)"}
		}
		i = end + 1
	}
	return b.String(), nil
}

// closingBrace returns the index of the '}' that closes a "${" whose body
// starts at from, skipping nested references and $$, or -1.
func closingBrace(s string, from int) int {
	depth := 0
	for j := from; j < len(s); j++ {
		switch {
		case s[j] == '$' && j+1 < len(s) && s[j+1] == '$':
			j++
		case s[j] == '$' && j+1 < len(s) && s[j+1] == '{':
			depth++
			j++
		case s[j] == '}':
			if depth == 0 {
				return j
			}
			depth--
		}
	}
	return -1
}

// clip shortens a reference for a message; it is text from the file, not
// a value, but a line of garbage helps nobody.
func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	n := 40
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
