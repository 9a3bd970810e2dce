package control

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func startProbes(t *testing.T, api API) string {
	t.Helper()
	s, err := ServeProbes("127.0.0.1:0", api, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || strings.HasSuffix(s.Addr(), ":0") {
		t.Fatalf("Addr %q: want the bound port", s.Addr())
	}
	return s.Addr()
}

func probeGet(t *testing.T, addr, path string) (int, string, http.Header) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestProbes(t *testing.T) {
	ready := &fakeAPI{services: []ServiceStatus{
		{Name: "web", State: "running", Ready: "ready"},
		{Name: "cron", State: "running"},
		{Name: "once", State: "exited", LastCode: 0},
		{Name: "off", State: "stopped"},
	}}
	notReady := func(s ServiceStatus) *fakeAPI {
		return &fakeAPI{services: []ServiceStatus{{Name: "web", State: "running", Ready: "ready"}, s}}
	}
	for _, tc := range []struct {
		name string
		api  *fakeAPI
		path string
		code int
		body string
	}{
		{"healthz", ready, "/healthz", 200, "ok\n"},
		{"healthz with failures", notReady(ServiceStatus{Name: "db", State: "failed"}), "/healthz", 200, "ok\n"},
		{"readyz", ready, "/readyz", 200, "ready\n"},
		{"readyz no services", &fakeAPI{}, "/readyz", 200, "ready\n"},
		{"readyz not ready", notReady(ServiceStatus{Name: "db", State: "running", Ready: "not ready"}), "/readyz", 503, "not ready: db (not ready)\n"},
		{"readyz starting", notReady(ServiceStatus{Name: "db", State: "starting"}), "/readyz", 503, "not ready: db (starting)\n"},
		{"readyz failed", notReady(ServiceStatus{Name: "db", State: "failed"}), "/readyz", 503, "not ready: db (failed)\n"},
		{"readyz backoff", notReady(ServiceStatus{Name: "db", State: "backoff"}), "/readyz", 503, "not ready: db (backoff)\n"},
		{"not found", ready, "/v1/status", 404, "not found; try /healthz, /readyz or /metrics\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startProbes(t, tc.api)
			code, body, _ := probeGet(t, addr, tc.path)
			if code != tc.code || body != tc.body {
				t.Errorf("got %d %q, want %d %q", code, body, tc.code, tc.body)
			}
		})
	}
	t.Run("POST is refused", func(t *testing.T) {
		addr := startProbes(t, ready)
		resp, err := http.Post("http://"+addr+"/readyz", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
			t.Errorf("got %s Allow %q", resp.Status, resp.Header.Get("Allow"))
		}
	})
}

