// Package procfs reads the process tree from /proc for the black-box test
// packages (tests, tests/realworld): one copy of what each would otherwise
// write again.
package procfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ChildrenOf lists the children of pid over all its threads (a Go program
// may fork from any thread, and /proc/P/task/T/children is per thread).
func ChildrenOf(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var kids []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

// Descendants lists all descendants of pid, parents before children.
func Descendants(pid int) []int {
	var out []int
	queue := ChildrenOf(pid)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, ChildrenOf(p)...)
	}
	return out
}
