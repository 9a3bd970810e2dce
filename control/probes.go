package control

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/logging"
)

// ServeProbes listens on TCP at addr ("host:port"; host may be empty for
// every address, "localhost", or an IPv4 or bracketed IPv6 literal: there
// is no resolver) and serves, until Close, the read-only endpoints for
// Kubernetes probes and Prometheus: GET /healthz, /readyz and /metrics. It
// never changes anything, so it checks no credentials.
func ServeProbes(addr string, api API, log *logging.Logger) (*Server, error) {
	sa, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	fd, err := listenTCP(sa)
	if err != nil && addr[0] == ':' && errors.Is(err, unix.EAFNOSUPPORT) {
		// No IPv6 in this kernel or namespace: every IPv4 address.
		sa = &unix.SockaddrInet4{Port: sa.(*unix.SockaddrInet6).Port}
		fd, err = listenTCP(sa)
	}
	if err != nil {
		return nil, fmt.Errorf("probe listener %s: %w", addr, err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("probe listener %s: getsockname: %w", addr, err)
	}
	s := newServer(fd, formatAddr(bound), log, probeHandler(api))
	go s.accept()
	return s, nil
}

func listenTCP(sa unix.Sockaddr) (int, error) {
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	// A restarted initbox must be able to bind while old connections are
	// in TIME_WAIT.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("setsockopt SO_REUSEADDR: %w", err)
	}
	if family == unix.AF_INET6 {
		// "[::]" and "" serve IPv4 too, whatever the sysctl default.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("setsockopt IPV6_V6ONLY: %w", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind: %w", err)
	}
	if err := unix.Listen(fd, 64); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen: %w", err)
	}
	return fd, nil
}

// parseAddr reads "host:port" without a resolver (package net is not
// linked; see the package doc).
func parseAddr(addr string) (unix.Sockaddr, error) {
	bad := func(why string) error {
		return fmt.Errorf("probe listener %q: %s; want host:port with host empty, localhost, an IPv4 address or [IPv6]", addr, why)
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return nil, bad("no port")
	}
	host, ps := addr[:i], addr[i+1:]
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || ps == "" || ps[0] == '+' {
		return nil, bad("port is not a number from 0 to 65535")
	}
	p := int(port)
	switch {
	case host == "":
		return &unix.SockaddrInet6{Port: p}, nil
	case host == "localhost":
		return &unix.SockaddrInet4{Port: p, Addr: [4]byte{127, 0, 0, 1}}, nil
	case strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]"):
		ip, ok := parseIPv6(host[1 : len(host)-1])
		if !ok {
			return nil, bad("malformed IPv6 address")
		}
		return &unix.SockaddrInet6{Port: p, Addr: ip}, nil
	}
	ip, ok := parseIPv4(host)
	if !ok {
		return nil, bad("host is not an IP address")
	}
	return &unix.SockaddrInet4{Port: p, Addr: ip}, nil
}

func parseIPv4(s string) ([4]byte, bool) {
	var ip [4]byte
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return ip, false
	}
	for i, p := range parts {
		// No leading zeros: "010" is octal to some parsers, decimal to others.
		if p == "" || len(p) > 1 && p[0] == '0' {
			return ip, false
		}
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return ip, false
		}
		ip[i] = byte(n)
	}
	return ip, true
}

