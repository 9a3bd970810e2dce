//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"testing"

	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/launch"
)

// TestEnvironLogin: a service that names a user gets its HOME, USER and
// LOGNAME in the place of initbox's, whatever inherit_env says; env_file
// and env still set them; a uid with no passwd entry gets HOME=/ and no
// USER or LOGNAME.
func TestEnvironLogin(t *testing.T) {
	root, err := user.LookupId("0")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no passwd entry for uid 0 (CI is set, so this fails instead of skipping): %v", err)
		}
		t.Skipf("no passwd entry for uid 0: %v", err)
	}
	noEntry(t, "4242")
	dir := t.TempDir()
	envFile := dir + "/home.env"
	if err := os.WriteFile(envFile, []byte("HOME=/from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"PATH=/bin", "HOME=/initbox-home", "USER=initbox", "LOGNAME=initbox"}
	for _, tc := range []struct {
		name string
		svc  func(s *config.Service)
		want []string
	}{
		{"no user: initbox's", func(s *config.Service) {}, base},
		{"a named user", func(s *config.Service) { s.User = root.Username },
			[]string{"PATH=/bin", "HOME=" + root.HomeDir, "USER=" + root.Username, "LOGNAME=" + root.Username}},
		{"a named user, inherit_env = false", func(s *config.Service) { s.User = "0"; s.InheritEnv = config.InheritEnv{Names: []string{}} },
			[]string{"HOME=" + root.HomeDir, "USER=" + root.Username, "LOGNAME=" + root.Username}},
		{"env sets USER, env_file HOME", func(s *config.Service) {
			s.User = "0"
			s.Env = map[string]string{"USER": "svc"}
			s.EnvFile = []config.EnvFile{{Path: envFile}}
		}, []string{"PATH=/bin", "HOME=/from-file", "USER=svc", "LOGNAME=" + root.Username}},
		{"a uid with no entry", func(s *config.Service) { s.User = "4242" }, []string{"PATH=/bin", "HOME=/"}},
		{"a uid with no entry, env sets USER", func(s *config.Service) { s.User = "4242"; s.Env = map[string]string{"USER": "app"} },
			[]string{"PATH=/bin", "HOME=/", "USER=app"}},
		{"only a group: initbox's", func(s *config.Service) { s.Group = "0" }, base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := config.NewService("svc")
			s.Command = []string{"true"}
			tc.svc(s)
			id, err := identifyAs(s.User, s.Group, os.Geteuid(), os.Getegid())
			if err != nil {
				t.Fatal(err)
			}
			env, err := id.environ(s, base)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(env)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(env, want) {
				t.Errorf("environ = %q, want %q", env, want)
			}
		})
	}
}

// TestIdentifyOwnUID: a numeric user that is initbox's own uid with no
// passwd entry keeps initbox's gid and groups, so that it needs no
// privilege; another uid with no entry gets gid = uid and no groups.
func TestIdentifyOwnUID(t *testing.T) {
	noEntry(t, "4242")
	id, err := identifyAs("4242", "", 4343, 7)
	if err != nil {
		t.Fatal(err)
	}
	if c := id.cred; c.Uid != 4242 || c.Gid != 4242 || len(c.Groups) != 0 || c.NoSetGroups {
		t.Errorf("user 4242: %+v, want uid = gid = 4242, no groups", c)
	}
	id, err = identifyAs("4242", "", 4242, 7)
	if err != nil {
		t.Fatal(err)
	}
	if c := id.cred; c.Uid != 4242 || c.Gid != 7 || !c.NoSetGroups {
		t.Errorf("own uid: %+v, want initbox's gid and groups", c)
	}
	// A group alone keeps initbox's uid.
	if id, err = identifyAs("", "33", 4242, 7); err != nil || id.cred.Uid != 4242 || id.cred.Gid != 33 || id.login() {
		t.Errorf("group 33: %+v, %v", id, err)
	}
}

// noEntry fails the test when uid has a passwd entry here.
func noEntry(t *testing.T, uid string) {
	t.Helper()
	if _, err := user.LookupId(uid); err == nil {
		t.Fatalf("uid %s has a passwd entry; the test needs one without", uid)
	}
}

