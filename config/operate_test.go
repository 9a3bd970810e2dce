package config

import (
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestInitOperate decodes init.control_socket and init.http_listen in the
// forms they take.
func TestInitOperate(t *testing.T) {
	tests := []struct {
		src          string // the inside of init = { ... }
		sock, listen string
	}{
		{``, "auto", ""},
		{`control_socket = "auto"`, "auto", ""},
		{`control_socket = "/run/initbox/control.sock"`, "/run/initbox/control.sock", ""},
		{`control_socket = ""`, "", ""},
		{`control_socket = "/tmp/ib.sock"`, "/tmp/ib.sock", ""},
		{`control_socket = "${SOCK:-/run/x.sock}"`, "/run/x.sock", ""},
		{`http_listen = ""`, "auto", ""},
		{`http_listen = ":9090"`, "auto", ":9090"},
		{`http_listen = "127.0.0.1:1"`, "auto", "127.0.0.1:1"},
		{`http_listen = "0.0.0.0:65535"`, "auto", "0.0.0.0:65535"},
		{`http_listen = "[::1]:8080"`, "auto", "[::1]:8080"},
		{`http_listen = "[::]:8080"`, "auto", "[::]:8080"},
		{`http_listen = "localhost:8080"`, "auto", "localhost:8080"},
		{`http_listen = "localhost:80"`, "auto", "localhost:80"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			c := mustParse(t, "init = { "+tt.src+" }\n", nil)
			if c.Init.ControlSocket != tt.sock || c.Init.HTTPListen != tt.listen {
				t.Errorf("control_socket %q, http_listen %q; want %q, %q", c.Init.ControlSocket, c.Init.HTTPListen, tt.sock, tt.listen)
			}
		})
	}
}

// TestReady decodes each ready key alone, in the forms it takes.
func TestReady(t *testing.T) {
	def := NewService("x").Ready
	with := func(f func(r *Ready)) Ready {
		r := def
		f(&r)
		return r
	}
	tests := []struct {
		typ    string // the service's type, "" for the default
		src    string // the inside of ready = { ... }; "-" for no ready table
		want   Ready
		method string
	}{
		{"", "-", def, ""},
		{"oneshot", "-", def, ""},
		{"notify", "-", with(func(r *Ready) { r.Notify = true }), "notify"},
		{"notify", ``, with(func(r *Ready) { r.Notify = true }), "notify"},
		{"notify", `notify = true`, with(func(r *Ready) { r.Notify = true }), "notify"},
		{"notify", `timeout = "5m"`, with(func(r *Ready) { r.Notify, r.Timeout = true, 5*time.Minute }), "notify"},
		{"", `fd = 3`, with(func(r *Ready) { r.FD = 3 }), "fd"},
		{"", `fd = 1023`, with(func(r *Ready) { r.FD = 1023 }), "fd"},
		{"", `tcp = "127.0.0.1:5432"`, with(func(r *Ready) { r.TCP = "127.0.0.1:5432" }), "tcp"},
		{"", `tcp = "[::1]:5432"`, with(func(r *Ready) { r.TCP = "[::1]:5432" }), "tcp"},
		{"", `tcp = "db_1:5432"`, with(func(r *Ready) { r.TCP = "db_1:5432" }), "tcp"},
		{"", `tcp = "${DB:-localhost}:5432"`, with(func(r *Ready) { r.TCP = "localhost:5432" }), "tcp"},
		{"", `http = "http://127.0.0.1:8080/ready"`, with(func(r *Ready) { r.HTTP = "http://127.0.0.1:8080/ready" }), "http"},
		{"", `http = "http://localhost"`, with(func(r *Ready) { r.HTTP = "http://localhost" }), "http"},
		{"", `http = "HTTP://[::1]:80/a?b=c"`, with(func(r *Ready) { r.HTTP = "HTTP://[::1]:80/a?b=c" }), "http"},
		{"", `exec = ["pg_isready", "-q"]`, with(func(r *Ready) { r.Exec = []string{"pg_isready", "-q"} }), "exec"},
		{"", `file = "/run/app.ready"`, with(func(r *Ready) { r.File = "/run/app.ready" }), "file"},
		{"", `file = "run/app.ready"`, with(func(r *Ready) { r.File = "/etc/initbox/run/app.ready" }), "file"},
		{"", `file = "/x", interval = "1s"`, with(func(r *Ready) { r.File, r.Interval = "/x", time.Second }), "file"},
		{"", `file = "/x", timeout = "1m30s"`, with(func(r *Ready) { r.File, r.Timeout = "/x", 90*time.Second }), "file"},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.src, func(t *testing.T) {
			src := "[services.x]\nshell = \"x\"\n"
			if tt.typ != "" {
				src += "type = \"" + tt.typ + "\"\n"
			}
			if tt.src != "-" {
				src += "ready = { " + tt.src + " }\n"
			}
			c := mustParse(t, src, nil)
			got := c.Services["x"].Ready
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Ready = %+v, want %+v", got, tt.want)
			}
			if m := got.Method(); m != tt.method {
				t.Errorf("Method() = %q, want %q", m, tt.method)
			}
		})
	}
}

