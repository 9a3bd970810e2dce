package config

import (
	"sort"
	"strconv"
	"strings"
)

// Error is one problem in a config or env file, at a position in it.
//
// Line and Col start at 1 and count lines and bytes (as the Go toolchain
// does; a UTF-8 byte order mark at the start of the file is not counted).
// They are 0 when the problem has no place in a file, such as a service
// added with [Config.Add].
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
	// Err is the underlying error when there is one (for example the
	// *fs.PathError of an env file that cannot be read), for errors.Is.
	Err error
}

// Error formats e as FILE:LINE:COL: MSG, leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
		if e.Col > 0 {
			b.WriteString(strconv.Itoa(e.Col))
			b.WriteByte(':')
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in one pass over a config (or an env file),
// in file order. The *Errors that Parse, Load (for a bad file), Validate,
// ParseEnvFile and Service.Environ return is never empty.
type Errors struct {
	List []Error
}

// Error prints one problem per line.
func (e *Errors) Error() string {
	var b strings.Builder
	for i := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.List[i].Error())
	}
	return b.String()
}

// Unwrap returns each problem, so that errors.Is and errors.As see them.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(e.List))
	for i := range e.List {
		errs[i] = &e.List[i]
	}
	return errs
}

// errorList sorts list into file order, drops exact duplicates (one mistake
// can be seen by two checks), and returns nil for an empty list so that the
// result can be returned as an error without the typed-nil trap.
func errorList(list []Error) error { return errorListRanked(list, nil) }

// errorListRanked is errorList with the order of files given by rank;
// files rank does not list follow in the order they were first reported.
func errorListRanked(list []Error, rank map[string]int) error {
	if len(list) == 0 {
		return nil
	}
	r := make(map[string]int, len(rank))
	for f, n := range rank {
		r[f] = n
	}
	for _, e := range list {
		if _, ok := r[e.File]; !ok {
			r[e.File] = len(rank) + len(r)
		}
	}
	rank = r
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.File != b.File {
			return rank[a.File] < rank[b.File]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	out := list[:0]
	for i, e := range list {
		if i > 0 {
			p := out[len(out)-1]
			if p.File == e.File && p.Line == e.Line && p.Col == e.Col && p.Msg == e.Msg {
				continue
			}
		}
		out = append(out, e)
	}
	return &Errors{List: out}
}

// suggest returns the candidate closest to word, when one is close enough
// to be a plausible misspelling, or "".
func suggest(word string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	// Allow about one edit per three letters: "comand" → "command" and
	// "polcy" → "policy", but not "user" → "type", nor "x" → "a".
	limit := min(len(word)/3, 3)
	if len(word) >= 3 {
		limit = max(limit, 1)
	}
	if best != "" && bestD <= limit {
		return best
	}
	// The first word of a key: "memory" → "memory_max", "cpu" → "cpu_max".
	for _, c := range candidates {
		if len(word) >= 2 && strings.HasPrefix(strings.ToLower(c), strings.ToLower(word)+"_") {
			return c
		}
	}
	return ""
}

// didYouMean formats suggest's answer for the end of a message.
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return "; did you mean " + strconv.Quote(s) + "?"
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours cost one.
// Config keys are short, so the quadratic table does not matter; long
// inputs are cut short to keep a hostile file cheap.
func editDistance(a, b string) int {
	const max = 64
	if len(a) > max || len(b) > max {
		if a == b {
			return 0
		}
		return max
	}
	// Three rows: the one before the previous is needed for swaps.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// list formats choices as `a, b or c`.
func list(choices []string) string {
	switch len(choices) {
	case 0:
		return ""
	case 1:
		return choices[0]
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}
