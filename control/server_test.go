package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/initbox/initbox/logging"
)

// peerEnv makes the test binary, re-executed as another uid, connect to the
// socket it names and print the status code it gets (TestPeerCredRefused).
const peerEnv = "CONTROL_TEST_PEER_SOCKET"

func TestMain(m *testing.M) {
	if path := os.Getenv(peerEnv); path != "" {
		fd, _, err := connect(path)
		var code int
		var body []byte
		if err == nil {
			code, body, err = exchange(fd, path, "GET", "/v1/status")
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Printf("%d %s", code, body)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeAPI records calls and answers from a fixed set of services.
type fakeAPI struct {
	mu        sync.Mutex
	services  []ServiceStatus
	calls     []string
	reloadErr error
	logs      []string
}

func (f *fakeAPI) record(call, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call+" "+name)
	for _, s := range f.services {
		if s.Name == name {
			if name == "broken" {
				return errors.New("broken: cannot " + call + ": the supervisor is shutting down")
			}
			return nil
		}
	}
	return fmt.Errorf("%w %q", ErrUnknownService, name)
}

func (f *fakeAPI) Status() []ServiceStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ServiceStatus(nil), f.services...)
}
func (f *fakeAPI) Start(name string) error   { return f.record("start", name) }
func (f *fakeAPI) Stop(name string) error    { return f.record("stop", name) }
func (f *fakeAPI) Restart(name string) error { return f.record("restart", name) }
func (f *fakeAPI) Signal(name string, sig syscall.Signal) error {
	return f.record(fmt.Sprintf("signal %d", int(sig)), name)
}
func (f *fakeAPI) Reload() error {
	f.record("reload", "")
	return f.reloadErr
}
func (f *fakeAPI) Logs(name string, lines int) ([]string, error) {
	if err := f.record(fmt.Sprintf("logs %d", lines), name); err != nil {
		return nil, err
	}
	l := f.logs
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return l, nil
}

// Wait records one call per name; worker never comes up.
func (f *fakeAPI) Wait(names []string, goal Goal, timeout time.Duration) error {
	for _, n := range names {
		if err := f.record(fmt.Sprintf("wait %s %v", goal, timeout), n); err != nil {
			return err
		}
		if n == "worker" && goal == GoalUp {
			return errors.New("worker failed: killed by the OOM killer at memory_max=64MiB")
		}
	}
	return nil
}

func (f *fakeAPI) lastCall() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

var since = time.Date(2026, 11, 30, 1, 2, 3, 400000000, time.UTC)

