//go:build linux

// Package tini runs tini's own test suite against initbox installed as
// `tini`: test/run_inner_tests.py from tini's source, run the way tini's CI
// (ci/run_build.sh) runs it, with $BUILD_DIR/tini a symlink to the binary
// under test (called as tini, initbox is tini mode only).
//
// Nothing of tini is kept in this repository. At test time the suite comes
// from Debian's source package (`apt-get source tini`, cached; apt needs a
// deb-src entry, which .ci/run adds), sigconf-test is compiled from its
// test/sigconf/sigconf-test.c with gcc, and the one use the suite makes of
// the `bitmap` module is served by a stand-in written here. The suite needs
// a python3 with psutil and prctl (Debian: python3-psutil, python3-prctl).
// When something is missing the test skips and says how to get it, and
// fails instead when CI is set.
//
//	go test -count=1 -v ./tests/tini/
//
// Set INITBOX_BIN to test an existing binary (INITBOX_BIN=/usr/bin/tini-static
// runs the suite against tini itself); otherwise TestMain builds one with
// `make build` (the release's link flags). INITBOX_TINI_SOURCE names an
// unpacked tini source tree to use instead of Debian's package;
// INITBOX_TINI_CACHE the cache directory. The suite needs no root.
package tini

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/initbox/initbox/tests/internal/testenv"
)

var (
	// initBin is the absolute path of the binary under test.
	initBin string
	// moduleRoot is the directory holding go.mod.
	moduleRoot string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests/tini: getwd:", err)
		return 1
	}
	moduleRoot = filepath.Dir(filepath.Dir(wd))

	if b := os.Getenv("INITBOX_BIN"); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tests/tini: INITBOX_BIN:", err)
			return 1
		}
		if _, err := os.Stat(abs); err != nil {
			fmt.Fprintln(os.Stderr, "tests/tini: INITBOX_BIN:", err)
			return 1
		}
		initBin = abs
		return m.Run()
	}

	dir, err := os.MkdirTemp("", "initbox-tini-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests/tini: mkdtemp:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	initBin = filepath.Join(dir, "initbox")
	// As released, by the Makefile's build target: its link flags are part
	// of what the suite checks (the child's signal state depends on them).
	cmd := exec.Command("make", "-s", "build", "BIN="+initBin)
	cmd.Dir = moduleRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "tests/tini: make build BIN=%s failed: %v\n%s", initBin, err, out)
		return 1
	}
	return m.Run()
}

// skipOrFail: see testenv.SkipOrFail.
var skipOrFail = testenv.SkipOrFail
