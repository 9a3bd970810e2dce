//go:build linux

package tests

// initbox run by a uid other than root, or by root without capabilities
// (issue #19, item 2): what it cannot grant is a config error at its line,
// from run and from check alike; what needs no privilege (the uid it runs
// as, its own groups, a bounding set it already has) runs; a uid with no
// passwd entry gets HOME=/ and no USER. setpriv gives initbox the uid,
// groups and capabilities a container runtime would.

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// nonRootUID has no passwd entry (docker run --user 12345:0, OpenShift's
// random uid).
const nonRootUID = "12345"

// asUser returns the setpriv arguments that run bin as uid:gid with no
// supplementary groups, and with no capability at all when noCaps (for
// root too: its bounding set is emptied, so that the exec leaves it none).
func asUser(uid, gid string, noCaps bool, bin string, args ...string) []string {
	a := []string{"--reuid", uid, "--regid", gid, "--clear-groups"}
	if noCaps {
		a = append(a, "--inh-caps=-all", "--bounding-set=-all")
	}
	return append(append(a, bin), args...)
}

// publicConfig writes text, with "@D@" replaced by a directory everybody
// may enter and write, as initbox.toml there.
func publicConfig(t *testing.T, text string) (dir, file string) {
	t.Helper()
	dir = publicDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, "initbox.toml")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(text, "@D@", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

// ownOOMScoreAdj is the test's oom_score_adj, which initbox inherits.
func ownOOMScoreAdj(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNonRootRefused: as uid 12345, a service's user, capabilities and
// oom_score_adj below initbox's own are config errors at their lines,
// each saying what to do instead; run exits 2 before starting anything,
// and check, run as that uid, prints the same lines.
func TestNonRootRefused(t *testing.T) {
	bin := nobodyBin(t)
	nob, err := user.Lookup("nobody")
	if err != nil {
		skipOrFail(t, "no user nobody: %v", err)
	}
	adj := ownOOMScoreAdj(t)
	if adj == -1000 {
		skipOrFail(t, "oom_score_adj is -1000 already: nothing is below it")
	}
	dir, file := publicConfig(t, fmt.Sprintf(`
[services.web]
command = ["touch", "@D@/web"]
user = "nobody"

[services.bind]
command = ["touch", "@D@/bind"]
capabilities = ["NET_BIND_SERVICE"]

[services.oom]
command = ["touch", "@D@/oom"]
resources = { oom_score_adj = %d }
`, adj-1))
	who := "initbox (uid 12345, gid 0)"
	want := []string{
		fmt.Sprintf(`%s:4:8: services.web.user: "nobody" means uid %s and gid %s, which need CAP_SETUID and CAP_SETGID; %s has neither: remove user to run the service as uid 12345, or start initbox as root`, file, nob.Uid, nob.Gid, who),
		file + `:8:16: services.bind.capabilities: keeping only these drops the rest of initbox's bounding set, which needs CAP_SETPCAP; ` + who + ` does not have it: remove capabilities to keep initbox's bounding set (no_new_privs = true keeps the service from gaining any capability by exec), or start initbox as root`,
		file + `:8:17: services.bind.capabilities[0]: ` + who + ` does not have CAP_NET_BIND_SERVICE, so it cannot give it: remove it from the list, or start initbox as root with it`,
		fmt.Sprintf(`%s:12:31: services.oom.resources.oom_score_adj: %d is below initbox's own oom_score_adj %d, which needs CAP_SYS_RESOURCE; %s does not have it: use %d or more, or start initbox as root`, file, adj-1, adj, who, adj),
	}
	for _, cmd := range []string{"run", "check"} {
		r := runInit(t, runSpec{mode: direct, bin: "setpriv", args: asUser(nonRootUID, "0", false, bin, cmd, "-c", file), timeout: svTimeout})
		if r.code != 2 || strings.TrimSpace(r.stderr) != strings.Join(want, "\n") || r.stdout != "" {
			t.Errorf("%s as uid 12345: want exit 2 and, on stderr alone,\n%s\ngot %v", cmd, strings.Join(want, "\n"), r)
		}
	}
	for _, s := range []string{"web", "bind", "oom"} {
		if exists(filepath.Join(dir, s)) {
			t.Errorf("service %s ran", s)
		}
	}
}

// TestNonRootOwnIdentity: as uid 12345 (no passwd entry, gid 0) without
// capabilities, what changes nothing needs nothing: user = its own uid,
// group = its own gid, a bounding set it already has, an oom_score_adj
// above its own. A service of that uid gets HOME=/ and no USER; one that
// sets no user keeps the HOME initbox passes on, and gets HOME=/ when it
// inherits none.
func TestNonRootOwnIdentity(t *testing.T) {
	bin := nobodyBin(t)
	if _, err := user.LookupId(nonRootUID); err == nil {
		t.Fatalf("uid %s has a passwd entry; the test needs one without", nonRootUID)
	}
	adj := min(ownOOMScoreAdj(t)+1, 1000)
	const probe = `echo "$${HOME-unset} $${USER-unset} $${LOGNAME-unset} $$(id -u):$$(id -g):$$(id -G) $$(grep CapBnd /proc/self/status | tr -d '\t')"`
	_, file := publicConfig(t, fmt.Sprintf(`
[services.own]
user = "12345"
inherit_env = false
shell = '''%[1]s'''
restart = { policy = "never" }

[services.own-env]
user = "12345"
env = { HOME = "/data", USER = "app" }
shell = '''%[1]s'''
restart = { policy = "never" }

[services.grp]
group = "0"
inherit_env = ["PATH"]
shell = '''%[1]s'''
restart = { policy = "never" }

[services.inherit]
shell = '''%[1]s'''
restart = { policy = "never" }

[services.bounded]
capabilities = []
no_new_privs = true
inherit_env = ["PATH", "HOME"]
resources = { oom_score_adj = %[2]d }
shell = '''%[1]s; cat /proc/self/oom_score_adj'''
restart = { policy = "never" }
`, probe, adj))
	env := []string{"HOME=/from-runtime", "USER=someone"}
	r := runInit(t, runSpec{mode: direct, bin: "setpriv", args: asUser(nonRootUID, "0", true, bin, "check", "-c", file), env: env})
	wantExit(t, r, 0)
	r = runInit(t, runSpec{mode: direct, bin: "setpriv", args: asUser(nonRootUID, "0", true, bin, "run", "-c", file), env: env, timeout: svTimeout})
	wantExit(t, r, 0)
	const ids = " 12345:0:0 CapBnd:0000000000000000"
	for _, want := range []string{
		"own | / unset unset" + ids,
		"own-env | /data app unset" + ids,
		// No user: initbox's environment, and HOME=/ where it has none.
		"grp | / unset unset" + ids,
		"inherit | /from-runtime someone unset" + ids,
		"bounded | /from-runtime unset unset" + ids,
		"bounded | " + strconv.Itoa(adj),
	} {
		wantLine(t, r, r.stdout, want)
	}
}

// TestNonRootNamedUser: as nobody (a passwd entry), user = "nobody" is
// its own and needs nothing; it gets nobody's HOME, USER and LOGNAME in
// the place of those initbox has. A service that sets no user gets
// initbox's environment unchanged: no HOME where it inherits none.
func TestNonRootNamedUser(t *testing.T) {
	bin := nobodyBin(t)
	nob, err := user.Lookup("nobody")
	if err != nil {
		skipOrFail(t, "no user nobody: %v", err)
	}
	if gids, err := nob.GroupIds(); err != nil || len(gids) != 1 || gids[0] != nob.Gid {
		skipOrFail(t, "nobody has supplementary groups here (%v, %v): setpriv --clear-groups would not be its own", gids, err)
	}
	_, file := publicConfig(t, `
[services.self]
user = "nobody"
shell = 'echo "$${HOME-unset} $${USER-unset} $${LOGNAME-unset} $$(id -u)"'
restart = { policy = "never" }

[services.plain]
inherit_env = ["PATH"]
shell = 'echo "$${HOME-unset} $${USER-unset} $$(id -u)"'
restart = { policy = "never" }
`)
	r := runInit(t, runSpec{mode: direct, bin: "setpriv", args: asUser(nob.Uid, nob.Gid, true, bin, "run", "-c", file),
		env: []string{"HOME=/root", "USER=root", "LOGNAME=root"}, timeout: svTimeout})
	wantExit(t, r, 0)
	wantLine(t, r, r.stdout, fmt.Sprintf("self | %s nobody nobody %s", nob.HomeDir, nob.Uid))
	wantLine(t, r, r.stdout, "plain | unset unset "+nob.Uid)
}

// TestRootWithoutCapabilities: root with an empty bounding set (docker run
// --cap-drop ALL) cannot switch to another user, and says which
// capabilities to give it; user = "root" and capabilities = [] need none.
func TestRootWithoutCapabilities(t *testing.T) {
	bin := nobodyBin(t)
	root, err := user.LookupId("0")
	if err != nil {
		skipOrFail(t, "no passwd entry for root: %v", err)
	}
	if gids, err := root.GroupIds(); err != nil || len(gids) != 1 || gids[0] != "0" {
		skipOrFail(t, "root has supplementary groups here (%v, %v)", gids, err)
	}
	_, file := publicConfig(t, `
[services.other]
user = "4242"
command = ["true"]
`)
	r := runInit(t, runSpec{mode: direct, bin: "setpriv", args: asUser("0", "0", true, bin, "check", "-c", file)})
	want := file + `:3:8: services.other.user: "4242" means uid 4242 and gid 4242, which need CAP_SETUID and CAP_SETGID; initbox (uid 0, gid 0) has neither: remove user to run the service as uid 0, or give initbox CAP_SETUID and CAP_SETGID (docker run --cap-add SETUID --cap-add SETGID)`
	if r.code != 2 || strings.TrimSpace(r.stderr) != want {
		t.Errorf("want exit 2 and %q, got %v", want, r)
	}

	_, file = publicConfig(t, `
[services.root]
user = "root"
capabilities = []
shell = 'echo "$${HOME-unset} $${USER-unset} $$(id -u):$$(id -G)"'
restart = { policy = "never" }
`)
	r = runInit(t, runSpec{mode: direct, bin: "setpriv", args: asUser("0", "0", true, bin, "run", "-c", file), timeout: svTimeout})
	wantExit(t, r, 0)
	wantLine(t, r, r.stdout, fmt.Sprintf("root | %s root 0:0", root.HomeDir))
}
