package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// A config may come in several files (a base image's file, then drop-ins
// of the images built on it). Each file is parsed on its own, with its own
// position index; the generic maps are then merged into one tree, and the
// tree is decoded and validated once, as a single file would be. So that a
// problem found in the merged tree can still be named in the file it comes
// from, the merge records, for every key, the file that supplied it.

// File is one config file for ParseFiles: the name errors call it, and
// its contents.
type File struct {
	Name string
	Data []byte
}

// source is one config file while it is read.
type source struct {
	name string // as errors print it
	dir  string // relative paths in the file are relative to it
	data []byte
	ix   *index
	root map[string]any
	md   toml.MetaData
}

// origin records which file each part of the merged tree comes from. A
// key with no entry in kids came, with everything below it, from the same
// file as its table: only keys a later file added or replaced get an entry,
// so a file that changes one key of a large table costs one node.
type origin struct {
	file int
	kids map[string]*origin
}

// meta is what a parsed Config remembers of its files, so that Validate
// can point at the right place and Print can say where each key came from.
type meta struct {
	files []*source
	tree  *origin
	root  map[string]any    // the merged tree, as the files write it
	order map[string]int    // keyPath id → rank of its first appearance
	rel   map[string]string // keyPath id of a relative path → the value as resolved, for Print
	bad   map[string]bool   // keyPath ids whose value failed to decode
	added map[string]bool   // services added with Add: they have no place in a file
}

// source returns the file that supplied p or, when no file sets p, its
// nearest ancestor that one does; nil when there is no file at all.
func (m *meta) source(p keyPath) *source {
	if len(m.files) == 0 {
		return nil
	}
	n := m.tree
	for _, k := range p {
		kid, ok := n.kids[k]
		if !ok {
			break
		}
		n = kid
	}
	return m.files[n.file]
}

// pos returns where p's value (or key, with onKey) is.
func (m *meta) pos(p keyPath, onKey bool) (file string, line, col int) {
	src := m.source(p)
	if src == nil {
		return "", 0, 0
	}
	sp, _ := src.ix.lookup(p)
	off := sp.val
	if onKey || off < 0 {
		off = sp.key
	}
	line, col = src.ix.lineCol(off)
	return src.name, line, col
}

// defined reports whether a file sets p (explicitly or as the table of a
// key it sets).
func (m *meta) defined(p keyPath) bool {
	src := m.source(p)
	if src == nil {
		return false
	}
	_, ok := src.ix.spans[p.id()]
	return ok
}

// names returns the files' names in merge order.
func (m *meta) names() []string {
	out := make([]string, len(m.files))
	for i, f := range m.files {
		out[i] = f.name
	}
	return out
}

// serviceOrder is the order services are first defined in, file by file.
func (m *meta) serviceOrder(services map[string]any) []string {
	var order []string
	seen := map[string]bool{}
	for _, f := range m.files {
		for _, k := range f.md.Keys() {
			if len(k) >= 2 && k[0] == "services" && !seen[k[1]] {
				if _, ok := services[k[1]]; ok {
					seen[k[1]] = true
					order = append(order, k[1])
				}
			}
		}
	}
	for _, name := range keys(services) { // should not happen: every service has a key
		if !seen[name] {
			order = append(order, name)
		}
	}
	return order
}

// merge merges the parsed files into m.root, later over earlier.
func (m *meta) merge() {
	m.root = map[string]any{}
	m.tree = &origin{}
	m.order = map[string]int{}
	for i, f := range m.files {
		mergeTable(m.root, f.root, m.tree, i)
		for _, k := range f.md.Keys() {
			if id := keyPath(k).id(); !hasKey(m.order, id) {
				m.order[id] = len(m.order)
			}
		}
	}
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// mergeTable merges src, from file, into dst, whose origin is o: tables
// key by key, recursively; anything else (a scalar, an array, a table
// meeting a scalar) is replaced.
func mergeTable(dst, src map[string]any, o *origin, file int) {
	for k, sv := range src {
		dt, dok := dst[k].(map[string]any)
		st, sok := sv.(map[string]any)
		if dok && sok {
			kid, ok := o.kids[k]
			if !ok {
				kid = &origin{file: o.file}
				o.setKid(k, kid)
			}
			mergeTable(dt, st, kid, file)
			continue
		}
		// A copy, so that a later file merging into this table never
		// writes into the tree an earlier file was parsed into.
		dst[k] = clone(sv)
		o.setKid(k, &origin{file: file})
	}
}

func (o *origin) setKid(k string, kid *origin) {
	if o.kids == nil {
		o.kids = map[string]*origin{}
	}
	o.kids[k] = kid
}

// clone copies the tables of a decoded TOML value; other values are
// never written to.
func clone(v any) any {
	t, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(t))
	for k, x := range t {
		out[k] = clone(x)
	}
	return out
}

