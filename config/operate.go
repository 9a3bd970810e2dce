package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Ready is the [services.NAME.ready] table: how the supervisor learns the
// service is ready. At most one method is set; with none (Method returns
// ""), the service is ready as soon as it is running.
//
// NewService fills Interval and Timeout with their defaults whether or not
// a method is set; they matter only when one is.
type Ready struct {
	// Notify: sd_notify READY=1 on the service's NOTIFY_SOCKET. It is
	// true exactly when the service's type is notify: the file sets it
	// with type = "notify", and ready.notify = true without that type is
	// an error.
	Notify bool
	// FD (s6-style notification-fd): the service writes a newline to this
	// descriptor, 3 to MaxReadyFD; 0 is unset.
	FD int
	// TCP is "host:port" that accepts a connection.
	TCP string
	// HTTP is "http://host[:port]/path" that answers 2xx or 3xx. https is
	// refused: not supported.
	HTTP string
	// Exec is an argv that exits 0.
	Exec []string
	// File is a path that exists: absolute, or made relative to the config
	// file's directory by Load and Parse.
	File string
	// Interval is the wait between attempts of tcp, http, exec and file.
	// Default 200ms.
	Interval time.Duration
	// Timeout: a service not ready within this after its start has failed
	// to start (restart policy applies). Default 60s.
	Timeout time.Duration
}

// MaxReadyFD is the highest ready.fd: the soft RLIMIT_NOFILE most systems
// start processes with is 1024.
const MaxReadyFD = 1023

// Readiness methods, as Ready.Method and Health.Method return them and the
// file spells the keys.
const (
	MethodNotify = "notify"
	MethodFD     = "fd"
	MethodTCP    = "tcp"
	MethodHTTP   = "http"
	MethodExec   = "exec"
	MethodFile   = "file"
)

// Method returns the readiness method that is set: "notify", "fd", "tcp",
// "http", "exec" or "file", or "" for none. A valid Ready has at most one;
// of an invalid one, the first in that order.
func (r Ready) Method() string {
	if m := r.methods(); len(m) > 0 {
		return m[0]
	}
	return ""
}

// methods returns every method that is set, in the order of Method.
func (r Ready) methods() []string {
	var m []string
	if r.Notify {
		m = append(m, MethodNotify)
	}
	if r.FD != 0 {
		m = append(m, MethodFD)
	}
	if r.TCP != "" {
		m = append(m, MethodTCP)
	}
	if r.HTTP != "" {
		m = append(m, MethodHTTP)
	}
	if r.Exec != nil {
		m = append(m, MethodExec)
	}
	if r.File != "" {
		m = append(m, MethodFile)
	}
	return m
}

// Health is the [services.NAME.health] table: a check repeated while the
// service runs. At most one of Exec, HTTP and TCP is set (Method); with
// none and no Watchdog there is no health check, and the service counts as
// healthy once it is ready.
//
// NewService fills Interval, Timeout, the thresholds and Action with their
// defaults whether or not a check is set; they matter only when one is.
type Health struct {
	// Exec is an argv that exits 0 when the service is healthy.
	Exec []string
	// HTTP is "http://host[:port]/path" that answers 2xx or 3xx.
	HTTP string
	// TCP is "host:port" that accepts a connection.
	TCP string
	// StartPeriod: failures within this time after the start do not count
	// (a success does). Default 0.
	StartPeriod time.Duration
	// Interval is the wait between the end of a check and the next one.
	// Default 10s.
	Interval time.Duration
	// Timeout is one check's limit; a check that takes longer failed.
	// Default 5s.
	Timeout time.Duration
	// FailureThreshold consecutive failures make the service unhealthy.
	// Default 3.
	FailureThreshold int
	// SuccessThreshold consecutive successes make an unhealthy service
	// healthy again. Default 1.
	SuccessThreshold int
	// Action is what an unhealthy service (or a missed watchdog) gets.
	// Default HealthRestart.
	Action HealthAction
	// Watchdog: sd_notify WATCHDOG=1 must come at least this often, or
	// the service is unhealthy at once (Action applies). 0 is off. It needs
	// type notify.
	Watchdog time.Duration
}

// Method returns the health check that is set: "exec", "http" or "tcp",
// or "" for none (no health check, or a watchdog only). A valid Health has
// at most one; of an invalid one, the first in that order.
func (h Health) Method() string {
	if m := h.methods(); len(m) > 0 {
		return m[0]
	}
	return ""
}

func (h Health) methods() []string {
	var m []string
	if h.Exec != nil {
		m = append(m, MethodExec)
	}
	if h.HTTP != "" {
		m = append(m, MethodHTTP)
	}
	if h.TCP != "" {
		m = append(m, MethodTCP)
	}
	return m
}

// HealthAction is what happens to a service that became unhealthy.
type HealthAction string

// Health actions.
const (
	// HealthRestart stops the service (as its stop table says) and starts
	// it again, counting against its restart limit as a failure.
	HealthRestart HealthAction = "restart"
	// HealthStop stops the service and leaves it stopped, as a failure for
	// good (an essential service then stops everything).
	HealthStop HealthAction = "stop"
	// HealthShutdown stops everything, as when a main service exits.
	HealthShutdown HealthAction = "shutdown"
	// HealthNone only reports it: status, logs, /readyz.
	HealthNone HealthAction = "none"
)

