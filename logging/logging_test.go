package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConsoleAndLevel(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, Console, WarnLevel)
	l.Info("hidden")
	l.Warn("shown", Int("pid", 7), String("k", "v"))
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Errorf("info line written at warn level: %q", out)
	}
	for _, want := range []string{"WARN", "initbox", "shown", `"pid": 7`, `"k": "v"`} {
		if !strings.Contains(out, want) {
			t.Errorf("console line %q lacks %q", out, want)
		}
	}
}

func TestJSON(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, JSON, DebugLevel)
	l.Debug("m", Int("n", 1), Duration("d", time.Second), Err(errors.New("boom")), Err(nil), Strings("argv", []string{"a", "b"}))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON object: %q: %v", buf.String(), err)
	}
	for k, want := range map[string]any{"level": "debug", "msg": "m", "n": 1.0, "d": "1s", "error": "boom", "logger": "initbox"} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v (line %q)", k, m[k], want, buf.String())
		}
	}
	if _, ok := m[""]; ok {
		t.Errorf("Err(nil) added a field: %q", buf.String())
	}
}

func TestVerbosityAndFormat(t *testing.T) {
	for v, want := range map[int]Level{-1: ErrorLevel, 0: ErrorLevel, 1: WarnLevel, 2: InfoLevel, 3: DebugLevel, 9: DebugLevel} {
		if got := VerbosityLevel(v); got != want {
			t.Errorf("VerbosityLevel(%d) = %v, want %v", v, got, want)
		}
	}
	if f, err := ParseFormat(""); err != nil || f != Console {
		t.Errorf(`ParseFormat("") = %v, %v`, f, err)
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error(`ParseFormat("xml") accepted`)
	}
}

func TestNilLoggerAndRecover(t *testing.T) {
	var l *Logger
	l.Error("discarded") // must not panic
	var buf bytes.Buffer
	l = New(&buf, Console, DebugLevel)
	func() {
		defer l.Recover("test")
		panic("boom")
	}()
	if !strings.Contains(buf.String(), "recovered from panic") || !strings.Contains(buf.String(), "boom") {
		t.Errorf("Recover wrote %q", buf.String())
	}
}
