//go:build linux

package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/launch"
)

// identity is who a service runs as: the credential its processes start
// with, and the login variables its environment gets.
type identity struct {
	// cred is nil when the service sets neither user nor group: it runs
	// as initbox does.
	cred *syscall.Credential
	// home is set when the service names a user (see login): its passwd
	// entry's directory, "/" without one; name is its entry's name, ""
	// without one, and then USER and LOGNAME are left unset (OpenShift's
	// guidelines for a uid with no entry).
	home, name string
}

// Errors of identify that CheckPrivileges tells apart.
var (
	errNoUser  = errors.New("no such user in /etc/passwd")
	errNoGroup = errors.New("no such group in /etc/group")
)

// identify resolves a service's user and group to the ids it runs with.
// As login and systemd do, the primary group and the supplementary groups
// follow the user (/etc/passwd, see passwdFile, and /etc/group, read by
// os/user's pure-Go code in a static binary); group, when given, replaces
// the primary group.
// Numeric ids need no entry in those files: a uid without one runs with
// gid = uid and no supplementary groups, except initbox's own uid, which
// keeps initbox's gid and groups, so that naming it changes nothing and
// needs no privilege (docker run --user 12345:0, then user = "12345").
func identify(userName, groupName string) (identity, error) {
	return identifyAs(userName, groupName, os.Geteuid(), os.Getegid())
}

// identifyAs is identify for an initbox that runs as uid and gid.
func identifyAs(userName, groupName string, uid, gid int) (identity, error) {
	var id identity
	if userName == "" && groupName == "" {
		return id, nil
	}
	cred := &syscall.Credential{}
	if userName != "" {
		u, found, err := lookupUser(userName)
		if err != nil {
			return id, err
		}
		n, _ := strconv.ParseUint(u.Uid, 10, 32)
		g, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(n), uint32(g)
		id.home = "/"
		switch {
		case found:
			id.name = u.Username
			if u.HomeDir != "" {
				id.home = u.HomeDir
			}
			if ids, err := u.GroupIds(); err == nil {
				for _, s := range ids {
					if g, err := strconv.ParseUint(s, 10, 32); err == nil && uint32(g) != cred.Gid {
						cred.Groups = append(cred.Groups, uint32(g))
					}
				}
			}
		case int(n) == uid:
			cred.Gid, cred.NoSetGroups = uint32(gid), true
		}
	} else {
		// Only a group: keep initbox's uid, drop its supplementary groups.
		cred.Uid = uint32(uid)
	}
	if cred.Groups == nil {
		cred.Groups = []uint32{}
	}
	if groupName != "" {
		gid, err := lookupGroup(groupName)
		if err != nil {
			return id, err
		}
		cred.Gid = gid
	}
	id.cred = cred
	return id, nil
}

// login reports whether the service names a user: HOME and USER (with
// LOGNAME) then come from that user, not from initbox's environment, which
// describes initbox's user.
func (id identity) login() bool { return id.home != "" }

// lookupUser finds a user by name, then by number; found is false for a
// number with no passwd entry, which is still a user to run as.
func lookupUser(name string) (u *user.User, found bool, err error) {
	uid, numeric := "", false
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		uid, numeric = strconv.FormatUint(id, 10), true
	}
	// One pass over the file: a name matches first, wherever it stands;
	// else the first entry with that number.
	var byID *user.User
	u, err = findUser(func(e *user.User) bool {
		if numeric && byID == nil && e.Uid == uid {
			byID = e
		}
		return e.Username == name
	})
	switch {
	case err != nil:
		return nil, false, err
	case u != nil:
		return u, true, nil
	case byID != nil:
		return byID, true, nil
	case numeric:
		return &user.User{Uid: uid, Gid: uid}, false, nil
	}
	return nil, false, fmt.Errorf("user %q: %w", name, errNoUser)
}

// passwdFile is where users are looked up: by hand, not with os/user,
// whose Lookup and LookupId make initbox's own uid up from $USER and $HOME
// when it has no entry (os/user.Current's fallback), so that under
// USER=postgres a user = "postgres" would mean initbox's own uid and any
// HOME would pass for an entry's. Groups come from os/user, which has no
// such fallback.
var passwdFile = "/etc/passwd"

// findUser returns the first entry of passwdFile that match accepts, or
// nil. A missing file has no entries (FROM scratch images have none).
func findUser(match func(*user.User) bool) (*user.User, error) {
	f, err := os.Open(passwdFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// name:password:uid:gid:gecos:home:shell
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 6 || fields[0] == "" || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if _, err := strconv.ParseUint(fields[2], 10, 32); err != nil {
			continue
		}
		if _, err := strconv.ParseUint(fields[3], 10, 32); err != nil {
			continue
		}
		gecos, _, _ := strings.Cut(fields[4], ",")
		u := &user.User{Username: fields[0], Uid: fields[2], Gid: fields[3], Name: gecos, HomeDir: fields[5]}
		if match(u) {
			return u, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", passwdFile, err)
	}
	return nil, nil
}

// hasEntry reports whether uid has a passwd entry; a file that cannot be
// read counts as none.
func hasEntry(uid int) bool {
	s := strconv.Itoa(uid)
	u, _ := findUser(func(e *user.User) bool { return e.Uid == s })
	return u != nil
}

func lookupGroup(name string) (uint32, error) {
	if g, err := user.LookupGroup(name); err == nil {
		id, err := strconv.ParseUint(g.Gid, 10, 32)
		return uint32(id), err
	}
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(id), nil
	}
	return 0, fmt.Errorf("group %q: %w", name, errNoGroup)
}

