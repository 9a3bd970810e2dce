//go:build linux

package vm

import (
	"io/fs"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
)

// One test per scenario, so that a failure names it. Each boots the guest
// once with initbox.scenario=NAME; guest/scenarios/NAME.sh is the scenario
// and the listed checks are the ones it must report ok.

// ---------------------------------------------------------------------------
// Scenarios that run today (tini mode, issue #2).

// TestPID1ReapsAndPassesStatus: guest/scenarios/pid1_reaps_and_passes_status.sh.
// initbox -w -- sh as PID 1 of a container (new PID, mount and cgroup
// namespaces); the program leaves nine orphans and exits 3.
func TestPID1ReapsAndPassesStatus(t *testing.T) {
	runScenario(t, "pid1_reaps_and_passes_status",
		"exit_status", "initbox_is_pid1", "cgroup_namespace", "orphan_reparented",
		"no_zombies", "reaped_logged", "container_empty")
}

// TestCgroup2ControllersAvailable: guest/scenarios/cgroup2_controllers_available.sh.
// The kernel under test offers cgroup v2 with memory, pids and cpu, which
// the cgroup scenarios rely on, in the guest's root and inside a container
// (vmctr), where enabling them needs PID 1 out of the root first (EBUSY).
func TestCgroup2ControllersAvailable(t *testing.T) {
	runScenario(t, "cgroup2_controllers_available",
		"cgroup2_mounted", "controllers", "child_controllers", "limit_files", "limits_written", "probe_removed",
		"container_controllers", "container_ebusy", "container_leaf")
}

// TestReadonlyCgroupfs: guest/scenarios/readonly_cgroupfs.sh. cgroup2
// mounted read-only in a container's mount namespace (Docker's default)
// refuses mkdir and cgroup.subtree_control with EROFS; the guest's own
// mount stays writable. The test bed for initbox's degrade path.
func TestReadonlyCgroupfs(t *testing.T) {
	runScenario(t, "readonly_cgroupfs",
		"vmctr_status", "mounted_ro", "cgroup_namespace", "mkdir_erofs", "subtree_control_erofs", "guest_still_writable")
}

// ---------------------------------------------------------------------------
// The cgroup scenarios (issue #5): each config is checked on the host
// first (checkConfigs), then run under the supervisor in the guest.

// TestMemoryMaxOOM: guest/scenarios/memory_max_oom.sh.
func TestMemoryMaxOOM(t *testing.T) {
	checkConfigs(t, "memory_max_oom.toml")
	runScenario(t, "memory_max_oom",
		"hog_own_cgroup", "memory_max_written", "oom_kill_counted", "sibling_limits", "hog_oom_group", "oom_not_elsewhere",
		"initbox_alive", "sibling_alive", "oom_reported", "stopped")
}

// TestPidsMaxForkBomb: guest/scenarios/pids_max_fork_bomb.sh.
func TestPidsMaxForkBomb(t *testing.T) {
	checkConfigs(t, "pids_max_fork_bomb.toml")
	runScenario(t, "pids_max_fork_bomb",
		"pids_max_written", "fork_refused", "bomb_held", "initbox_alive", "sibling_alive", "stopped", "container_empty")
}

// TestCPUMaxThrottled: guest/scenarios/cpu_max_throttled.sh.
func TestCPUMaxThrottled(t *testing.T) {
	checkConfigs(t, "cpu_max_throttled.toml")
	runScenario(t, "cpu_max_throttled",
		"cpu_max_written", "cpu_weight_written", "throttled", "throttled_time", "initbox_alive", "stopped")
}

// TestDaemonKilledOnStop: guest/scenarios/daemon_killed_on_stop.sh.
func TestDaemonKilledOnStop(t *testing.T) {
	checkConfigs(t, "daemon_killed_on_stop.toml")
	runScenario(t, "daemon_killed_on_stop", "daemon_escaped_group", "stopped", "daemon_killed")
}

// TestCgroupTreeEmpty: guest/scenarios/cgroup_tree_empty.sh.
func TestCgroupTreeEmpty(t *testing.T) {
	checkConfigs(t, "cgroup_tree_empty.toml")
	runScenario(t, "cgroup_tree_empty",
		"running_single", "running_forks", "running_daemon", "stopped", "no_process_left",
		"removed_single", "removed_forks", "removed_daemon")
}

