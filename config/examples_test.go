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
		"`[init]`":                        initKeys,
		"`[services.NAME]`":               serviceKeys,
		"`[services.NAME.restart]`":       restartKeys,
		"`[services.NAME.stop]`":          stopKeys,
		"`[init.cgroups]`":                cgroupsKeys,
		"`[services.NAME.resources]`":     resourcesKeys,
		"`[services.NAME.ready]`":         readyKeys,
		"`[services.NAME.health]`":        healthKeys,
		"`${VAR}` expansion":              nil,
		"Env files":                       nil,
		"Errors":                          nil,
		"Keys of later versions":          append(append([]string(nil), initLater...), serviceLater...),
		"Relative paths":                  nil,
		"Dependencies and start order":    nil,
		"Config directories and drop-ins": {"command", "shell", "env", "depends_on"},
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

// TestLayersExample reads examples/layers as its Dockerfile's two images
// do: the base's file alone, then with the drop-ins over it.
func TestLayersExample(t *testing.T) {
	base, err := Load("../examples/layers/initbox.toml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := base.StartOrder(), [][]string{{"api"}, {"worker"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("the base's StartOrder = %v, want %v", got, want)
	}
	c, err := LoadFiles([]string{"../examples/layers/initbox.toml", "../examples/layers/initbox.d"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.StartOrder(), [][]string{{"cache"}, {"api", "nightly"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("StartOrder = %v, want %v (the comments say so)", got, want)
	}
	if n := c.Services["nightly"]; n == nil || n.Schedule == nil || n.Schedule.String() != "15 3 * * *" || c.Init.Timezone == nil || c.Init.Timezone.String() != "UTC" {
		t.Errorf("the nightly job's drop-in did not give a job at 03:15 UTC: %+v", n)
	}
	if got, want := c.Services["api"].Env, map[string]string{"LOG_LEVEL": "debug", "PORT": "8080"}; !reflect.DeepEqual(got, want) {
		t.Errorf("api env = %v, want %v", got, want)
	}
}

// TestDocsDropInExample merges the base and drop-in of docs/config.md's
// section on drop-ins and compares what check --print writes, and the
// error of the bad drop-in, with what the page shows.
func TestDocsDropInExample(t *testing.T) {
	doc := readFile(t, "../docs/config.md")
	block := func(after string) string {
		i := strings.Index(doc, after)
		if i < 0 {
			t.Fatalf("docs/config.md: no %q", after)
		}
		rest := doc[i+len(after):]
		return rest[:strings.Index(rest, "```")]
	}
	const base, drop = "/etc/initbox/initbox.toml", "/etc/initbox/initbox.d/50-debug.toml"
	files := []File{
		{base, []byte(block("With this base, `" + base + "`:\n\n```toml\n"))},
		{drop, []byte(block("and this drop-in, `" + drop + "`:\n\n```toml\n"))},
	}
	c, err := ParseFiles(files, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := c.WriteTOML(&out); err != nil {
		t.Fatal(err)
	}
	// The page shows check's "ok" line first, as a comment.
	want := block("`initbox check --print` prints\n\n```toml\n")
	want = want[strings.Index(want, "\n\n")+2:]
	if out.String() != want {
		t.Errorf("the example prints\n%s\nbut the page says\n%s", out.String(), want)
	}
	bad := File{"/etc/initbox/initbox.d/60-bad.toml", []byte("[services.api]\nrestart.policy = \"sometimes\"\n")}
	_, err = ParseFiles(append(files, bad), noEnv)
	if want := strings.TrimSpace(block("would give\n\n```\n")); err == nil || err.Error() != want {
		t.Errorf("the bad drop-in gives\n%v\nbut the page says\n%s", err, want)
	}
}
