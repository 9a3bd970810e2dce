// Package notify receives readiness notifications from services: the
// sd_notify(3) protocol on a unixgram socket (NOTIFY_SOCKET), and s6-style
// readiness, a newline written to an inherited pipe (issue #7).
//
// It is written on raw syscalls rather than net, which would cost the
// binary half a megabyte for a socket that needs only recvmsg.
package notify

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Message is one datagram, parsed.
type Message struct {
	// Pid and Uid are the sender's, from SCM_CREDENTIALS, filled in by
	// the kernel and seen from initbox's namespaces; 0 if absent, and then
	// the caller must refuse the message. Parse leaves them 0.
	Pid, Uid int

	Ready     bool // READY=1: startup finished
	Reloading bool // RELOADING=1: reloading its configuration
	Stopping  bool // STOPPING=1: shutting down
	Watchdog  bool // WATCHDOG=1: a keep-alive ping
	// BarrierFD is the descriptor sent with BARRIER=1 (sd_notify_barrier(3)):
	// the receiver closes it once it has handled every message before, and
	// the sender, waiting for that, knows its messages were taken while it
	// was still alive to be checked. nil without one.
	BarrierFD *os.File
	barrier   bool // BARRIER=1: the datagram should carry BarrierFD

	Status        string        // STATUS=: free-form text for humans
	MainPid       int           // MAINPID=: the service's main process, if not the one started
	ExtendTimeout time.Duration // EXTEND_TIMEOUT_USEC=: more time for the current start, reload or stop

	// Err says why the datagram could not be parsed; the fields above are
	// what could be.
	Err error
}

// Parse reads the newline-separated KEY=VALUE assignments of one datagram
// (sd_notify(3)). Unknown keys are ignored, as systemd ignores them;
// a bad value, a line that is not KEY=VALUE, or a NUL byte gives an error
// naming each problem, and the assignments that were good are still set
// (a NUL byte, which systemd refuses the whole datagram for, sets none).
// A key given twice takes its last value.
func Parse(b []byte) (Message, error) {
	var m Message
	if bytes.IndexByte(b, 0) >= 0 {
		return m, errors.New("notify: datagram contains a NUL byte")
	}
	var bad []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "" {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			bad = append(bad, fmt.Sprintf("%q is not KEY=VALUE", clip(line)))
			continue
		}
		var err error
		switch key {
		case "READY":
			m.Ready, err = one(val)
		case "RELOADING":
			m.Reloading, err = one(val)
		case "STOPPING":
			m.Stopping, err = one(val)
		case "WATCHDOG":
			// WATCHDOG=trigger (fail now) is not supported: it is an
			// error rather than a keep-alive.
			m.Watchdog, err = one(val)
		case "BARRIER":
			// Its descriptor comes with the datagram's control message.
			m.barrier, err = one(val)
		case "STATUS":
			m.Status = val
		case "MAINPID":
			var pid int
			pid, err = strconv.Atoi(val)
			if err != nil || pid <= 0 {
				err = errors.New("want a pid")
			} else {
				m.MainPid = pid
			}
		case "EXTEND_TIMEOUT_USEC":
			var us uint64
			us, err = strconv.ParseUint(val, 10, 64)
			if err != nil || us > math.MaxInt64/uint64(time.Microsecond) {
				err = errors.New("want microseconds")
			} else {
				m.ExtendTimeout = time.Duration(us) * time.Microsecond
			}
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s=%q: %v", key, clip(val), err))
		}
	}
	if len(bad) > 0 {
		return m, errors.New("notify: " + strings.Join(bad, "; "))
	}
	return m, nil
}

// one parses the value of a flag, which sd_notify only ever sets to 1.
func one(val string) (bool, error) {
	if val != "1" {
		return false, errors.New("want 1")
	}
	return true, nil
}

// clip keeps error messages short whatever a service sends.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