// environ builds the service's environment from base (initbox's) as
// config's Environ does, with the login variables in the place of the
// inherited ones: below env_file and env, which can still set them, and
// whatever inherit_env says, since they describe the service's user, not
// initbox's. A service that names no user keeps what initbox passes on;
// only when that leaves it no HOME and initbox's uid has no passwd entry
// (docker run --user 12345, OpenShift's random uid) it gets HOME=/, where
// programs that look for a home without a passwd entry to fall back on
// would otherwise fail.
func (id identity) environ(c *config.Service, base []string) ([]string, error) {
	vars := map[string]string{"HOME": id.home, "USER": id.name, "LOGNAME": id.name}
	login := []string{"HOME", "USER", "LOGNAME"}
	if id.login() {
		b := make([]string, 0, len(base)+len(login))
		for _, kv := range base {
			if k, _, _ := strings.Cut(kv, "="); k != "HOME" && k != "USER" && k != "LOGNAME" {
				b = append(b, kv)
			}
		}
		for _, k := range login {
			if vars[k] != "" {
				b = append(b, k+"="+vars[k])
			}
		}
		base = b
	}
	env, err := c.Environ(base)
	if err != nil {
		return nil, err
	}
	if !id.login() {
		if !envHas(env, "HOME") && !hasEntry(os.Geteuid()) {
			env = append(env, "HOME=/")
		}
		return env, nil
	}
	// inherit_env may have filtered them out: they are not inherited.
	for _, k := range login {
		if vars[k] != "" && !envHas(env, k) {
			env = append(env, k+"="+vars[k])
		}
	}
	return env, nil
}

