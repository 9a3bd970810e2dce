# Stopped after the daemon service (daemon depends on it). When initbox
# asks it to stop, the daemon service has been stopped completely, so the
# daemon it double-forked must be gone; the answer goes to /tmp for the
# scenario, which reads it after the container has exited.
verdict() {
	d=$(cat /tmp/daemon.pid 2>/dev/null)
	state=gone
	if [ -z "$d" ]; then
		state="unknown(no /tmp/daemon.pid)"
	elif [ -r /proc/$d/stat ]; then
		read -r _p _c s _r </proc/$d/stat
		[ "$s" != Z ] && state="alive($s)"
	fi
	echo "daemon_at_watcher_stop=$state pid=$d" >/tmp/watcher.verdict
	exit 0
}
trap verdict TERM
while :; do sleep 0.1; done
