//go:build linux

package launch

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestWrapParse: what Wrap writes, parse reads back; attr is left alone
// and the start's credential and directory move into the trampoline's
// arguments.
func TestWrapParse(t *testing.T) {
	cred := &syscall.Credential{Uid: 65534, Gid: 65533, Groups: []uint32{1, 2}}
	attr := &syscall.ProcAttr{Dir: "/srv", Sys: &syscall.SysProcAttr{Credential: cred, Setpgid: true}}
	spec := Spec{Cgroup: "/sys/fs/cgroup/services/web", NoNewPrivs: true, Bounding: []int{10, 13}, Ambient: []int{10}}
	path, argv, a := Wrap("/proc/self/exe", spec, "/bin/sh", []string{"sh", "-c", "echo --uid=0"}, attr)
	if path != "/proc/self/exe" || argv[0] != "exe" || argv[1] != Command {
		t.Fatalf("Wrap = %q %q", path, argv)
	}
	if attr.Dir != "/srv" || attr.Sys.Credential != cred {
		t.Errorf("Wrap changed the caller's attr: %+v", attr)
	}
	if a.Dir != "" || a.Sys.Credential != nil || !a.Sys.Setpgid {
		t.Errorf("the trampoline's attr: dir %q, credential %v, setpgid %v", a.Dir, a.Sys.Credential, a.Sys.Setpgid)
	}
	p, err := parse(argv[2:])
	if err != nil {
		t.Fatal(err)
	}
	if p.spec.Cgroup != spec.Cgroup || !p.spec.NoNewPrivs || !slices.Equal(p.spec.Bounding, spec.Bounding) || !slices.Equal(p.spec.Ambient, spec.Ambient) ||
		p.uid != 65534 || p.gid != 65533 || !slices.Equal(p.groups, []int{1, 2}) || p.spec.Dir != "/srv" ||
		p.path != "/bin/sh" || !slices.Equal(p.argv, []string{"sh", "-c", "echo --uid=0"}) {
		t.Errorf("parse = %+v", p)
	}
	// An empty bounding set is "drop all", not "keep all".
	_, argv, _ = Wrap("x", Spec{Bounding: []int{}}, "/bin/true", []string{"true"}, &syscall.ProcAttr{})
	if p, err := parse(argv[2:]); err != nil || p.spec.Bounding == nil || len(p.spec.Bounding) != 0 {
		t.Errorf("empty bounding set read back as %#v, %v", p.spec.Bounding, err)
	}
	if (Spec{}).Needed() || !(Spec{Bounding: []int{}}).Needed() || !(Spec{NoNewPrivs: true}).Needed() {
		t.Error("Needed")
	}
}

// TestMainErrors: the trampoline says why it could not run the program,
// and exits as a shell would: 127 not found, 126 otherwise.
func TestMainErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"x"}, 126, "unknown argument"},
		{[]string{"--uid=x", "--", "/bin/true", "true"}, 126, "--uid=x"},
		{[]string{"--"}, 126, "want PATH ARGV0"},
		{[]string{"--cgroup=" + dir, "--", "/bin/true", "true"}, 126, "cannot join cgroup"},
		{[]string{"--dir=/nonexistent-initbox", "--", "/bin/true", "true"}, 126, "chdir /nonexistent-initbox"},
		{[]string{"--", "/nonexistent-initbox", "x"}, 127, "exec /nonexistent-initbox"},
	} {
		err := run(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("run(%q) = %v, want %q", tc.args, err, tc.msg)
		}
		if code := Main(tc.args); code != tc.code {
			t.Errorf("Main(%q) = %d, want %d", tc.args, code, tc.code)
		}
	}
	if !errors.Is(run([]string{"--", "/nonexistent-initbox", "x"}), errExec) {
		t.Error("a failed exec is not errExec")
	}
}
