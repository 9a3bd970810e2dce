# cgroup2_controllers_available: the booted kernel offers cgroup v2 with the
# controllers initbox's limits need (memory, pids, cpu). This validates the
# test bed for the cgroup scenarios; it checks the kernel, not initbox.

root=/sys/fs/cgroup
ctrls=$(cat $root/cgroup.controllers)
mnt=$(grep " $root " /proc/mounts)
info "controllers='$ctrls'"
info "mount='$mnt'"

check cgroup2_mounted "$mnt" [ "${mnt%% *}" = cgroup2 ]
check controllers "root cgroup.controllers: $ctrls" has_words "$ctrls" memory pids cpu

# The root cgroup may enable controllers although processes live in it (it
# is exempt from the no-internal-process rule); a child then offers them.
echo "+memory +pids +cpu" >$root/cgroup.subtree_control
mkdir $root/probe
child=$(cat $root/probe/cgroup.controllers)
check child_controllers "probe/cgroup.controllers: $child" has_words "$child" memory pids cpu
missing=
for f in memory.max memory.events memory.events.local pids.max pids.events cpu.max cpu.stat cgroup.kill cgroup.events; do
	[ -e $root/probe/$f ] || missing="$missing $f"
done
check limit_files "missing:${missing:- none}" [ -z "$missing" ]

# A limit written is a limit read back.
echo 20M >$root/probe/memory.max
echo 16 >$root/probe/pids.max
echo "50000 100000" >$root/probe/cpu.max
got="$(cat $root/probe/memory.max) $(cat $root/probe/pids.max) $(cat $root/probe/cpu.max)"
check limits_written "memory.max pids.max cpu.max: $got" [ "$got" = "20971520 16 50000 100000" ]
rmdir $root/probe
check probe_removed "rmdir probe" [ ! -e $root/probe ]

# The same from inside a container (vmctr, cgroup2 rw): the container's root
# offers the controllers, and, as under runc and crun, enabling them gives
# EBUSY while PID 1 sits in that root (no-internal-process rule), and works
# once PID 1 has moved into a leaf. This is the layout initbox must build.
cat >/tmp/ctr.inner <<'INNER'
cg=/sys/fs/cgroup
cat $cg/cgroup.controllers >/tmp/ctr.controllers
(echo "+memory +pids +cpu" >$cg/cgroup.subtree_control) 2>/tmp/ctr.busy.err
mkdir $cg/init && echo 1 >$cg/init/cgroup.procs
(echo "+memory +pids +cpu" >$cg/cgroup.subtree_control) 2>/tmp/ctr.leaf.err
echo $? >/tmp/ctr.leaf.rc
cat $cg/cgroup.subtree_control >/tmp/ctr.subtree
cat /proc/self/cgroup >/tmp/ctr.self
INNER
vmctr -cgroup ctr -- sh /tmp/ctr.inner
rc=$?
show /tmp/ctr.controllers /tmp/ctr.busy.err /tmp/ctr.leaf.err /tmp/ctr.subtree /tmp/ctr.self
inner=$(cat /tmp/ctr.controllers)
check container_controllers "vmctr rc=$rc, container root cgroup.controllers: $inner" has_words "$inner" memory pids cpu
check container_ebusy "enabling with PID 1 in the root: $(cat /tmp/ctr.busy.err)" grep -q 'Device or resource busy' /tmp/ctr.busy.err
check container_leaf "after moving PID 1 to init: rc=$(cat /tmp/ctr.leaf.rc) subtree_control='$(cat /tmp/ctr.subtree)' self=$(cat /tmp/ctr.self)" \
	cond '[ "$(cat /tmp/ctr.leaf.rc)" = 0 ] && has_words "$(cat /tmp/ctr.subtree)" memory pids cpu && [ "$(cat /tmp/ctr.self)" = 0::/init ]'