func parseIPv6(s string) ([16]byte, bool) {
	var ip [16]byte
	head, tail, compressed := strings.Cut(s, "::")
	if strings.Contains(tail, "::") {
		return ip, false
	}
	groups := func(s string) ([]byte, bool) {
		var b []byte
		if s == "" {
			return b, true
		}
		parts := strings.Split(s, ":")
		for i, p := range parts {
			if i == len(parts)-1 && strings.Contains(p, ".") {
				v4, ok := parseIPv4(p)
				return append(b, v4[:]...), ok
			}
			if len(p) == 0 || len(p) > 4 {
				return nil, false
			}
			n, err := strconv.ParseUint(p, 16, 16)
			if err != nil {
				return nil, false
			}
			b = append(b, byte(n>>8), byte(n))
		}
		return b, true
	}
	hb, ok1 := groups(head)
	tb := []byte{}
	ok2 := true
	if compressed {
		tb, ok2 = groups(tail)
	}
	if compressed && strings.Contains(head, ".") {
		return ip, false // an embedded IPv4 address comes last
	}
	if !ok1 || !ok2 {
		return ip, false
	}
	if n := len(hb) + len(tb); n > 16 || !compressed && n != 16 || compressed && n > 14 {
		return ip, false
	}
	copy(ip[:], hb)
	copy(ip[16-len(tb):], tb)
	return ip, true
}

// formatAddr formats a bound address as "host:port".
func formatAddr(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return fmt.Sprintf("%d.%d.%d.%d:%d", a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3], a.Port)
	case *unix.SockaddrInet6:
		var b strings.Builder
		b.WriteByte('[')
		for i := 0; i < 16; i += 2 {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(strconv.FormatUint(uint64(a.Addr[i])<<8|uint64(a.Addr[i+1]), 16))
		}
		b.WriteString("]:")
		b.WriteString(strconv.Itoa(a.Port))
		return b.String()
	}
	return "?"
}

// notReady lists the services that make /readyz fail: a readiness check
// that does not pass, or a state that is not (yet, or any more) serving.
func notReady(sts []ServiceStatus) []string {
	var out []string
	for _, s := range sts {
		switch {
		case s.Ready == "not ready":
			out = append(out, s.Name+" (not ready)")
		case s.State == "starting" || s.State == "failed" || s.State == "backoff":
			out = append(out, s.Name+" ("+s.State+")")
		}
	}
	return out
}

func textResponse(code int, body string) response {
	return response{code: code, ctype: "text/plain; charset=utf-8", body: []byte(body)}
}

func probeHandler(api API) func(request, int) response {
	return func(req request, _ int) response {
		switch req.path {
		case "/healthz", "/readyz", "/metrics":
		default:
			return textResponse(404, "not found; try /healthz, /readyz or /metrics\n")
		}
		if req.method != "GET" {
			r := textResponse(405, "method not allowed; use GET\n")
			r.allow = "GET"
			return r
		}
		switch req.path {
		case "/healthz":
			// Answering at all is the proof: initbox's loop is alive.
			return textResponse(200, "ok\n")
		case "/readyz":
			if bad := notReady(api.Status()); len(bad) > 0 {
				return textResponse(503, "not ready: "+strings.Join(bad, ", ")+"\n")
			}
			return textResponse(200, "ready\n")
		}
		return response{code: 200, ctype: "text/plain; version=0.0.4; charset=utf-8", body: appendMetrics(nil, api.Status())}
	}
}

// up reports whether the service has a live process.
func up(s ServiceStatus) bool {
	return s.State == "running" || s.State == "starting" || s.State == "stopping"
}

