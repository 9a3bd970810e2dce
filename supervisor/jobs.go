//go:build linux

package supervisor

import (
	"time"

	"github.com/initbox/initbox/logging"
)

// Jobs (issue #18): a oneshot with a schedule is not started with the
// others but at each time its schedule gives, or by `initbox ctl start`.
// Between runs it is scheduled; its timer runs whatever its state (but
// stopped), so that a time that comes while the last run still runs is
// seen and skipped, as cron's users expect of a job that overruns.

// location is where the schedules' days and hours are: [init] timezone,
// else $TZ (Go's time.Local follows it), else the machine's local time.
func (s *Supervisor) location() *time.Location {
	if tz := s.cfg.Init.Timezone; tz != nil {
		return tz
	}
	return time.Local
}

// toSchedule puts a job that is not running in scheduled, its timer armed
// for its next time, and records how its last run went.
func (s *Supervisor) toSchedule(name string, v *service) {
	if v.exit != nil && v.startedAt.After(v.lastRunAt) {
		v.lastRunAt, v.lastRunFor = v.startedAt, v.exit.Time.Sub(v.startedAt)
	}
	v.runNow = false
	v.set(scheduled, s.now())
	if v.jobTimer == nil {
		s.armJob(name, v)
	}
}

// armJob sets the job's timer for its next time after now.
func (s *Supervisor) armJob(name string, v *service) {
	v.stopJobTimer()
	now := s.now().In(s.location())
	next := v.cfg.Schedule.Next(now)
	v.nextRun = next
	if next.IsZero() {
		s.log.Warn("the job's schedule has no time in the next five years: it will not run unless started", logging.String("service", name), logging.String("schedule", v.cfg.Schedule.String()))
		return
	}
	v.jobTick++
	v.jobTimer = s.after(next.Sub(now), event{name: name, kind: evJobTime, tick: v.jobTick})
	s.log.Debug("next run", logging.String("service", name), logging.String("at", next.Format(time.RFC3339)))
}

// jobTime is a job's time: it runs now if it is waiting for its time;
// if its last run is still going, this time is skipped.
func (s *Supervisor) jobTime(name string, v *service) {
	v.jobTimer = nil
	switch v.state {
	case stopped:
		return // ctl stop: the schedule is off until ctl start
	case scheduled:
		if s.shuttingDown || v.removed {
			return // not so: the shutdown and a removal stop it
		}
		s.log.Info("job's time: starting", logging.String("service", name), logging.String("schedule", v.cfg.Schedule.String()))
		// Each run is a new start: its times do not count against the
		// start limit, which is for restarts within a run.
		v.runNow, v.failed, v.reason = true, false, ""
		v.window, v.delay = nil, v.cfg.Restart.Delay
		v.set(waiting, s.now())
		s.schedule()
	case draining:
		if v.afterDrain == stopped {
			return // ctl stop, while what its run left is stopped
		}
		// Its last run's leftovers are still being stopped: as below.
		fallthrough
	default:
		// Its last run still goes (waiting, running, unstarted, backoff,
		// stopping, killing), or it is finished and about to be
		// scheduled again.
		if s.shuttingDown || v.removed {
			return
		}
		s.log.Warn("job's time: skipped, its last run is still going", logging.String("service", name), logging.String("state", v.state.String()), logging.Int("pid", v.pid))
	}
	s.armJob(name, v)
}

func (v *service) stopJobTimer() {
	if v.jobTimer != nil {
		v.jobTimer.Stop()
		v.jobTimer = nil
	}
}
