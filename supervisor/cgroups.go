//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/cgroup"
	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/signals"
)

// limits converts a service's resources to its leaf's limits.
func limits(r config.Resources) cgroup.Limits {
	return cgroup.Limits{
		MemoryMax:     int64(r.MemoryMax),
		MemoryHigh:    int64(r.MemoryHigh),
		MemorySwapMax: int64(r.MemorySwapMax),
		CPUMax:        r.CPUMax,
		CPUWeight:     r.CPUWeight,
		PidsMax:       r.PidsMax,
		IOWeight:      r.IOWeight,
		OOMGroup:      r.OOMGroup,
	}
}

// checkResources says, before anything starts, which limits will not be
// applied: without cgroups, none; with a hybrid host's or a parent's
// missing controllers, some. Each is a warning, or with
// [init.cgroups] mode = "required" an error, and then nothing may start.
func (s *Supervisor) checkResources() bool {
	required := s.cfg.Init.Cgroups.Mode == config.CgroupRequired
	ok := true
	for _, name := range s.order {
		v := s.svcs[name]
		l := limits(v.cfg.Resources)
		var errs []error
		if s.opts.Cgroups == nil {
			if v.cfg.Resources.Any() && s.cfg.Init.Cgroups.Mode != config.CgroupOff {
				errs = append(errs, errors.New("no cgroups"))
			}
		} else {
			l, errs = s.opts.Cgroups.Fit(l)
		}
		v.limits = l
		for _, err := range errs {
			if required {
				s.log.Error("limit cannot be applied and init.cgroups.mode is required: not starting", logging.String("service", name), logging.Err(err))
				ok = false
			} else {
				s.log.Warn("limit not applied", logging.String("service", name), logging.Err(err))
			}
		}
	}
	return ok
}

// prepareCgroup makes the service's leaf, with its limits, for the
// service's Cmd to start inside (see command). Without cgroups, or when
// the leaf cannot be made and cgroups are not required, v.cg stays nil.
func (s *Supervisor) prepareCgroup(v *service) error {
	t := s.opts.Cgroups
	if t == nil || s.cfg.Init.Cgroups.Mode == config.CgroupOff {
		return nil
	}
	g, err := t.Create(v.cfg.Name, v.limits)
	if err != nil {
		if s.cfg.Init.Cgroups.Mode == config.CgroupRequired {
			return fmt.Errorf("cgroup: %w", err)
		}
		s.log.Warn("cannot make the service's cgroup: starting it without", logging.String("service", v.cfg.Name), logging.Err(err))
		return nil
	}
	v.cg = g
	v.oomSeen, v.oomKilled = g.OOMKills(), false
	return nil
}

// cgroupEvents handles changes the cgroup watcher saw: OOM kills, and
// leaves that emptied.
func (s *Supervisor) cgroupEvents() {
	for _, name := range s.opts.Cgroups.Changed() {
		if v := s.svcs[name]; v != nil && v.cg != nil {
			s.checkOOM(name, v)
			s.checkDrained(name, v)
		}
	}
	s.schedule()
	s.checkFinished()
}

// checkOOM logs each new OOM kill in the service's leaf, once.
func (s *Supervisor) checkOOM(name string, v *service) {
	n := v.cg.OOMKills()
	if n <= v.oomSeen {
		return
	}
	v.oomKilled = true
	v.reason = "killed by the OOM killer at memory_max=" + v.cfg.Resources.MemoryMax.String()
	s.log.Error(name+" "+v.reason,
		logging.String("service", name), logging.Int("oom_kills", n-v.oomSeen))
	v.oomSeen = n
}

// checkDrained removes the leaf of a service whose process has exited
// once nothing is left in it; until then the service counts as still
// stopping, for its restart and for the ordered stop.
func (s *Supervisor) checkDrained(name string, v *service) {
	if v.pid != 0 || v.cg == nil {
		return
	}
	if pop, err := v.cg.Populated(); err == nil && pop {
		return
	}
	s.dropLeaf(name, v)
}

