# readonly_cgroupfs: the test bed for initbox's read-only degrade path.
# Docker mounts cgroup2 read-only in unprivileged containers; vmctr -cgroupfs ro
# does the same in a new mount namespace. There mkdir and writes to
# cgroup.subtree_control must fail with EROFS, while the guest's own cgroup2
# mount stays writable. It checks the kernel and vmctr, not initbox (that is
# readonly_cgroupfs_degrade).

cat >/tmp/ro.inner <<'INNER'
grep ' /sys/fs/cgroup ' /proc/mounts >/tmp/ro.mount
mkdir /sys/fs/cgroup/init 2>/tmp/ro.mkdir.err
echo $? >/tmp/ro.mkdir.rc
(echo +memory >/sys/fs/cgroup/cgroup.subtree_control) 2>/tmp/ro.subtree.err
echo $? >/tmp/ro.subtree.rc
cat /proc/self/cgroup >/tmp/ro.cgroup
INNER

vmctr -cgroup ro -cgroupfs ro -- sh /tmp/ro.inner
rc=$?
show /tmp/ro.mount /tmp/ro.mkdir.err /tmp/ro.subtree.err /tmp/ro.cgroup
mnt=$(cat /tmp/ro.mount)
opts=$(echo "$mnt" | cut -d' ' -f4)
info "inner_mount='$mnt'"

check vmctr_status "vmctr exited $rc" [ "$rc" -eq 0 ]
check mounted_ro "options inside: $opts" [ "${opts%%,*}" = ro ]
check cgroup_namespace "/proc/self/cgroup inside: $(cat /tmp/ro.cgroup)" [ "$(cat /tmp/ro.cgroup)" = "0::/" ]
check mkdir_erofs "mkdir rc=$(cat /tmp/ro.mkdir.rc): $(cat /tmp/ro.mkdir.err)" \
	grep -q 'Read-only file system' /tmp/ro.mkdir.err
check subtree_control_erofs "write rc=$(cat /tmp/ro.subtree.rc): $(cat /tmp/ro.subtree.err)" \
	grep -q 'Read-only file system' /tmp/ro.subtree.err
# Only the container's mount is read-only, not the cgroup2 superblock.
w=ok
mkdir /sys/fs/cgroup/rw-probe && rmdir /sys/fs/cgroup/rw-probe || w=failed
check guest_still_writable "mkdir+rmdir in the guest's own cgroup2 mount: $w" [ $w = ok ]
