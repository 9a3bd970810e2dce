package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func kp(keys ...string) keyPath { return keyPath(keys) }

const trickySource = `# a comment with [services.fake] and key = "value"
title = """
[services.inside_string]
command = "no" # not a comment
"""   # a trailing comment
lit = '''x ''' # with ''' and """
q = """a"""""
"quoted key" = 1
'single quoted' = 2
"esc\u0041ped" = 3
  a . b . c = 4     # dotted, with blanks
date = 1979-05-27 07:32:00
arr = [
  1, # one
  [2, 3],
  { x = 1, y = [4] },
]
[ tbl . "sub table" ]
k = "v"
[[arr2]]
n = 1
[[arr2]]
	n = 2
[arr2.child]
m = 3
[inl]
t = {
  a = 1,   # TOML 1.1: newlines and comments in inline tables
  b = "}",
}
u = ["]", '[', """
]"""]
`

func TestIndexPositions(t *testing.T) {
	var root map[string]any
	if _, err := toml.Decode(trickySource, &root); err != nil {
		t.Fatalf("test source is not valid TOML: %v", err)
	}
	ix := newIndex([]byte(trickySource))
	tests := []struct {
		path     keyPath
		key, val string // "LINE:COL"; val "" for a table made by a header
	}{
		{kp("title"), "2:1", "2:9"},
		{kp("lit"), "6:1", "6:7"},
		{kp("q"), "7:1", "7:5"},
		{kp("quoted key"), "8:1", "8:16"},
		{kp("single quoted"), "9:1", "9:19"},
		{kp("escAped"), "10:1", "10:18"},
		{kp("a"), "11:3", ""},
		{kp("a", "b"), "11:7", ""},
		{kp("a", "b", "c"), "11:11", "11:15"},
		{kp("date"), "12:1", "12:8"},
		{kp("arr"), "13:1", "13:7"},
		{kp("arr").index(0), "14:3", "14:3"},
		{kp("arr").index(1), "15:3", "15:3"},
		{kp("arr").index(1).index(1), "15:7", "15:7"},
		{kp("arr").index(2), "16:3", "16:3"},
		{kp("arr").index(2).key("y"), "16:12", "16:16"},
		{kp("arr").index(2).key("y").index(0), "16:17", "16:17"},
		{kp("tbl"), "18:3", ""},
		{kp("tbl", "sub table"), "18:9", ""},
		{kp("tbl", "sub table", "k"), "19:1", "19:5"},
		{kp("arr2"), "20:3", ""},
		{kp("arr2").index(0).key("n"), "21:1", "21:5"},
		{kp("arr2").index(1), "22:3", ""},
		{kp("arr2").index(1).key("n"), "23:2", "23:6"},
		{kp("arr2").index(1).key("child").key("m"), "25:1", "25:5"},
		{kp("inl", "t", "a"), "28:3", "28:7"},
		{kp("inl", "t", "b"), "29:3", "29:7"},
		{kp("inl", "u").index(2), "31:16", "31:16"},
	}
	for _, tt := range tests {
		sp, ok := ix.spans[tt.path.id()]
		if !ok {
			t.Errorf("%s: not indexed", tt.path)
			continue
		}
		kl, kc := ix.lineCol(sp.key)
		val := ""
		if sp.val >= 0 {
			l, c := ix.lineCol(sp.val)
			val = fmt.Sprintf("%d:%d", l, c)
		}
		if got := fmt.Sprintf("%d:%d", kl, kc); got != tt.key || val != tt.val {
			t.Errorf("%s: key at %s, value at %q; want %s, %q", tt.path, got, val, tt.key, tt.val)
		}
	}
	for _, fake := range []keyPath{kp("services"), kp("services", "inside_string"), kp("command")} {
		if _, ok := ix.spans[fake.id()]; ok {
			t.Errorf("%s: indexed from inside a string or comment", fake)
		}
	}
	// A value's span ends where the value does, for finding ${ in it.
	sp := ix.spans[kp("tbl", "sub table", "k").id()]
	if got := trickySource[sp.val:sp.end]; got != `"v"` {
		t.Errorf("value text %q", got)
	}
}

