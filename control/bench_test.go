package control

import (
	"bytes"
	"testing"

	"github.com/initbox/initbox/logging"
)

// BenchmarkRequest is one control request as the server handles it:
// reading the head, routing, and the answer (issue #17: what a scrape or a
// ctl status allocates).
func BenchmarkRequest(b *testing.B) {
	api := newFake()
	log := logging.New(&bytes.Buffer{}, logging.Console, logging.InfoLevel)
	h := controlHandler(api, log)
	raw := []byte(get("/v1/status"))
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		req, err := readRequest(bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		out = appendResponse(out[:0], h(req, 0))
	}
}

// BenchmarkMetrics is one /metrics scrape of the fake supervisor's three
// services.
func BenchmarkMetrics(b *testing.B) {
	h := probeHandler(newFake())
	raw := []byte(get("/metrics"))
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		req, err := readRequest(bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		out = appendResponse(out[:0], h(req, 0))
	}
}
