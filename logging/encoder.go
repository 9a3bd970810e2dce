package logging

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// encoder is a zapcore.Encoder for initbox's two formats. zapcore's own
// JSON and console encoders reach encoding/json through their default
// reflected encoder, which costs the binary about 260 KB (issue #2);
// initbox logs no reflected values, so it encodes its
// fields itself. A reflected field is written with its %v text.
type encoder struct {
	json   bool
	fields []byte // encoded fields added with With, each with its leading separator
}

var pool = buffer.NewPool()

func newEncoder(json bool) *encoder { return &encoder{json: json} }

func (e *encoder) Clone() zapcore.Encoder {
	return &encoder{json: e.json, fields: append([]byte(nil), e.fields...)}
}

// EncodeEntry writes one line. JSON:
// {"level":"warn","ts":"…","logger":"initbox","msg":"…","key":value}
// Console, as zap's console encoder lays it out:
// TIME<TAB>LEVEL<TAB>initbox<TAB>MSG<TAB>{"key": value}
func (e *encoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	b := pool.Get()
	f := &fieldEncoder{buf: b, json: e.json}
	if e.json {
		b.AppendString(`{"level":`)
		appendQuoted(b, ent.Level.String())
		b.AppendString(`,"ts":`)
		appendQuoted(b, ent.Time.Format(time.RFC3339Nano))
		if ent.LoggerName != "" {
			b.AppendString(`,"logger":`)
			appendQuoted(b, ent.LoggerName)
		}
		b.AppendString(`,"msg":`)
		appendQuoted(b, ent.Message)
		f.first = false
		b.Write(e.fields)
		for _, fl := range fields {
			fl.AddTo(f)
		}
		b.AppendString("}\n")
		return b, nil
	}
	b.AppendString(ent.Time.Format("2006-01-02T15:04:05.000Z07:00"))
	b.AppendByte('\t')
	b.AppendString(ent.Level.CapitalString())
	if ent.LoggerName != "" {
		b.AppendByte('\t')
		b.AppendString(ent.LoggerName)
	}
	b.AppendByte('\t')
	b.AppendString(ent.Message)
	if len(e.fields) > 0 || hasFields(fields) {
		b.AppendString("\t{")
		f.first = true
		if len(e.fields) > 0 {
			b.Write(e.fields[2:]) // the stored fields begin with ", "
			f.first = false
		}
		for _, fl := range fields {
			fl.AddTo(f)
		}
		b.AppendByte('}')
	}
	b.AppendByte('\n')
	return b, nil
}

func hasFields(fields []zapcore.Field) bool {
	for _, f := range fields {
		if f.Type != zapcore.SkipType {
			return true
		}
	}
	return false
}

// The encoder's own ObjectEncoder methods serve Core.With: fields are
// encoded once and kept.
func (e *encoder) with(add func(*fieldEncoder)) {
	b := pool.Get()
	defer b.Free()
	f := &fieldEncoder{buf: b, json: e.json}
	add(f)
	e.fields = append(e.fields, b.Bytes()...)
}

func (e *encoder) AddArray(k string, v zapcore.ArrayMarshaler) error {
	var err error
	e.with(func(f *fieldEncoder) { err = f.AddArray(k, v) })
	return err
}
func (e *encoder) AddObject(k string, v zapcore.ObjectMarshaler) error {
	var err error
	e.with(func(f *fieldEncoder) { err = f.AddObject(k, v) })
	return err
}
func (e *encoder) AddBinary(k string, v []byte) { e.with(func(f *fieldEncoder) { f.AddBinary(k, v) }) }
func (e *encoder) AddByteString(k string, v []byte) {
	e.with(func(f *fieldEncoder) { f.AddByteString(k, v) })
}
func (e *encoder) AddBool(k string, v bool) { e.with(func(f *fieldEncoder) { f.AddBool(k, v) }) }
func (e *encoder) AddComplex128(k string, v complex128) {
	e.with(func(f *fieldEncoder) { f.AddComplex128(k, v) })
}
func (e *encoder) AddComplex64(k string, v complex64) { e.AddComplex128(k, complex128(v)) }
func (e *encoder) AddDuration(k string, v time.Duration) {
	e.with(func(f *fieldEncoder) { f.AddDuration(k, v) })
}
func (e *encoder) AddFloat64(k string, v float64) {
	e.with(func(f *fieldEncoder) { f.AddFloat64(k, v) })
}
func (e *encoder) AddFloat32(k string, v float32) { e.AddFloat64(k, float64(v)) }
func (e *encoder) AddInt(k string, v int)         { e.AddInt64(k, int64(v)) }
func (e *encoder) AddInt64(k string, v int64)     { e.with(func(f *fieldEncoder) { f.AddInt64(k, v) }) }
func (e *encoder) AddInt32(k string, v int32)     { e.AddInt64(k, int64(v)) }
func (e *encoder) AddInt16(k string, v int16)     { e.AddInt64(k, int64(v)) }
func (e *encoder) AddInt8(k string, v int8)       { e.AddInt64(k, int64(v)) }
func (e *encoder) AddString(k, v string)          { e.with(func(f *fieldEncoder) { f.AddString(k, v) }) }
func (e *encoder) AddTime(k string, v time.Time)  { e.with(func(f *fieldEncoder) { f.AddTime(k, v) }) }
func (e *encoder) AddUint(k string, v uint)       { e.AddUint64(k, uint64(v)) }
func (e *encoder) AddUint64(k string, v uint64)   { e.with(func(f *fieldEncoder) { f.AddUint64(k, v) }) }
func (e *encoder) AddUint32(k string, v uint32)   { e.AddUint64(k, uint64(v)) }
func (e *encoder) AddUint16(k string, v uint16)   { e.AddUint64(k, uint64(v)) }
func (e *encoder) AddUint8(k string, v uint8)     { e.AddUint64(k, uint64(v)) }
func (e *encoder) AddUintptr(k string, v uintptr) { e.AddUint64(k, uint64(v)) }
func (e *encoder) AddReflected(k string, v any) error {
	e.with(func(f *fieldEncoder) { _ = f.AddReflected(k, v) })
	return nil
}
func (e *encoder) OpenNamespace(k string) { e.with(func(f *fieldEncoder) { f.OpenNamespace(k) }) }

