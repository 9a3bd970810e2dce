# A classic daemon start: fork, setsid in the child, fork again, let the
# intermediate exit. The daemon (sleep 1001) is then an orphan in its own
# session and process group, out of reach of a process-group kill; only its
# cgroup still ties it to the service. The service itself stays up
# (sleep 1000), as a wrapper script would.
# $$ here is the service's pid (its process group when started by initbox).
sh -c 'setsid sh -c "echo \$\$ >/tmp/daemon.pid; exec sleep 1001" &'
i=0
while [ ! -s /tmp/daemon.pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
d=$(cat /tmp/daemon.pid)
read -r _p _c _s dppid dpgrp dsid _r </proc/$d/stat
read -r _p _c _s sppid spgrp ssid _r </proc/$$/stat
echo "daemon pid=$d ppid=$dppid pgrp=$dpgrp sid=$dsid; service pid=$$ pgrp=$spgrp sid=$ssid" >/tmp/daemon.info
exec sleep 1000