func newFake() *fakeAPI {
	return &fakeAPI{
		services: []ServiceStatus{
			{Name: "web", State: "running", Pid: 42, Since: since, Restarts: 2, LastExit: "exit status 3", LastCode: 3,
				Ready: "ready", Health: "healthy", Status: "serving \"/\"\n", MemoryBytes: 12897485, CPU: 1500 * time.Millisecond, Tasks: 3, OOMKills: 1},
			{Name: "worker", State: "backoff", Since: since, LastExit: "signal: killed", LastCode: 137,
				Reason: "killed by the OOM killer at memory_max=64MiB", MemoryBytes: -1, CPU: -1, Tasks: -1, OOMKills: 1},
			{Name: "broken", State: "stopped", LastCode: -1, MemoryBytes: -1, CPU: -1, Tasks: -1},
		},
		logs: []string{"one", "two \"quoted\"", "three\tTab \x01 \xff"},
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer serves a fake API on a socket in a fresh directory.
func startServer(t *testing.T) (string, *fakeAPI, *syncBuffer) {
	t.Helper()
	api := newFake()
	logs := &syncBuffer{}
	path := filepath.Join(t.TempDir(), "run", "control.sock")
	s, err := Serve(path, api, logging.New(logs, logging.Console, logging.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket still there after Close: %v", err)
		}
	})
	return path, api, logs
}

// rawExchange sends raw bytes on a new connection and returns the answer.
func rawExchange(t *testing.T, path, raw string) (int, string) {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	ans, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	code, body, err := parseResponse(ans)
	if err != nil {
		t.Fatalf("%v in %q", err, ans)
	}
	if !bytes.Contains(ans, []byte("\r\nConnection: close\r\n")) {
		t.Errorf("answer without Connection: close: %q", ans)
	}
	return code, string(body)
}

func get(target string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"
}

func post(target string) string {
	return "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
}

func TestRoutes(t *testing.T) {
	path, api, _ := startServer(t)
	for _, tc := range []struct {
		name, req string
		code      int
		body      string // a substring of the body
		call      string // the API call it must have made, if any
	}{
		{"status", get("/v1/status"), 200, `{"services":[{"name":"web","state":"running","pid":42,"since":"2026-11-30T01:02:03.4Z",`, ""},
		{"status fields", get("/v1/status"), 200, `"memory_bytes":-1,"cpu_seconds":-1,"tasks":-1,"oom_kills":1}`, ""},
		{"never-run since", get("/v1/status"), 200, `"state":"stopped","pid":0,"since":null`, ""},
		{"one service", get("/v1/services/web"), 200, `"cpu_seconds":1.5,"tasks":3`, ""},
		{"escaped status text", get("/v1/services/web"), 200, `"status":"serving \"/\"\n"`, ""},
		{"unknown service", get("/v1/services/nope"), 404, `{"error":"unknown service \"nope\""}`, ""},
		{"start", post("/v1/services/web/start"), 200, `{"ok":true}`, "start web"},
		{"stop", post("/v1/services/web/stop"), 200, `{"ok":true}`, "stop web"},
		{"restart", post("/v1/services/worker/restart"), 200, `{"ok":true}`, "restart worker"},
		{"start unknown", post("/v1/services/nope/start"), 404, `unknown service`, "start nope"},
		{"api failure", post("/v1/services/broken/stop"), 500, `the supervisor is shutting down`, "stop broken"},
		{"signal name", post("/v1/services/web/signal?signal=HUP"), 200, `{"ok":true}`, "signal 1 web"},
		{"signal SIG name", post("/v1/services/web/signal?signal=SIGUSR1"), 200, `{"ok":true}`, "signal 10 web"},
		{"signal number", post("/v1/services/web/signal?signal=9"), 200, `{"ok":true}`, "signal 9 web"},
		{"signal rt escaped", post("/v1/services/web/signal?signal=RTMIN%2B1"), 200, `{"ok":true}`, "signal 35 web"},
		{"signal missing", post("/v1/services/web/signal"), 400, `?signal=`, ""},
		{"signal bad", post("/v1/services/web/signal?signal=NOPE"), 400, `unknown name`, ""},
		{"signal unknown service", post("/v1/services/nope/signal?signal=TERM"), 404, `unknown service`, "signal 15 nope"},
		{"reload", post("/v1/reload"), 200, `{"ok":true}`, "reload "},
		{"wait", get("/v1/wait?for=stopped&services=web,worker&timeout=2s"), 200, `{"ok":true}`, "wait stopped 2s worker"},
		{"wait fails", get("/v1/wait?for=up&services=worker"), 500, `worker failed: killed by the OOM killer`, "wait up 0s worker"},
		{"wait unknown", get("/v1/wait?for=up&services=nope"), 404, `unknown service`, "wait up 0s nope"},
		{"wait bad goal", get("/v1/wait?for=ready&services=web"), 400, `for: want stopped or up`, ""},
		{"wait no services", get("/v1/wait?for=up"), 400, `services: want one or more names`, ""},
		{"wait bad timeout", get("/v1/wait?for=up&services=web&timeout=-1s"), 400, `timeout: want a duration > 0`, ""},
		{"wait by POST", post("/v1/wait?for=up&services=web"), 405, `use GET`, ""},
		{"logs", get("/v1/services/web/logs"), 200, `{"lines":["one","two \"quoted\"","three\tTab \u0001 \ufffd"]}`, "logs 100 web"},
		{"logs lines", get("/v1/services/web/logs?lines=2"), 200, `{"lines":["two \"quoted\"",`, "logs 2 web"},
		{"logs lines zero", get("/v1/services/web/logs?lines=0"), 400, `from 1 to 10000`, ""},
		{"logs lines too many", get("/v1/services/web/logs?lines=10001"), 400, `from 1 to 10000`, ""},
		{"logs lines not a number", get("/v1/services/web/logs?lines=x"), 400, `from 1 to 10000`, ""},
		{"logs unknown", get("/v1/services/nope/logs"), 404, `unknown service`, ""},
		{"status by POST", post("/v1/status"), 405, `use GET`, ""},
		{"start by GET", get("/v1/services/web/start"), 405, `use POST`, ""},
		{"reload by GET", get("/v1/reload"), 405, `use POST`, ""},
		{"logs by POST", post("/v1/services/web/logs"), 405, `use GET`, ""},
		{"no route", get("/"), 404, `no route`, ""},
		{"no route v2", get("/v2/status"), 404, `no route`, ""},
		{"no action", post("/v1/services/web/explode"), 404, `no route`, ""},
		{"escaped name", get("/v1/services/w%65b"), 200, `"name":"web"`, ""},
		{"bad escape", get("/v1/services/w%zzb"), 400, `percent-escape`, ""},
		{"HTTP/1.0 without Host", "GET /v1/status HTTP/1.0\r\n\r\n", 200, `"services"`, ""},
		{"body discarded", "POST /v1/services/web/start HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n{\"a\":\"b\"}\r\n", 200, `{"ok":true}`, "start web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := rawExchange(t, path, tc.req)
			if code != tc.code || !strings.Contains(body, tc.body) {
				t.Errorf("got %d %s\nwant %d ...%s...", code, body, tc.code, tc.body)
			}
			if tc.call != "" && api.lastCall() != tc.call {
				t.Errorf("last API call %q, want %q", api.lastCall(), tc.call)
			}
			if code != 200 {
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
					t.Errorf("error body %q is not {\"error\":...}: %v", body, err)
				}
			}
		})
	}
	t.Run("reload error", func(t *testing.T) {
		api.mu.Lock()
		api.reloadErr = errors.New("initbox.toml:3:7: unknown key \"cmd\"")
		api.mu.Unlock()
		code, body := rawExchange(t, path, post("/v1/reload"))
		if code != 500 || !strings.Contains(body, `initbox.toml:3:7: unknown key \"cmd\"`) {
			t.Errorf("got %d %s", code, body)
		}
	})
}

