//go:build linux

package supervisor

import (
	"testing"
	"time"

	"github.com/initbox/initbox/config"
)

func TestBackoffDelays(t *testing.T) {
	ms := time.Millisecond
	r := config.NewService("x").Restart
	r.Delay, r.Multiplier, r.MaxDelay, r.ResetAfter = 100*ms, 2, 1000*ms, 10*time.Second

	// Short runs: 100, 200, 400, 800, then capped at 1000.
	cur := r.Delay
	var got []time.Duration
	for range 6 {
		var d time.Duration
		d, cur = backoffDelays(&r, cur, ms)
		got = append(got, d)
	}
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms, 1000 * ms}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}

	// A run of reset_after starts again from delay.
	if d, next := backoffDelays(&r, cur, r.ResetAfter); d != r.Delay || next != 200*ms {
		t.Fatalf("after a run of reset_after: delay %v next %v, want %v and %v", d, next, r.Delay, 200*ms)
	}
	if d, _ := backoffDelays(&r, cur, r.ResetAfter-ms); d != r.MaxDelay {
		t.Fatalf("after a run just short of reset_after: delay %v, want %v", d, r.MaxDelay)
	}

	// multiplier 1 keeps the delay; reset_after 0 resets after every run.
	r1 := r
	r1.Multiplier = 1
	if d, next := backoffDelays(&r1, r1.Delay, ms); d != r1.Delay || next != r1.Delay {
		t.Fatalf("multiplier 1: delay %v next %v, want %v twice", d, next, r1.Delay)
	}
	r0 := r
	r0.ResetAfter = 0
	if d, _ := backoffDelays(&r0, 800*ms, 0); d != r0.Delay {
		t.Fatalf("reset_after 0: delay %v, want %v", d, r0.Delay)
	}

	// Huge values saturate at max_delay instead of overflowing.
	rh := r
	rh.Multiplier, rh.MaxDelay = 1e6, 1<<62
	if _, next := backoffDelays(&rh, 1<<61, ms); next != rh.MaxDelay {
		t.Fatalf("huge: next %v, want %v", next, rh.MaxDelay)
	}

	// A zero delay stays zero.
	rz := r
	rz.Delay = 0
	if d, next := backoffDelays(&rz, 0, ms); d != 0 || next != 0 {
		t.Fatalf("zero delay: %v, %v", d, next)
	}
}

func TestCondition(t *testing.T) {
	svc := func(typ config.Type, st state, mod func(*service)) *service {
		c := config.NewService("d")
		c.Type = typ
		v := &service{cfg: c, state: st, pid: 1}
		if st != running && st != stopping {
			v.pid = 0
		}
		if mod != nil {
			mod(v)
		}
		return v
	}
	succeeded := func(v *service) { v.succeeded = true }
	failed := func(v *service) { v.failed = true }
	doomed := func(v *service) { v.failed, v.doomed = true, true }
	disabled := func(v *service) { v.cfg.Enabled = false }
	simple, oneshot := config.TypeSimple, config.TypeOneshot

	cases := []struct {
		name        string
		d           *service
		cond        config.Condition
		holds, will bool // will: never is false
	}{
		{"simple waiting/started", svc(simple, waiting, nil), config.ConditionStarted, false, true},
		{"simple running/started", svc(simple, running, nil), config.ConditionStarted, true, true},
		{"simple running/ready", svc(simple, running, nil), config.ConditionReady, true, true},
		{"simple running/healthy", svc(simple, running, nil), config.ConditionHealthy, true, true},
		{"simple backoff/started", svc(simple, backoff, nil), config.ConditionStarted, false, true},
		{"simple unstarted/started", svc(simple, unstarted, nil), config.ConditionStarted, false, true},
		{"simple failed/started", svc(simple, finished, failed), config.ConditionStarted, false, false},
		{"simple finished/started", svc(simple, finished, succeeded), config.ConditionStarted, false, false},
		{"simple disabled/started", svc(simple, stopped, disabled), config.ConditionStarted, false, false},

		{"oneshot running/completed", svc(oneshot, running, nil), config.ConditionCompleted, false, true},
		{"oneshot succeeded/completed", svc(oneshot, finished, succeeded), config.ConditionCompleted, true, true},
		{"oneshot failed/completed", svc(oneshot, finished, failed), config.ConditionCompleted, true, true},
		{"oneshot doomed/completed", svc(oneshot, finished, doomed), config.ConditionCompleted, false, false},
		{"oneshot backoff/completed", svc(oneshot, backoff, nil), config.ConditionCompleted, false, true},

		{"oneshot running/succeeded", svc(oneshot, running, nil), config.ConditionSucceeded, false, true},
		{"oneshot succeeded/succeeded", svc(oneshot, finished, succeeded), config.ConditionSucceeded, true, true},
		{"oneshot failed/succeeded", svc(oneshot, finished, failed), config.ConditionSucceeded, false, false},
		{"oneshot backoff/succeeded", svc(oneshot, backoff, nil), config.ConditionSucceeded, false, true},
		{"oneshot disabled/succeeded", svc(oneshot, stopped, disabled), config.ConditionSucceeded, false, false},

		// A running oneshot is not up yet; it is once it has succeeded.
		{"oneshot running/started", svc(oneshot, running, nil), config.ConditionStarted, false, true},
		{"oneshot succeeded/ready", svc(oneshot, finished, succeeded), config.ConditionReady, true, true},
		{"oneshot failed/ready", svc(oneshot, finished, failed), config.ConditionReady, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			holds, never := condition(c.d, c.cond)
			if holds != c.holds || never == c.will {
				t.Fatalf("condition(%s) = holds %v never %v, want holds %v never %v", c.cond, holds, never, c.holds, !c.will)
			}
		})
	}
}