// envHas reports whether env defines name.
func envHas(env []string, name string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

// CheckPrivileges returns an *config.Errors naming, at its key, each
// service's user, group, capabilities and oom_score_adj that initbox
// cannot grant with the privileges it runs with (launch.Own), and how to
// do without it; nil when it can grant everything. Run and check call it
// after loading the configuration, so that such a service is a config
// error before anything starts, not a failure at each of its starts.
// A user or group name that cannot be resolved is reported only when
// initbox could not switch to another id anyway: with the privilege, a
// oneshot may still create it before the service starts.
func CheckPrivileges(c *config.Config) error {
	own, err := launch.Own()
	if err != nil {
		return fmt.Errorf("cannot read initbox's own privileges: %w", err)
	}
	var list []config.ServiceError
	for _, name := range c.Order {
		s := c.Services[name]
		if s == nil {
			continue
		}
		list = append(list, checkService(own, s)...)
	}
	return c.ServiceErrors(list)
}

// checkService is CheckPrivileges for one service.
func checkService(own launch.Privileges, s *config.Service) []config.ServiceError {
	who := fmt.Sprintf("initbox (uid %d, gid %d)", own.UID[1], own.GID[1])
	problem := func(key, format string, args ...any) config.ServiceError {
		return config.ServiceError{Service: s.Name, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	id, err := identifyAs(s.User, s.Group, own.UID[1], own.GID[1])
	switch {
	case errors.Is(err, errNoUser) && !own.Has(unix.CAP_SETUID):
		return []config.ServiceError{problem("user", "%q is not in /etc/passwd, and %s cannot switch to another user without CAP_SETUID: %s",
			s.User, who, fix(own, "user", fmt.Sprintf("to run the service as uid %d", own.UID[1]), "CAP_SETUID"))}
	case errors.Is(err, errNoGroup) && !own.Has(unix.CAP_SETGID):
		return []config.ServiceError{problem("group", "%q is not in /etc/group, and %s cannot switch to another group without CAP_SETGID: %s",
			s.Group, who, fix(own, "group", fmt.Sprintf("to keep gid %d", own.GID[1]), "CAP_SETGID"))}
	case err != nil:
		return nil // the start says so, if it is still missing then
	}
	// The Cmd the service's start makes (command needs nothing of a
	// running Supervisor), so that what is checked is what the start
	// asks for, not a copy of how it is asked.
	cmd := (&Supervisor{}).command(&service{cfg: s, cred: id.cred})
	var out []config.ServiceError
	var userNeeds, groupNeeds []string
	var userWhat, groupWhat []string
	for _, r := range own.Check(cmd) {
		switch r.Kind {
		case launch.RefusedUID:
			userWhat, userNeeds = append(userWhat, fmt.Sprintf("uid %d", r.Value)), addNeed(userNeeds, r.Need)
		case launch.RefusedGID:
			what := fmt.Sprintf("gid %d", r.Value)
			if s.Group != "" {
				groupWhat, groupNeeds = append(groupWhat, what), addNeed(groupNeeds, r.Need)
			} else {
				userWhat, userNeeds = append(userWhat, what), addNeed(userNeeds, r.Need)
			}
		case launch.RefusedGroups:
			what := "supplementary groups " + groupList(cmd.Credential.Groups)
			if len(cmd.Credential.Groups) == 0 {
				what = "no supplementary groups (initbox has " + groupList(intsToGroups(own.Groups)) + ")"
			}
			if s.User != "" {
				userWhat, userNeeds = append(userWhat, what), addNeed(userNeeds, r.Need)
			} else {
				groupWhat, groupNeeds = append(groupWhat, what), addNeed(groupNeeds, r.Need)
			}
		case launch.RefusedBounding:
			out = append(out, problem("capabilities", "keeping only these drops the rest of initbox's bounding set, which needs CAP_SETPCAP; %s does not have it: %s",
				who, fix(own, "capabilities", "to keep initbox's bounding set (no_new_privs = true keeps the service from gaining any capability by exec)", "CAP_SETPCAP")))
		case launch.RefusedCapability:
			if r.Index < 0 {
				continue // Ambient repeats Bounding: reported there
			}
			name := config.CapabilityName(s.Capabilities[r.Index])
			out = append(out, problem(fmt.Sprintf("capabilities[%d]", r.Index), "%s does not have %s, so it cannot give it: %s",
				who, name, capFix(own, name)))
		case launch.RefusedOOMScoreAdj:
			out = append(out, problem("resources.oom_score_adj", "%d is below initbox's own oom_score_adj %d, which needs CAP_SYS_RESOURCE; %s does not have it: %s",
				r.Value, own.OOMScoreAdj, who, fix(own, "", fmt.Sprintf("use %d or more", own.OOMScoreAdj), "CAP_SYS_RESOURCE")))
		}
	}
	if len(userWhat) > 0 {
		keep := fmt.Sprintf("to run the service as uid %d", own.UID[1])
		if len(userNeeds) == 1 && userNeeds[0] == "CAP_SETGID" && s.Group == "" && strings.HasPrefix(userWhat[0], "gid") {
			keep = fmt.Sprintf("to run the service as uid %d (or set group = \"%d\")", own.UID[1], own.GID[1])
		}
		out = append(out, problem("user", "%q means %s, %s: %s", s.User, strings.Join(userWhat, " and "), lacks(who, len(userWhat), userNeeds), fix(own, "user", keep, userNeeds...)))
	}
	if len(groupWhat) > 0 {
		out = append(out, problem("group", "%q means %s, %s: %s", s.Group, strings.Join(groupWhat, " and "), lacks(who, len(groupWhat), groupNeeds),
			fix(own, "group", fmt.Sprintf("to keep gid %d", own.GID[1]), groupNeeds...)))
	}
	return out
}

// fix says how to do without what needs the capabilities needs: remove
// key (what that does follows) or use another value, or give initbox
// what it lacks: root for a process that is not root, the capabilities
// for root without them (docker run --cap-drop).
func fix(own launch.Privileges, key, without string, needs ...string) string {
	s := without
	if key != "" {
		s = "remove " + key + " " + without
	}
	if own.UID[1] != 0 {
		return s + ", or start initbox as root"
	}
	add := make([]string, len(needs))
	for i, n := range needs {
		add[i] = "--cap-add " + strings.TrimPrefix(n, "CAP_")
	}
	return s + ", or give initbox " + strings.Join(needs, " and ") + " (docker run " + strings.Join(add, " ") + ")"
}

// lacks says that n things asked for need the capabilities needs, which
// who does not have.
func lacks(who string, n int, needs []string) string {
	verb := "needs"
	if n > 1 {
		verb = "need"
	}
	if len(needs) == 1 {
		return fmt.Sprintf("which %s %s; %s does not have it", verb, needs[0], who)
	}
	return fmt.Sprintf("which %s %s; %s has neither", verb, strings.Join(needs, " and "), who)
}

// capFix is fix for a capability initbox does not have.
func capFix(own launch.Privileges, name string) string {
	if own.UID[1] != 0 {
		return "remove it from the list, or start initbox as root with it"
	}
	return "remove it from the list, or give it to initbox (docker run --cap-add " + strings.TrimPrefix(name, "CAP_") +
		"; in Kubernetes, securityContext.capabilities.add)"
}

func addNeed(needs []string, n string) []string {
	if slices.Contains(needs, n) {
		return needs
	}
	return append(needs, n)
}

func groupList(g []uint32) string {
	s := make([]string, len(g))
	for i, x := range g {
		s[i] = strconv.FormatUint(uint64(x), 10)
	}
	return strings.Join(s, ",")
}

func intsToGroups(g []int) []uint32 {
	out := make([]uint32, len(g))
	for i, x := range g {
		out[i] = uint32(x)
	}
	return out
}
