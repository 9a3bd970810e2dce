// Package logging writes initbox's own lines: levels, console or JSON
// format, structured fields.
//
// It is built on go.uber.org/zap's zapcore alone. Importing the package
// go.uber.org/zap links net/http and crypto/tls (about 2 MB) through its HTTP
// level handler and URL sinks, which would break the binary's size budget
// (issue #2); zapcore has the encoders and levels without them.
package logging

import (
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap/zapcore"
)

// Format names an output format.
type Format string

const (
	// Console is one human-readable line per entry.
	Console Format = "console"
	// JSON is one JSON object per line.
	JSON Format = "json"
)

// ParseFormat returns the Format named s ("" means Console).
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", Console:
		return Console, nil
	case JSON:
		return JSON, nil
	}
	return "", fmt.Errorf("log format %q: want %q or %q", s, Console, JSON)
}

// Level is a zapcore level; the aliases spare callers an import.
type Level = zapcore.Level

// Levels, from the most verbose.
const (
	DebugLevel = zapcore.DebugLevel
	InfoLevel  = zapcore.InfoLevel
	WarnLevel  = zapcore.WarnLevel
	ErrorLevel = zapcore.ErrorLevel
)

// VerbosityLevel maps tini's verbosity (0 fatal only, 1 warnings, the
// default, 2 info, 3 and more debug) to a level.
func VerbosityLevel(v int) Level {
	switch {
	case v <= 0:
		return ErrorLevel
	case v == 1:
		return WarnLevel
	case v == 2:
		return InfoLevel
	}
	return DebugLevel
}

// Field is one key and value of an entry.
type Field = zapcore.Field

// A Logger writes entries at or above its level. It is safe for concurrent
// use. The zero value is not usable; a nil *Logger discards everything.
type Logger struct {
	core zapcore.Core
	name string
}

// New returns a Logger writing to w. Writes to w are serialised.
func New(w io.Writer, format Format, level Level) *Logger {
	enc := newEncoder(format == JSON)
	ws := zapcore.Lock(zapcore.AddSync(w))
	return &Logger{core: zapcore.NewCore(enc, ws, level), name: "initbox"}
}

// Stderr returns a Logger on os.Stderr.
func Stderr(format Format, level Level) *Logger {
	return New(os.Stderr, format, level)
}

func (l *Logger) log(lvl Level, msg string, fields []Field) {
	if l == nil {
		return
	}
	ent := zapcore.Entry{Level: lvl, Time: time.Now(), LoggerName: l.name, Message: msg}
	if ce := l.core.Check(ent, nil); ce != nil {
		ce.Write(fields...)
	}
}

// Debug logs at DebugLevel.
func (l *Logger) Debug(msg string, fields ...Field) { l.log(DebugLevel, msg, fields) }

// Info logs at InfoLevel.
func (l *Logger) Info(msg string, fields ...Field) { l.log(InfoLevel, msg, fields) }

// Warn logs at WarnLevel.
func (l *Logger) Warn(msg string, fields ...Field) { l.log(WarnLevel, msg, fields) }

// Error logs at ErrorLevel.
func (l *Logger) Error(msg string, fields ...Field) { l.log(ErrorLevel, msg, fields) }

// Int is an integer field.
func Int(key string, v int) Field {
	return Field{Key: key, Type: zapcore.Int64Type, Integer: int64(v)}
}

// String is a string field.
func String(key, v string) Field {
	return Field{Key: key, Type: zapcore.StringType, String: v}
}

// Strings is a list-of-strings field.
func Strings(key string, v []string) Field {
	return Field{Key: key, Type: zapcore.ArrayMarshalerType, Interface: stringArray(v)}
}

// Duration is a duration field.
func Duration(key string, d time.Duration) Field {
	return Field{Key: key, Type: zapcore.DurationType, Integer: int64(d)}
}

// Err is an error field under the key "error"; a nil error adds nothing.
func Err(err error) Field {
	if err == nil {
		return Field{Type: zapcore.SkipType}
	}
	return Field{Key: "error", Type: zapcore.StringType, String: err.Error()}
}

// Stringer is a field holding v.String().
func Stringer(key string, v fmt.Stringer) Field {
	return String(key, v.String())
}

type stringArray []string

func (a stringArray) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, s := range a {
		enc.AppendString(s)
	}
	return nil
}

// Recover logs a panic recovered in a goroutine instead of letting it end
// PID 1 (DESIGN: "PID 1 never dies by accident"). Use as
// `defer log.Recover("what")`.
func (l *Logger) Recover(what string) {
	if v := recover(); v != nil {
		l.Error("recovered from panic", String("in", what), String("panic", fmt.Sprint(v)))
	}
}
