# pid1_reaps_and_passes_status: initbox in tini mode as PID 1 of a new PID,
# mount and cgroup namespace (vmctr, as in a container). The program leaves
# orphans behind and exits 3. initbox must reap every orphan and exit 3.
# Runs today (issue #2, tini mode).

cat >/tmp/pid1.inner <<'INNER'
# Runs as initbox's child inside the namespace.
out=/tmp/pid1.out
echo "pid1_comm=$(cat /proc/1/comm)" >$out
echo "self_cgroup=$(cat /proc/self/cgroup)" >>$out
# Orphans: each sh starts a background sleep and exits at once, so the
# sleep is reparented to PID 1 and, when it exits, only PID 1 can reap it.
for i in 1 2 3 4 5 6 7 8; do sh -c 'sleep 0.3 &'; done
# One orphan two levels down, whose new parent is recorded while it runs.
sh -c '(sleep 2 & echo $! >/tmp/pid1.orphan)'
sleep 0.2
read -r _pid _comm _state ppid _rest </proc/$(cat /tmp/pid1.orphan)/stat
echo "orphan_ppid=$ppid" >>$out
kill $(cat /tmp/pid1.orphan)
# Wait for the short orphans to exit and to be reaped; a zombie caught in
# the instant between its exit and PID 1's wait4 is given 1 s to go.
sleep 0.6
z=$(zombies); n=0
while [ -n "$z" ] && [ $n -lt 10 ]; do sleep 0.1; z=$(zombies); n=$((n + 1)); done
echo "zombies=$z" >>$out
exit 3
INNER

# -w: initbox logs "Reaped zombie process with pid=N" for each orphan.
vmctr -cgroup pid1 -- initbox -w -- sh -c '. /scenarios/lib.sh; . /tmp/pid1.inner' 2>/tmp/pid1.err
rc=$?
show /tmp/pid1.out /tmp/pid1.err

val() { sed -n "s/^$1=//p" /tmp/pid1.out; }
reaped=$(grep -c 'Reaped zombie process' /tmp/pid1.err)
info "initbox_exit=$rc reaped_logged=$reaped $(tr '\n' ' ' </tmp/pid1.out)"

check exit_status "initbox exited $rc, the program 3" [ "$rc" -eq 3 ]
check initbox_is_pid1 "comm of PID 1 in the namespace: $(val pid1_comm)" [ "$(val pid1_comm)" = initbox ]
check cgroup_namespace "/proc/self/cgroup inside: $(val self_cgroup)" [ "$(val self_cgroup)" = "0::/" ]
check orphan_reparented "parent of the orphan: $(val orphan_ppid)" [ "$(val orphan_ppid)" = 1 ]
check no_zombies "zombies left after 1.6 s: '$(val zombies)'" [ -z "$(val zombies)" ]
check reaped_logged "initbox -w logged $reaped reaped orphans (9 made)" [ "$reaped" -ge 9 ]
check container_empty "$(tr '\n' ' ' </sys/fs/cgroup/pid1/cgroup.events)" \
	[ "$(field /sys/fs/cgroup/pid1/cgroup.events populated)" = 0 ]
