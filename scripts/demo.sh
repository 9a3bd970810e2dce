#!/bin/sh
# make demo: run a workload that leaves orphans as PID 1 of a new PID
# namespace, first with a PID 1 that does not reap, then under initbox spawn,
# and show what the kernel shows: zombies piling up without an init, none
# with initbox, and the exit status passed on. Then the supervisor (the same
# binary) runs a small multi-service example the same way.
set -u
BIN=${1:-bin/initbox}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac

# unshare --pid needs CAP_SYS_ADMIN; without root, a user namespace gives it.
if [ "$(id -u)" -eq 0 ]; then NS="unshare --pid --fork --mount-proc"
else NS="unshare --user --map-root-user --pid --fork --mount-proc"; fi

WORKLOAD='
ps_ns() {
	for f in /proc/[0-9]*/stat; do
		read -r pid comm state ppid rest < "$f" 2>/dev/null &&
			printf "    pid %-3s ppid %-3s state %s  %s\n" "$pid" "$ppid" "$state" "$comm"
	done | sort -n -k2
}
echo "  PID 1 is $(cat /proc/1/comm); making 5 orphans (sh -c \"sleep 0.3 &\")"
for i in 1 2 3 4 5; do sh -c "sleep 0.3 &"; done
echo "  while they run, their parent is PID 1:"; ps_ns
sleep 1
echo "  after they exited (Z = zombie nobody reaped):"; ps_ns
echo "  zombies: $(grep -l "^State:.Z" /proc/[0-9]*/status 2>/dev/null | wc -l); exiting with status 3"
exit 3
'

echo "== without an init: PID 1 is coreutils timeout, which waits for its own child only"
$NS timeout 60 sh -c "$WORKLOAD"
echo "== exited with status $?"
echo
echo "== with initbox as PID 1 of fresh namespaces: $BIN spawn -- sh -c WORKLOAD"
echo "   (initbox spawn makes the PID and mount namespaces itself; without root it maps you to root in a user namespace)"
"$BIN" spawn -- sh -c "$WORKLOAD"
echo "== initbox exited with status $? (the program's)"

# Part two: the supervisor, in the same binary.
echo
echo "== the supervisor as PID 1 of fresh namespaces: examples/web-and-worker.toml, and a main program that exits 3 after 5 s"
echo "   $BIN spawn --cgroup -c examples/web-and-worker.toml -- sh -c '...; exit 3'"
echo "   (--cgroup: the tree gets a cgroup of its own and each service a cgroup under it, where cgroup v2 is writable;"
echo "    otherwise initbox says in one line what it cannot have and uses process groups)"
DEMO_DIR=$(mktemp -d)
export DEMO_DIR
start=$(date +%s%N)
{
	"$BIN" spawn --cgroup -c examples/web-and-worker.toml -- \
		sh -c 'echo "main: doing the work"; sleep 5; echo "main: done, exit 3"; exit 3'
	echo $? > "$DEMO_DIR/status"
} 2>&1 | sed -E 's/^[0-9T:.-]+Z\t//'
end=$(date +%s%N)
status=$(cat "$DEMO_DIR/status")
rm -rf "$DEMO_DIR"
echo "== initbox exited with status $status (the main program's); whole run $(( (end-start)/1000000 )) ms"
echo "   services started in dependency order (setup, db, then web and worker); the worker crashed and was"
echo "   restarted after 500 ms, then 1 s (\"exited: restarting\" lines); when main exited, everything stopped in reverse order"
