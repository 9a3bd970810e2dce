# readonly_cgroupfs_degrade: in a container whose
# cgroup2 is mounted read-only (Docker's default), initbox logs one line
# saying cgroup limits are unavailable and why, runs the service anyway and
# passes its status on; with [init.cgroups] mode = "required" it refuses to
# start instead.

rm -f /tmp/degrade.ran /tmp/required.ran
vmctr -cgroup rod -cgroupfs ro -- initbox run -c /etc/initbox/readonly_cgroupfs_degrade.toml >/tmp/degrade.out 2>/tmp/degrade.err
rc=$?
show /tmp/degrade.out /tmp/degrade.err
lines=$(grep -ci 'read-only' /tmp/degrade.err)
check auto_status "initbox exited $rc, the service 7" [ "$rc" -eq 7 ]
check auto_service_ran "$(cat /tmp/degrade.ran 2>&1)" [ -f /tmp/degrade.ran ]
check auto_one_line "$lines stderr lines mention read-only: $(grep -i 'read-only' /tmp/degrade.err | head -n 1)" [ "$lines" -eq 1 ]

vmctr -cgroup roreq -cgroupfs ro -- initbox run -c /etc/initbox/readonly_cgroupfs_required.toml >/tmp/required.out 2>/tmp/required.err
rc=$?
show /tmp/required.out /tmp/required.err
check required_refuses "initbox exited $rc" cond '[ "$rc" -ne 0 ] && [ "$rc" -ne 125 ]'
check required_nothing_ran "service ran: $(cat /tmp/required.ran 2>&1)" [ ! -f /tmp/required.ran ]
check required_says_why "$(grep -i 'read-only' /tmp/required.err | head -n 1)" grep -qi 'read-only' /tmp/required.err