func TestMalformedRequests(t *testing.T) {
	path, _, _ := startServer(t)
	for _, tc := range []struct {
		name, req string
		code      int
	}{
		{"garbage", "hello\r\n\r\n", 400},
		{"no version", "GET /v1/status\r\nHost: x\r\n\r\n", 400},
		{"lowercase version", "GET /v1/status http/1.1\r\nHost: x\r\n\r\n", 400},
		{"HTTP/2", "GET /v1/status HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"absolute form", "GET http://x/v1/status HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"two spaces", "GET  /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"no host", "GET /v1/status HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET /v1/status HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
		{"bare LF", "GET /v1/status HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400},
		{"folded header", "GET /v1/status HTTP/1.1\r\nHost: x\r\n y\r\n\r\n", 400},
		{"space before colon", "GET /v1/status HTTP/1.1\r\nHost : x\r\n\r\n", 400},
		{"control char in value", "GET /v1/status HTTP/1.1\r\nHost: x\x00\r\n\r\n", 400},
		{"chunked", "POST /v1/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411},
		{"bad length", "POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"plus length", "POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\nx", 400},
		{"conflicting lengths", "POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", 400},
		{"body too large", "POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n", 413},
		{"short body", "POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab", 400},
		{"pipelined extra", "POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n", 400},
		{"truncated head", "GET /v1/status HTTP/1.1\r\nHost: x\r\n", 400},
		{"huge header", "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 9000) + "\r\n\r\n", 431},
		{"huge header, many lines", "GET /v1/status HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 2000) + "\r\n", 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.req)
			// Half-close, as a client that sent everything does, so that
			// a truncated request ends in EOF rather than the deadline.
			c.(*net.UnixConn).CloseWrite()
			ans, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			code, body, err := parseResponse(ans)
			if err != nil || code != tc.code || !strings.HasPrefix(string(body), `{"error":`) {
				t.Errorf("got %d %q (%v), want %d with an error body", code, body, err, tc.code)
			}
		})
	}
}

func TestEmptyConnection(t *testing.T) {
	path, _, logs := startServer(t)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.(*net.UnixConn).CloseWrite()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	ans, err := io.ReadAll(c)
	c.Close()
	if err != nil || len(ans) != 0 {
		t.Errorf("a connection closed without a request got %q, %v; want nothing", ans, err)
	}
	if strings.Contains(logs.String(), "bad request") {
		t.Errorf("an empty connection was logged as a bad request:\n%s", logs)
	}
}

func TestSlowClientHitsDeadline(t *testing.T) {
	defer func(d time.Duration) { ioTimeout = d }(ioTimeout)
	ioTimeout = 300 * time.Millisecond
	path, _, _ := startServer(t)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\n") // and never the blank line
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	ans, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the server did not close the connection: %v", err)
	}
	if code, _, _ := parseResponse(ans); code != 408 {
		t.Errorf("got %q, want a 408", ans)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the connection lasted %v with a %v deadline", d, ioTimeout)
	}
}

func TestSocketFile(t *testing.T) {
	path, _, _ := startServer(t)
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm()&0o755 != 0o755&^umask() {
		t.Errorf("created directory mode %v, want 0755 (less the umask)", di.Mode())
	}

	t.Run("live socket is not replaced", func(t *testing.T) {
		_, err := Serve(path, newFake(), nil)
		if !errors.Is(err, ErrInUse) {
			t.Errorf("Serve on a live socket: %v, want ErrInUse", err)
		}
	})
	t.Run("stale socket is replaced", func(t *testing.T) {
		stale := filepath.Join(t.TempDir(), "stale.sock")
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: stale}); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd) // bound, never listened: what a crash leaves
		s, err := Serve(stale, newFake(), nil)
		if err != nil {
			t.Fatalf("Serve over a stale socket: %v", err)
		}
		if code, _ := rawExchange(t, stale, get("/v1/status")); code != 200 {
			t.Errorf("got %d", code)
		}
		s.Close()
	})
	t.Run("regular file is not removed", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "not-a-socket")
		os.WriteFile(file, []byte("data"), 0o644)
		if _, err := Serve(file, newFake(), nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
			t.Errorf("Serve over a regular file: %v", err)
		}
		if b, _ := os.ReadFile(file); string(b) != "data" {
			t.Errorf("the file was touched")
		}
	})
	t.Run("close twice", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "c.sock")
		s, err := Serve(p, newFake(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := net.Dial("unix", p); err == nil {
			t.Errorf("connected after Close")
		}
	})
}