func TestMetrics(t *testing.T) {
	api := newFake()
	api.services = append(api.services, ServiceStatus{Name: "we\"ird\\na\nme", State: "starting", Pid: 7, LastCode: -1, MemoryBytes: 0, CPU: 0, Tasks: 1})
	addr := startProbes(t, api)
	code, body, h := probeGet(t, addr, "/metrics")
	if code != 200 || h.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("got %d %q", code, h.Get("Content-Type"))
	}
	samples, problems := checkTextFormat(body)
	for _, p := range problems {
		t.Error(p)
	}
	for _, tc := range []struct {
		sample string
		value  string // "" means the sample must be absent
	}{
		{`initbox_service_up{service="web"}`, "1"},
		{`initbox_service_up{service="worker"}`, "0"},
		{`initbox_service_up{service="we\"ird\\na\nme"}`, "1"},
		{`initbox_service_ready{service="web"}`, "1"},
		{`initbox_service_ready{service="worker"}`, "0"},
		{`initbox_service_ready{service="we\"ird\\na\nme"}`, "0"},
		{`initbox_service_restarts_total{service="web"}`, "2"},
		{`initbox_service_last_exit_code{service="web"}`, "3"},
		{`initbox_service_last_exit_code{service="worker"}`, "137"},
		{`initbox_service_last_exit_code{service="broken"}`, ""},
		{`initbox_service_oom_kills_total{service="worker"}`, "1"},
		{`initbox_service_memory_bytes{service="web"}`, "12897485"},
		{`initbox_service_memory_bytes{service="worker"}`, ""},
		{`initbox_service_memory_bytes{service="we\"ird\\na\nme"}`, "0"},
		{`initbox_service_cpu_seconds_total{service="web"}`, "1.5"},
		{`initbox_service_cpu_seconds_total{service="worker"}`, ""},
		{`initbox_service_tasks{service="web"}`, "3"},
		{`initbox_service_tasks{service="broken"}`, ""},
	} {
		got, ok := samples[tc.sample]
		switch {
		case tc.value == "" && ok:
			t.Errorf("%s = %s, want it left out (unknown)", tc.sample, got)
		case tc.value != "" && got != tc.value:
			t.Errorf("%s = %q, want %s", tc.sample, got, tc.value)
		}
	}
	for _, m := range metrics {
		if !strings.Contains(body, "# TYPE "+m.name+" "+m.typ+"\n") {
			t.Errorf("no TYPE line for %s", m.name)
		}
	}
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// checkTextFormat parses body line by line against the Prometheus text
// exposition format 0.0.4 and returns the samples, keyed by name and
// labels as written.
func checkTextFormat(body string) (map[string]string, []string) {
	var problems []string
	if !strings.HasSuffix(body, "\n") {
		problems = append(problems, "the exposition does not end with a line feed")
	}
	samples := map[string]string{}
	typed := map[string]string{}
	helped := map[string]bool{}
	seenFamily := map[string]bool{}
	current := ""
	for n, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		n++
		fail := func(format string, args ...any) {
			problems = append(problems, fmt.Sprintf("line %d %q: ", n, line)+fmt.Sprintf(format, args...))
		}
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "# HELP "), strings.HasPrefix(line, "# TYPE "):
			f := strings.SplitN(line[7:], " ", 2)
			if len(f) != 2 || !metricName.MatchString(f[0]) {
				fail("malformed")
				continue
			}
			if line[2] == 'H' {
				if helped[f[0]] {
					fail("second HELP")
				}
				helped[f[0]] = true
				for i := 0; i < len(f[1]); i++ {
					if f[1][i] == '\\' && (i+1 == len(f[1]) || !strings.ContainsRune(`\n`, rune(f[1][i+1]))) {
						fail("bad escape in HELP")
					} else if f[1][i] == '\\' {
						i++
					}
				}
				continue
			}
			switch f[1] {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				fail("unknown type %q", f[1])
			}
			if typed[f[0]] != "" || seenFamily[f[0]] {
				fail("TYPE after the family's first TYPE or sample")
			}
			typed[f[0]] = f[1]
			continue
		case strings.HasPrefix(line, "#"):
			continue // a comment
		}
		// name [{labels}] value [timestamp]
		i := strings.IndexAny(line, "{ ")
		if i < 0 {
			fail("no value")
			continue
		}
		name, rest := line[:i], line[i:]
		if !metricName.MatchString(name) {
			fail("bad metric name")
		}
		if name != current {
			if seenFamily[name] {
				fail("samples of %s are not together", name)
			}
			seenFamily[name], current = true, name
		}
		if typed[name] == "" {
			fail("sample before its TYPE")
		}
		key := name
		if rest[0] == '{' {
			j := 1
			for {
				k := strings.IndexByte(rest[j:], '=')
				if k < 0 || !labelName.MatchString(rest[j:j+k]) {
					fail("bad label name")
					break
				}
				j += k + 1
				if j >= len(rest) || rest[j] != '"' {
					fail("label value not quoted")
					break
				}
				j++
				for j < len(rest) && rest[j] != '"' {
					if rest[j] == '\\' {
						if j+1 >= len(rest) || !strings.ContainsRune(`\"n`, rune(rest[j+1])) {
							fail("bad escape in label value")
						}
						j++
					}
					j++
				}
				j++ // the closing quote
				if j >= len(rest) {
					fail("unterminated labels")
					break
				}
				if rest[j] == ',' {
					j++
				}
				if rest[j] == '}' {
					j++
					break
				}
			}
			if j > len(rest) {
				continue
			}
			key, rest = name+rest[:j], rest[j:]
		}
		f := strings.Split(strings.TrimPrefix(rest, " "), " ")
		if !strings.HasPrefix(rest, " ") || len(f) < 1 || len(f) > 2 {
			fail("want ' value [timestamp]'")
			continue
		}
		if _, err := strconv.ParseFloat(f[0], 64); err != nil {
			fail("value: %v", err)
		}
		if len(f) == 2 {
			if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
				fail("timestamp: %v", err)
			}
		}
		if _, dup := samples[key]; dup {
			fail("duplicate sample")
		}
		samples[key] = f[0]
	}
	return samples, problems
}