func TestIndexLineEndingsAndBOM(t *testing.T) {
	tests := []struct {
		src  string
		path keyPath
		want string
	}{
		{"a = 1\r\nb = \"x\"\r\n", kp("b"), "2:1 2:5"},
		{"\xef\xbb\xbfa = 1\nb = 2\n", kp("a"), "1:1 1:5"},
		{"\xef\xbb\xbfa = 1\nb = 2\n", kp("b"), "2:1 2:5"},
		{"\ta\t=\t1", kp("a"), "1:2 1:6"},
		{"[x]\r\ny = [\r\n  1,\r\n]\r\n", kp("x", "y").index(0), "3:3 3:3"},
	}
	for _, tt := range tests {
		ix := newIndex([]byte(tt.src))
		sp, ok := ix.spans[tt.path.id()]
		if !ok {
			t.Errorf("%q: %s not indexed", tt.src, tt.path)
			continue
		}
		kl, kc := ix.lineCol(sp.key)
		vl, vc := ix.lineCol(sp.val)
		if got := fmt.Sprintf("%d:%d %d:%d", kl, kc, vl, vc); got != tt.want {
			t.Errorf("%q: %s at %s, want %s", tt.src, tt.path, got, tt.want)
		}
	}
}

func TestIndexLookupFallsBack(t *testing.T) {
	ix := newIndex([]byte("[services.web]\nshell = 'x'\n"))
	sp, exact := ix.lookup(kp("services", "web", "nothing", "deeper"))
	if exact {
		t.Errorf("lookup of a missing key says exact")
	}
	if l, c := ix.lineCol(sp.key); l != 1 || c != 11 {
		t.Errorf("fallback at %d:%d, want 1:11 (the service)", l, c)
	}
	sp, _ = newIndex(nil).lookup(kp("a"))
	if l, c := newIndex(nil).lineCol(sp.key); l != 1 || c != 1 {
		t.Errorf("empty file: fallback at %d:%d", l, c)
	}
}

// TestIndexAgreesWithParser checks the scanner against the parser on the
// sources at hand: every key the parser reports is indexed, at text that is
// that key. FuzzParse checks the same on everything it generates.
func TestIndexAgreesWithParser(t *testing.T) {
	checkIndex(t, []byte(trickySource))
	for _, name := range exampleFiles(t) {
		checkIndex(t, []byte(readFile(t, name)))
	}
}

// checkIndex fails when a key the parser saw is missing from the index, or
// indexed at text that is not the key. Keys under arrays of tables are
// skipped: the parser's keys do not carry the element index.
func checkIndex(t *testing.T, src []byte) {
	t.Helper()
	var root map[string]any
	md, err := toml.Decode(string(src), &root)
	if err != nil {
		return
	}
	ix := newIndex(src)
	for _, k := range md.Keys() {
		if underArrayOfTables(root, k) {
			continue
		}
		sp, ok := ix.spans[keyPath(k).id()]
		if !ok {
			t.Errorf("key %q not indexed in %q", k, src)
			continue
		}
		last := k[len(k)-1]
		if sp.key < 0 || sp.key >= len(src) {
			t.Errorf("key %q at offset %d, outside the source %q", k, sp.key, src)
			continue
		}
		rest := string(src[sp.key:])
		if c := rest[0]; c != '"' && c != '\'' && !strings.HasPrefix(rest, last) {
			t.Errorf("key %q indexed at %q in %q", k, clip(rest), src)
		}
	}
}

func underArrayOfTables(root map[string]any, k toml.Key) bool {
	var cur any = root
	for _, seg := range k {
		m, ok := cur.(map[string]any)
		if !ok {
			return true
		}
		cur = m[seg]
		if _, ok := cur.([]map[string]any); ok {
			return true
		}
	}
	return false
}

