//go:build linux

package supervisor

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestStateDiagram: docs/states.md's diagram and the transitions table
// list the same moves.
func TestStateDiagram(t *testing.T) {
	b, err := os.ReadFile("../docs/states.md")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]state{}
	for st, n := range stateNames {
		byName[n] = state(st)
	}
	line := regexp.MustCompile(`^\s*(\w+) --> (\w+)(:.*)?$`)
	inDiagram := map[[2]state]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		from, ok1 := byName[m[1]]
		to, ok2 := byName[m[2]]
		if !ok1 || !ok2 {
			t.Errorf("docs/states.md: %q names a state the code does not have", strings.TrimSpace(l))
			continue
		}
		inDiagram[[2]state{from, to}] = true
	}
	for from, tos := range transitions {
		from := state(from)
		for _, to := range tos {
			if !inDiagram[[2]state{from, to}] {
				t.Errorf("%s --> %s is in the code's table, not in docs/states.md", from, to)
			}
			delete(inDiagram, [2]state{from, to})
		}
	}
	for m := range inDiagram {
		t.Errorf("%s --> %s is in docs/states.md, not in the code's table", m[0], m[1])
	}
}

// Moves the supervisor made in this test binary that the table lacks.
var (
	badMovesMu sync.Mutex
	badMoves   []string
)

func checkMoves(from, to state) {
	if slices.Contains(transitions[from], to) {
		return
	}
	badMovesMu.Lock()
	defer badMovesMu.Unlock()
	badMoves = append(badMoves, fmt.Sprintf("%s --> %s", from, to))
}

// reportMoves fails the test binary on a move not in the table.
func reportMoves() int {
	badMovesMu.Lock()
	defer badMovesMu.Unlock()
	if len(badMoves) == 0 {
		return 0
	}
	slices.Sort(badMoves)
	fmt.Fprintf(os.Stderr, "FAIL: moves not in supervisor/states.go's table: %s\n", strings.Join(slices.Compact(badMoves), ", "))
	return 1
}

// TestMain checks, after every test, that each move the supervisor made is
// in the table.
func TestMain(m *testing.M) {
	transitionSeen = checkMoves
	code := m.Run()
	if code == 0 {
		code = reportMoves()
	}
	os.Exit(code)
}
