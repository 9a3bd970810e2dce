package config

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// BurntSushi/toml v1.6.0 keeps the position of every key while it parses,
// but MetaData does not export it (only ParseError has a Position), and
// decoding stops at the first type error. So the config is decoded into
// generic maps, checked here key by key, and positions come from the small
// scanner in this file, which walks the same source again and records where
// each key and each value starts. It runs only on text the TOML parser has
// accepted, so it can stay simple; on anything it does not understand it
// moves on rather than fail, and a missing position falls back to the
// nearest enclosing key.

// keyPath names a key or an array element from the top of the document:
// {"services", "web", "command", idx(1)}.
type keyPath []string

// idxMark starts an array-index element of a keyPath; TOML keys cannot
// easily contain it, and a collision would only misplace a position.
const idxMark = "\x00#"

func (p keyPath) key(k string) keyPath {
	q := make(keyPath, len(p), len(p)+1)
	copy(q, p)
	return append(q, k)
}

func (p keyPath) index(i int) keyPath { return p.key(idxMark + strconv.Itoa(i)) }

// id is the map key of p in an index.
func (p keyPath) id() string { return strings.Join(p, "\x1f") }

// String writes p as a user reads it: services.web.command[1], with keys
// quoted where TOML needs quotes.
func (p keyPath) String() string {
	var b strings.Builder
	for i, k := range p {
		if n, ok := strings.CutPrefix(k, idxMark); ok {
			b.WriteString("[" + n + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(quoteKey(k))
	}
	return b.String()
}

// quoteKey returns k as a TOML key: bare when it can be, quoted otherwise.
func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for i := 0; i < len(k); i++ {
		if !isBareKeyByte(k[i]) {
			return strconv.Quote(k)
		}
	}
	return k
}

func isBareKeyByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// span is where a key and its value are in the source, as byte offsets.
type span struct {
	key      int  // the key's last segment (for an array element, the element)
	val      int  // the value's first byte; -1 for a table made by a [header]
	end      int  // one past the value's last byte; -1 when val is
	explicit bool // defined by a header or a key/value, not implied by a dotted name
}

// index maps key paths to their place in one source text.
type index struct {
	src   []byte
	bom   int   // length of a byte order mark the TOML parser skipped
	lines []int // offset of the first byte of each line
	spans map[string]span
}

// bomLen is the length of the byte order mark BurntSushi/toml skips.
func bomLen(src []byte) int {
	s := string(src[:min(len(src), 3)])
	switch {
	case strings.HasPrefix(s, "\xef\xbb\xbf"):
		return 3
	case strings.HasPrefix(s, "\xff\xfe"), strings.HasPrefix(s, "\xfe\xff"):
		return 2
	}
	return 0
}

// newLines returns an index of src's lines, without any key.
func newLines(src []byte) *index {
	ix := &index{src: src, bom: bomLen(src), lines: []int{0}, spans: map[string]span{}}
	for i, c := range src {
		if c == '\n' {
			ix.lines = append(ix.lines, i+1)
		}
	}
	return ix
}

// newIndex scans src, which the TOML parser has accepted.
func newIndex(src []byte) *index {
	ix := newLines(src)
	s := &scanner{ix: ix, src: src, pos: ix.bom, arrays: map[string]int{}}
	s.document()
	return ix
}

// lineCol converts a byte offset into a 1-based line and column.
func (ix *index) lineCol(off int) (line, col int) {
	off = max(0, min(off, len(ix.src)))
	line = sort.Search(len(ix.lines), func(i int) bool { return ix.lines[i] > off })
	col = off - ix.lines[line-1] + 1
	if line == 1 {
		col = max(1, col-ix.bom)
	}
	return line, col
}

// lookup returns the span of p or of its nearest recorded ancestor.
func (ix *index) lookup(p keyPath) (span, bool) {
	for n := len(p); n > 0; n-- {
		if sp, ok := ix.spans[p[:n].id()]; ok {
			return sp, n == len(p)
		}
	}
	return span{key: ix.bom, val: -1, end: -1}, false
}

// scanner walks TOML source the parser has accepted; see the comment at the
// top of this file.
type scanner struct {
	ix     *index
	src    []byte
	pos    int
	table  keyPath        // the table the last header opened
	arrays map[string]int // id of each array of tables → elements so far
}

func (s *scanner) eof() bool { return s.pos >= len(s.src) }

func (s *scanner) peek(n int) byte {
	if s.pos+n < len(s.src) {
		return s.src[s.pos+n]
	}
	return 0
}

// record notes where p is. The first definition wins, but an explicit one
// replaces a table implied by an earlier dotted name or header, so that
// [services.web] is where "web" is even after [services.web.stop].
func (s *scanner) record(p keyPath, sp span) {
	id := p.id()
	if old, ok := s.ix.spans[id]; ok && (old.explicit || !sp.explicit) {
		return
	}
	s.ix.spans[id] = sp
}

// blank skips spaces, tabs and comments, and newlines too when nl is set.
func (s *scanner) blank(nl bool) {
	for !s.eof() {
		switch s.src[s.pos] {
		case ' ', '\t':
			s.pos++
		case '\r', '\n':
			if !nl {
				return
			}
			s.pos++
		case '#':
			for !s.eof() && s.src[s.pos] != '\n' {
				s.pos++
			}
		default:
			return
		}
	}
}

func (s *scanner) document() {
	for {
		s.blank(true)
		if s.eof() {
			return
		}
		start := s.pos
		if s.src[s.pos] == '[' {
			s.header()
		} else {
			s.keyValue(s.table)
		}
		if s.pos == start {
			s.pos++ // never stall on text the scanner does not understand
		}
	}
}

// header reads [a.b] or [[a.b]] and makes it the current table.
func (s *scanner) header() {
	array := s.peek(1) == '['
	s.pos++
	if array {
		s.pos++
	}
	segs := s.dottedKey()
	s.blank(false)
	for n := 0; n < 2 && !s.eof() && s.src[s.pos] == ']'; n++ {
		s.pos++
	}
	var p keyPath
	for i, sg := range segs {
		p = p.key(sg.name)
		last := i == len(segs)-1
		s.record(p, span{key: sg.off, val: -1, end: -1, explicit: last})
		id := p.id()
		if last && array {
			n := s.arrays[id]
			s.arrays[id] = n + 1
			p = p.index(n)
			s.record(p, span{key: sg.off, val: -1, end: -1, explicit: true})
		} else if n, ok := s.arrays[id]; ok {
			// [a.b] after [[a]] is inside a's last element.
			p = p.index(n - 1)
		}
	}
	s.table = p
}

// keyValue reads KEY = VALUE into the table at base.
func (s *scanner) keyValue(base keyPath) {
	segs := s.dottedKey()
	if len(segs) == 0 {
		return
	}
	p := base
	for _, sg := range segs[:len(segs)-1] {
		p = p.key(sg.name)
		s.record(p, span{key: sg.off, val: -1, end: -1})
	}
	keyOff := segs[len(segs)-1].off
	p = p.key(segs[len(segs)-1].name)
	s.blank(false)
	if s.eof() || s.src[s.pos] != '=' {
		return
	}
	s.pos++
	s.blank(false)
	s.value(p, keyOff)
}

func (s *scanner) value(p keyPath, keyOff int) {
	start := s.pos
	if s.eof() {
		return
	}
	switch s.src[s.pos] {
	case '"', '\'':
		s.str()
	case '[':
		s.array(p)
	case '{':
		s.inlineTable(p)
	default:
		// Numbers, booleans and dates end at a delimiter; a local
		// date-time may contain a space, so spaces do not end them.
		for !s.eof() && !strings.ContainsRune(",]}#\r\n", rune(s.src[s.pos])) {
			s.pos++
		}
	}
	end := s.pos
	for end > start && (s.src[end-1] == ' ' || s.src[end-1] == '\t') {
		end--
	}
	s.record(p, span{key: keyOff, val: start, end: end, explicit: true})
}

func (s *scanner) array(p keyPath) {
	s.pos++ // [
	for i := 0; ; {
		s.blank(true)
		if s.eof() {
			return
		}
		switch s.src[s.pos] {
		case ']':
			s.pos++
			return
		case ',':
			s.pos++
			continue
		}
		start := s.pos
		s.value(p.index(i), start)
		i++
		if s.pos == start {
			s.pos++
		}
	}
}

func (s *scanner) inlineTable(p keyPath) {
	s.pos++ // {
	for {
		// TOML 1.1 allows newlines and comments inside inline tables.
		s.blank(true)
		if s.eof() {
			return
		}
		switch s.src[s.pos] {
		case '}':
			s.pos++
			return
		case ',':
			s.pos++
			continue
		}
		start := s.pos
		s.keyValue(p)
		if s.pos == start {
			s.pos++
		}
	}
}

// str skips any of the four kinds of TOML string.
func (s *scanner) str() {
	q := s.src[s.pos]
	if s.peek(1) == q && s.peek(2) == q {
		s.pos += 3
		for !s.eof() {
			c := s.src[s.pos]
			if c == '\\' && q == '"' {
				s.pos += 2
				continue
			}
			if c == q && s.peek(1) == q && s.peek(2) == q {
				s.pos += 3
				// A multi-line string may end with up to two quotes
				// of its own: """a""""" is `a""`.
				for n := 0; n < 2 && !s.eof() && s.src[s.pos] == q; n++ {
					s.pos++
				}
				return
			}
			s.pos++
		}
		s.pos = len(s.src)
		return
	}
	s.pos++
	for !s.eof() {
		c := s.src[s.pos]
		switch {
		case c == '\\' && q == '"':
			s.pos += 2
			continue
		case c == q:
			s.pos++
			return
		case c == '\n':
			return
		}
		s.pos++
	}
	s.pos = len(s.src)
}

type keySeg struct {
	name string
	off  int
}

// dottedKey reads a.b."c d".'e' and returns its segments.
func (s *scanner) dottedKey() []keySeg {
	var segs []keySeg
	for {
		s.blank(false)
		if s.eof() {
			return segs
		}
		off := s.pos
		switch c := s.src[s.pos]; {
		case c == '"' || c == '\'':
			s.str()
			end := min(s.pos, len(s.src))
			segs = append(segs, keySeg{unquoteKey(string(s.src[off:end])), off})
		case isBareKeyByte(c):
			for !s.eof() && isBareKeyByte(s.src[s.pos]) {
				s.pos++
			}
			segs = append(segs, keySeg{string(s.src[off:s.pos]), off})
		default:
			return segs
		}
		s.blank(false)
		if s.eof() || s.src[s.pos] != '.' {
			return segs
		}
		s.pos++
	}
}

// unquoteKey decodes a quoted key as TOML does. A key it cannot decode is
// returned as written: the cost is a position that falls back to a parent.
func unquoteKey(raw string) string {
	if len(raw) < 2 {
		return raw
	}
	q := raw[0]
	body, ok := strings.CutSuffix(raw[1:], string(q))
	if !ok {
		return raw
	}
	if q == '\'' || !strings.Contains(body, `\`) {
		return body
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 >= len(body) {
			b.WriteByte(c)
			continue
		}
		i++
		switch body[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(body[i])
		case 'x', 'u', 'U':
			n := 2
			switch body[i] {
			case 'u':
				n = 4
			case 'U':
				n = 8
			}
			if i+1+n > len(body) {
				return raw
			}
			v, err := strconv.ParseUint(body[i+1:i+1+n], 16, 32)
			if err != nil {
				return raw
			}
			b.WriteRune(rune(v))
			i += n
		default:
			return raw
		}
	}
	if !utf8.ValidString(b.String()) {
		return raw
	}
	return b.String()
}
