package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// figure is one measured value of one init in one workload.
type figure struct {
	Workload string  `json:"workload"`
	Metric   string  `json:"metric"`
	Init     string  `json:"init"`
	Unit     string  `json:"unit"`
	Median   float64 `json:"median"`
	P99      float64 `json:"p99,omitempty"`
	Samples  int     `json:"samples"`
	// Ratio is initbox's median over this one's, for the peers of a
	// workload where initbox has a figure (0 otherwise).
	Ratio float64 `json:"ratio,omitempty"`
	Extra string  `json:"extra,omitempty"`
}

// table is one section of results.md.
type table struct {
	Title  string     `json:"title"`
	Note   string     `json:"note,omitempty"`
	Header []string   `json:"header"`
	Rows   [][]string `json:"rows"`
}

type target struct {
	Figure string  `json:"figure"`
	Target string  `json:"target"`
	Value  string  `json:"value"`
	Met    bool    `json:"met"`
	Known  bool    `json:"measured"`
	Raw    float64 `json:"raw"`
}

type report struct {
	Started     string    `json:"started"`
	Machine     string    `json:"machine"`
	Quick       bool      `json:"quick"`
	Args        []string  `json:"args"`
	Inits       []string  `json:"inits"`
	WallSeconds float64   `json:"wall_seconds"`
	LoadStart   string    `json:"loadavg_start"`
	LoadEnd     string    `json:"loadavg_end"`
	Figures     []*figure `json:"figures"`
	Tables      []table   `json:"tables"`
	Targets     []target  `json:"targets"`
}

// add records one workload metric for several inits. ref names the
// initbox row the ratios are taken from.
func (r *report) add(f *figure) *figure {
	r.Figures = append(r.Figures, f)
	return f
}

func (r *report) find(workload, metric, init string) *figure {
	for _, f := range r.Figures {
		if f.Workload == workload && f.Metric == metric && f.Init == init {
			return f
		}
	}
	return nil
}

// ratios fills Ratio = ref/peer for every figure of (workload, metric)
// other than ref.
func (r *report) ratios(workload, metric, ref string) {
	rf := r.find(workload, metric, ref)
	if rf == nil {
		return
	}
	for _, f := range r.Figures {
		if f.Workload == workload && f.Metric == metric && f.Init != ref && f.Median > 0 {
			f.Ratio = rf.Median / f.Median
		}
	}
}

// tableOf renders the figures of one workload metric as a table, with the
// ratio column initbox/peer.
func (r *report) tableOf(title, note, workload, metric string, p99 bool, extraCol string) {
	t := table{Title: title, Note: note, Header: []string{"init", "median"}}
	if p99 {
		t.Header = append(t.Header, "p99")
	}
	if extraCol != "" {
		t.Header = append(t.Header, extraCol)
	}
	ratioCol := "initbox / this"
	if workload == "spawn" {
		ratioCol = "this / unshare" // spawn's reference is unshare
	}
	t.Header = append(t.Header, "samples", ratioCol)
	for _, f := range r.Figures {
		if f.Workload != workload || f.Metric != metric {
			continue
		}
		row := []string{f.Init, fmtVal(f.Median, f.Unit)}
		if p99 {
			row = append(row, fmtVal(f.P99, f.Unit))
		}
		if extraCol != "" {
			row = append(row, f.Extra)
		}
		ratio := "—"
		if f.Ratio > 0 {
			ratio = fmtRatio(f.Ratio)
		}
		row = append(row, fmt.Sprint(f.Samples), ratio)
		t.Rows = append(t.Rows, row)
	}
	r.Tables = append(r.Tables, t)
	printTable(t)
}

func printTable(t table) {
	fmt.Printf("\n## %s\n\n", t.Title)
	if t.Note != "" {
		fmt.Printf("%s\n\n", t.Note)
	}
	fmt.Printf("| %s |\n|%s\n", strings.Join(t.Header, " | "), strings.Repeat("---|", len(t.Header)))
	for _, row := range t.Rows {
		fmt.Printf("| %s |\n", strings.Join(row, " | "))
	}
}

