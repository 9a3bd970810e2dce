package config

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error it reports has
// a real position in the input, that what it accepts validates again and
// starts every enabled service, and that the position scanner finds every
// key the TOML parser finds. Seeds: testdata/fuzz/FuzzParse, the examples
// and the scanner tests' sources.
func FuzzParse(f *testing.F) {
	for _, name := range exampleFiles(f) {
		f.Add([]byte(readFile(f, name)))
	}
	f.Add([]byte(trickySource))
	for _, s := range awkwardSources {
		f.Add([]byte(s))
	}
	env := envOf(map[string]string{"A": "a", "EMPTY": "", "DOLLAR": "$"})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data, env)
		if err != nil {
			if c != nil {
				t.Errorf("a config and an error")
			}
			checkPositions(t, "fuzz.toml", data, err)
			checkIndex(t, data)
			return
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Parse accepted what Validate rejects: %v", err)
		}
		enabled, started := 0, 0
		for _, s := range c.Services {
			if s.Enabled {
				enabled++
			}
		}
		for _, level := range c.StartOrder() {
			started += len(level)
		}
		if started != enabled {
			t.Errorf("StartOrder has %d services, %d are enabled", started, enabled)
		}
		checkIndex(t, data)
	})
}

// FuzzParseEnvFile checks that ParseEnvFile never panics and that every
// error has a real position.
func FuzzParseEnvFile(f *testing.F) {
	for _, s := range []string{"A=1\n", "export B='x'\n# c\n", "C=\"a\\nb\" # c\n", "D=\"open\n", "=\n", "E='x' y\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vars, err := ParseEnvFile("fuzz.env", data)
		if err != nil {
			if vars != nil {
				t.Errorf("variables and an error")
			}
			checkPositions(t, "fuzz.env", data, err)
			return
		}
		for _, v := range vars {
			if !validEnvName(v.Name) || bytes.IndexByte([]byte(v.Value), 0) >= 0 {
				t.Errorf("accepted %q", v)
			}
		}
	})
}

// checkPositions fails unless err is an *Errors whose every error is in
// file at a line and column that exist in data.
func checkPositions(t *testing.T, file string, data []byte, err error) {
	t.Helper()
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T is not an *Errors: %v", err, err)
	}
	if len(errs.List) == 0 {
		t.Fatalf("an empty *Errors")
	}
	lines := bytes.Split(data, []byte("\n"))
	for _, e := range errs.List {
		if e.File != file || e.Msg == "" {
			t.Errorf("error without file or message: %+v", e)
		}
		if e.Line < 1 || e.Line > len(lines) {
			t.Errorf("line %d outside 1..%d: %v", e.Line, len(lines), &e)
			continue
		}
		// Column len+1 is the end of the line (a missing value, EOF).
		if n := len(lines[e.Line-1]); e.Col < 1 || e.Col > n+1 {
			t.Errorf("column %d outside 1..%d: %v", e.Col, n+1, &e)
		}
	}
}

// FuzzMerge checks, for two files merged, that ParseFiles never panics,
// that every error is at a real position of the file it names, and that
// what it accepts prints (WriteTOML) as TOML that parses back, from
// another directory, to the same configuration. Seeds: the drop-in tests'
// files, and the examples over one another.
func FuzzMerge(f *testing.F) {
	for i := 1; i < len(threeFiles); i++ {
		f.Add(threeFiles[i-1].Data, threeFiles[i].Data)
	}
	examples := exampleFiles(f)
	for i, name := range examples {
		f.Add([]byte(readFile(f, name)), []byte(readFile(f, examples[(i+1)%len(examples)])))
	}
	layers := "../examples/layers/"
	f.Add([]byte(readFile(f, layers+"initbox.toml")), []byte(readFile(f, layers+"initbox.d/10-cache.toml")))
	f.Add([]byte(readFile(f, layers+"initbox.toml")), []byte(readFile(f, layers+"initbox.d/50-debug.toml")))
	f.Add([]byte("[services.a]\ncommand = [\"a\"]\n"), []byte("services.a = 1\n"))
	f.Add([]byte("[services.a]\nshell = \"a\"\nenv_file = \"./${A}/x\"\n"), []byte("[services.a]\nstdout = \"file:${DOLLAR}\"\nready.file = \"r\"\n"))
	env := envOf(map[string]string{"A": "a", "EMPTY": "", "DOLLAR": "$"})
	const nameA, nameB = "/etc/initbox/a.toml", "/etc/initbox/d/b.toml"
	f.Fuzz(func(t *testing.T, a, b []byte) {
		c, err := ParseFiles([]File{{nameA, a}, {nameB, b}}, env)
		if err != nil {
			if c != nil {
				t.Errorf("a config and an error")
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not an *Errors: %v", err, err)
			}
			for _, e := range errs.List {
				data := map[string][]byte{nameA: a, nameB: b}[e.File]
				if data == nil {
					t.Errorf("error in no file: %v", &e)
					continue
				}
				checkPositions(t, e.File, data, &Errors{List: []Error{e}})
			}
			return
		}
		var out bytes.Buffer
		if err := c.WriteTOML(&out); err != nil {
			t.Fatal(err)
		}
		back, err := Parse("/elsewhere/printed.toml", out.Bytes(), env)
		if err != nil {
			t.Fatalf("the printed config does not parse: %v\n%s", err, out.String())
		}
		sameConfig(t, back, c, out.String())
	})
}
