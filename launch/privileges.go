//go:build linux

package launch

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Privileges is what a process holds that starting another one as
// someone else can need: its ids and groups, its capabilities and its
// oom_score_adj. Own reads the calling process's; Check says what of a
// Cmd they cannot give, so that a configuration asking for it is refused
// before anything starts rather than failing at each start.
type Privileges struct {
	// UID and GID are the real, effective and saved ids.
	UID, GID [3]int
	// Groups are the supplementary groups, sorted.
	Groups []int
	// Effective and Bounding are capability sets, bit N for capability N.
	Effective, Bounding uint64
	// OOMScoreAdj is the process's own; OOMScoreAdjKnown is false when it
	// could not be read (no /proc), and nothing is checked against it.
	OOMScoreAdj      int
	OOMScoreAdjKnown bool
}

// Own returns the calling process's privileges.
func Own() (Privileges, error) {
	var p Privileges
	p.UID[0], p.UID[1], p.UID[2] = unix.Getresuid()
	p.GID[0], p.GID[1], p.GID[2] = unix.Getresgid()
	g, err := unix.Getgroups()
	if err != nil {
		return p, os.NewSyscallError("getgroups", err)
	}
	slices.Sort(g)
	p.Groups = g
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return p, os.NewSyscallError("capget", err)
	}
	p.Effective = uint64(data[0].Effective) | uint64(data[1].Effective)<<32
	// cap_last_cap is read once, not at every turn of the loop.
	for c, last := 0, min(lastCap(), 63); c <= last; c++ {
		if in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err == nil && in == 1 {
			p.Bounding |= 1 << uint(c)
		}
	}
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			p.OOMScoreAdj, p.OOMScoreAdjKnown = n, true
		}
	}
	return p, nil
}

// Has reports whether capability c is in p's effective set. That set,
// not the bounding set, is what the fork and the trampoline act with: a
// process that is not root holds none of its bounding set (docker run
// --user), and root under docker run --cap-drop X lacks X in both.
func (p Privileges) Has(c int) bool {
	return c >= 0 && c < 64 && p.Effective&(1<<uint(c)) != 0
}

// Refused is the kind of a Refusal.
type Refused int

// What a Cmd can ask for that a process may not be able to give.
const (
	// RefusedUID: Credential.Uid is none of the process's uids, and
	// switching to it needs CAP_SETUID.
	RefusedUID Refused = iota + 1
	// RefusedGID: Credential.Gid is none of its gids (CAP_SETGID).
	RefusedGID
	// RefusedGroups: Credential.Groups are not its supplementary groups;
	// setgroups(2) needs CAP_SETGID whatever the list.
	RefusedGroups
	// RefusedBounding: Bounding leaves out capabilities of its bounding
	// set, and dropping them needs CAP_SETPCAP.
	RefusedBounding
	// RefusedCapability: Bounding or Ambient names a capability it does
	// not hold, which a process can only pass on if it has it.
	RefusedCapability
	// RefusedOOMScoreAdj: OOMScoreAdj is below its own, which needs
	// CAP_SYS_RESOURCE.
	RefusedOOMScoreAdj
)

// Refusal is one thing a Cmd asks for that a process cannot give it.
type Refusal struct {
	Kind Refused
	// Need names the capability the process lacks: "CAP_SETUID",
	// "CAP_SETGID", "CAP_SETPCAP" or "CAP_SYS_RESOURCE"; for
	// RefusedCapability, "" (the capability is Cap).
	Need string
	// Cap and Index are, for RefusedCapability, the capability and its
	// index in Cmd.Bounding (-1 when it is in Ambient only).
	Cap, Index int
	// Value is what was asked: the uid, the gid, the oom_score_adj.
	Value int
}

