//go:build linux

package docker

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int    // where it starts, 1-based
	cmd  string // upper case: FROM, COPY, ...
	args string // the rest of the instruction
}

// parseDockerfile splits a Dockerfile into instructions. It knows what the
// root Dockerfile uses: comments, blank lines and backslash continuations
// (no escape directive, no heredocs).
func parseDockerfile(src string) ([]instruction, error) {
	var (
		out   []instruction
		cur   strings.Builder
		start int
	)
	for i, l := range strings.Split(src, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(t, " ", "")), "#escape=") && len(out) == 0 && cur.Len() == 0 {
			return nil, fmt.Errorf("line %d: the escape directive is not supported", i+1)
		}
		if t == "" || strings.HasPrefix(t, "#") {
			continue // comments inside a continuation are dropped too, as Docker does
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if s, ok := strings.CutSuffix(t, `\`); ok {
			cur.WriteString(s)
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(t)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() != 0 {
		return nil, fmt.Errorf("line %d: the file ends inside a continuation", start)
	}
	return out, nil
}

// deriveTestDockerfile turns the root Dockerfile into the Dockerfile of the
// image the tests build: its final stage, which must be FROM scratch, with
// `COPY --from=<stage> /initbox DEST` replaced by `COPY initbox DEST` (the
// binary built by TestMain sits in the build context). Anything else that
// stage takes from another stage or from the context cannot be reproduced
// without the Go image, so it is an error: what is tested must be what ships.
func deriveTestDockerfile(src string) (string, error) {
	ins, err := parseDockerfile(src)
	if err != nil {
		return "", err
	}
	last := -1
	for i, in := range ins {
		if in.cmd == "FROM" {
			last = i
		}
	}
	if last < 0 {
		return "", fmt.Errorf("no FROM instruction")
	}
	from := ins[last]
	image := ""
	for _, f := range strings.Fields(from.args) {
		if !strings.HasPrefix(f, "--") {
			image = f
			break
		}
	}
	if !strings.EqualFold(image, "scratch") {
		return "", fmt.Errorf("line %d: the final stage is FROM %s, not FROM scratch", from.line, image)
	}
	var b strings.Builder
	b.WriteString("# Derived by tests/docker from the final stage of the root Dockerfile.\n")
	b.WriteString("FROM scratch\n")
	copied := false
	for _, in := range ins[last+1:] {
		switch in.cmd {
		case "COPY", "ADD":
			var flags, rest []string
			for _, f := range strings.Fields(in.args) {
				if len(rest) == 0 && strings.HasPrefix(f, "--") {
					flags = append(flags, f)
				} else {
					rest = append(rest, f)
				}
			}
			stage := ""
			for _, f := range flags {
				if s, ok := strings.CutPrefix(f, "--from="); ok {
					stage = s
					continue
				}
				return "", fmt.Errorf("line %d: %s %s: the tests do not reproduce the flag %s", in.line, in.cmd, in.args, f)
			}
			if in.cmd == "ADD" || stage == "" {
				return "", fmt.Errorf("line %d: %s %s: the final stage may only copy /initbox from the build stage", in.line, in.cmd, in.args)
			}
			if len(rest) != 2 || rest[0] != "/initbox" {
				return "", fmt.Errorf("line %d: COPY %s: the final stage may only copy /initbox from stage %s", in.line, in.args, stage)
			}
			fmt.Fprintf(&b, "COPY initbox %s\n", rest[1])
			copied = true
		default:
			fmt.Fprintf(&b, "%s %s\n", in.cmd, in.args)
		}
	}
	if !copied {
		return "", fmt.Errorf("line %d: the final stage copies no /initbox from a build stage", from.line)
	}
	return b.String(), nil
}

// entrypoint returns the exec-form ENTRYPOINT of a derived Dockerfile.
func entrypoint(dockerfile string) ([]string, error) {
	ins, err := parseDockerfile(dockerfile)
	if err != nil {
		return nil, err
	}
	var ep []string
	found := false
	for _, in := range ins {
		if in.cmd == "ENTRYPOINT" {
			ep, found = nil, true
			if err := json.Unmarshal([]byte(in.args), &ep); err != nil {
				return nil, fmt.Errorf("line %d: ENTRYPOINT %s is not the exec (JSON) form: %v", in.line, in.args, err)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("no ENTRYPOINT")
	}
	return ep, nil
}

// TestRootDockerfileFinalStage checks, without Docker, that the root
// Dockerfile's final stage is what the tests can rebuild, and that it ships
// initbox as `ENTRYPOINT ["/initbox", "--"]`.
func TestRootDockerfileFinalStage(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := deriveTestDockerfile(string(src))
	if err != nil {
		t.Fatalf("root Dockerfile: %v", err)
	}
	ep, err := entrypoint(d)
	if err != nil {
		t.Fatalf("derived Dockerfile: %v\n%s", err, d)
	}
	if want := []string{"/initbox", "--"}; strings.Join(ep, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("ENTRYPOINT = %q, want %q", ep, want)
	}
	if !strings.Contains(d, "\nCOPY initbox /initbox\n") {
		t.Errorf("derived Dockerfile does not copy initbox to /initbox:\n%s", d)
	}
}

func TestDeriveTestDockerfile(t *testing.T) {
	good := "ARG GO_VERSION=1.26\n" +
		"FROM golang:${GO_VERSION}-bookworm AS build\n" +
		"RUN go build \\\n  # a comment inside\n  -o /initbox ./cmd/initbox\n" +
		"\n# final\nFROM scratch AS final\n" +
		"COPY --from=build /initbox /initbox\n" +
		"LABEL a=b\n" +
		"ENTRYPOINT [\"/initbox\", \"--\"]\n"
	d, err := deriveTestDockerfile(good)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Derived by tests/docker from the final stage of the root Dockerfile.\n" +
		"FROM scratch\nCOPY initbox /initbox\nLABEL a=b\nENTRYPOINT [\"/initbox\", \"--\"]\n"
	if d != want {
		t.Errorf("derived:\n%s\nwant:\n%s", d, want)
	}

	bad := map[string]string{
		"final stage not scratch": "FROM golang AS build\nFROM debian\nCOPY --from=build /initbox /initbox\n",
		"copy from context":       "FROM scratch\nCOPY initbox /initbox\n",
		"other file from stage":   "FROM b AS build\nFROM scratch\nCOPY --from=build /initbox /initbox\nCOPY --from=build /etc/passwd /etc/passwd\n",
		"unreproduced flag":       "FROM b AS build\nFROM scratch\nCOPY --from=build --chmod=755 /initbox /initbox\n",
		"no initbox":              "FROM scratch\nENTRYPOINT [\"/x\"]\n",
		"dangling continuation":   "FROM scratch \\\n",
		"escape directive":        "# escape=`\nFROM scratch\n",
	}
	for name, src := range bad {
		if d, err := deriveTestDockerfile(src); err == nil {
			t.Errorf("%s: no error, derived:\n%s", name, d)
		}
	}
}