var healthActions = []string{string(HealthRestart), string(HealthStop), string(HealthShutdown), string(HealthNone)}

// ControlSocketAuto is the init.control_socket that leaves the place to
// initbox: /run/initbox/control.sock where it can be made, else the first
// of a per-user runtime directory, /tmp/initbox-UID/ and an abstract
// socket, the places `initbox ctl` looks in the same order (package
// control, Locations). A path set in the file is used or fails, with no
// such fallback, since the user chose it.
const ControlSocketAuto = "auto"

// DefaultControlSocket is init.control_socket when the file does not set
// it: "auto", so that the socket works under a random uid or a read-only
// root (issue #19).
const DefaultControlSocket = ControlSocketAuto

// MaxSocketPath is the longest path a unix socket can be bound to: the
// 108 bytes of sun_path, less the terminating NUL.
const MaxSocketPath = 107

// socketProblem says what is wrong with a control socket path (not ""),
// or "". show is the path as messages may print it.
func socketProblem(path, show string) string {
	switch {
	case path == ControlSocketAuto:
		return ""
	case !filepath.IsAbs(path):
		return `want "auto", an absolute path, or "" for no control socket, not ` + show
	case len(path) > MaxSocketPath:
		return fmt.Sprintf("%s is longer than %d bytes, the most a unix socket path can be", show, MaxSocketPath)
	}
	return ""
}

// addrProblem says what is wrong with a host:port address, or "". With
// needHost false, ":port" (every address of the machine) is fine too. Only
// the form message quotes nothing of s, for values that were expanded.
func addrProblem(s string, needHost bool) string {
	form := tcpForm
	if !needHost {
		form = listenForm
	}
	host, port, ok := splitHostPort(s)
	switch {
	case !ok:
		return form
	case host == "" && needHost:
		return "missing host (127.0.0.1 or localhost for this machine)"
	}
	if msg := portProblem(port); msg != "" {
		return msg
	}
	if host != "" && !validHost(host, strings.HasPrefix(s, "[")) {
		return fmt.Sprintf("bad host %q", host)
	}
	if _, err := netip.ParseAddr(host); !needHost && host != "" && host != "localhost" && err != nil {
		// initbox listens without a resolver: a name could mean any
		// address, or change under it.
		return fmt.Sprintf("listen on an IP address (or localhost, or none for all), not the name %q", host)
	}
	return ""
}

// splitHostPort splits "host:port" and "[ipv6]:port". Unlike
// net.SplitHostPort it refuses an IPv6 address without brackets and
// anything after the closing bracket but ":port".
func splitHostPort(s string) (host, port string, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		// A zone may hold almost anything for netip, but not a bracket
		// (net.SplitHostPort; found by FuzzAddress).
		if end < 0 || !strings.HasPrefix(s[end+1:], ":") || strings.IndexByte(s[1:end], '[') >= 0 {
			return "", "", false
		}
		return s[1:end], s[end+2:], true
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.IndexByte(s[:i], ':') >= 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// portProblem says what is wrong with a port, or "".
func portProblem(port string) string {
	if port == "" {
		return "missing port"
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return fmt.Sprintf("port %q is not a number", port)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "port " + port + " is outside 1..65535"
	}
	return ""
}

// validHost reports whether h is an IP address (IPv6 only in brackets, and
// then nothing else) or a host name.
func validHost(h string, bracketed bool) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Is6() == bracketed
	}
	if bracketed || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Address rules, for messages.
const (
	listenForm = `want HOST:PORT or :PORT, such as ":9090" or "127.0.0.1:9090"`
	tcpForm    = `want HOST:PORT, such as "127.0.0.1:5432"`
	httpForm   = `want a URL such as "http://127.0.0.1:8080/healthz"`
	httpsMsg   = "https is not supported: use tcp or exec for TLS endpoints"
)

// urlProblem says what is wrong with an http check's URL, or "". It never
// quotes the URL, which may hold a password.
func urlProblem(s string) string {
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "https://") {
		return httpsMsg
	}
	if !strings.HasPrefix(lower, "http://") {
		return httpForm
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "bad URL (" + httpForm + ")"
	}
	host, port := u.Host, ""
	if i := strings.LastIndexByte(u.Host, ':'); i >= 0 && i > strings.LastIndexByte(u.Host, ']') {
		host, port = u.Host[:i], u.Host[i+1:]
		if msg := portProblem(port); msg != "" {
			return msg
		}
	}
	bracketed := strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")
	if bracketed {
		host = host[1 : len(host)-1]
	}
	switch {
	case host == "":
		return "missing host in URL"
	case !validHost(host, bracketed):
		return "bad host in URL"
	}
	return ""
}

// fdProblem says what is wrong with a ready.fd of n.
func fdProblem(n int) string {
	return fmt.Sprintf("fd %d is outside 3..%d (0, 1 and 2 are stdin, stdout and stderr)", n, MaxReadyFD)
}

// listAnd formats items as `a, b and c`.
func listAnd(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
