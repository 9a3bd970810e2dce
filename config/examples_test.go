package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func exampleFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("../examples/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in ../examples: %v", err)
	}
	return files
}

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExamples loads every shipped example with an empty environment: they
// must work as they are, on any machine.
func TestExamples(t *testing.T) {
	for _, name := range exampleFiles(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			c, err := Load(name, noEnv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(c.StartOrder()) == 0 {
				t.Errorf("no service would start")
			}
		})
	}
}

func TestWebAndWorkerExample(t *testing.T) {
	c, err := Load("../examples/web-and-worker.toml", envOf(map[string]string{"DEMO_DIR": "/srv/demo"}))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"setup"}, {"db"}, {"web", "worker"}}
	if got := c.StartOrder(); !reflect.DeepEqual(got, want) {
		t.Errorf("StartOrder = %v, want %v (the example's header says so)", got, want)
	}
	if got := c.Services["web"].Env["DATA_DIR"]; got != "/srv/demo" {
		t.Errorf("web DATA_DIR = %q", got)
	}
}

// TestDocsListEveryKey keeps docs/config.md in step with the schema: every
// key of every table appears there as `key` in the section of its table.
func TestDocsListEveryKey(t *testing.T) {
	doc := readFile(t, "../docs/config.md")
	section := func(heading string) string {
		i := strings.Index(doc, "\n## "+heading)
		if i < 0 {
			t.Fatalf("docs/config.md has no section %q", heading)
		}
		rest := doc[i+1:]
		if j := strings.Index(rest[3:], "\n## "); j >= 0 {
			rest = rest[:j+3]
		}
		return rest
	}
	for heading, ks := range map[string][]string{
		"`[init]`":                     initKeys,
		"`[services.NAME]`":            serviceKeys,
		"`[services.NAME.restart]`":    restartKeys,
		"`[services.NAME.stop]`":       stopKeys,
		"`[init.cgroups]`":             cgroupsKeys,
		"`[services.NAME.resources]`":  resourcesKeys,
		"`[services.NAME.ready]`":      readyKeys,
		"`[services.NAME.health]`":     healthKeys,
		"`${VAR}` expansion":           nil,
		"Env files":                    nil,
		"Errors":                       nil,
		"Keys of later versions":       append(append([]string(nil), initLater...), serviceLater...),
		"Relative paths":               nil,
		"Dependencies and start order": nil,
	} {
		s := section(heading)
		for _, k := range ks {
			if !strings.Contains(s, "`"+k+"`") {
				t.Errorf("docs/config.md section %s does not mention `%s`", heading, k)
			}
		}
	}
}

// TestDocsErrorExample runs the example of docs/config.md's Errors section
// and compares the output with what the page shows.
func TestDocsErrorExample(t *testing.T) {
	doc := readFile(t, "../docs/config.md")
	block := func(after string) string {
		i := strings.Index(doc, after)
		if i < 0 {
			t.Fatalf("docs/config.md: no %q", after)
		}
		rest := doc[i+len(after):]
		return rest[:strings.Index(rest, "```")]
	}
	src := block("This file\n\n```toml\n")
	want := strings.TrimSpace(block("gives\n\n```\n"))
	_, err := Parse("initbox.toml", []byte(src), noEnv)
	if err == nil || err.Error() != want {
		t.Errorf("the example gives\n%v\nbut the page says\n%s", err, want)
	}
}