func (r Refusal) Error() string {
	switch r.Kind {
	case RefusedUID:
		return fmt.Sprintf("uid %d needs %s", r.Value, r.Need)
	case RefusedGID:
		return fmt.Sprintf("gid %d needs %s", r.Value, r.Need)
	case RefusedGroups:
		return "setting the supplementary groups needs " + r.Need
	case RefusedBounding:
		return "dropping capabilities from the bounding set needs " + r.Need
	case RefusedCapability:
		return fmt.Sprintf("capability %d is not held", r.Cap)
	case RefusedOOMScoreAdj:
		return fmt.Sprintf("oom_score_adj %d below the process's own needs %s", r.Value, r.Need)
	}
	return "refused"
}

// Check returns what of c's Credential, Bounding, Ambient and OOMScoreAdj
// a process with privileges p cannot give, in that order; nil when Start
// would get all of it. Asking for what p already has needs nothing: its
// own uid, gid and groups (Start then skips setgroups, which alone would
// need CAP_SETGID), a bounding set without capabilities p's lacks, its own
// oom_score_adj or above.
func (p Privileges) Check(c *Cmd) []Refusal {
	var out []Refusal
	if cr := c.Credential; cr != nil {
		if !slices.Contains(p.UID[:], int(cr.Uid)) && !p.Has(unix.CAP_SETUID) {
			out = append(out, Refusal{Kind: RefusedUID, Need: "CAP_SETUID", Value: int(cr.Uid)})
		}
		if !slices.Contains(p.GID[:], int(cr.Gid)) && !p.Has(unix.CAP_SETGID) {
			out = append(out, Refusal{Kind: RefusedGID, Need: "CAP_SETGID", Value: int(cr.Gid)})
		}
		if !cr.NoSetGroups && !sameGroups(cr.Groups, p.Groups) && !p.Has(unix.CAP_SETGID) {
			out = append(out, Refusal{Kind: RefusedGroups, Need: "CAP_SETGID"})
		}
	}
	if c.Bounding != nil && p.Bounding&^capMask(c.Bounding) != 0 && !p.Has(unix.CAP_SETPCAP) {
		out = append(out, Refusal{Kind: RefusedBounding, Need: "CAP_SETPCAP"})
	}
	seen := map[int]bool{}
	for i, n := range c.Bounding {
		if !seen[n] && !p.Has(n) {
			out = append(out, Refusal{Kind: RefusedCapability, Cap: n, Index: i})
		}
		seen[n] = true
	}
	for _, n := range c.Ambient {
		if !seen[n] && !p.Has(n) {
			out = append(out, Refusal{Kind: RefusedCapability, Cap: n, Index: -1})
		}
		seen[n] = true
	}
	if v := c.OOMScoreAdj; v != nil && p.OOMScoreAdjKnown && *v < p.OOMScoreAdj && !p.Has(unix.CAP_SYS_RESOURCE) {
		out = append(out, Refusal{Kind: RefusedOOMScoreAdj, Need: "CAP_SYS_RESOURCE", Value: *v})
	}
	return out
}

// capMask is caps as a bit mask; capabilities beyond 63 are left out (the
// kernel has 41).
func capMask(caps []int) uint64 {
	var m uint64
	for _, c := range caps {
		if c >= 0 && c < 64 {
			m |= 1 << uint(c)
		}
	}
	return m
}

// sameGroups reports whether want and have hold the same groups, in any
// order: the kernel keeps the list sorted, so the order asked for makes no
// difference.
func sameGroups(want []uint32, have []int) bool {
	w := make([]int, 0, len(want))
	for _, g := range want {
		w = append(w, int(g))
	}
	slices.Sort(w)
	w = slices.Compact(w)
	h := slices.Compact(slices.Sorted(slices.Values(have)))
	return slices.Equal(w, h)
}

// keepGroups returns cred with NoSetGroups set when its groups are the
// calling process's already: setgroups(2) needs CAP_SETGID even to set
// the list a process has, so that a process without it can still start
// one as its own uid and groups.
func keepGroups(cred *syscall.Credential) *syscall.Credential {
	if cred == nil || cred.NoSetGroups {
		return cred
	}
	have, err := unix.Getgroups()
	if err != nil || !sameGroups(cred.Groups, have) {
		return cred
	}
	c := *cred
	c.NoSetGroups = true
	return &c
}
