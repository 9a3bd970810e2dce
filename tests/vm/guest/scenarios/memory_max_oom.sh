# memory_max_oom: initbox run as PID 1 of a container
# (vmctr); the hog service has memory_max = 32MiB and is OOM-killed inside
# its own cgroup; initbox and the sibling service keep running, and initbox
# reports the OOM kill (one clear line naming the service).

vmctr -cgroup mem -- initbox run -c /etc/initbox/memory_max_oom.toml >/tmp/mem.out 2>/tmp/mem.err &
ctr=$!
c=/sys/fs/cgroup/mem
wait_for 10 has_cgroup $c hog
wait_for 10 has_cgroup $c sibling
hog=$(find_cgroup $c hog)
sib=$(find_cgroup $c sibling)
info "hog_cgroup=$hog sibling_cgroup=$sib"
oom() { [ "$(field "$hog/memory.events.local" oom_kill)" -ge 1 ] 2>/dev/null; }
# No waiting on files of a cgroup that was not found: fail fast instead.
[ -n "$hog" ] && wait_for 20 oom
reported() { grep -qi 'hog.*oom' /tmp/mem.err /tmp/mem.out; }
[ -n "$hog" ] && wait_for 5 reported
show /tmp/mem.out /tmp/mem.err "$hog/memory.events.local" "$hog/memory.max"
info "hog memory.events.local: $(tr '\n' ' ' <"$hog/memory.events.local" 2>&1)"

check hog_own_cgroup "hog cgroup: '$hog', sibling cgroup: '$sib'" cond '[ -n "$hog" ] && [ -n "$sib" ] && [ "$hog" != "$sib" ]'
check memory_max_written "memory.max: $(cat "$hog/memory.max" 2>&1)" [ "$(cat "$hog/memory.max" 2>&1)" = 33554432 ]
check oom_kill_counted "oom_kill in hog's memory.events.local: $(field "$hog/memory.events.local" oom_kill)" oom
check sibling_limits "sibling memory.max/high/swap.max/oom.group: $(cat "$sib/memory.max" "$sib/memory.high" "$sib/memory.swap.max" "$sib/memory.oom.group" 2>&1 | tr '\n' ' ')" \
	[ "$(cat "$sib/memory.max" "$sib/memory.high" "$sib/memory.swap.max" "$sib/memory.oom.group" 2>&1 | tr '\n' ' ')" = "67108864 50331648 16777216 0 " ]
check hog_oom_group "hog memory.oom.group: $(cat "$hog/memory.oom.group" 2>&1)" [ "$(cat "$hog/memory.oom.group" 2>&1)" = 0 ]
check oom_not_elsewhere "oom_kill in sibling's memory.events: $(field "$sib/memory.events" oom_kill)" \
	[ "$(field "$sib/memory.events" oom_kill)" = 0 ]
check initbox_alive "vmctr (initbox) still running after the OOM kill" kill -0 $ctr
check sibling_alive "sibling cgroup.procs: $(cat "$sib/cgroup.procs" 2>&1 | tr '\n' ' ')" cond '[ -n "$(cat "$sib/cgroup.procs")" ]'
check oom_reported "a log line names hog and the OOM kill: $(grep -i 'oom' /tmp/mem.err /tmp/mem.out | head -n 1)" reported

kill -TERM $ctr
wait $ctr
rc=$?
show /tmp/mem.err
check stopped "vmctr exited $rc after SIGTERM" [ "$rc" -ne 125 ]