// TestCheckTextFormat makes sure the checker TestMetrics relies on catches
// what it should.
func TestCheckTextFormat(t *testing.T) {
	good := "# HELP a_b Some \\\\ help\\n.\n# TYPE a_b gauge\na_b{x=\"1\",y=\"q\\\"\\n\\\\\",} 1.5 123\na_b 2\n# a comment\n# TYPE c counter\nc +Inf\n"
	if _, problems := checkTextFormat(good); len(problems) > 0 {
		t.Errorf("valid exposition refused: %q", problems)
	}
	for _, bad := range []string{
		"# TYPE a gauge\na 1",                                     // no final line feed
		"a 1\n",                                                   // no TYPE
		"# TYPE a gauge\na{x=1} 1\n",                              // unquoted label value
		"# TYPE a gauge\na{x=\"\\t\"} 1\n",                        // bad escape
		"# TYPE a gauge\na{1x=\"\"} 1\n",                          // bad label name
		"# TYPE a gauge\na one\n",                                 // bad value
		"# TYPE a gauge\na 1\na 2\n",                              // duplicate
		"# TYPE a gauge\n# TYPE a gauge\n",                        // second TYPE
		"# TYPE a bogus\n",                                        // unknown type
		"# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"\"} 1\n", // family split
		"# TYPE 1a gauge\n",                                       // bad metric name
		"# TYPE a gauge\na  1\n",                                  // two spaces
	} {
		if _, problems := checkTextFormat(bad); len(problems) == 0 {
			t.Errorf("checker accepted %q", bad)
		}
	}
}

func TestParseAddr(t *testing.T) {
	v4 := func(a, b, c, d byte, port int) unix.Sockaddr {
		return &unix.SockaddrInet4{Port: port, Addr: [4]byte{a, b, c, d}}
	}
	v6 := func(port int, b ...byte) unix.Sockaddr {
		sa := &unix.SockaddrInet6{Port: port}
		copy(sa.Addr[:], b)
		return sa
	}
	loop6 := make([]byte, 16)
	loop6[15] = 1
	mapped := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1}
	full := []byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6}
	for _, tc := range []struct {
		in   string
		want unix.Sockaddr // nil: an error
	}{
		{":9090", v6(9090)},
		{"0.0.0.0:80", v4(0, 0, 0, 0, 80)},
		{"127.0.0.1:0", v4(127, 0, 0, 1, 0)},
		{"localhost:8080", v4(127, 0, 0, 1, 8080)},
		{"[::]:1", v6(1)},
		{"[::1]:9090", v6(9090, loop6...)},
		{"[::ffff:10.0.0.1]:9", v6(9, mapped...)},
		{"[2001:db8:1:2:3:4:5:6]:9", v6(9, full...)},
		{"[2001:db8::]:9", v6(9, 0x20, 0x01, 0x0d, 0xb8)},
		{"9090", nil},
		{"host:9090", nil},
		{"1.2.3:9", nil},
		{"1.2.3.256:9", nil},
		{"01.2.3.4:9", nil},
		{"1.2.3.4:65536", nil},
		{"1.2.3.4:", nil},
		{"1.2.3.4:+1", nil},
		{"[::1]", nil},
		{"::1:9", nil},
		{"[1::2::3]:9", nil},
		{"[1:2:3:4:5:6:7]:9", nil},
		{"[1:2:3:4:5:6:7:8:9]:9", nil},
		{"[1:2:3:4::5:6:7:8]:9", nil},
		{"[12345::]:9", nil},
		{"[1.2.3.4::]:9", nil},
		{"[fe80::1%eth0]:9", nil},
	} {
		got, err := parseAddr(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("parseAddr(%q) = %+v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("parseAddr(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestServeProbesAnyAddress(t *testing.T) {
	s, err := ServeProbes(":0", newFake(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	port := s.Addr()[strings.LastIndexByte(s.Addr(), ':')+1:]
	// Reached over IPv4 too: "" means every address of both families.
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", s.Addr(), err)
	}
	c.Close()
	if _, err := ServeProbes("nowhere:1", newFake(), nil); err == nil {
		t.Error("a host name was accepted without a resolver")
	}
}

// TestConnectionCap: connections beyond maxConns that send nothing are
// closed at once instead of each holding a descriptor and a goroutine of
// PID 1 for the read timeout; once they go, requests are served again.
func TestConnectionCap(t *testing.T) {
	s, err := ServeProbes("127.0.0.1:0", newFake(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var idle []net.Conn
	for range maxConns {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	time.Sleep(100 * time.Millisecond) // all accepted and waiting
	extra, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	extra.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Errorf("a connection beyond the cap was kept: read %d, %v", n, err)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("a connection beyond the cap was left open until the deadline")
	}
	extra.Close()
	for _, c := range idle {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + s.Addr() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not served again after the idle connections closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
