# cpu_max_throttled: a busy loop with cpu_max = "20%"
# is throttled: cpu.max reads "20000 100000" and cpu.stat counts throttled
# periods.

vmctr -cgroup cpu -- initbox run -c /etc/initbox/cpu_max_throttled.toml >/tmp/cpu.out 2>/tmp/cpu.err &
ctr=$!
c=/sys/fs/cgroup/cpu
wait_for 10 has_cgroup $c spin
spin=$(find_cgroup $c spin)
throttled() { [ "$(field "$spin/cpu.stat" nr_throttled)" -ge 3 ] 2>/dev/null; }
[ -n "$spin" ] && wait_for 15 throttled
info "spin cpu.max='$(cat "$spin/cpu.max" 2>&1)' cpu.stat: $(tr '\n' ' ' <"$spin/cpu.stat" 2>&1)"

check cpu_max_written "cpu.max: $(cat "$spin/cpu.max" 2>&1)" [ "$(cat "$spin/cpu.max" 2>&1)" = "20000 100000" ]
check cpu_weight_written "cpu.weight: $(cat "$spin/cpu.weight" 2>&1)" [ "$(cat "$spin/cpu.weight" 2>&1)" = 50 ]
check throttled "cpu.stat nr_throttled: $(field "$spin/cpu.stat" nr_throttled)" throttled
check throttled_time "cpu.stat throttled_usec: $(field "$spin/cpu.stat" throttled_usec)" \
	cond '[ "$(field "$spin/cpu.stat" throttled_usec)" -gt 0 ]'
check initbox_alive "vmctr (initbox) still running" kill -0 $ctr

kill -TERM $ctr
wait $ctr
rc=$?
show /tmp/cpu.err
check stopped "vmctr exited $rc after SIGTERM" [ "$rc" -ne 125 ]