// dropLeaf removes the empty leaf of a service whose process has exited.
func (s *Supervisor) dropLeaf(name string, v *service) {
	if err := v.cg.Remove(); err != nil {
		s.log.Warn("cannot remove the service's cgroup", logging.String("service", name), logging.Err(err))
	}
	v.cg = nil
	switch v.state {
	case draining:
		s.log.Debug("cgroup empty", logging.String("service", name))
		s.drained(v)
	default:
		// Its leaf was empty at its exit, or it was not drained (stop
		// mode process).
	}
}

// drain ends, after its process exited, the rest of a service whose stop
// mode is "cgroup": its stop signal to everything left in its leaf now,
// cgroup.kill after its stop timeout. The leaf is removed once empty. It
// reports whether anything was left.
func (s *Supervisor) drain(name string, v *service) bool {
	if pop, err := v.cg.Populated(); err != nil || !pop {
		s.dropLeaf(name, v)
		return false
	}
	if v.cfg.Stop.Mode == config.StopMixed {
		// Its main process is gone, and with it whoever would have
		// stopped the workers in order: as systemd's KillMode=mixed.
		s.log.Info("killing the processes the service's main process left in its cgroup (stop.mode mixed)", logging.String("service", name))
		if err := v.cg.Kill(); err != nil {
			s.log.Warn("cannot kill the service's cgroup", logging.String("service", name), logging.Err(err))
		}
	} else if v.state != stopping && v.state != killing {
		// A stop has signalled them already (killing: cgroup.kill); once
		// is enough for a process busy cleaning up.
		n, _ := v.cg.Signal(v.cfg.Stop.Signal)
		_, _ = v.cg.Signal(unix.SIGCONT)
		s.log.Info("stopping processes the service left in its cgroup", logging.String("service", name), logging.Int("processes", n), logging.String("signal", signals.Name(v.cfg.Stop.Signal)))
	}
	g := v.cg
	timeout := v.cfg.Stop.Timeout
	if s.shuttingDown {
		timeout = min(timeout, max(time.Until(s.deadlineAt), 0))
	}
	s.after(timeout, event{name: name, kind: evLeftoverKill, cg: g})
	return true
}

// killDrain sends cgroup.kill to a leaf still draining after its stop
// timeout.
func (s *Supervisor) killDrain(name string, g *cgroup.Group) {
	v := s.svcs[name]
	if v == nil || v.cg != g {
		return // drained, and maybe started again in a new leaf
	}
	switch v.state {
	case draining:
	default:
		// The shutdown gave up on it (abandonDrains).
		return
	}
	s.log.Warn("processes left in the service's cgroup ignored the stop signal: killing the cgroup", logging.String("service", name))
	if err := g.Kill(); err != nil {
		s.log.Warn("cannot kill the service's cgroup", logging.String("service", name), logging.Err(err))
	}
}

// drainGiveUp is how long after the SIGKILL of the shutdown deadline the
// stop still waits for cgroups to empty. A process stuck in the kernel
// (uninterruptible sleep on a dead NFS server) does not die even then, and
// PID 1 must not hang on it: past this, initbox exits and the container's
// end takes what is left.
const drainGiveUp = 2 * time.Second

// abandonDrains stops waiting for the cgroups that did not empty after the
// shutdown deadline's SIGKILL.
func (s *Supervisor) abandonDrains() {
	for _, name := range s.order {
		v := s.svcs[name]
		switch {
		case v.state == draining && v.cg != nil:
			pids, _ := v.cg.Pids()
			s.log.Error("processes in the service's cgroup survived SIGKILL: not waiting for them", logging.String("service", name), logging.Int("processes", len(pids)))
			s.drained(v)
		case v.state == draining:
			s.log.Error("processes in the service's process group survived SIGKILL: not waiting for them", logging.String("service", name), logging.Int("pgid", v.pgid))
			v.pgid = 0
			s.drained(v)
		case v.state == stopping, v.state == killing:
			s.log.Error("the service's process survived SIGKILL: not waiting for it", logging.String("service", name), logging.Int("pid", v.pid))
			v.set(stopped, s.now())
		}
	}
}
