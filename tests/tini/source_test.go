//go:build linux

package tini

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// srcPackage is Debian's source package of tini; its test/ directory holds
// the suite.
const srcPackage = "tini"

// innerSuite is the suite's entry point inside a tini source tree.
var innerSuite = filepath.Join("test", "run_inner_tests.py")

// cacheDir is where unpacked sources are kept: $INITBOX_TINI_CACHE, else
// initbox-tini in the user's cache directory ($XDG_CACHE_HOME or ~/.cache),
// else /var/cache/initbox-tini.
func cacheDir() string {
	if d := os.Getenv("INITBOX_TINI_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "initbox-tini")
	}
	return "/var/cache/initbox-tini"
}

// howToGet says what gives apt-get source something to fetch.
const howToGet = "add a deb-src entry for the Debian archive to the apt sources and run apt-get update " +
	"(.ci/run does both), or set INITBOX_TINI_SOURCE to an unpacked tini source tree"

// runApt runs one of apt's tools in dir, in the C locale (its output is
// parsed), and returns stdout; the error carries stderr.
func runApt(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C", "LANGUAGE=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// resolveSource asks apt which source package `apt-get source tini` would
// fetch, without fetching it, and returns the .dsc's name less ".dsc"
// (tini_0.19.0-1): the cache key.
func resolveSource() (string, error) {
	out, err := runApt("", "apt-get", "source", "--print-uris", srcPackage)
	if err != nil {
		return "", err
	}
	// 'http://.../tini_0.19.0-1.dsc' tini_0.19.0-1.dsc 1810 SHA256:...
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasPrefix(f[0], "'") && strings.HasSuffix(f[1], ".dsc") {
			return strings.TrimSuffix(f[1], ".dsc"), nil
		}
	}
	return "", fmt.Errorf("apt-get source --print-uris %s names no .dsc:\n%s", srcPackage, out)
}

// isSourceTree reports whether dir holds tini's inner suite.
func isSourceTree(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, innerSuite))
	return err == nil
}

// tiniSource returns an unpacked tini source tree holding the suite and
// says where it came from. skip, when set, says why there is none.
func tiniSource(t *testing.T) (dir, from, skip string, err error) {
	if d := os.Getenv("INITBOX_TINI_SOURCE"); d != "" {
		if !isSourceTree(d) {
			return "", "", "", fmt.Errorf("INITBOX_TINI_SOURCE=%s holds no %s", d, innerSuite)
		}
		return d, "INITBOX_TINI_SOURCE=" + d, "", nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", "", "apt-get is not installed: tini's suite comes from Debian's source package (or set INITBOX_TINI_SOURCE to an unpacked tini source tree)", nil
	}
	cache := cacheDir()
	name, err := resolveSource()
	if err != nil {
		// No deb-src entry, offline, or apt's lists removed: a source
		// unpacked by an earlier run still serves, said loudly.
		cached, _ := filepath.Glob(filepath.Join(cache, srcPackage+"_*", innerSuite))
		if len(cached) == 1 {
			d := filepath.Dir(filepath.Dir(cached[0]))
			t.Logf("tini: cannot ask apt for the source package (%v); using the cached %s", err, d)
			return d, d + " (cached, not checked against apt)", "", nil
		}
		return "", "", fmt.Sprintf("apt-get source %s cannot fetch tini's suite: %v; %s", srcPackage, err, howToGet), nil
	}
	final := filepath.Join(cache, name)
	if isSourceTree(final) {
		return final, final + " (cached)", "", nil
	}
	if _, err := exec.LookPath("dpkg-source"); err != nil {
		return "", "", "dpkg-source is not installed (Debian: apt-get install dpkg-dev): apt-get source unpacks with it", nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Logf("tini: cannot create the cache %s (%v); fetching into a temporary directory", cache, err)
		cache = t.TempDir()
		final = filepath.Join(cache, name)
	}
	tmp, err := os.MkdirTemp(cache, ".download-")
	if err != nil {
		return "", "", "", err
	}
	defer os.RemoveAll(tmp)
	args := []string{"source"}
	if os.Geteuid() == 0 {
		// As root apt downloads as the _apt user, which cannot write into a
		// root-owned 0700 directory; it would fall back with a warning.
		args = append(args, "-o", "APT::Sandbox::User=root")
	}
	if _, err := runApt(tmp, "apt-get", append(args, srcPackage)...); err != nil {
		return "", "", "", err
	}
	trees, _ := filepath.Glob(filepath.Join(tmp, "*", innerSuite))
	if len(trees) != 1 {
		return "", "", "", fmt.Errorf("apt-get source %s left %d trees holding %s in %s", srcPackage, len(trees), innerSuite, tmp)
	}
	// Keyed by what was fetched, in case apt's answer changed meanwhile.
	if dscs, _ := filepath.Glob(filepath.Join(tmp, srcPackage+"_*.dsc")); len(dscs) == 1 {
		name = strings.TrimSuffix(filepath.Base(dscs[0]), ".dsc")
		final = filepath.Join(cache, name)
	}
	// Published whole or not at all: a run killed half-way, or a concurrent
	// one, never sees a partial tree.
	if err := os.Rename(filepath.Dir(filepath.Dir(trees[0])), final); err != nil {
		if !isSourceTree(final) {
			return "", "", "", err
		}
		// A concurrent run published the same source first.
	}
	t.Logf("tini: fetched Debian's source package %s into %s", name, final)
	prune(cache, name, t)
	return final, final + " (fetched now)", "", nil
}

// prune removes cached sources other than keep, so the cache holds only the
// one Debian currently ships.
func prune(cache, keep string, t *testing.T) {
	old, _ := filepath.Glob(filepath.Join(cache, srcPackage+"_*"))
	for _, d := range old {
		if filepath.Base(d) == keep {
			continue
		}
		if err := os.RemoveAll(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Logf("tini: cannot remove the superseded %s: %v", d, err)
		}
	}
}
