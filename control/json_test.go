package control

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"\n\r\t", `"\n\r\t"`},
		{"\x00\x1f\x7f", `"\u0000\u001f\u007f"`},
		{"héllo ☃ 🎉", `"héllo ☃ 🎉"`},
		{"bad \xff\xfe end", `"bad \ufffd\ufffd end"`},
		{"cut \xe2\x98", `"cut \ufffd\ufffd"`},
		{"</script>", `"</script>"`},
	} {
		got := string(appendString(nil, tc.in))
		if got != tc.want {
			t.Errorf("appendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("encoding/json cannot read %s: %v", got, err)
		}
		if utf8.ValidString(tc.in) && back != tc.in {
			t.Errorf("round trip of %q gave %q", tc.in, back)
		}
	}
}

func TestStatusRoundTrip(t *testing.T) {
	for _, s := range newFake().services {
		b := appendStatus(nil, s)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON %s", b)
		}
		v, err := decodeJSON(b)
		if err != nil {
			t.Fatalf("decodeJSON(%s): %v", b, err)
		}
		got, ok := statusFromJSON(v)
		if !ok {
			t.Fatalf("statusFromJSON(%s) failed", b)
		}
		if !got.Since.Equal(s.Since) {
			t.Errorf("since %v, want %v", got.Since, s.Since)
		}
		got.Since, s.Since = time.Time{}, time.Time{}
		if s.CPU < 0 {
			s.CPU = -1
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip\n got %+v\nwant %+v", got, s)
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any // nil with ok false: an error
		ok   bool
	}{
		{`{"a":[1,"x",true,false,null,{}],"b":-1.5e3}`, map[string]any{"a": []any{jsonNumber("1"), "x", true, false, nil, map[string]any{}}, "b": jsonNumber("-1.5e3")}, true},
		{` [ ] `, []any{}, true},
		{`"\u00e9\ud83c\udf89\/\b\f"`, "é🎉/\b\f", true},
		{`"\ud83c"`, "\uFFFD", true},
		{`"9223372036854775807"`, "9223372036854775807", true},
		{`9223372036854775807`, jsonNumber("9223372036854775807"), true},
		{`{"a":1,}`, nil, false},
		{`[1 2]`, nil, false},
		{`{"a" 1}`, nil, false},
		{`{1:2}`, nil, false},
		{`"unterminated`, nil, false},
		{"\"ctl\x01\"", nil, false},
		{`"\x"`, nil, false},
		{`"\u12"`, nil, false},
		{`tru`, nil, false},
		{`00`, nil, false},
		{`-`, nil, false},
		{`1.`, nil, false},
		{`.5`, nil, false},
		{`1e`, nil, false},
		{`-0.5E+2`, jsonNumber("-0.5E+2"), true},
		{`1-`, nil, false},
		{`{} {}`, nil, false},
		{``, nil, false},
		{string(make([]byte, 100)), nil, false},
		{"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", nil, false},
	} {
		got, err := decodeJSON([]byte(tc.in))
		if (err == nil) != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("decodeJSON(%q) = %#v, %v", tc.in, got, err)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"services":[{"name":"web","pid":1}]}`))
	f.Add([]byte(`"\ud83c\udf89"`))
	f.Add([]byte(`[1,-2.5e-3,true,null]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeJSON(data)
		if err == nil && !json.Valid(data) {
			t.Errorf("decodeJSON accepted invalid JSON %q as %#v", data, v)
		}
	})
}
