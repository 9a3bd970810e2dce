package main

// s6's service directories for the stack, written from stack.toml at run
// time so that they cannot drift from it: `initbox check --print` gives the
// merged configuration in a regular form (one table per header, one key a
// line), and each long-running service becomes a `run` script that execs
// the same command line as the same user with the same environment.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// stackService is what an s6 service directory needs of one service.
type stackService struct {
	name        string
	oneshot     bool
	shell       bool // a shell = ''' ... ''' service: not carried over
	command     []string
	user        string
	env         [][2]string
	stopSignal  string
	stopTimeout time.Duration
}

// stackServices reads stack.toml through `initbox check --print` and keeps
// its long-running services.
func stackServices(initbox string, files ...string) ([]stackService, error) {
	args := []string{"check", "--print"}
	for _, f := range files {
		args = append(args, "-c", f)
	}
	out, err := exec.Command(initbox, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("initbox check --print: %w", err)
	}
	all, err := parsePrinted(string(out))
	if err != nil {
		return nil, err
	}
	var svcs []stackService
	for _, s := range all {
		switch {
		case s.oneshot:
		case s.shell || len(s.command) == 0:
			return nil, fmt.Errorf("service %s: only a command is carried over to s6", s.name)
		default:
			svcs = append(svcs, s)
		}
	}
	return svcs, nil
}

// parsePrinted reads the keys of [services.NAME], [services.NAME.env] and
// [services.NAME.stop] that s6 needs; the rest (readiness, dependencies,
// limits) has no place in a plain service directory.
func parsePrinted(text string) ([]stackService, error) {
	var order []string
	byName := map[string]*stackService{}
	var cur *stackService
	var sub string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "[") {
			cur = nil
			h, _, _ := strings.Cut(l[1:], "]")
			rest, ok := strings.CutPrefix(h, "services.")
			if !ok {
				continue
			}
			var name string
			name, sub, _ = strings.Cut(rest, ".")
			if byName[name] == nil {
				byName[name] = &stackService{name: name}
				order = append(order, name)
			}
			cur = byName[name]
			continue
		}
		key, val, ok := strings.Cut(l, " = ")
		if !ok || cur == nil {
			continue
		}
		if delim := val[:min(3, len(val))]; delim == "'''" || delim == `"""` {
			// A multi-line string: skip to its closing line.
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], delim); i++ {
			}
			cur.shell = cur.shell || (sub == "" && key == "shell")
			continue
		}
		vals, err := tomlStrings(val)
		if err != nil || len(vals) == 0 {
			continue // a number, a boolean: none is needed here
		}
		switch sub {
		case "":
			switch key {
			case "type":
				cur.oneshot = vals[0] == "oneshot"
			case "command":
				cur.command = vals
			case "user":
				cur.user = vals[0]
			case "shell":
				cur.shell = true
			}
		case "env":
			cur.env = append(cur.env, [2]string{key, vals[0]})
		case "stop":
			switch key {
			case "signal":
				cur.stopSignal = vals[0]
			case "timeout":
				d, err := time.ParseDuration(vals[0])
				if err != nil {
					return nil, fmt.Errorf("services.%s.stop.timeout: %w", cur.name, err)
				}
				cur.stopTimeout = d
			}
		}
	}
	out := make([]stackService, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	return out, nil
}

// tomlStrings reads a TOML string or a one-line array of strings at the
// start of v (what follows, " # file", is left); an error for any other
// value.
func tomlStrings(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "[") {
		s, _, err := tomlString(v)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	var out []string
	v = v[1:]
	for {
		v = strings.TrimLeft(v, " ,")
		if strings.HasPrefix(v, "]") {
			return out, nil
		}
		s, rest, err := tomlString(v)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		v = rest
	}
}

// tomlString reads one basic ("...", Go's escapes cover TOML's but \e) or
// literal ('...') string and returns it with the rest of v.
func tomlString(v string) (string, string, error) {
	switch {
	case strings.HasPrefix(v, "'"):
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", "", errors.New("unterminated literal string")
		}
		return v[1 : 1+end], v[2+end:], nil
	case strings.HasPrefix(v, `"`):
		for i := 1; i < len(v); i++ {
			switch v[i] {
			case '\\':
				i++
			case '"':
				s, err := strconv.Unquote(v[:i+1])
				return s, v[i+1:], err
			}
		}
		return "", "", errors.New("unterminated string")
	}
	return "", "", fmt.Errorf("not a string: %.20q", v)
}

// writeScanDir writes a fresh scan directory: one service directory per
// service, with run, down-signal and timeout-kill. No finish script: the
// postmaster's backends leave by themselves after a kill -9, and the
// supervision tree is PID 1's, which reaps them.
func writeScanDir(scan string, svcs []stackService) error {
	if err := os.RemoveAll(scan); err != nil {
		return err
	}
	for _, s := range svcs {
		d := filepath.Join(scan, s.name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		run, err := runScript(s)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "run"), []byte(run), 0o755); err != nil {
			return err
		}
		if s.stopSignal != "" {
			if err := os.WriteFile(filepath.Join(d, "down-signal"), []byte(s.stopSignal+"\n"), 0o644); err != nil {
				return err
			}
		}
		if s.stopTimeout > 0 {
			ms := fmt.Sprintf("%d\n", s.stopTimeout.Milliseconds())
			if err := os.WriteFile(filepath.Join(d, "timeout-kill"), []byte(ms), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// runScript is the service's run script. Its words are in double quotes,
// with only ${...} left to the shell: initbox's ${VAR:-default} expansion
// of STACK_ETC and STACK_DATA is the shell's. HOME, USER and LOGNAME are
// the user's, as initbox sets them; s6-setuidgid sets the uid, gid and
// supplementary groups.
func runScript(s stackService) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# [services.%s] of stack.toml, written by the bench\n", s.name)
	if s.user != "" {
		home, err := passwdEntry(s.user)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "export HOME=%s USER=%s LOGNAME=%s\n", shWord(home), shWord(s.user), shWord(s.user))
	}
	for _, kv := range s.env {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shWord(kv[1]))
	}
	b.WriteString("exec")
	if s.user != "" {
		b.WriteString(" s6-setuidgid " + shWord(s.user))
	}
	for _, w := range s.command {
		b.WriteString(" " + shWord(w))
	}
	b.WriteString("\n")
	return b.String(), nil
}

// shWord quotes w for sh, leaving ${...} to its expansion.
func shWord(w string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(w); i++ {
		switch c := w[i]; c {
		case '"', '\\', '`':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '$':
			if !strings.HasPrefix(w[i:], "${") {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// passwdEntry is user's home directory from /etc/passwd; an error when the
// user does not exist (the packages make the stack's users).
func passwdEntry(user string) (string, error) {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 6 && fields[0] == user {
			return fields[5], nil
		}
	}
	return "", fmt.Errorf("no user %s in /etc/passwd (made by the stack's packages)", user)
}
