# cgroup_tree_empty: after initbox stops (SIGTERM, as
# docker stop), the container's cgroup holds no process and no service
# cgroup remains: each service leaf is removed once it is empty.

rm -f /tmp/daemon.pid /tmp/daemon.info
vmctr -cgroup tree -- initbox run -c /etc/initbox/cgroup_tree_empty.toml >/tmp/tree.out 2>/tmp/tree.err &
ctr=$!
c=/sys/fs/cgroup/tree
wait_for 10 test -s /tmp/daemon.info
wait_for 10 has_cgroup $c forks && wait_for 10 has_cgroup $c single && wait_for 10 has_cgroup $c daemon
info "tree while running: $(cd $c && find . -mindepth 1 -type d | tr '\n' ' ')"
for s in single forks daemon; do
	d=$(find_cgroup $c $s)
	check "running_$s" "$s cgroup '$d' holds: $(cat "$d/cgroup.procs" 2>&1 | tr '\n' ' ')" cond '[ -n "$d" ] && [ -n "$(cat "$d/cgroup.procs")" ]'
done

kill -TERM $ctr
wait $ctr
rc=$?
show /tmp/tree.err
left=$(cd $c && find . -mindepth 1 -type d | tr '\n' ' ')
info "tree after stop: '$left'"
check stopped "vmctr exited $rc after SIGTERM" [ "$rc" -ne 125 ]
check no_process_left "$(tr '\n' ' ' <$c/cgroup.events)" [ "$(field $c/cgroup.events populated)" = 0 ]
for s in single forks daemon; do
	check "removed_$s" "leftover cgroup dirs: '$left'" [ -z "$(find_cgroup $c $s)" ]
done
