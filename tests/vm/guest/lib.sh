# lib.sh: helpers for the guest's scenario scripts (busybox sh). Sourced by
# /init and by the shell that runs each scenario. A scenario is a plain
# script of `check` calls; it passes when it exits 0 and every check is ok.
#
# Report lines go to fd 3 (the second serial port, report.txt on the host),
# to $REPORT_LOG (for /init's verdict) and to the console:
#   check NAME ok|FAIL DETAIL   one assertion; the Go test names the checks it expects
#   info KEY=VALUE ...          what the kernel showed, for the test's log

REPORT_LOG=/tmp/report.log

report() {
	echo "$*" >&3
	echo "$*" >>"$REPORT_LOG"
	echo "report: $*" >/dev/console
}

info() {
	report "info $*"
}

# check NAME DETAIL COMMAND [ARGS]: runs COMMAND; the check is ok when it
# succeeds. DETAIL says what was seen, so a failure explains itself.
check() {
	_name=$1 _detail=$2
	shift 2
	if "$@"; then
		report "check $_name ok $_detail"
	else
		report "check $_name FAIL $_detail"
	fi
}

# cond 'SHELL CONDITION': a compound condition as one command for check,
# e.g. check x "..." cond '[ -n "$a" ] && [ "$a" != "$b" ]'. Errors of the
# test itself (a non-number compared with -le) count as false.
cond() {
	eval "$1" 2>/dev/null
}

# has_words "LIST" WORD...: every WORD is a word of LIST.
has_words() {
	_list=" $(echo $1) "
	shift
	for _w in "$@"; do
		case $_list in *" $_w "*) ;; *) return 1 ;; esac
	done
}

# wait_for SECONDS COMMAND [ARGS]: retries COMMAND every 0.1 s until it
# succeeds (0) or SECONDS pass (1).
wait_for() {
	_n=$(($1 * 10))
	shift
	while ! "$@"; do
		_n=$((_n - 1))
		[ "$_n" -le 0 ] && return 1
		sleep 0.1
	done
}

# field FILE KEY: the value of "KEY VALUE" in a flat-keyed cgroup file such
# as memory.events or cpu.stat (empty if absent).
field() {
	while read -r _k _v; do
		[ "$_k" = "$2" ] && { echo "$_v"; return; }
	done <"$1"
}

# find_cgroup ROOT NAME: the path of the first cgroup directory called NAME
# under ROOT (the layout under a container's cgroup is initbox's choice).
find_cgroup() {
	find "$1" -mindepth 1 -type d -name "$2" 2>/dev/null | head -n 1
}

# has_cgroup ROOT NAME: a cgroup called NAME exists under ROOT (for wait_for,
# which runs its command again on each try: a "$(...)" argument would be
# expanded only once).
has_cgroup() {
	[ -n "$(find_cgroup "$1" "$2")" ]
}

# zombies: the pids of every process in state Z that this /proc shows.
zombies() {
	_z=
	for _f in /proc/[0-9]*/stat; do
		read -r _pid _comm _state _rest <"$_f" 2>/dev/null || continue
		[ "$_state" = Z ] && _z="$_z $_pid"
	done
	echo $_z
}

# alive PID: the process exists in this /proc and is not a zombie.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	read -r _pid _comm _state _rest <"/proc/$1/stat" 2>/dev/null || return 1
	[ "$_state" != Z ]
}

# show FILE...: copy files to the console, for the failure log.
show() {
	for _f in "$@"; do
		echo "----- $_f"
		cat "$_f" 2>&1
	done >/dev/console
}