// fieldEncoder appends fields, or array elements, to a buffer as JSON
// values. Console lines separate them with ", " and ": ", as zap does.
type fieldEncoder struct {
	buf   *buffer.Buffer
	json  bool
	first bool
	open  int // namespaces opened, closed at the end of the entry
}

func (f *fieldEncoder) sep() {
	if f.first {
		f.first = false
		return
	}
	if f.json {
		f.buf.AppendByte(',')
	} else {
		f.buf.AppendString(", ")
	}
}

func (f *fieldEncoder) key(k string) {
	f.sep()
	appendQuoted(f.buf, k)
	if f.json {
		f.buf.AppendByte(':')
	} else {
		f.buf.AppendString(": ")
	}
}

func (f *fieldEncoder) AddArray(k string, v zapcore.ArrayMarshaler) error {
	f.key(k)
	return f.AppendArray(v)
}
func (f *fieldEncoder) AddObject(k string, v zapcore.ObjectMarshaler) error {
	f.key(k)
	return f.AppendObject(v)
}
func (f *fieldEncoder) AddBinary(k string, v []byte) {
	f.key(k)
	appendQuoted(f.buf, base64.StdEncoding.EncodeToString(v))
}
func (f *fieldEncoder) AddByteString(k string, v []byte)      { f.key(k); f.AppendByteString(v) }
func (f *fieldEncoder) AddBool(k string, v bool)              { f.key(k); f.buf.AppendBool(v) }
func (f *fieldEncoder) AddComplex128(k string, v complex128)  { f.key(k); f.AppendComplex128(v) }
func (f *fieldEncoder) AddComplex64(k string, v complex64)    { f.AddComplex128(k, complex128(v)) }
func (f *fieldEncoder) AddDuration(k string, v time.Duration) { f.key(k); f.AppendDuration(v) }
func (f *fieldEncoder) AddFloat64(k string, v float64)        { f.key(k); f.AppendFloat64(v) }
func (f *fieldEncoder) AddFloat32(k string, v float32)        { f.AddFloat64(k, float64(v)) }
func (f *fieldEncoder) AddInt(k string, v int)                { f.AddInt64(k, int64(v)) }
func (f *fieldEncoder) AddInt64(k string, v int64)            { f.key(k); f.buf.AppendInt(v) }
func (f *fieldEncoder) AddInt32(k string, v int32)            { f.AddInt64(k, int64(v)) }
func (f *fieldEncoder) AddInt16(k string, v int16)            { f.AddInt64(k, int64(v)) }
func (f *fieldEncoder) AddInt8(k string, v int8)              { f.AddInt64(k, int64(v)) }
func (f *fieldEncoder) AddString(k, v string)                 { f.key(k); appendQuoted(f.buf, v) }
func (f *fieldEncoder) AddTime(k string, v time.Time)         { f.key(k); f.AppendTime(v) }
func (f *fieldEncoder) AddUint(k string, v uint)              { f.AddUint64(k, uint64(v)) }
func (f *fieldEncoder) AddUint64(k string, v uint64)          { f.key(k); f.buf.AppendUint(v) }
func (f *fieldEncoder) AddUint32(k string, v uint32)          { f.AddUint64(k, uint64(v)) }
func (f *fieldEncoder) AddUint16(k string, v uint16)          { f.AddUint64(k, uint64(v)) }
func (f *fieldEncoder) AddUint8(k string, v uint8)            { f.AddUint64(k, uint64(v)) }
func (f *fieldEncoder) AddUintptr(k string, v uintptr)        { f.AddUint64(k, uint64(v)) }
func (f *fieldEncoder) AddReflected(k string, v any) error {
	f.key(k)
	return f.AppendReflected(v)
}
func (f *fieldEncoder) OpenNamespace(k string) {
	f.key(k)
	f.buf.AppendByte('{')
	f.first = true
	f.open++
}