// TestCheckService: what a service asks for that initbox, as the uid it
// runs as, cannot give is an error at the key that asks for it, with the
// way out.
func TestCheckService(t *testing.T) {
	dir := t.TempDir()
	c := parse(t, dir, `
[services.other]
command = ["true"]
user = "4242"

[services.own]
command = ["true"]
user = "12345"

[services.grp]
command = ["true"]
group = "33"

[services.caps]
command = ["true"]
capabilities = ["CAP_CHOWN", "net_bind_service"]

[services.oom]
command = ["true"]
resources = { oom_score_adj = -10 }

[services.nobody]
command = ["true"]
user = "no-such-user-here"
`)
	file := c.File
	noEntry(t, "4242")
	noEntry(t, "12345")
	nonRoot := launch.Privileges{UID: [3]int{12345, 12345, 12345}, Bounding: 0xa80425fb, OOMScoreAdjKnown: true}
	var list []config.ServiceError
	for _, n := range c.Order {
		list = append(list, checkService(nonRoot, c.Services[n])...)
	}
	err := c.ServiceErrors(list)
	if err == nil {
		t.Fatal("no errors")
	}
	want := []string{
		file + `:4:8: services.other.user: "4242" means uid 4242 and gid 4242, which need CAP_SETUID and CAP_SETGID; initbox (uid 12345, gid 0) has neither: remove user to run the service as uid 12345, or start initbox as root`,
		file + `:12:9: services.grp.group: "33" means gid 33, which needs CAP_SETGID; initbox (uid 12345, gid 0) does not have it: remove group to keep gid 0, or start initbox as root`,
		file + `:16:16: services.caps.capabilities: keeping only these drops the rest of initbox's bounding set, which needs CAP_SETPCAP; initbox (uid 12345, gid 0) does not have it: remove capabilities to keep initbox's bounding set (no_new_privs = true keeps the service from gaining any capability by exec), or start initbox as root`,
		file + `:16:17: services.caps.capabilities[0]: initbox (uid 12345, gid 0) does not have CAP_CHOWN, so it cannot give it: remove it from the list, or start initbox as root with it`,
		file + `:16:30: services.caps.capabilities[1]: initbox (uid 12345, gid 0) does not have CAP_NET_BIND_SERVICE, so it cannot give it: remove it from the list, or start initbox as root with it`,
		file + `:20:31: services.oom.resources.oom_score_adj: -10 is below initbox's own oom_score_adj 0, which needs CAP_SYS_RESOURCE; initbox (uid 12345, gid 0) does not have it: use 0 or more, or start initbox as root`,
		file + `:24:8: services.nobody.user: "no-such-user-here" is not in /etc/passwd, and initbox (uid 12345, gid 0) cannot switch to another user without CAP_SETUID: remove user to run the service as uid 12345, or start initbox as root`,
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Root under docker run --cap-drop ALL: the capabilities to add.
	list = checkService(launch.Privileges{}, c.Services["other"])
	if len(list) != 1 || !strings.HasSuffix(list[0].Msg, "or give initbox CAP_SETUID and CAP_SETGID (docker run --cap-add SETUID --cap-add SETGID)") {
		t.Errorf("root without capabilities: %+v", list)
	}
	// With every capability nothing is refused, and an unknown user is
	// left to the start (a oneshot may create it).
	root := launch.Privileges{Effective: 1<<41 - 1, Bounding: 1<<41 - 1, OOMScoreAdjKnown: true}
	for _, n := range c.Order {
		if l := checkService(root, c.Services[n]); l != nil {
			t.Errorf("root: %s: %+v", n, l)
		}
	}
}

// TestPasswdFile: users are read from the passwd file itself (os/user
// would make initbox's own uid up from $USER and $HOME); a name is looked
// for before a number, comments and malformed lines are skipped, and a
// missing file has no users.
func TestPasswdFile(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/passwd"
	text := "# a comment\nbroken line\nbad:x:nope:1:::\napp:x:12345:0:App,room 1:/srv/app:/bin/sh\n4242:x:7:7::/named-4242:/bin/sh\nempty:x:8:8:::\n"
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(old string) { passwdFile = old }(passwdFile)
	passwdFile = file
	for _, tc := range []struct {
		name, uid, gid, home, login string
	}{
		{"app", "12345", "0", "/srv/app", "app"},
		{"12345", "12345", "0", "/srv/app", "app"},
		{"4242", "7", "7", "/named-4242", "4242"}, // the name wins
		{"empty", "8", "8", "/", "empty"},
		{"9", "9", "9", "/", ""},
	} {
		id, err := identifyAs(tc.name, "", 1, 1)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := fmt.Sprintf("%d %d %s %s", id.cred.Uid, id.cred.Gid, id.home, id.name); got != fmt.Sprintf("%s %s %s %s", tc.uid, tc.gid, tc.home, tc.login) {
			t.Errorf("%s: uid gid home name = %s", tc.name, got)
		}
	}
	if _, err := identifyAs("bad", "", 1, 1); !errors.Is(err, errNoUser) {
		t.Errorf("bad: %v, want errNoUser", err)
	}
	if !hasEntry(12345) || hasEntry(9) {
		t.Error("hasEntry")
	}
	passwdFile = dir + "/missing"
	if _, err := identifyAs("app", "", 1, 1); !errors.Is(err, errNoUser) {
		t.Errorf("no passwd file: %v, want errNoUser", err)
	}
	if id, err := identifyAs("1", "", 1, 5); err != nil || id.cred.Gid != 5 || id.home != "/" || id.name != "" {
		t.Errorf("own uid without a file: %+v %v", id, err)
	}
}