// TestReadonlyCgroupfsDegrade: guest/scenarios/readonly_cgroupfs_degrade.sh.
func TestReadonlyCgroupfsDegrade(t *testing.T) {
	checkConfigs(t, "readonly_cgroupfs_degrade.toml", "readonly_cgroupfs_required.toml")
	runScenario(t, "readonly_cgroupfs_degrade",
		"auto_status", "auto_service_ran", "auto_one_line",
		"required_refuses", "required_nothing_ran", "required_says_why")
}

// TestSpawnCgroupLimits: guest/scenarios/spawn_cgroup_limits.sh (issue #6).
// `initbox spawn --cgroup --memory --pids`: the tree's own cgroup with its
// limits, the cgroup namespace rooted there, a fork bomb held, the cgroup
// removed after; a supervisor inside gives its services leaves under it.
func TestSpawnCgroupLimits(t *testing.T) {
	checkConfigs(t, "spawn_services.toml")
	runScenario(t, "spawn_cgroup_limits",
		"tree_cgroup", "memory_max", "pids_max", "namespace_root", "private_mount", "bomb_held", "tree_removed",
		"service_inside", "service_limit", "init_leaf", "supervisor_removed")
}

// ---------------------------------------------------------------------------
// Checks of the guest files themselves, without a VM.

// scenarioTests lists every scenario script's test; TestGuestFiles fails on
// a script without one (it would never run).
var scenarioTests = map[string]string{
	"pid1_reaps_and_passes_status":  "TestPID1ReapsAndPassesStatus",
	"cgroup2_controllers_available": "TestCgroup2ControllersAvailable",
	"readonly_cgroupfs":             "TestReadonlyCgroupfs",
	"memory_max_oom":                "TestMemoryMaxOOM",
	"pids_max_fork_bomb":            "TestPidsMaxForkBomb",
	"cpu_max_throttled":             "TestCPUMaxThrottled",
	"daemon_killed_on_stop":         "TestDaemonKilledOnStop",
	"cgroup_tree_empty":             "TestCgroupTreeEmpty",
	"readonly_cgroupfs_degrade":     "TestReadonlyCgroupfsDegrade",
	"spawn_cgroup_limits":           "TestSpawnCgroupLimits",
}

// TestGuestFiles: every scenario has a test, every file a scenario refers
// to (/etc/initbox/X.toml, /helpers/X.sh) is in the guest, and every guest
// script parses with busybox sh, so that a broken script fails here, on
// the host, rather than as a guest that says nothing.
func TestGuestFiles(t *testing.T) {
	scripts, err := fs.Glob(guestFiles, "guest/scenarios/*.sh")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	ref := regexp.MustCompile(`/(etc/initbox/[\w.-]+\.toml|helpers/[\w.-]+\.sh)`)
	for _, s := range scripts {
		name := strings.TrimSuffix(path.Base(s), ".sh")
		seen[name] = true
		if scenarioTests[name] == "" {
			t.Errorf("%s has no test in scenarioTests", s)
		}
		data, _ := guestFiles.ReadFile(s)
		for _, m := range ref.FindAllStringSubmatch(string(data), -1) {
			file := strings.Replace(m[1], "etc/initbox/", "guest/configs/", 1)
			file = strings.Replace(file, "helpers/", "guest/helpers/", 1)
			if _, err := fs.Stat(guestFiles, file); err != nil {
				t.Errorf("%s refers to /%s, which is not in tests/vm/%s", s, m[1], file)
			}
		}
	}
	for name := range scenarioTests {
		if !seen[name] {
			t.Errorf("scenarioTests lists %s, which has no guest/scenarios/%s.sh", name, name)
		}
	}

	sh, err := exec.LookPath("busybox")
	if err != nil {
		unmet(t, "busybox is not installed (apt-get install busybox-static): the guest scripts were not parsed")
	}
	all := append([]string{"guest/init", "guest/lib.sh"}, scripts...)
	helpers, _ := fs.Glob(guestFiles, "guest/helpers/*.sh")
	for _, s := range append(all, helpers...) {
		data, _ := guestFiles.ReadFile(s)
		cmd := exec.Command(sh, "sh", "-n")
		cmd.Stdin = strings.NewReader(string(data))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("busybox sh -n %s: %v\n%s", s, err, out)
		}
	}
}
