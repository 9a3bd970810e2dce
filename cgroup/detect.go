//go:build linux

// Package cgroup gives each service a cgroup v2 leaf of its own: it finds
// what the host offers, lays out the init's cgroup, writes limits before a
// process starts, starts the process inside its leaf, signals and kills
// every process of a leaf, watches for a leaf to empty and for OOM kills,
// and removes what it made.
//
// It works on cgroup v2 only, directly on the cgroupfs (no library: one
// costs more bytes than the little it would save here). Every
// failure is returned; callers decide to degrade, loudly (DESIGN: "Degrade
// loudly").
package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Sentinel errors, for callers that degrade differently on each.
var (
	// ErrNoCgroup2 means no cgroup v2 hierarchy is mounted (cgroup v1
	// only, or no cgroupfs at all).
	ErrNoCgroup2 = errors.New("no cgroup v2 hierarchy")
	// ErrReadOnly means the cgroup v2 hierarchy is mounted read-only, as
	// Docker does for containers that are not privileged.
	ErrReadOnly = errors.New("cgroupfs is read-only")
	// ErrNotDelegated means the process may not write its cgroup: it is
	// not root, and the cgroup was not delegated to its user.
	ErrNotDelegated = errors.New("cgroup not writable by this user")
	// ErrNotVisible means the cgroup2 mount does not show the process's
	// own cgroup: a cgroup namespace entered without mounting cgroup2
	// again.
	ErrNotVisible = errors.New("own cgroup not visible in the cgroup2 mount")
	// ErrNoController means a limit needs a controller that the cgroup
	// does not offer.
	ErrNoController = errors.New("controller not available")
)

// Mode is how the host's cgroup hierarchies are set up (systemd's
// docs/CGROUP_DELEGATION.md, "Three Different Tree Setups").
type Mode int

// Modes.
const (
	// None: no cgroupfs is mounted.
	None Mode = iota
	// V1: cgroup v1 controllers only; initbox uses none of it.
	V1
	// Hybrid: v1 controllers, plus a v2 tree (usually at
	// /sys/fs/cgroup/unified) without them: it groups and kills, but
	// limits nothing.
	Hybrid
	// Unified: cgroup v2 only, at /sys/fs/cgroup.
	Unified
)

func (m Mode) String() string {
	switch m {
	case V1:
		return "cgroup v1"
	case Hybrid:
		return "cgroup v1/v2 hybrid"
	case Unified:
		return "cgroup v2"
	}
	return "no cgroupfs"
}

// Info is what Detect found.
type Info struct {
	Mode Mode
	// Mount is where the cgroup v2 hierarchy is mounted; "" without one.
	Mount string
	// Path is the directory of the process's own cgroup v2 cgroup; "" when
	// it cannot be found.
	Path string
	// Controllers are the controllers the own cgroup offers
	// (cgroup.controllers).
	Controllers []string
	// Err is nil when Path is usable (writable); else it says why not,
	// wrapping one of ErrNoCgroup2, ErrReadOnly, ErrNotDelegated and
	// ErrNotVisible.
	Err error

	// root is the cgroup the mount shows as its top, as /proc/PID/cgroup
	// names cgroups: Mount stands for it.
	root string
}

// Detect finds the cgroup v2 hierarchy and the process's own cgroup in
// it, and whether the process may write there.
func Detect() Info { return detect("/sys/fs/cgroup", "/proc/self") }

func detect(fsRoot, proc string) Info {
	var info Info
	var st unix.Statfs_t
	if err := unix.Statfs(fsRoot, &st); err != nil {
		info.Err = fmt.Errorf("%w: statfs %s: %w", ErrNoCgroup2, fsRoot, err)
		return info
	}
	switch st.Type {
	case unix.CGROUP2_SUPER_MAGIC:
		info.Mode, info.Mount = Unified, fsRoot
	case unix.TMPFS_MAGIC:
		info.Mode = V1
		unified := filepath.Join(fsRoot, "unified")
		var ust unix.Statfs_t
		if unix.Statfs(unified, &ust) == nil && ust.Type == unix.CGROUP2_SUPER_MAGIC {
			info.Mode, info.Mount = Hybrid, unified
			st = ust
		}
	case unix.CGROUP_SUPER_MAGIC:
		info.Mode = V1
	default:
		info.Err = fmt.Errorf("%w: %s is not a cgroupfs", ErrNoCgroup2, fsRoot)
		return info
	}
	if info.Mount == "" {
		info.Err = fmt.Errorf("%w: only cgroup v1 is mounted at %s", ErrNoCgroup2, fsRoot)
		return info
	}
	own, err := ownCgroup(filepath.Join(proc, "cgroup"))
	if err != nil {
		info.Err = err
		return info
	}
	root, err := mountRoot(filepath.Join(proc, "mountinfo"), info.Mount)
	if err != nil {
		info.Err = err
		return info
	}
	// The mount shows the hierarchy from root down; the own cgroup must be
	// under it. In a cgroup namespace, a cgroup2 mount made outside shows
	// root as "/.." (and /proc/self/cgroup says "/"): the own cgroup is
	// somewhere below, unknown.
	rel, ok := strings.CutPrefix(own, root)
	if !ok || strings.HasPrefix(root, "/..") || strings.HasPrefix(own, "/..") || (rel != "" && !strings.HasPrefix(rel, "/") && root != "/") {
		info.Err = fmt.Errorf("%w: /proc/self/cgroup says %s, the cgroup2 mount at %s shows %s", ErrNotVisible, own, info.Mount, root)
		return info
	}
	info.Path, info.root = filepath.Join(info.Mount, rel), root
	if data, err := os.ReadFile(filepath.Join(info.Path, "cgroup.controllers")); err == nil {
		info.Controllers = strings.Fields(string(data))
	}
	switch {
	case st.Flags&unix.ST_RDONLY != 0:
		info.Err = fmt.Errorf("%w: %s", ErrReadOnly, info.Mount)
	default:
		if err := unix.Access(info.Path, unix.W_OK); err != nil {
			if errors.Is(err, unix.EROFS) {
				info.Err = fmt.Errorf("%w: %s", ErrReadOnly, info.Path)
			} else {
				info.Err = fmt.Errorf("%w: %s: %w", ErrNotDelegated, info.Path, err)
			}
		}
	}
	return info
}

