//go:build linux

package supervisor

import (
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initbox/initbox/notify"
)

// sd_notify messages as the notify socket's reader hands them to the loop,
// on the fake starter and clock: who may send them, and what each does.
// The socket and the parsing are package notify's (its own tests).

// notifyMsg hands msg to the loop as service name's socket would, and
// returns once the loop has handled it: the message carries a barrier,
// whose descriptor the loop closes once it is through (BARRIER=1).
func (m *machine) notifyMsg(name string, msg notify.Message) {
	m.t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		m.t.Fatal(err)
	}
	defer r.Close()
	msg.BarrierFD = w
	m.s.send(event{name: name, kind: evNotify, msg: msg})
	got := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(r)
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			m.t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		m.t.Fatalf("the loop did not close the barrier of a message to %s", name)
	}
}

const notifyService = `
[services.a]
type = "notify"
command = ["true"]
ready = { timeout = "10s" }
restart = { policy = "never" }
stop = { mode = "process" }
[services.keep]
command = ["true"]
stop = { mode = "process" }`

// TestNotifyMessages: only the service's own processes speak for it; each
// message does what sd_notify(3) says, and BARRIER=1 is answered whoever
// sent it.
func TestNotifyMessages(t *testing.T) {
	self := os.Getpid() // not a process of any fake service
	for _, c := range []struct {
		name string
		// msgs go to service a, in order; Pid -1 is a's pid.
		msgs    []notify.Message
		advance time.Duration // then, on the fake clock
		state   string        // a's state, as ctl status shows it
		status  string        // a's STATUS=
		log     string        // a line of the log
	}{
		{name: "READY=1 from the service", msgs: []notify.Message{{Pid: -1, Ready: true}}, state: "running", log: `"by": "notify"`},
		{name: "READY=1 from another process is refused", msgs: []notify.Message{{Pid: self, Ready: true}}, state: "starting", log: "notify message refused"},
		{name: "a message without credentials is refused", msgs: []notify.Message{{Pid: 0, Ready: true}}, state: "starting", log: "notify message refused"},
		{name: "STATUS=", msgs: []notify.Message{{Pid: -1, Status: "loading 3/7"}}, state: "starting", status: "loading 3/7"},
		{name: "RELOADING=1 makes it not ready until READY=1", msgs: []notify.Message{{Pid: -1, Ready: true}, {Pid: -1, Reloading: true}}, state: "starting", log: "reloading"},
		{name: "RELOADING=1 then READY=1", msgs: []notify.Message{{Pid: -1, Ready: true}, {Pid: -1, Reloading: true}, {Pid: -1, Ready: true}}, state: "running"},
		{name: "a bad datagram's good parts still count", msgs: []notify.Message{{Pid: -1, Ready: true, Err: errors.New(`line 2: "X" is not KEY=VALUE`)}}, state: "running", log: "bad notify message"},
		{name: "MAINPID= is noted", msgs: []notify.Message{{Pid: -1, MainPid: 4242}}, state: "starting", log: `"mainpid": 4242`},
		{name: "STOPPING=1 is noted", msgs: []notify.Message{{Pid: -1, Stopping: true}}, state: "starting", log: "stopping, says the service"},
		{name: "without EXTEND_TIMEOUT_USEC the ready timeout fails it", advance: 15 * time.Second, state: "failed"},
		{name: "EXTEND_TIMEOUT_USEC= moves the ready timeout", msgs: []notify.Message{{Pid: -1, ExtendTimeout: time.Minute}}, advance: 15 * time.Second, state: "starting"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t, notifyService, syscall.SIGTERM, nil)
			m.run([]step{{"", "a=starting keep=running"}})
			for _, msg := range c.msgs {
				if msg.Pid == -1 {
					msg.Pid = m.pidOf("a")
				}
				m.notifyMsg("a", msg)
			}
			if c.advance > 0 {
				m.run([]step{{"advance " + c.advance.String(), ""}})
			}
			m.run([]step{{"", "a=" + c.state}})
			st := statusOf(t, m.s, "a")
			if st.Status != c.status {
				t.Errorf("STATUS %q, want %q", st.Status, c.status)
			}
			if c.log != "" && !strings.Contains(m.log.String(), c.log) {
				t.Errorf("the log lacks %q", c.log)
			}
		})
	}
}

// TestNotifyNotRunning: a message for a service that is not running, or
// that no longer exists, changes nothing, and its barrier is still
// answered (its sender would wait forever).
func TestNotifyNotRunning(t *testing.T) {
	m := newMachine(t, notifyService, syscall.SIGTERM, nil)
	m.run([]step{{"", "a=starting"}})
	pid := m.pidOf("a")
	m.run([]step{{"stop a", "a=stopped"}})
	// The pid of the run that ended still descends from itself: belongs
	// says no only because the run is over.
	m.notifyMsg("a", notify.Message{Pid: pid, Ready: true})
	m.notifyMsg("nosuch", notify.Message{Pid: pid, Ready: true})
	m.run([]step{{"", "a=stopped"}})
}

// TestWatchdog: WATCHDOG=1 keeps a service healthy; without it for
// health.watchdog, its health action applies.
func TestWatchdog(t *testing.T) {
	for _, c := range []struct {
		action string
		// after the watchdog fired: a's state, and whether Run ends (with
		// status 1)
		state string
		ends  bool
	}{
		// A failure: stopped, then through its restart policy, which is
		// "never" here, but a health restart restarts whatever the policy.
		{"restart", "backoff", false},
		{"stop", "failed", false},
		{"shutdown", "", true},
		{"none", "running", false},
	} {
		t.Run(c.action, func(t *testing.T) {
			m := newMachine(t, `
[services.a]
type = "notify"
command = ["true"]
restart = { policy = "never", delay = "20s" }
stop = { mode = "process" }
[services.a.health]
watchdog = "1s"
action = "`+c.action+`"
[services.keep]
command = ["true"]
stop = { mode = "process" }`, syscall.SIGTERM, nil)
			m.run([]step{{"", "a=starting keep=running"}})
			pid := m.pidOf("a")
			m.notifyMsg("a", notify.Message{Pid: pid, Ready: true})
			for range 3 {
				m.run([]step{{"advance 900ms", "a=running"}})
				m.notifyMsg("a", notify.Message{Pid: pid, Watchdog: true})
			}
			if st := statusOf(t, m.s, "a"); st.Health != "healthy" {
				t.Fatalf("health %q while WATCHDOG=1 comes in time, want healthy", st.Health)
			}
			m.run([]step{{"advance 1s", ""}})
			if c.ends {
				m.run([]step{{"end 1", ""}})
				if !strings.Contains(m.log.String(), "watchdog: no WATCHDOG=1 within 1s") {
					t.Error("the log does not say why initbox stopped")
				}
				return
			}
			m.run([]step{{"", "a=" + c.state}})
			if st := statusOf(t, m.s, "a"); !strings.HasPrefix(st.Reason, "watchdog: no WATCHDOG=1 within 1s") {
				t.Errorf("reason %q, want the watchdog's", st.Reason)
			}
		})
	}
}
