package spawn

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/initbox/initbox/cgroup"
)

func TestParseBind(t *testing.T) {
	for _, c := range []struct {
		spec string
		want Bind
		err  string
	}{
		{"/a:/b", Bind{Src: "/a", Dst: "/b"}, ""},
		{"/a:/b:ro", Bind{Src: "/a", Dst: "/b", ReadOnly: true}, ""},
		{"/a:/b:rw", Bind{Src: "/a", Dst: "/b"}, ""},
		{"/a", Bind{Src: "/a", Dst: "/a"}, ""},
		{"/a:/b:rx", Bind{}, "must be ro or rw"},
		{"/a:/b:ro:x", Bind{}, "too many"},
		{"a:/b", Bind{}, "absolute"},
		{"/a:b", Bind{}, "absolute"},
		{":/b", Bind{}, "empty"},
		{"/a:", Bind{}, "empty"},
		{"", Bind{}, "empty"},
		{"/a:/x/../etc", Bind{}, ".."},
	} {
		got, err := ParseBind(c.spec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "--bind") {
				t.Errorf("ParseBind(%q) = %v, %v; want an error naming --bind and %q", c.spec, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseBind(%q) = %v, %v; want %v", c.spec, got, err, c.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	o, err := ParseArgs([]string{
		"--uts", "--hostname", "box", "--ipc", "--net", "--cgroup", "--user",
		"--rootfs=/r", "--bind", "/a:/b:ro", "--bind=/c:/d", "--chdir", "/tmp",
		"--env", "A=1", "--env=B=2=3", "--clear-env", "-v", "--grace", "2s",
		"-c", "/etc/initbox.toml", "--", "sh", "-c", "--net",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{
		UTS: true, IPC: true, Net: true, Cgroup: true, User: true, UserSet: true,
		Hostname: "box", Rootfs: "/r",
		Binds: []Bind{{"/a", "/b", true}, {"/c", "/d", false}},
		Chdir: "/tmp", Env: []string{"A=1", "B=2=3"}, ClearEnv: true,
		Verbosity: 2, Grace: 2 * time.Second, Config: "/etc/initbox.toml",
		Argv: []string{"sh", "-c", "--net"},
	}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("got  %+v\nwant %+v", o, want)
	}
	// Round trip: what the outer process hands the inner one.
	back, err := ParseArgs(o.Args())
	if err != nil || !reflect.DeepEqual(back, o) {
		t.Fatalf("ParseArgs(Args()) = %+v, %v\nwant %+v (args %q)", back, err, o, o.Args())
	}
}

func TestParseArgsDefaultsAndForms(t *testing.T) {
	o, err := ParseArgs([]string{"--pid", "--mount", "--net=host", "--hostname=h", "true", "--uts"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Net || !o.UTS || o.UserSet || o.Verbosity != 1 || !reflect.DeepEqual(o.Argv, []string{"true", "--uts"}) {
		t.Fatalf("got %+v", o)
	}
	if back, err := ParseArgs(o.Args()); err != nil || !reflect.DeepEqual(back, o) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	o, _ = ParseArgs([]string{"--no-user", "--", "x"})
	if o.User || !o.UserSet {
		t.Fatalf("--no-user: %+v", o)
	}
	if back, _ := ParseArgs(o.Args()); !reflect.DeepEqual(back, o) {
		t.Fatalf("--no-user round trip: %+v", back)
	}
	o, _ = ParseArgs([]string{"--grace", "1.5", "x"})
	if o.Grace != 1500*time.Millisecond {
		t.Fatalf("--grace 1.5: %v", o.Grace)
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--hostname"}, "needs a value"},
		{[]string{"--hostname", ""}, "--hostname"},
		{[]string{"--rootfs", "rel"}, "absolute"},
		{[]string{"--chdir=rel"}, "absolute"},
		{[]string{"--env", "NOEQUALS"}, "NAME=VALUE"},
		{[]string{"--env", "=v"}, "NAME=VALUE"},
		{[]string{"--net=bridge"}, "--net=host"},
		{[]string{"--uts=1"}, "takes no value"},
		{[]string{"--bind", "x"}, "--bind"},
		{[]string{"--grace", "soon"}, "--grace"},
		{[]string{"--grace", "-1s"}, "negative"},
		{[]string{"--bogus"}, "unknown option --bogus"},
		{[]string{"--memory", "1X"}, `--memory "1X": unknown unit "X"`},
		{[]string{"--memory=0"}, "below 1 byte"},
		{[]string{"--memory"}, "needs a value"},
		{[]string{"--pids=0"}, "from 1 to 4194304"},
		{[]string{"--pids", "many"}, "--pids"},
		{[]string{"--cpus", "0.001"}, "out of range"},
		{[]string{"--cpus", "two"}, "--cpus"},
		{[]string{"-c"}, "needs a value"},
		{[]string{"--config="}, "empty"},
	} {
		_, err := ParseArgs(c.args)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseArgs(%q) = %v; want an error containing %q", c.args, err, c.msg)
		}
	}
}

// TestParseLimits: --memory, --pids and --cpus take the config's syntax;
// they are the outer process's business, so Args leaves them out.
func TestParseLimits(t *testing.T) {
	for _, c := range []struct {
		args []string
		want cgroup.Limits
	}{
		{[]string{"--memory", "512M"}, cgroup.Limits{MemoryMax: 512 << 20}},
		{[]string{"--memory=1.5g"}, cgroup.Limits{MemoryMax: 3 << 29}},
		{[]string{"--memory=max"}, cgroup.Limits{MemoryMax: cgroup.Unlimited}},
		{[]string{"--pids", "64"}, cgroup.Limits{PidsMax: 64}},
		{[]string{"--pids=max"}, cgroup.Limits{PidsMax: cgroup.Unlimited}},
		{[]string{"--cpus", "1.5"}, cgroup.Limits{CPUMax: 1.5}},
		{[]string{"--cpus=50%"}, cgroup.Limits{CPUMax: 0.5}},
		{[]string{"--memory", "64M", "--pids", "8", "--cpus", "2"}, cgroup.Limits{MemoryMax: 64 << 20, PidsMax: 8, CPUMax: 2}},
	} {
		o, err := ParseArgs(append(c.args, "--", "true"))
		if err != nil || o.Limits != c.want {
			t.Errorf("ParseArgs(%q): limits %+v, %v; want %+v", c.args, o.Limits, err, c.want)
		}
		for _, a := range o.Args() {
			if strings.HasPrefix(a, "--memory") || strings.HasPrefix(a, "--pids") || strings.HasPrefix(a, "--cpus") {
				t.Errorf("Args() hands %s to the inner init", a)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	if err := (Options{}).Validate(); err == nil || !strings.Contains(err.Error(), "no program") {
		t.Errorf("no program: %v", err)
	}
	if err := (Options{Config: "/f"}).Validate(); err != nil {
		t.Errorf("-c without a program: %v", err)
	}
	o := Options{Binds: []Bind{{"/a", "/b", false}}, Argv: []string{"x"}}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--rootfs") {
		t.Errorf("bind without rootfs: %v", err)
	}
	o.Rootfs = "/r"
	if err := o.Validate(); err != nil {
		t.Errorf("valid: %v", err)
	}
}

func TestEnviron(t *testing.T) {
	base := []string{"PATH=/bin", "A=old", "B=keep"}
	o := Options{Env: []string{"A=new", "C=1", "C=2"}}
	if got, want := o.Environ(base), []string{"PATH=/bin", "B=keep", "A=new", "C=2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Environ = %q, want %q", got, want)
	}
	o.ClearEnv = true
	if got, want := o.Environ(base), []string{"A=new", "C=2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Environ with ClearEnv = %q, want %q", got, want)
	}
	if base[1] != "A=old" {
		t.Errorf("Environ changed its argument: %q", base)
	}
}
