# spawn_cgroup_limits (issue #6): `initbox spawn --cgroup` with limits for
# the whole tree. initbox makes a cgroup of the tree's own under its own,
# writes --memory and --pids there before the inner init starts inside it,
# roots the new cgroup namespace at it (the inside sees 0::/ and a private
# cgroup2 mount), holds a fork bomb at --pids, and removes the cgroup when
# the tree has ended. Then a supervisor inside (spawn -c) gives each
# service its own cgroup under the tree's, with the service's limit.

c=/sys/fs/cgroup
# As systemd does on a host: the root cgroup hands its controllers down, so
# that a cgroup made under it (the tree's) can have limits. initbox does
# not write its parent's cgroup.subtree_control: not its own.
echo "+memory +pids +cpu" >$c/cgroup.subtree_control
cat >/tmp/spawn.inner <<'INNER'
echo "self=$(cat /proc/self/cgroup)" >/tmp/spawn.out
echo "memory_max_inside=$(cat /sys/fs/cgroup/memory.max)" >>/tmp/spawn.out
touch /tmp/spawn.ready
# Last, since no fork is sure to work once it runs: a fork bomb, which
# --pids 32 holds (what the tree's cgroup shows is read from outside).
exec sh /helpers/fork_bomb.sh
INNER
rm -f /tmp/spawn.ready
initbox spawn --cgroup --memory 48M --pids 32 -- sh /tmp/spawn.inner >/tmp/spawn.log 2>&1 &
sp=$!
wait_for 20 test -e /tmp/spawn.ready
tree=$(find "$c" -maxdepth 1 -type d -name 'initbox-spawn-*' | head -n 1)
held() { [ "$(field "$tree/pids.events" max)" -ge 1 ] 2>/dev/null; }
[ -n "$tree" ] && wait_for 20 held && sleep 1
cur=$(cat "$tree/pids.current" 2>&1)
info "tree=$tree pids.current=$cur pids.events: $(tr '\n' ' ' <"$tree/pids.events" 2>&1) $(tr '\n' ' ' </tmp/spawn.out 2>&1)"
show /tmp/spawn.out /tmp/spawn.log
check tree_cgroup "the tree's cgroup: '$tree'" [ -n "$tree" ]
check memory_max "memory.max: $(cat "$tree/memory.max" 2>&1)" [ "$(cat "$tree/memory.max" 2>&1)" = 50331648 ]
check pids_max "pids.max: $(cat "$tree/pids.max" 2>&1)" [ "$(cat "$tree/pids.max" 2>&1)" = 32 ]
check namespace_root "inside: $(grep self= /tmp/spawn.out)" grep -q '^self=0::/$' /tmp/spawn.out
check private_mount "inside memory.max: $(grep memory_max_inside /tmp/spawn.out)" grep -q '^memory_max_inside=50331648$' /tmp/spawn.out
check bomb_held "pids.current $cur, pids.events max $(field "$tree/pids.events" max)" cond '[ "$cur" -le 32 ] && held'
kill -TERM $sp
wait $sp
rc=$?
left=$(find "$c" -maxdepth 1 -type d -name 'initbox-spawn-*')
check tree_removed "spawn exited $rc; left: '$left'" cond '[ "$rc" -ne 125 ] && [ -z "$left" ]'

# A supervisor inside: its services' cgroups are under the tree's.
rm -f /tmp/spawn.svc
initbox spawn --cgroup --memory 64M -c /etc/initbox/spawn_services.toml >/tmp/spawn-sv.log 2>&1 &
sp=$!
wait_for 20 test -s /tmp/spawn.svc
tree=$(find "$c" -maxdepth 1 -type d -name 'initbox-spawn-*' | head -n 1)
svc=$(find_cgroup "$tree" web)
show /tmp/spawn-sv.log /tmp/spawn.svc
info "tree=$tree web=$svc"
check service_inside "web sees $(cat /tmp/spawn.svc 2>&1); leaf: '$svc'" cond '[ -n "$svc" ] && grep -q "^0::/services/web$" /tmp/spawn.svc'
check service_limit "web memory.max: $(cat "$svc/memory.max" 2>&1)" [ "$(cat "$svc/memory.max" 2>&1)" = 16777216 ]
check init_leaf "init leaf of the supervisor: $(cat "$tree/init/cgroup.procs" 2>&1 | tr '\n' ' ')" cond '[ -n "$(cat "$tree/init/cgroup.procs")" ]'
kill -TERM $sp
wait $sp
rc=$?
left=$(find "$c" -maxdepth 1 -type d -name 'initbox-spawn-*')
check supervisor_removed "spawn -c exited $rc; left: '$left'" cond '[ "$rc" -eq 0 ] && [ -z "$left" ]'
