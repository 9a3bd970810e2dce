//go:build linux

package supervisor

// The states of a service and the moves between them: the table below is
// docs/states.md's diagram, which TestStateDiagram checks against it, and
// every move the supervisor makes in the unit tests is checked against the
// table (transitionSeen).

var stateNames = [...]string{
	waiting:   "waiting",
	running:   "running",
	backoff:   "backoff",
	stopping:  "stopping",
	stopped:   "stopped",
	finished:  "finished",
	unstarted: "unstarted",
	scheduled: "scheduled",
	killing:   "killing",
	draining:  "draining",
}

func (st state) String() string {
	if int(st) < len(stateNames) {
		return stateNames[st]
	}
	return "state(?)"
}

// transitions lists every move service.set may make. An array, not a map:
// the linker lays it out, and tini mode runs no init work of this package
// (issue #13).
var transitions = [...][]state{
	// Its dependencies hold and it is forked; or its fork failed; or a
	// dependency failed for good, or its start limit is hit; or it is
	// disabled, stopped by request, by the shutdown, or removed.
	waiting: {running, unstarted, finished, stopped, scheduled},
	// Its fork or exec failed: that failure comes through the loop as an
	// exit, and its restart policy applies (or the shutdown).
	unstarted: {backoff, finished, stopped},
	// Stopped by request, the shutdown, a failed ready check or health
	// action; or it exited on its own: restarted after a delay, finished,
	// or stopped when initbox is stopping; or killed at once (a second
	// SIGTERM, the shutdown deadline).
	running: {stopping, backoff, finished, stopped, killing, draining},
	// Its process exited: stopped as asked, started again (ctl restart),
	// or, a failed run, through its restart policy; or its stop timeout
	// passed, or killAll, and it got SIGKILL. Or it exited and left
	// processes in its cgroup (its process group), which are stopped
	// first.
	stopping: {stopped, waiting, backoff, finished, killing, draining},
	// Its process exited (or survived SIGKILL past the shutdown
	// deadline): as from stopping, what then says.
	killing: {stopped, waiting, backoff, finished, draining},
	// Nothing of it is left (or the shutdown gave up on what survived
	// SIGKILL): where its exit led.
	draining: {stopped, waiting, backoff, finished},
	// Its restart delay passed; or it is stopped meanwhile.
	backoff: {waiting, stopped},
	// Started by request or by a reload.
	stopped: {waiting},
	// Started by request or by a reload; or a reload removed it; or a
	// job's run ended: it waits for its next time.
	finished: {waiting, stopped, scheduled},
	// A job's time came, or ctl start; or ctl stop, the shutdown, or a
	// reload removed it.
	scheduled: {waiting, stopped},
}

// transitionSeen, if not nil, is told every move (tests check them).
var transitionSeen func(from, to state)
