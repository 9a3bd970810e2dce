package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"slices"
	"strings"
)

// The chart is drawn with the standard library only (the bench adds no
// dependency): horizontal bars of initbox/peer on a log scale centred on
// 1, green where initbox is at least as fast or small, red where not, and
// labels in a 5x7 bitmap font defined below.

// font5x7 holds the glyphs used in labels, 7 rows of 5 columns each.
// Lower-case letters are drawn as capitals; × is the small x.
var font5x7 = map[rune][7]string{
	'A': {" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"},
	'B': {"#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "},
	'C': {" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "},
	'D': {"#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### "},
	'E': {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"},
	'F': {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "},
	'G': {" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"},
	'H': {"#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"},
	'I': {" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "},
	'J': {"  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "},
	'K': {"#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"},
	'L': {"#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"},
	'M': {"#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"},
	'N': {"#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"},
	'O': {" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "},
	'P': {"#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "},
	'Q': {" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"},
	'R': {"#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"},
	'S': {" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "},
	'T': {"#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "},
	'U': {"#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "},
	'V': {"#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "},
	'W': {"#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "},
	'X': {"#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"},
	'Y': {"#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "},
	'Z': {"#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"},
	'0': {" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "},
	'1': {"  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "},
	'2': {" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"},
	'3': {"#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "},
	'4': {"   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "},
	'5': {"#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "},
	'6': {"  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "},
	'7': {"#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "},
	'8': {" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "},
	'9': {" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "},
	'.': {"     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "},
	',': {"     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   "},
	'-': {"     ", "     ", "     ", "#####", "     ", "     ", "     "},
	'/': {"     ", "    #", "   # ", "  #  ", " #   ", "#    ", "     "},
	':': {"     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "},
	'%': {"##   ", "##  #", "   # ", "  #  ", " #   ", "#  ##", "   ##"},
	'(': {"   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "},
	')': {" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "},
	'×': {"     ", "     ", "#   #", " # # ", "  #  ", " # # ", "#   #"},
	'=': {"     ", "     ", "#####", "     ", "#####", "     ", "     "},
	'<': {"   # ", "  #  ", " #   ", "#    ", " #   ", "  #  ", "   # "},
	'>': {" #   ", "  #  ", "   # ", "    #", "   # ", "  #  ", " #   "},
	'_': {"     ", "     ", "     ", "     ", "     ", "     ", "#####"},
	'+': {"     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     "},
}

// text draws s at (x, y) (top left), each font pixel a scale×scale square.
func text(img *image.RGBA, x, y, scale int, s string, c color.Color) {
	for _, r := range s {
		g, ok := font5x7[r]
		if !ok {
			g, ok = font5x7[[]rune(strings.ToUpper(string(r)))[0]]
		}
		if ok {
			for row, line := range g {
				for col, px := range line {
					if px == '#' {
						fill(img, x+col*scale, y+row*scale, scale, scale, c)
					}
				}
			}
		}
		x += 6 * scale
	}
}

func textWidth(s string, scale int) int { return len([]rune(s)) * 6 * scale }

func fill(img *image.RGBA, x, y, w, h int, c color.Color) {
	for j := y; j < y+h; j++ {
		for i := x; i < x+w; i++ {
			img.Set(i, j, c)
		}
	}
}

type bar struct {
	group, peer string
	ratio       float64
}

// chartBars picks, in report order, every figure with a ratio: one bar per
// workload metric and peer.
func chartBars(r *report) []bar {
	label := map[string]string{
		"startup/wall": "start-up", "orphans/drain 10000": "drain 10k orphans", "orphans/drain 100000": "drain 100k orphans",
		"signal/latency": "signal p50", "idle/rss": "idle RSS", "idle/pss": "idle PSS", "binary/size": "binary size",
		"supervisor/rss 1": "RSS 1 service", "supervisor/rss 20": "RSS 20 services", "supervisor/rss 200": "RSS 200 services",
		"supervisor/restart": "restart p50", "supervisor/stop 20": "stop 20", "supervisor/all up 200": "200 all up",
		"spawn/wall": "spawn vs unshare", "stack/all answering": "stack all up", "stack/restart redis": "stack restart redis",
		"stack/kill -9 postgres": "stack kill -9 pg", "stack/stop": "stack stop", "stack/rss": "stack RSS",
	}
	var bars []bar
	for _, f := range r.Figures {
		l, ok := label[f.Workload+"/"+f.Metric]
		if !ok || f.Ratio <= 0 || f.Init == "/bin/true alone" || f.Init == "initbox spawn --user" {
			continue
		}
		peer := f.Init
		if f.Workload == "spawn" {
			peer = "unshare"
		}
		bars = append(bars, bar{l, peer, f.Ratio})
	}
	// Figures are recorded init by init in some workloads: gather each
	// group's bars together, groups in order of first appearance.
	first := map[string]int{}
	for i, b := range bars {
		if _, ok := first[b.group]; !ok {
			first[b.group] = i
		}
	}
	slices.SortStableFunc(bars, func(a, b bar) int { return first[a.group] - first[b.group] })
	return bars
}

func writeChart(path string, r *report) error {
	bars := chartBars(r)
	const (
		scale  = 2
		rowH   = 22
		left   = 520 // end of the label column
		plotW  = 560
		width  = left + plotW + 140
		top    = 90
		decade = 3.0 // the axis spans 10^-3 .. 10^3
	)
	groups := 0
	for i, b := range bars {
		if i == 0 || b.group != bars[i-1].group {
			groups++
		}
	}
	height := top + len(bars)*rowH + groups*6 + 70
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fill(img, 0, 0, width, height, color.White)
	black := color.RGBA{30, 30, 30, 255}
	grey := color.RGBA{200, 200, 200, 255}
	green := color.RGBA{46, 160, 67, 255}
	red := color.RGBA{207, 34, 46, 255}
	text(img, 16, 14, scale+1, "initbox / peer (log scale; < 1 = initbox faster or smaller)", black)
	text(img, 16, 48, scale, r.Machine, color.RGBA{90, 90, 90, 255})
	xOf := func(ratio float64) int {
		v := math.Max(-decade, math.Min(decade, math.Log10(ratio)))
		return left + int((v+decade)/(2*decade)*plotW)
	}
	bottom := height - 60
	for e := -3; e <= 3; e++ {
		x := xOf(math.Pow(10, float64(e)))
		fill(img, x, top-6, 1, bottom-top+6, grey)
		l := fmt.Sprintf("%g", math.Pow(10, float64(e)))
		text(img, x-textWidth(l, scale)/2, bottom+8, scale, l, black)
	}
	one := xOf(1)
	y := top
	for i, b := range bars {
		if i == 0 || b.group != bars[i-1].group {
			if i > 0 {
				y += 6
				fill(img, 10, y-4, width-20, 1, grey)
			}
			text(img, 16, y+3, scale, b.group, black)
		}
		text(img, 16+textWidth("drain 100k orphans  ", scale), y+3, scale, b.peer, black)
		c := green
		if b.ratio > 1 {
			c = red
		}
		x := xOf(b.ratio)
		lo, hi := min(x, one), max(x, one)
		fill(img, lo, y+2, max(hi-lo, 2), rowH-6, c)
		text(img, left+plotW+12, y+3, scale, fmtRatio(b.ratio)+"×", black)
		y += rowH
	}
	fill(img, one, top-6, 2, bottom-top+6, black)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