// Files returns the config files that paths name, in the order they are
// merged: a file as it is, a directory as the names in it that end in
// .toml and do not start with a dot (as the shell's *.toml), in lexical
// (byte) order. Entries that are directories are skipped; a symbolic link
// is followed, as Kubernetes mounts a ConfigMap's files. A directory every
// user may write is refused (ErrInsecure): anyone could add a file to it.
// An error naming a path that does not exist wraps fs.ErrNotExist.
func Files(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		if st.Mode().Perm()&0o002 != 0 {
			return nil, fmt.Errorf("config: directory %s is writable by every user (mode %04o): anyone could add a file that makes initbox run their commands; chmod o-w %s: %w", p, st.Mode().Perm(), p, ErrInsecure)
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		for _, e := range ents { // sorted by name
			name := e.Name()
			if !strings.HasSuffix(name, ".toml") || strings.HasPrefix(name, ".") {
				continue
			}
			f := filepath.Join(p, name)
			if st, err := os.Stat(f); err == nil && st.IsDir() {
				continue
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// LoadFiles reads the config files and directories paths name (see Files),
// merges them in that order and validates the result; see ParseFiles for
// the merge. Relative paths in each file are relative to that file's
// directory. An error reading a file is returned wrapped
// (errors.Is(err, fs.ErrNotExist) works); bad files give an *Errors. With
// no file at all (an empty directory) the Config has no service; its File
// is then the first path.
func LoadFiles(paths []string, env func(string) (string, bool)) (*Config, error) {
	files, err := Files(paths...)
	if err != nil {
		return nil, err
	}
	srcs := make([]*source, 0, len(files))
	for _, f := range files {
		src, err := readSource(f)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
	}
	c, err := parseSources(srcs, env)
	if c != nil && len(srcs) == 0 && len(paths) > 0 {
		c.File = paths[0]
	}
	return c, err
}

// readSource reads one config file, refusing one every user may write.
func readSource(path string) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	// The file says what initbox runs, as whom: one anybody may write is
	// a way for anybody to run commands as root (sshd refuses such files
	// for the same reason). Checked on the open file, not the name, so
	// that it cannot be swapped in between.
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o002 != 0 {
		return nil, fmt.Errorf("config: %s is writable by every user (mode %04o): anyone could make initbox run their commands; chmod o-w %s: %w", path, st.Mode().Perm(), path, ErrInsecure)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return &source{name: path, dir: dir, data: data}, nil
}

// ParseFiles decodes, merges and validates config files given as
// contents, as LoadFiles does with files on disk; relative paths in each
// are relative to filepath.Dir of its Name.
//
// Later files merge over earlier ones: tables key by key, recursively; a
// scalar or an array is replaced whole; a table where an earlier file had
// a scalar (or the other way round) replaces it. A service defined in two
// files is one service, and its keys merge as any table's. Services are
// ordered by their first definition, file by file. Every error names the
// file, line and column of the key or value that caused it, in the file
// that set that key; errors come file by file, in the files' order. A
// TOML syntax error stops the reading of its file, so the syntax errors of
// every file that has one come alone.
func ParseFiles(files []File, env func(string) (string, bool)) (*Config, error) {
	srcs := make([]*source, len(files))
	for i, f := range files {
		srcs[i] = &source{name: f.Name, dir: filepath.Dir(f.Name), data: f.Data}
	}
	return parseSources(srcs, env)
}

// errorList sorts list as errorList does, with the files in merge order.
func (m *meta) errorList(list []Error) error {
	rank := make(map[string]int, len(m.files))
	for i, f := range m.files {
		if !hasKey(rank, f.name) {
			rank[f.name] = i
		}
	}
	return errorListRanked(list, rank)
}

// sortedKeys returns the keys of table p of the merged tree, in the order
// the files first write them; keys no file's metadata lists (those under
// arrays of tables) follow, sorted.
func (m *meta) sortedKeys(p keyPath, t map[string]any) []string {
	ks := keys(t)
	sort.SliceStable(ks, func(i, j int) bool {
		a, aok := m.order[p.key(ks[i]).id()]
		b, bok := m.order[p.key(ks[j]).id()]
		switch {
		case aok && bok:
			return a < b
		case aok != bok:
			return aok
		}
		return false
	})
	return ks
}