func umask() os.FileMode {
	m := unix.Umask(0)
	unix.Umask(m)
	return os.FileMode(m)
}

func TestCloseDropsOpenConnections(t *testing.T) {
	api := newFake()
	p := filepath.Join(t.TempDir(), "c.sock")
	s, err := Serve(p, api, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /v1/status HTTP/1.1\r\n")
	time.Sleep(50 * time.Millisecond) // let the server start reading
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close blocked on an open connection")
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Errorf("the open connection was not closed: %v", err)
	}
}

// unixHTTPClient is a net/http client for the socket.
func unixHTTPClient(path string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}
}

// TestNetHTTPClient checks the server against Go's own HTTP client, and its
// JSON against encoding/json.
func TestNetHTTPClient(t *testing.T) {
	path, api, _ := startServer(t)
	client := unixHTTPClient(path)
	resp, err := client.Get("http://initbox/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	var got struct {
		Services []struct {
			Name        string     `json:"name"`
			State       string     `json:"state"`
			Pid         int        `json:"pid"`
			Since       *time.Time `json:"since"`
			Restarts    int        `json:"restarts"`
			LastExit    string     `json:"last_exit"`
			LastCode    int        `json:"last_code"`
			Reason      string     `json:"reason"`
			Ready       string     `json:"ready"`
			Health      string     `json:"health"`
			Status      string     `json:"status"`
			MemoryBytes int64      `json:"memory_bytes"`
			CPUSeconds  float64    `json:"cpu_seconds"`
			Tasks       int64      `json:"tasks"`
			OOMKills    int        `json:"oom_kills"`
		} `json:"services"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("encoding/json cannot read the status: %v", err)
	}
	if len(got.Services) != 3 {
		t.Fatalf("got %d services", len(got.Services))
	}
	w, want := got.Services[0], api.services[0]
	if w.Name != want.Name || w.Pid != want.Pid || !w.Since.Equal(want.Since) || w.Status != want.Status ||
		w.MemoryBytes != want.MemoryBytes || w.CPUSeconds != 1.5 || w.Tasks != 3 || w.LastCode != 3 || w.OOMKills != 1 {
		t.Errorf("web decoded as %+v", w)
	}
	if got.Services[2].Since != nil || got.Services[1].CPUSeconds != -1 {
		t.Errorf("unknowns decoded as %+v", got.Services[1:])
	}

	resp, err = client.Post("http://initbox/v1/services/web/restart", "application/json", strings.NewReader(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "{\"ok\":true}\n" || api.lastCall() != "restart web" {
		t.Errorf("restart: %s %q, last call %q", resp.Status, body, api.lastCall())
	}

	resp, err = client.Get("http://initbox/v1/services/web/logs?lines=3")
	if err != nil {
		t.Fatal(err)
	}
	var logs struct{ Lines []string }
	err = json.NewDecoder(resp.Body).Decode(&logs)
	resp.Body.Close()
	if err != nil || len(logs.Lines) != 3 || logs.Lines[2] != "three\tTab \x01 \uFFFD" {
		t.Errorf("logs: %q, %v", logs.Lines, err)
	}
}

func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed: the server is still tested with net/http and a raw client")
	}
	path, api, _ := startServer(t)
	for _, tc := range []struct {
		args []string
		code string
		body string
	}{
		{[]string{"http://x/v1/status"}, "200", `{"services":[{"name":"web"`},
		{[]string{"-X", "POST", "http://x/v1/services/worker/stop"}, "200", `{"ok":true}`},
		{[]string{"-X", "POST", "http://x/v1/services/web/signal?signal=SIGHUP"}, "200", `{"ok":true}`},
		{[]string{"-X", "POST", "-d", "x=1", "http://x/v1/reload"}, "200", `{"ok":true}`},
		{[]string{"http://x/v1/services/nope"}, "404", `{"error":"unknown service \"nope\""}`},
		{[]string{"-X", "POST", "-H", "Transfer-Encoding: chunked", "-d", "x", "http://x/v1/reload"}, "411", `{"error":`},
	} {
		args := append([]string{"--unix-socket", path, "-sS", "-w", "\n%{http_code}", "--max-time", "5"}, tc.args...)
		out, err := exec.Command(curl, args...).CombinedOutput()
		if err != nil {
			t.Errorf("curl %q: %v\n%s", tc.args, err, out)
			continue
		}
		body, code, _ := strings.Cut(strings.TrimSpace(string(out)), "\n\n")
		if i := strings.LastIndexByte(string(out), '\n'); i >= 0 {
			body, code = string(out[:i]), string(out[i+1:])
		}
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("curl %q: got %s %s, want %s ...%s...", tc.args, code, body, tc.code, tc.body)
		}
	}
	if api.lastCall() != "reload " {
		t.Errorf("last call %q", api.lastCall())
	}
}

// TestPeerCredRefused connects as uid 65534 from a re-executed test binary:
// the kernel's SO_PEERCRED must get it a 403 and a log line.
func TestPeerCredRefused(t *testing.T) {
	if os.Getuid() != 0 {
		msg := "connecting as another uid needs root (setuid in the re-executed test binary)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "; CI is set, so this does not skip")
		}
		t.Skip(msg)
	}
	// A directory everyone can enter, the socket writable by everyone, and
	// a copy of the test binary everyone can run: only SO_PEERCRED stands
	// between uid 65534 and the API.
	dir, err := os.MkdirTemp("", "control-peercred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "control.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "control.sock")
	api, logs := newFake(), &syncBuffer{}
	s, err := Serve(path, api, logging.New(logs, logging.Console, logging.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}

	run := func(uid uint32) string {
		cmd := exec.Command(bin)
		cmd.Env = []string{peerEnv + "=" + path}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("peer as uid %d: %v\n%s", uid, err, out)
		}
		return string(out)
	}
	if out := run(65534); !strings.HasPrefix(out, "403 ") || !strings.Contains(out, "uid 65534") {
		t.Errorf("uid 65534 got %q, want 403", out)
	}
	if !strings.Contains(logs.String(), "refused") || !strings.Contains(logs.String(), "65534") {
		t.Errorf("no log line for the refused peer:\n%s", logs)
	}
	if out := run(0); !strings.HasPrefix(out, "200 ") {
		t.Errorf("root got %q, want 200", out)
	}
}

func TestServeErrors(t *testing.T) {
	for _, tc := range []struct{ name, path, want string }{
		{"empty", "", "empty path"},
		{"too long", "/tmp/" + strings.Repeat("x", 120), "longer than"},
		{"bad dir", "/proc/self/no/control.sock", "control socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Serve(tc.path, newFake(), nil)
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}

// fakeProcess is a program fakeAPI.Exec "ran": it wrote its line and
// exits with code once signalled, or at once when code says so.
type fakeProcess struct {
	code    int
	signals chan syscall.Signal
}

func (p *fakeProcess) Pid() int { return 4242 }
func (p *fakeProcess) Signal(sig syscall.Signal) error {
	p.signals <- sig
	return nil
}
func (p *fakeProcess) Wait() (int, string) {
	if p.code == -1 {
		sig := <-p.signals
		return 128 + int(sig), "signal: " + sig.String()
	}
	return p.code, "exit status " + fmt.Sprint(p.code)
}

// fakeExitCoder is a start failure with the shell's status.
type fakeExitCoder struct{ code int }

func (e fakeExitCoder) Error() string { return "exec nope: executable file not found in $PATH" }
func (e fakeExitCoder) ExitCode() int { return e.code }

func (f *fakeAPI) Exec(name string, r ExecRequest) (Process, error) {
	if err := f.record("exec "+strings.Join(r.Args, " "), name); err != nil {
		return nil, err
	}
	switch {
	case name == "worker":
		return nil, fmt.Errorf("%w: worker is backoff", ErrServiceNotRunning)
	case r.Args[0] == "nope":
		return nil, fakeExitCoder{127}
	}
	fmt.Fprintf(r.Stdout, "args=%q env=%q tty=%v\n", r.Args, r.Env, r.Terminal)
	p := &fakeProcess{code: 3, signals: make(chan syscall.Signal, 1)}
	if r.Args[0] == "wait-signal" {
		p.code = -1
	}
	return p, nil
}
