//go:build linux

package launch

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPrivilegesCheck: what a process with given privileges cannot give
// a Cmd, and that asking for what it has needs nothing.
func TestPrivilegesCheck(t *testing.T) {
	const all = 1<<41 - 1
	dockerDefault := uint64(0xa80425fb) // docker run's default bounding set
	root := Privileges{Effective: all, Bounding: all, OOMScoreAdj: 0, OOMScoreAdjKnown: true}
	rootNoCaps := Privileges{OOMScoreAdj: 0, OOMScoreAdjKnown: true} // --cap-drop ALL
	// docker run --user 12345:0: no capability held, Docker's bounding set.
	nonRoot := Privileges{UID: [3]int{12345, 12345, 12345}, Bounding: dockerDefault, OOMScoreAdj: 0, OOMScoreAdjKnown: true}
	// The same with an empty bounding set (Kubernetes' drop: [ALL]).
	nonRootDropAll := nonRoot
	nonRootDropAll.Bounding = 0
	withGroups := nonRoot
	withGroups.Groups = []int{5, 10}
	oom := func(n int) *int { return &n }
	cred := func(uid, gid uint32, groups ...uint32) *syscall.Credential {
		return &syscall.Credential{Uid: uid, Gid: gid, Groups: append([]uint32{}, groups...)}
	}
	for _, tc := range []struct {
		name string
		p    Privileges
		c    Cmd
		want []Refusal
	}{
		{"root: anything", root, Cmd{Credential: cred(65534, 65534, 1, 2), Bounding: []int{10}, Ambient: []int{10}, OOMScoreAdj: oom(-1000)}, nil},
		{"nothing asked", nonRoot, Cmd{}, nil},
		{"another uid", nonRoot, Cmd{Credential: cred(65534, 65534)}, []Refusal{
			{Kind: RefusedUID, Need: "CAP_SETUID", Value: 65534}, {Kind: RefusedGID, Need: "CAP_SETGID", Value: 65534}}},
		{"its own uid and gid", nonRoot, Cmd{Credential: cred(12345, 0)}, nil},
		{"its own uid, another gid", nonRoot, Cmd{Credential: cred(12345, 12345)}, []Refusal{{Kind: RefusedGID, Need: "CAP_SETGID", Value: 12345}}},
		{"its own groups in another order", withGroups, Cmd{Credential: cred(12345, 0, 10, 5, 10)}, nil},
		{"other groups", withGroups, Cmd{Credential: cred(12345, 0)}, []Refusal{{Kind: RefusedGroups, Need: "CAP_SETGID"}}},
		{"groups left alone", withGroups, Cmd{Credential: &syscall.Credential{Uid: 12345, NoSetGroups: true}}, nil},
		{"root without capabilities: root", rootNoCaps, Cmd{Credential: cred(0, 0)}, nil},
		{"root without capabilities: another user", rootNoCaps, Cmd{Credential: cred(33, 33)}, []Refusal{
			{Kind: RefusedUID, Need: "CAP_SETUID", Value: 33}, {Kind: RefusedGID, Need: "CAP_SETGID", Value: 33}}},
		{"narrower bounding set", nonRoot, Cmd{Bounding: []int{}}, []Refusal{{Kind: RefusedBounding, Need: "CAP_SETPCAP"}}},
		{"bounding set already that narrow", nonRootDropAll, Cmd{Bounding: []int{}}, nil},
		{"a capability not held", nonRootDropAll, Cmd{Bounding: []int{unix.CAP_NET_BIND_SERVICE}, Ambient: []int{unix.CAP_NET_BIND_SERVICE}},
			[]Refusal{{Kind: RefusedCapability, Cap: unix.CAP_NET_BIND_SERVICE, Index: 0}}},
		{"ambient only", nonRootDropAll, Cmd{Ambient: []int{unix.CAP_NET_RAW}}, []Refusal{{Kind: RefusedCapability, Cap: unix.CAP_NET_RAW, Index: -1}}},
		{"oom_score_adj above its own", nonRoot, Cmd{OOMScoreAdj: oom(500)}, nil},
		{"oom_score_adj its own", nonRoot, Cmd{OOMScoreAdj: oom(0)}, nil},
		{"oom_score_adj below its own", nonRoot, Cmd{OOMScoreAdj: oom(-1)}, []Refusal{{Kind: RefusedOOMScoreAdj, Need: "CAP_SYS_RESOURCE", Value: -1}}},
		{"oom_score_adj unknown", Privileges{UID: nonRoot.UID}, Cmd{OOMScoreAdj: oom(-1000)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.p.Check(&tc.c)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Check = %+v, want %+v", got, tc.want)
			}
			for _, r := range got {
				if r.Error() == "refused" {
					t.Errorf("no message for %+v", r)
				}
			}
		})
	}
}

// TestOwn: Own reads the calling process's ids, groups, capabilities and
// oom_score_adj as /proc/self/status shows them.
func TestOwn(t *testing.T) {
	p, err := Own()
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) string {
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, name+":"); ok {
				return strings.Join(strings.Fields(v), " ")
			}
		}
		t.Fatalf("no %s in /proc/self/status", name)
		return ""
	}
	ids := func(v [3]int) string { return strconv.Itoa(v[0]) + " " + strconv.Itoa(v[1]) + " " + strconv.Itoa(v[2]) }
	if got, want := ids(p.UID), field("Uid"); !strings.HasPrefix(want, got) {
		t.Errorf("UID %s, /proc says %s", got, want)
	}
	if got, want := ids(p.GID), field("Gid"); !strings.HasPrefix(want, got) {
		t.Errorf("GID %s, /proc says %s", got, want)
	}
	var groups []string
	for _, g := range p.Groups {
		groups = append(groups, strconv.Itoa(g))
	}
	if got, want := strings.Join(groups, " "), field("Groups"); got != want {
		t.Errorf("Groups %q, /proc says %q", got, want)
	}
	for name, got := range map[string]uint64{"CapEff": p.Effective, "CapBnd": p.Bounding} {
		want, err := strconv.ParseUint(field(name), 16, 64)
		if err != nil || got != want {
			t.Errorf("%s %#x, /proc says %#x (%v)", name, got, want, err)
		}
	}
	adj, _ := os.ReadFile("/proc/self/oom_score_adj")
	if !p.OOMScoreAdjKnown || strconv.Itoa(p.OOMScoreAdj) != strings.TrimSpace(string(adj)) {
		t.Errorf("OOMScoreAdj %d (known %v), /proc says %s", p.OOMScoreAdj, p.OOMScoreAdjKnown, adj)
	}
	if p.Has(-1) || p.Has(64) {
		t.Error("Has out of range")
	}
}

// TestKeepGroups: a credential with the process's own groups leaves them
// alone (setgroups would need CAP_SETGID); any other is kept as it is.
func TestKeepGroups(t *testing.T) {
	if keepGroups(nil) != nil {
		t.Error("keepGroups(nil) != nil")
	}
	have, err := unix.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	own := &syscall.Credential{Uid: 1, Gid: 1}
	for i := len(have) - 1; i >= 0; i-- { // another order
		own.Groups = append(own.Groups, uint32(have[i]))
	}
	if got := keepGroups(own); !got.NoSetGroups || own.NoSetGroups || got.Uid != 1 {
		t.Errorf("own groups: %+v (caller's now %+v), want a copy with NoSetGroups", got, own)
	}
	other := &syscall.Credential{Groups: []uint32{4242424}}
	if got := keepGroups(other); got != other {
		t.Errorf("other groups: %+v, want the credential unchanged", got)
	}
}
