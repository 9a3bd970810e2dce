# daemon_killed_on_stop: a service double-forks a
# daemon that calls setsid; stopping the service (here: the ordered stop
# after SIGTERM to initbox) kills the daemon through the service's cgroup.
# The watcher service, stopped after the daemon service, records whether
# the daemon was still alive at that moment, i.e. before the final kill(-1)
# sweep and before the PID namespace dies with initbox.

rm -f /tmp/daemon.pid /tmp/daemon.info /tmp/watcher.verdict
vmctr -cgroup daemon -- initbox run -c /etc/initbox/daemon_killed_on_stop.toml >/tmp/daemon.out 2>/tmp/daemon.err &
ctr=$!
wait_for 10 test -s /tmp/daemon.info
show /tmp/daemon.info
set -- $(sed 's/[^ ]*=//g; s/;//' /tmp/daemon.info 2>/dev/null)
# daemon pid ppid pgrp sid; service pid pgrp sid
dpid=$2 dppid=$3 dpgrp=$4 dsid=$5 spid=$8 spgrp=$9 ssid=${10}
check daemon_escaped_group "$(cat /tmp/daemon.info 2>&1)" \
	cond '[ -n "$dpid" ] && [ "$dsid" = "$dpid" ] && [ "$dsid" != "$ssid" ] && [ "$dpgrp" != "$spgrp" ] && [ "$dppid" = 1 ]'

kill -TERM $ctr
wait $ctr
rc=$?
show /tmp/daemon.err /tmp/watcher.verdict
check stopped "vmctr exited $rc after SIGTERM" [ "$rc" -ne 125 ]
check daemon_killed "$(cat /tmp/watcher.verdict 2>&1)" grep -q '^daemon_at_watcher_stop=gone ' /tmp/watcher.verdict
