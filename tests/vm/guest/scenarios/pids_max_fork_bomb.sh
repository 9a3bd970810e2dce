# pids_max_fork_bomb: a fork bomb service with
# pids_max = 16 is held at 16 tasks; initbox and the sibling service keep
# running; stopping initbox kills every copy of the bomb.

vmctr -cgroup pids -- initbox run -c /etc/initbox/pids_max_fork_bomb.toml >/tmp/pids.out 2>/tmp/pids.err &
ctr=$!
c=/sys/fs/cgroup/pids
wait_for 10 has_cgroup $c bomb
wait_for 10 has_cgroup $c sibling
bomb=$(find_cgroup $c bomb)
sib=$(find_cgroup $c sibling)
held() { [ "$(field "$bomb/pids.events" max)" -ge 1 ] 2>/dev/null; }
[ -n "$bomb" ] && wait_for 20 held && sleep 1
cur=$(cat "$bomb/pids.current" 2>&1)
info "bomb pids.current=$cur pids.max=$(cat "$bomb/pids.max" 2>&1) pids.events: $(tr '\n' ' ' <"$bomb/pids.events" 2>&1)"

check pids_max_written "pids.max: $(cat "$bomb/pids.max" 2>&1)" [ "$(cat "$bomb/pids.max" 2>&1)" = 16 ]
check fork_refused "pids.events max: $(field "$bomb/pids.events" max)" held
check bomb_held "pids.current: $cur (limit 16)" cond '[ "$cur" -le 16 ]'
check initbox_alive "vmctr (initbox) still running" kill -0 $ctr
check sibling_alive "sibling cgroup.procs: $(cat "$sib/cgroup.procs" 2>&1 | tr '\n' ' ')" cond '[ -n "$(cat "$sib/cgroup.procs")" ]'

start=$(cut -d' ' -f1 /proc/uptime)
kill -TERM $ctr
wait $ctr
rc=$?
end=$(cut -d' ' -f1 /proc/uptime)
show /tmp/pids.err
check stopped "vmctr exited $rc; stop took $start..$end s of uptime (shutdown_timeout 5s)" \
	cond '[ "$rc" -ne 125 ] && [ "$(echo "$end $start" | awk "{print (\$1 - \$2 < 8)}")" = 1 ]'
check container_empty "$(tr '\n' ' ' <$c/cgroup.events)" [ "$(field $c/cgroup.events populated)" = 0 ]