// TestHealth decodes each health key alone, in the forms it takes.
func TestHealth(t *testing.T) {
	def := NewService("x").Health
	if want := (Health{Interval: 10 * time.Second, Timeout: 5 * time.Second, FailureThreshold: 3, SuccessThreshold: 1, Action: HealthRestart}); !reflect.DeepEqual(def, want) {
		t.Errorf("default Health = %+v, want %+v", def, want)
	}
	with := func(f func(h *Health)) Health {
		h := def
		h.Exec = []string{"true"}
		f(&h)
		return h
	}
	tests := []struct {
		src    string // the inside of health = { ... }, after exec = ["true"] unless it sets a check
		want   Health
		method string
	}{
		{`exec = ["true"]`, with(func(h *Health) {}), "exec"},
		{`exec = ["/bin/sh", "-c", "curl -fs localhost"]`, with(func(h *Health) { h.Exec = []string{"/bin/sh", "-c", "curl -fs localhost"} }), "exec"},
		{`http = "http://127.0.0.1:8080/healthz"`, with(func(h *Health) { h.Exec, h.HTTP = nil, "http://127.0.0.1:8080/healthz" }), "http"},
		{`tcp = "localhost:6379"`, with(func(h *Health) { h.Exec, h.TCP = nil, "localhost:6379" }), "tcp"},
		{`start_period = "0s"`, with(func(h *Health) {}), "exec"},
		{`start_period = "30s"`, with(func(h *Health) { h.StartPeriod = 30 * time.Second }), "exec"},
		{`interval = "1m"`, with(func(h *Health) { h.Interval = time.Minute }), "exec"},
		{`timeout = "500ms"`, with(func(h *Health) { h.Timeout = 500 * time.Millisecond }), "exec"},
		{`failure_threshold = 1`, with(func(h *Health) { h.FailureThreshold = 1 }), "exec"},
		{`success_threshold = 3`, with(func(h *Health) { h.SuccessThreshold = 3 }), "exec"},
		{`action = "restart"`, with(func(h *Health) {}), "exec"},
		{`action = "stop"`, with(func(h *Health) { h.Action = HealthStop }), "exec"},
		{`action = "shutdown"`, with(func(h *Health) { h.Action = HealthShutdown }), "exec"},
		{`action = "none"`, with(func(h *Health) { h.Action = HealthNone }), "exec"},
		{`watchdog = "30s"`, with(func(h *Health) { h.Exec, h.Watchdog = nil, 30*time.Second }), ""},
		{`tcp = "a:1", watchdog = "1s"`, with(func(h *Health) { h.Exec, h.TCP, h.Watchdog = nil, "a:1", time.Second }), "tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			src := tt.src
			if !strings.HasPrefix(src, "exec") && !strings.HasPrefix(src, "http") && !strings.HasPrefix(src, "tcp") && !strings.HasPrefix(src, "watchdog") {
				src = `exec = ["true"], ` + src
			}
			c := mustParse(t, "[services.x]\nshell = \"x\"\ntype = \"notify\"\nhealth = { "+src+" }\n", nil)
			got := c.Services["x"].Health
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Health = %+v, want %+v", got, tt.want)
			}
			if m := got.Method(); m != tt.method {
				t.Errorf("Method() = %q, want %q", m, tt.method)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	for r, want := range map[*Ready]string{
		{}:                                "",
		{Interval: time.Second}:           "",
		{Notify: true}:                    "notify",
		{FD: 3}:                           "fd",
		{TCP: "a:1"}:                      "tcp",
		{HTTP: "http://a/"}:               "http",
		{Exec: []string{}}:                "exec",
		{File: "/x"}:                      "file",
		{Notify: true, File: "/x"}:        "notify",
		{TCP: "a:1", Exec: []string{"x"}}: "tcp",
	} {
		if got := r.Method(); got != want {
			t.Errorf("%+v.Method() = %q, want %q", *r, got, want)
		}
	}
	for h, want := range map[*Health]string{
		{}:                              "",
		{Watchdog: time.Second}:         "",
		{Exec: []string{"x"}}:           "exec",
		{HTTP: "http://a/"}:             "http",
		{TCP: "a:1"}:                    "tcp",
		{HTTP: "http://a/", TCP: "a:1"}: "http",
	} {
		if got := h.Method(); got != want {
			t.Errorf("%+v.Method() = %q, want %q", *h, got, want)
		}
	}
}

func TestAddrProblem(t *testing.T) {
	tests := []struct {
		in       string
		needHost bool
		want     string
	}{
		{"a:1", true, ""},
		{"127.0.0.1:65535", true, ""},
		{"[::1]:80", true, ""},
		{"[fe80::1%eth0]:80", true, ""},
		{"db.internal:5432", true, ""},
		{":80", false, ""},
		{":80", true, "missing host (127.0.0.1 or localhost for this machine)"},
		{"[]:80", true, "missing host (127.0.0.1 or localhost for this machine)"},
		{"", true, tcpForm},
		{"", false, listenForm},
		{"a", true, tcpForm},
		{"::1:80", true, tcpForm},
		{"[::1]80", true, tcpForm},
		{"[::1", true, tcpForm},
		{"a:", true, "missing port"},
		{"a:0", true, "port 0 is outside 1..65535"},
		{"a:65536", true, "port 65536 is outside 1..65535"},
		{"a:99999999999999999999", true, "port 99999999999999999999 is outside 1..65535"},
		{"a:-1", true, `port "-1" is not a number`},
		{"a:+1", true, `port "+1" is not a number`},
		{"a:http", true, `port "http" is not a number`},
		{"[127.0.0.1]:80", true, `bad host "127.0.0.1"`},
		{"[a]:80", true, `bad host "a"`},
		{"a b:80", true, `bad host "a b"`},
		{"-a:80", true, `bad host "-a"`},
		{"a..b:80", true, `bad host "a..b"`},
		{"a/b:80", true, `bad host "a/b"`},
		{strings.Repeat("a", 64) + ":80", true, `bad host "` + strings.Repeat("a", 64) + `"`},
	}
	for _, tt := range tests {
		if got := addrProblem(tt.in, tt.needHost); got != tt.want {
			t.Errorf("addrProblem(%q, %v) = %q, want %q", tt.in, tt.needHost, got, tt.want)
		}
	}
}

func TestURLProblem(t *testing.T) {
	bad := "bad URL (" + httpForm + ")"
	tests := []struct{ in, want string }{
		{"http://a", ""},
		{"http://a/", ""},
		{"http://a:8080/healthz?full=1", ""},
		{"http://user:pw@a:8080/", ""},
		{"http://[::1]/", ""},
		{"http://[::1]:80/", ""},
		{"http://127.0.0.1:80/x#y", ""},
		{"Http://a/", ""},
		{"https://a/", httpsMsg},
		{"HTTPS://a/", httpsMsg},
		{"", httpForm},
		{"a:80/x", httpForm},
		{"ftp://a/", httpForm},
		{"http:a", httpForm},
		{"http://", bad},
		{"http:///x", bad},
		{"http://a b/", bad},
		{"http://a:x/", bad},
		{"http://a:0/", "port 0 is outside 1..65535"},
		{"http://a:/", "missing port"},
		{"http://:80/", "missing host in URL"},
		{"http://-a/", "bad host in URL"},
		{"http://[a]/", bad},
	}
	for _, tt := range tests {
		if got := urlProblem(tt.in); got != tt.want {
			t.Errorf("urlProblem(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestLaterKeys checks the mechanism for keys of later versions, which has
// no key to use for now.
func TestLaterKeys(t *testing.T) {
	src := &source{name: "t.toml", ix: newIndex([]byte("[init]\nfuture = 1\nfutrue = 2\n"))}
	d := &decoder{m: &meta{files: []*source{src}, tree: &origin{}}, bad: map[string]bool{}}
	later := []string{"future"}
	d.unknown(keyPath{"init", "future"}, initKeys, later)
	d.unknown(keyPath{"init", "futrue"}, initKeys, later)
	var got []string
	for _, e := range d.errs {
		got = append(got, e.Error())
	}
	want := []string{
		`t.toml:2:1: key "future" in [init] is not supported by this version of initbox`,
		`t.toml:3:1: unknown key "futrue" in [init]; did you mean "future"?`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestOperateInCode validates ready, health and the [init] keys of a
// config built in code, where nothing was checked while decoding.
func TestOperateInCode(t *testing.T) {
	c := New()
	c.Init.ControlSocket = "ctl.sock"
	c.Init.HTTPListen = "localhost"
	add := func(name string, typ Type, f func(s *Service)) {
		s := NewService(name)
		s.Shell, s.Type = name, typ
		f(s)
		if err := c.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	// Valid: a zero Ready and Health (no checks) need no defaults.
	add("zero", TypeSimple, func(s *Service) { s.Ready, s.Health = Ready{}, Health{} })
	add("notify", TypeNotify, func(s *Service) { s.Ready.Notify = true; s.Health.Watchdog = time.Second })
	add("a", TypeSimple, func(s *Service) {
		s.Ready = Ready{FD: 2, TCP: "x", HTTP: "https://x", Exec: []string{}, Interval: 0, Timeout: -1}
		s.Health = Health{Exec: []string{""}, StartPeriod: -1, FailureThreshold: 0, SuccessThreshold: 0, Action: "reboot", Watchdog: -1}
	})
	add("b", TypeNotify, func(s *Service) {})
	add("c", TypeOneshot, func(s *Service) { s.Ready.File = "/x"; s.Health.Watchdog = time.Second })
	add("d", TypeSimple, func(s *Service) { s.Ready.Notify = true; s.Health.TCP = "a:1"; s.Health.Watchdog = time.Second })
	err := c.Validate()
	want := `init.control_socket: want "auto", an absolute path, or "" for no control socket, not "ctl.sock"
init.http_listen: bad address "localhost": want HOST:PORT or :PORT, such as ":9090" or "127.0.0.1:9090"
services.a.ready: more than one readiness method: fd, tcp, http and exec; keep one
services.a.ready.fd: fd 2 is outside 3..1023 (0, 1 and 2 are stdin, stdout and stderr)
services.a.ready.exec: empty command
services.a.ready.http: https is not supported: use tcp or exec for TLS endpoints
services.a.ready.tcp: bad address "x": want HOST:PORT, such as "127.0.0.1:5432"
services.a.ready.interval: must be positive
services.a.ready.timeout: must be positive
services.a.health.exec[0]: empty program name
services.a.health.watchdog: must be positive (leave watchdog out for none)
services.a.health.start_period: must not be negative
services.a.health.interval: must be positive
services.a.health.timeout: must be positive
services.a.health.failure_threshold: must be at least 1, not 0
services.a.health.success_threshold: must be at least 1, not 0
services.a.health.action: unknown health action "reboot" (want restart, stop, shutdown or none)
services.b.ready.notify: false contradicts type = "notify", which waits for READY=1
services.c.ready: a oneshot is done when it exits: it takes no ready table (dependents wait for it with completed or succeeded)
services.c.health: a oneshot is done when it exits: it takes no health table
services.d.ready.notify: READY=1 is read only from a service of type notify, and d is simple; set type = "notify"
services.d.health.watchdog: WATCHDOG=1 comes by sd_notify, and d is simple; set type = "notify"`
	if err == nil || err.Error() != want {
		t.Errorf("Validate:\n%v\nwant:\n%s", err, want)
	}
}

// FuzzAddress checks that addrProblem and urlProblem never panic and that
// what they accept, Go's own parsers accept too.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{"a:1", ":80", "[::1]:80", "[fe80::1%eth0]:1", "::1:80", "a:0", "a b:1", "[a]:1", "http://a:8080/x", "https://a/", "http://[::1]/", "http://:80/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, needHost := range []bool{false, true} {
			if addrProblem(s, needHost) != "" {
				continue
			}
			host, port, err := net.SplitHostPort(s)
			if err != nil {
				t.Fatalf("addrProblem(%q, %v) accepts what net.SplitHostPort refuses: %v", s, needHost, err)
			}
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || needHost && host == "" {
				t.Errorf("addrProblem(%q, %v) accepts host %q port %q", s, needHost, host, port)
			}
		}
		if urlProblem(s) == "" {
			u, err := url.Parse(s)
			if err != nil || u.Scheme != "http" || u.Hostname() == "" {
				t.Errorf("urlProblem(%q) accepts what url.Parse gives as %+v, %v", s, u, err)
			}
		}
	})
}