// metrics are the families /metrics serves, in order. value returns false
// for a sample that is unknown, which is then left out.
var metrics = []struct {
	name, typ, help string
	value           func(ServiceStatus) (string, bool)
}{
	{"initbox_service_up", "gauge", "Whether the service has a live process (running, starting or stopping).",
		func(s ServiceStatus) (string, bool) { return bool01(up(s)), true }},
	{"initbox_service_ready", "gauge", "Whether the service is running and its readiness check, if any, passes.",
		func(s ServiceStatus) (string, bool) {
			return bool01(s.State == "running" && s.Ready != "not ready"), true
		}},
	{"initbox_service_restarts_total", "counter", "Restarts of the service since initbox started.",
		func(s ServiceStatus) (string, bool) { return strconv.Itoa(s.Restarts), true }},
	{"initbox_service_last_exit_code", "gauge", "Exit code of the service's last run.",
		func(s ServiceStatus) (string, bool) { return strconv.Itoa(s.LastCode), s.LastCode >= 0 }},
	{"initbox_service_oom_kills_total", "counter", "Processes of the service killed by the OOM killer.",
		func(s ServiceStatus) (string, bool) { return strconv.Itoa(s.OOMKills), true }},
	{"initbox_service_memory_bytes", "gauge", "Memory the service's cgroup uses (memory.current).",
		func(s ServiceStatus) (string, bool) { return strconv.FormatInt(s.MemoryBytes, 10), s.MemoryBytes >= 0 }},
	{"initbox_service_cpu_seconds_total", "counter", "CPU time the service's cgroup used.",
		func(s ServiceStatus) (string, bool) {
			return string(appendSeconds(nil, s.CPU)), s.CPU >= 0
		}},
	{"initbox_service_tasks", "gauge", "Tasks in the service's cgroup (pids.current).",
		func(s ServiceStatus) (string, bool) { return strconv.FormatInt(s.Tasks, 10), s.Tasks >= 0 }},
	{"initbox_job_next_run_timestamp_seconds", "gauge", "When the job runs next (Unix time).",
		func(s ServiceStatus) (string, bool) {
			return strconv.FormatInt(s.NextRun.Unix(), 10), !s.NextRun.IsZero()
		}},
	{"initbox_job_last_run_timestamp_seconds", "gauge", "When the job's last run started (Unix time).",
		func(s ServiceStatus) (string, bool) {
			return strconv.FormatInt(s.LastRun.Unix(), 10), !s.LastRun.IsZero()
		}},
	{"initbox_job_last_duration_seconds", "gauge", "How long the job's last run took.",
		func(s ServiceStatus) (string, bool) {
			return string(appendSeconds(nil, s.LastDuration)), !s.LastRun.IsZero()
		}},
}

func bool01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// appendMetrics appends the Prometheus text exposition format 0.0.4.
func appendMetrics(b []byte, sts []ServiceStatus) []byte {
	// Sized once for the whole page, pieces appended rather than
	// concatenated: 26.7 -> 18.4 KB allocated per request for 20
	// services (issue #17; a supervisor scraped every few seconds
	// collects what each scrape leaves).
	b = slices.Grow(b, 2048+len(sts)*len(metrics)*48)
	for _, m := range metrics {
		b = append(b, "# HELP "...)
		b = append(b, m.name...)
		b = append(b, ' ')
		b = append(b, m.help...)
		b = append(b, "\n# TYPE "...)
		b = append(b, m.name...)
		b = append(b, ' ')
		b = append(b, m.typ...)
		b = append(b, '\n')
		for _, s := range sts {
			v, ok := m.value(s)
			if !ok {
				continue
			}
			b = append(b, m.name...)
			b = append(b, `{service="`...)
			b = appendLabelValue(b, s.Name)
			b = append(b, `"} `...)
			b = append(b, v...)
			b = append(b, '\n')
		}
	}
	// initbox's own cost, to watch for leaks (issue #9: flat under a
	// crash loop).
	for _, m := range []struct {
		name, help string
		value      int64
	}{
		{"initbox_goroutines", "Goroutines in initbox.", int64(runtime.NumGoroutine())},
		{"initbox_open_fds", "File descriptors initbox has open.", openFDs()},
		{"initbox_resident_memory_bytes", "initbox's resident set size.", residentBytes()},
	} {
		if m.value < 0 {
			continue
		}
		b = append(b, "# HELP "+m.name+" "+m.help+"\n# TYPE "+m.name+" gauge\n"+m.name+" "+strconv.FormatInt(m.value, 10)+"\n"...)
	}
	return b
}

// openFDs counts the entries of /proc/self/fd, less the one the count
// itself opens; -1 if it cannot.
func openFDs() int64 {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return int64(len(ents) - 1)
}

// residentBytes reads the resident set from /proc/self/statm; -1 if it
// cannot.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}

// appendLabelValue escapes a label value as the text format requires:
// backslash, double quote and line feed.
func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