// ownCgroup reads the process's cgroup v2 path ("0::/PATH") from a
// /proc/PID/cgroup file.
func ownCgroup(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			// A cgroup removed under the process reads "/x (deleted)".
			return strings.TrimSuffix(p, " (deleted)"), nil
		}
	}
	return "", fmt.Errorf("%w: %s has no cgroup v2 line", ErrNoCgroup2, file)
}

// mountRoot returns the root field of the cgroup2 mount at mountpoint in a
// /proc/PID/mountinfo file: which cgroup of the hierarchy the mount shows
// as its top.
func mountRoot(file, mountpoint string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	root, found := "", false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		f := strings.Fields(sc.Text())
		if len(f) < 7 || unescape(f[4]) != mountpoint {
			continue
		}
		for i := 6; i < len(f)-1; i++ {
			if f[i] == "-" {
				if f[i+1] == "cgroup2" {
					// The last mount on a mountpoint is the visible one.
					root, found = unescape(f[3]), true
				}
				break
			}
		}
	}
	if !found {
		return "", fmt.Errorf("%w: no cgroup2 mount at %s in %s", ErrNoCgroup2, mountpoint, file)
	}
	return root, nil
}

// unescape undoes mountinfo's octal escapes of space, tab, newline and
// backslash.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, ok := octal(s[i+1 : i+4]); ok {
				b.WriteByte(n)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		n = n*8 + int(c-'0')
	}
	return byte(n), n < 256
}

// Describe is the one line initbox logs about its cgroups: what is
// available, what is not, and how to get it.
func (i Info) Describe() string {
	switch {
	case i.Err == nil && i.Mode == Hybrid:
		return fmt.Sprintf("%s at %s: services are grouped and killed by cgroup, but limits are unavailable (the controllers are on cgroup v1; boot with systemd.unified_cgroup_hierarchy=1 for them)", i.Mode, i.Path)
	case i.Err == nil:
		missing := []string{}
		for _, c := range wanted {
			if !slices.Contains(i.Controllers, c) {
				missing = append(missing, c)
			}
		}
		s := fmt.Sprintf("%s at %s: services get their own cgroups; controllers: %s", i.Mode, i.Path, strings.Join(i.Controllers, " "))
		if len(missing) > 0 {
			s += fmt.Sprintf("; unavailable: %s (not delegated by the parent cgroup)", strings.Join(missing, " "))
		}
		return s
	}
	s := fmt.Sprintf("cgroups unavailable: %v; services are stopped by process group", i.Err)
	if !errors.Is(i.Err, ErrNotVisible) {
		s += " and limits are not applied"
	}
	if h := i.Hint(); h != "" {
		s += " (" + h + ")"
	}
	return s
}

// Hint says how to get cgroups where Err says they are unavailable.
func (i Info) Hint() string {
	switch {
	case errors.Is(i.Err, ErrReadOnly):
		return "run the container with --privileged, or a writable cgroupfs and --cgroupns=private"
	case errors.Is(i.Err, ErrNotDelegated):
		return "run as root, or in a cgroup delegated to this user, e.g. systemd-run --user -p Delegate=yes"
	case errors.Is(i.Err, ErrNotVisible):
		return "mount cgroup2 again inside the cgroup namespace"
	case errors.Is(i.Err, ErrNoCgroup2):
		return "initbox needs cgroup v2"
	}
	return ""
}

// wanted are the controllers initbox enables for services, when offered.
var wanted = []string{"cpu", "io", "memory", "pids"}