func (f *fieldEncoder) AppendArray(v zapcore.ArrayMarshaler) error {
	f.sepElem()
	f.buf.AppendByte('[')
	inner := &fieldEncoder{buf: f.buf, json: f.json, first: true}
	err := v.MarshalLogArray(inner)
	f.buf.AppendByte(']')
	return err
}
func (f *fieldEncoder) AppendObject(v zapcore.ObjectMarshaler) error {
	f.sepElem()
	f.buf.AppendByte('{')
	inner := &fieldEncoder{buf: f.buf, json: f.json, first: true}
	err := v.MarshalLogObject(inner)
	for ; inner.open > 0; inner.open-- {
		f.buf.AppendByte('}')
	}
	f.buf.AppendByte('}')
	return err
}

// sepElem separates array elements; a value written after a key has its
// separator already, which the key marked by leaving first false and the
// buffer ending in ':' or ": ".
func (f *fieldEncoder) sepElem() {
	if n := f.buf.Len(); n > 0 {
		switch f.buf.Bytes()[n-1] {
		case ':', ' ', '[', '{':
			f.first = false
			return
		}
	}
	f.sep()
}

func (f *fieldEncoder) AppendBool(v bool)         { f.sepElem(); f.buf.AppendBool(v) }
func (f *fieldEncoder) AppendByteString(v []byte) { f.sepElem(); appendQuoted(f.buf, string(v)) }
func (f *fieldEncoder) AppendComplex128(v complex128) {
	f.sepElem()
	appendQuoted(f.buf, strconv.FormatComplex(v, 'g', -1, 128))
}
func (f *fieldEncoder) AppendComplex64(v complex64)    { f.AppendComplex128(complex128(v)) }
func (f *fieldEncoder) AppendDuration(v time.Duration) { f.sepElem(); appendQuoted(f.buf, v.String()) }
func (f *fieldEncoder) AppendFloat64(v float64) {
	f.sepElem()
	switch {
	case math.IsNaN(v), math.IsInf(v, 0):
		appendQuoted(f.buf, strconv.FormatFloat(v, 'g', -1, 64))
	default:
		f.buf.AppendFloat(v, 64)
	}
}
func (f *fieldEncoder) AppendFloat32(v float32) { f.AppendFloat64(float64(v)) }
func (f *fieldEncoder) AppendInt(v int)         { f.AppendInt64(int64(v)) }
func (f *fieldEncoder) AppendInt64(v int64)     { f.sepElem(); f.buf.AppendInt(v) }
func (f *fieldEncoder) AppendInt32(v int32)     { f.AppendInt64(int64(v)) }
func (f *fieldEncoder) AppendInt16(v int16)     { f.AppendInt64(int64(v)) }
func (f *fieldEncoder) AppendInt8(v int8)       { f.AppendInt64(int64(v)) }
func (f *fieldEncoder) AppendString(v string)   { f.sepElem(); appendQuoted(f.buf, v) }
func (f *fieldEncoder) AppendTime(v time.Time) {
	f.sepElem()
	appendQuoted(f.buf, v.Format(time.RFC3339Nano))
}
func (f *fieldEncoder) AppendUint(v uint)       { f.AppendUint64(uint64(v)) }
func (f *fieldEncoder) AppendUint64(v uint64)   { f.sepElem(); f.buf.AppendUint(v) }
func (f *fieldEncoder) AppendUint32(v uint32)   { f.AppendUint64(uint64(v)) }
func (f *fieldEncoder) AppendUint16(v uint16)   { f.AppendUint64(uint64(v)) }
func (f *fieldEncoder) AppendUint8(v uint8)     { f.AppendUint64(uint64(v)) }
func (f *fieldEncoder) AppendUintptr(v uintptr) { f.AppendUint64(uint64(v)) }
func (f *fieldEncoder) AppendReflected(v any) error {
	f.sepElem()
	appendQuoted(f.buf, fmt.Sprint(v))
	return nil
}

// appendQuoted writes s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendQuoted(b *buffer.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.AppendByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.AppendByte('\\')
				b.AppendByte(c)
			case c == '\n':
				b.AppendString(`\n`)
			case c == '\r':
				b.AppendString(`\r`)
			case c == '\t':
				b.AppendString(`\t`)
			case c < 0x20:
				b.AppendString(`\u00`)
				b.AppendByte(hex[c>>4])
				b.AppendByte(hex[c&0xf])
			default:
				b.AppendByte(c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.AppendString(`\ufffd`)
		} else {
			b.AppendString(s[i : i+n])
		}
		i += n
	}
	b.AppendByte('"')
}