func TestUnquoteKey(t *testing.T) {
	for raw, want := range map[string]string{
		`"plain"`:       "plain",
		`'lit\n'`:       `lit\n`,
		`"a\tb"`:        "a\tb",
		`"\u00e9\x41"`:  "éA",
		`"\U0001F600"`:  "😀",
		`"bad\q"`:       `"bad\q"`,
		`"short\u00"`:   `"short\u00"`,
		`"unterminated`: `"unterminated`,
		`"`:             `"`,
	} {
		if got := unquoteKey(raw); got != want {
			t.Errorf("unquoteKey(%s) = %q, want %q", raw, got, want)
		}
	}
}

func TestKeyPathString(t *testing.T) {
	for want, p := range map[string]keyPath{
		"services.web.command[1]":       kp("services", "web", "command").index(1),
		`services."web server".env.A`:   kp("services", "web server", "env", "A"),
		`a."".b`:                        kp("a", "", "b"),
		"services.x.env_file[0][2].y":   kp("services", "x", "env_file").index(0).index(2).key("y"),
		`"quote\"d"`:                    kp(`quote"d`),
		"restart.success_exit_codes[0]": kp("restart", "success_exit_codes").index(0),
	} {
		if got := p.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

// awkwardSources are valid TOML that a naive scanner would misread.
var awkwardSources = []string{
	`a = """x\"""y""" # c` + "\nb = 1\n",
	"a = '''x''''\nb = '''\n[not.a.table]\n'''\nc = 1\n",
	`"a.b" = 1` + "\n" + `"x=y#[" = 2` + "\n" + `"" = 3` + "\n" + `'q"' = 4` + "\n",
	`["a]b".'c]d']` + "\nk = 1\n",
	"t = { a = [ { b = { c = [1, { d = 2 }] } } ], e.f = 3 }\n",
	"a = 1#c\nb=2\n  c\t=\t3 # c\n",
	"[[a]]\nx = 1\n[[a.b]]\ny = 1\n[[a.b]]\ny = 2\n[[a]]\n[[a.b]]\nz = 3\n[a.c]\nw = 4\n",
	"x.y = 1\nx.z = 2\n[x.w]\nv = 3\n",
	"n = [inf, -inf, nan, +1_000, 0x1F, 0o17, 0b11, 1e10, -0.0, true, false]\nm = 2\n",
	"d = [1979-05-27T00:32:00-07:00, 1979-05-27 07:32:00.999, 07:32:00, 1979-05-27, 07:32]\ne = 1\n",
	"s = \"x#y\" # c\nl = 'a\"b' # c\nm = \"a'b\"\n",
	"ml = \"\"\"\\\n  line \\\n  end\"\"\"\nafter = 1\n",
	"a = [\n  # comment ]\n  1,\n  # ,\n  2, # ]\n]\nb = [[1, 2], [\"]\", ']']]\n",
	"[services.web]\nenv = { A = \"}\", B = '{', C = \"\"\"\n}\"\"\" }\nshell = \"x\"\n",
	"[ services . web ]\n  command = [ 'a' , \"b\" ]\n[ services . \"web\" . stop ]\n  signal = 'TERM'\n",
	"k = \"\\u00e9\\U0001F600\"\n\"\\u00e9\" = 1\n\"\\e\\x41\" = 2\n",
}

func TestIndexAwkwardSources(t *testing.T) {
	for _, src := range awkwardSources {
		if _, err := toml.Decode(src, new(map[string]any)); err != nil {
			t.Errorf("not valid TOML: %v\n%s", err, src)
			continue
		}
		checkIndex(t, []byte(src))
	}
	ix := newIndex([]byte(awkwardSources[6]))
	for path, want := range map[string]string{
		kp("a").index(0).key("b").index(1).key("y").id(): "6:1",
		kp("a").index(1).key("b").index(0).key("z").id(): "9:1",
		kp("a").index(1).key("c").key("w").id():          "11:1",
	} {
		sp, ok := ix.spans[path]
		if !ok {
			t.Errorf("%q not indexed", path)
			continue
		}
		if l, c := ix.lineCol(sp.key); fmt.Sprintf("%d:%d", l, c) != want {
			t.Errorf("%q at %d:%d, want %s", path, l, c, want)
		}
	}
}
