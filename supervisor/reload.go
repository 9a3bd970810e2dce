//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/initbox/initbox/config"
	"github.com/initbox/initbox/logging"
	"github.com/initbox/initbox/output"
)

// apply makes c the running configuration (Reload, on Run's goroutine).
func (s *Supervisor) apply(c *config.Config) error {
	if s.shuttingDown {
		return errors.New("reload: initbox is stopping")
	}
	if c.Init.Cgroups.Mode == config.CgroupRequired && s.opts.Cgroups != nil {
		// As at start: a limit the host cannot apply is refused, and
		// then nothing changes.
		var errs []error
		for _, name := range c.Order {
			if _, e := s.opts.Cgroups.Fit(limits(c.Services[name].Resources)); len(e) > 0 {
				errs = append(errs, fmt.Errorf("services.%s.resources: %w", name, errors.Join(e...)))
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("reload refused, init.cgroups.mode is required: %w", errors.Join(errs...))
		}
	}
	if old, now := s.cfg.Init, c.Init; old.LogFormat != now.LogFormat || old.LogPrefix != now.LogPrefix ||
		old.Cgroups != now.Cgroups || old.ControlSocket != now.ControlSocket || old.HTTPListen != now.HTTPListen {
		s.log.Warn("reload: changes to [init] other than shutdown_timeout and grace take effect when initbox restarts")
	}
	var added, removed, changed []string
	for _, name := range c.Order {
		nc := c.Services[name]
		v := s.svcs[name]
		switch {
		case v == nil:
			added = append(added, name)
			s.svcs[name] = &service{cfg: nc, delay: nc.Restart.Delay, logs: output.NewRing(logLines, logBytes)}
		case v.removed:
			// Dropped by an earlier reload and still stopping: back again,
			// to start once its stop is over.
			v.removed, v.held = false, false
			if v.state == stopping || v.state == killing {
				v.then = thenRestart
			}
			fallthrough
		case !reflect.DeepEqual(v.cfg, nc):
			changed = append(changed, name)
			v.cfg = nc
			v.delay = nc.Restart.Delay
		default:
			// Equal, but kept from an older Config: holding it would keep
			// that whole Config alive beside c.
			v.cfg = nc
		}
	}
	for _, name := range s.order {
		if _, ok := c.Services[name]; !ok && !s.svcs[name].removed {
			removed = append(removed, name)
		}
	}
	s.cfg = c
	// The new order, then what is gone but still stopping.
	order := slices.Clone(c.Order)
	for _, name := range s.order {
		if _, ok := c.Services[name]; !ok {
			order = append(order, name)
		}
	}
	s.order = order
	s.checkResources()
	s.log.Info("reloaded", logging.Strings("added", added), logging.Strings("removed", removed), logging.Strings("changed", changed))

	for _, name := range removed {
		v := s.svcs[name]
		v.removed = true
		switch {
		case v.state == running:
			if err := s.stopOne(name, false, "a reload"); err != nil {
				s.log.Warn("reload: cannot stop a removed service", logging.String("service", name), logging.Err(err))
			}
		case v.state == stopping || v.state == killing || v.state == unstarted:
			// Its stop (or failed start) runs to its end; then it is
			// dropped.
			v.held, v.then = true, thenStay
		case v.state == draining:
			// What its last run left is stopped to the end; then it is
			// stopped, not started again (TestReloadRemovesDraining), and
			// dropped.
			v.stopTimer()
			v.held, v.afterDrain = true, stopped
		default:
			v.stopTimer()
			v.held = true
			v.set(stopped, s.now())
		}
	}
	for _, name := range changed {
		v := s.svcs[name]
		switch v.outcome() {
		case running:
			_ = s.stopOne(name, true, "a reload")
		case stopped, finished:
			if !v.held {
				// It ran under the old definition and ended; the new one
				// may want it running.
				_ = s.startOne(name)
			}
		}
	}
	for _, name := range added {
		s.svcs[name].set(waiting, s.now())
	}
	s.schedule()
	s.checkFinished()
	return nil
}

// reload re-reads the configuration on Run's goroutine (SIGHUP).
func (s *Supervisor) reload() {
	if s.opts.Reload == nil {
		s.log.Warn("SIGHUP: no configuration file to reload")
		return
	}
	c, err := s.opts.Reload()
	if err != nil {
		s.log.Error("reload refused: the configuration has errors, nothing changed", logging.Err(err))
		return
	}
	if err := s.apply(c); err != nil {
		s.log.Error("reload failed", logging.Err(err))
	}
}

// dropRemoved forgets the services a reload removed once they have
// stopped and their cgroups are empty.
func (s *Supervisor) dropRemoved() {
	for _, name := range slices.Clone(s.order) {
		v := s.svcs[name]
		if !v.removed || v.state.live() || v.state == unstarted || v.state == draining || len(v.execs) > 0 {
			continue
		}
		v.stopChecks()
		if v.notify != nil {
			v.notify.Close()
		}
		delete(s.svcs, name)
		s.order = slices.DeleteFunc(s.order, func(n string) bool { return n == name })
		s.log.Info("removed", logging.String("service", name))
	}
}
