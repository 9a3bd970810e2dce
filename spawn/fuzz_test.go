package spawn

import (
	"reflect"
	"strings"
	"testing"

	"github.com/initbox/initbox/cgroup"
)

// FuzzParseArgs checks that ParseArgs never panics, that every error has a
// message, and that Options.Args, the form the outer process hands to the
// inner one, parses back to the same Options (Help aside: it never reaches
// the inner process). The input is the arguments separated by NUL bytes.
// Seeds: testdata/fuzz/FuzzParseArgs and below.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"--\x00prog\x00-a",
		"prog",
		"--uts\x00--ipc\x00--net\x00--cgroup\x00--user\x00--hostname\x00box\x00--rootfs=/r\x00--bind\x00/a:/b:ro\x00--bind=/c\x00--chdir=/w\x00--env\x00A=1\x00--env=B=2=3\x00--clear-env\x00-v\x00--grace\x002s\x00--\x00x",
		"--no-user\x00--net=host\x00-vv\x00--grace=1.5\x00x",
		"--net=none\x00--pid\x00--mount\x00-vvv\x00-c\x00/etc/initbox.toml",
		"--config=/c.toml\x00--\x00main\x00arg",
		"-h", "--help=x", "--hostname=", "--rootfs=rel", "--bind=/a:/b:rw:x", "--bind=/a:../b",
		"--env==x", "--grace=-1s", "--grace=1e300", "--memory=1G", "--net=bridge", "-c=", "--uts=1", "--nope", "--bind",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var args []string
		if s != "" {
			args = strings.Split(s, "\x00")
		}
		o, err := ParseArgs(args)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("ParseArgs(%q): empty error", args)
			}
			return
		}
		if o.Grace < 0 || o.Verbosity < 1 {
			t.Errorf("ParseArgs(%q): grace %v, verbosity %d", args, o.Grace, o.Verbosity)
		}
		again := o.Args()
		back, err := ParseArgs(again)
		if err != nil {
			t.Fatalf("ParseArgs(%q) accepted, but its Args %q fail: %v", args, again, err)
		}
		want := o
		want.Help = false
		want.Limits = cgroup.Limits{} // the outer process's, not handed on
		if len(want.Argv) == 0 {
			want.Argv = nil
		}
		if len(back.Argv) == 0 {
			back.Argv = nil
		}
		if !reflect.DeepEqual(back, want) {
			t.Errorf("ParseArgs(%q) = %+v\nArgs %q\nparse back to %+v", args, want, again, back)
		}
	})
}

// FuzzParseBind checks that ParseBind never panics, that every error has a
// message, that what it accepts has absolute paths and no ".." in DST, and
// that Bind.String parses back to the same Bind.
func FuzzParseBind(f *testing.F) {
	for _, s := range []string{
		"/a", "/a:/b", "/a:/b:ro", "/a:/b:rw", "/a:/b:x", "/a:/b:ro:x", "a:/b", "/a:b", ":", "", "/a:",
		"/a:/../b", "/a:/b/..", "/a:/b/...", "/..", "//:/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBind(s)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("ParseBind(%q): empty error", s)
			}
			return
		}
		if !strings.HasPrefix(b.Src, "/") || !strings.HasPrefix(b.Dst, "/") {
			t.Errorf("ParseBind(%q) = %+v: a relative path", s, b)
		}
		for _, e := range strings.Split(b.Dst, "/") {
			if e == ".." {
				t.Errorf("ParseBind(%q) = %+v: '..' in DST", s, b)
			}
		}
		back, err := ParseBind(b.String())
		if err != nil || back != b {
			t.Errorf("ParseBind(%q) = %+v, String %q parses back to %+v, %v", s, b, b.String(), back, err)
		}
	})
}
