//go:build linux

package supervisor

import (
	"fmt"
	"os/user"
	"strconv"
	"syscall"
)

// credential resolves a service's user and group to the ids it runs with.
// As login and systemd do, the primary group and the supplementary groups
// follow the user (/etc/passwd and /etc/group, read by os/user's pure-Go
// code in a static binary); group, when given, replaces the primary group.
// Numeric ids need no entry in those files.
func credential(userName, groupName string) (*syscall.Credential, error) {
	cred := &syscall.Credential{}
	if userName != "" {
		u, err := lookupUser(userName)
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if g, err := strconv.ParseUint(id, 10, 32); err == nil && uint32(g) != cred.Gid {
					cred.Groups = append(cred.Groups, uint32(g))
				}
			}
		}
	} else {
		// Only a group: keep initbox's uid, drop its supplementary groups.
		cred.Uid = uint32(syscall.Getuid())
	}
	if cred.Groups == nil {
		cred.Groups = []uint32{}
	}
	if groupName != "" {
		gid, err := lookupGroup(groupName)
		if err != nil {
			return nil, err
		}
		cred.Gid = gid
	}
	return cred, nil
}

func lookupUser(name string) (*user.User, error) {
	if u, err := user.Lookup(name); err == nil {
		return u, nil
	}
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		if u, err := user.LookupId(name); err == nil {
			return u, nil
		}
		// A uid with no passwd entry runs with gid = uid, as runc does.
		s := strconv.FormatUint(id, 10)
		return &user.User{Uid: s, Gid: s}, nil
	}
	return nil, fmt.Errorf("user %q: no such user in /etc/passwd", name)
}

func lookupGroup(name string) (uint32, error) {
	if g, err := user.LookupGroup(name); err == nil {
		id, err := strconv.ParseUint(g.Gid, 10, 32)
		return uint32(id), err
	}
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(id), nil
	}
	return 0, fmt.Errorf("group %q: no such group in /etc/group", name)
}
