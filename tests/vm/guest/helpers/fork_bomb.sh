# A fork bomb, bounded so that a missing limit fails the scenario instead of
# the guest: every copy starts two more, down to a depth of 6, i.e. up to
# 127 processes, and the last ones sleep. Under pids_max = 16 forks fail
# with EAGAIN ("can't fork", which ends the busybox shell that tried), and
# the bomb is held at the limit. Unbounded, it would take the whole guest
# down when the limit is missing, and the scenario could not report.
b() {
	if [ "$1" -ge 6 ]; then
		exec sleep 1000
	fi
	b $(($1 + 1)) &
	b $(($1 + 1)) &
	wait
	exec sleep 1000
}
b 0