func fmtVal(v float64, unit string) string {
	switch unit {
	case "ms":
		return fmt.Sprintf("%.3f ms", v)
	case "us":
		return fmt.Sprintf("%.1f µs", v)
	case "MiB":
		return fmt.Sprintf("%.2f MiB", v)
	case "count":
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}

func durMs(d time.Duration) float64 { return float64(d) / 1e6 }

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// evaluateTargets checks the budgets of issue #17's table, then those of
// issue #8 that it does not replace.
func (r *report) evaluateTargets() {
	ratio := func(figure, tgt, workload, metric, peer string, limit float64) {
		t := target{Figure: figure, Target: tgt}
		ib, p := r.find(workload, metric, "initbox"), r.find(workload, metric, peer)
		if ib != nil && p != nil && p.Median > 0 {
			x := ib.Median / p.Median
			t.Known, t.Met, t.Raw = true, x <= limit, x
			t.Value = fmt.Sprintf("%.2f × (%s vs %s)", x, fmtVal(ib.Median, ib.Unit), fmtVal(p.Median, p.Unit))
		}
		r.Targets = append(r.Targets, t)
	}
	abs := func(figure, tgt, workload, metric, init string, limit float64) {
		t := target{Figure: figure, Target: tgt}
		if f := r.find(workload, metric, init); f != nil {
			t.Known, t.Met, t.Raw = true, f.Median <= limit, f.Median
			t.Value = fmtVal(f.Median, f.Unit)
		}
		r.Targets = append(r.Targets, t)
	}
	// rows compares two rows of one workload, a over b.
	rows := func(figure, tgt, workload, metric, a, b string, limit float64) {
		t := target{Figure: figure, Target: tgt}
		fa, fb := r.find(workload, metric, a), r.find(workload, metric, b)
		if fa != nil && fb != nil && fb.Median > 0 {
			x := fa.Median / fb.Median
			t.Known, t.Met, t.Raw = true, x <= limit, x
			t.Value = fmt.Sprintf("%.2f × (%s vs %s)", x, fmtVal(fa.Median, fa.Unit), fmtVal(fb.Median, fb.Unit))
		}
		r.Targets = append(r.Targets, t)
	}
	// Issue #17's, then what is left of issue #8's.
	ratio("start-up against the Go floor", "≤ 1.15 × go-floor", "startup", "wall", "go-floor", 1.15)
	ratio("signal latency p50", "≤ 1.2 × tini", "signal", "latency", "tini", 1.2)
	abs("idle RSS, tini mode, one child", "≤ 2.6 MiB", "idle", "rss", "initbox", 2.6)
	abs("RSS supervising 20 services", "≤ 5 MiB", "supervisor", "rss 20", "initbox", 5.0)
	abs("RSS, the real stack, 12 s after its start", "≤ 6 MiB", "stack", "rss", "initbox", 6.0)
	abs("RSS, the real stack, over an hour of restarts and checks (-only soak: the median after 5 min)", "≤ 6 MiB", "soak", "rss", "initbox", 6.0)
	rows("/metrics p50 under initbox's GC target", "≤ 1.2 × GOGC=100", "metrics", "metrics p50", "initbox", "initbox GOGC=100", 1.2)
	rows("ctl status p50 under initbox's GC target", "≤ 1.2 × GOGC=100", "metrics", "status p50", "initbox", "initbox GOGC=100", 1.2)
	ratio("CPU to drain 10,000 orphans, the storm on one CPU", "≤ 1.0 × tini", "orphans", "cpu1 10000", "tini", 1.0)
	ratio("CPU to drain 10,000 orphans, on two CPUs (varies with lock contention, see its table)", "≤ 1.0 × tini", "orphans", "cpu 10000", "tini", 1.0)
	rows("initbox spawn --uts --ipc", "≤ 1.5 × bwrap", "spawn", "wall", "initbox spawn --uts --ipc", bwrapRow, 1.5)
	ratio("start-up", "≤ 1.6 × tini-static", "startup", "wall", "tini-static", 1.6)
	ratio("orphan drain time (10,000)", "≤ 1.0 × tini", "orphans", "drain 10000", "tini", 1.0)
	ratio("orphan drain time (100,000)", "≤ 1.0 × tini", "orphans", "drain 100000", "tini", 1.0)
	abs("restart latency p50, delay 0", "≤ 5 ms", "supervisor", "restart", "initbox", 5.0)
	abs("stop 20 services", "≤ 50 ms", "supervisor", "stop 20", "initbox", 50.0)
	abs("binary", "≤ 4.5 MiB", "binary", "size", "initbox", 4.5)
	abs("periodic wakeups when idle (context switches in 10 s)", "none (0)", "idle", "ctxsw", "initbox", 0)
}

func (r *report) targetsText() string {
	var b strings.Builder
	b.WriteString("\n## Targets (issues #17 and #8)\n\n| figure | target | measured | met |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		met := "not measured"
		if t.Known {
			met = "**missed**"
			if t.Met {
				met = "met"
			}
		}
		v := t.Value
		if v == "" {
			v = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Figure, t.Target, v, met)
	}
	return b.String()
}

func (r *report) write(dir string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# initbox against its peers\n\nMeasured by `bench/` (issue #8) on %s, started %s, wall time %.0f s", r.Machine, r.Started, r.WallSeconds)
	if r.Quick {
		b.WriteString(" (**quick run**: fewer samples)")
	}
	fmt.Fprintf(&b, "; load average %s at the start, %s at the end", r.LoadStart, r.LoadEnd)
	fmt.Fprintf(&b, ".\nInits: %s.\nRuns alternate between inits; \"initbox / this\" is initbox's median over the row's (below 1: initbox is faster or smaller).\n\n![ratios](results.png)\n", strings.Join(r.Inits, ", "))
	b.WriteString(r.targetsText())
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "\n## %s\n\n", t.Title)
		if t.Note != "" {
			fmt.Fprintf(&b, "%s\n\n", t.Note)
		}
		fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(t.Header, " | "), strings.Repeat("---|", len(t.Header)))
		for _, row := range t.Rows {
			fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	return writeChart(filepath.Join(dir, "results.png"), r)
}

// fmtRatio keeps two decimals, and three significant digits below 0.01
// (supervisord's 1 s restart against initbox's 2 ms is not "0.00").
func fmtRatio(x float64) string {
	if x < 0.01 {
		return fmt.Sprintf("%.3g", x)
	}
	return fmt.Sprintf("%.2f", x)
}
