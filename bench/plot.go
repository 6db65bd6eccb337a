package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
	"time"
)

// WritePNG draws latency against fleet size (log scale) for the raw
// baseline, ping, the facts report and /metrics. It draws with the standard
// library alone, text included, so the plot needs no module the build does
// not already have.
func (r *Report) WritePNG(w io.Writer) error {
	if len(r.Sizes) == 0 {
		return fmt.Errorf("bench: nothing to plot: the report has no fleet sizes")
	}
	series := []struct {
		name string
		c    color.RGBA
		get  func(s *Size) time.Duration
	}{
		{"RAW NATS.GO", color.RGBA{120, 120, 120, 255}, func(s *Size) time.Duration { return s.Raw.Median }},
		{"PING", color.RGBA{31, 119, 180, 255}, func(s *Size) time.Duration { return s.Ping.Median }},
		{"FACTS REPORT", color.RGBA{255, 127, 14, 255}, func(s *Size) time.Duration { return s.Facts.Median }},
		{"/METRICS", color.RGBA{44, 160, 44, 255}, func(s *Size) time.Duration { return s.Metrics.Duration }},
	}
	const W, H, left, right, top, bottom = 900, 560, 90, 30, 60, 70
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	ink := color.RGBA{30, 30, 30, 255}
	grid := color.RGBA{225, 225, 225, 255}

	ymax := 0.0
	for _, s := range r.Sizes {
		for _, se := range series {
			ymax = max(ymax, msf(se.get(&s)))
		}
	}
	ymax = niceCeil(ymax)
	xmin, xmax := math.Log10(float64(r.Sizes[0].Nodes)), math.Log10(float64(r.Sizes[0].Nodes))
	for _, s := range r.Sizes {
		xmin, xmax = min(xmin, math.Log10(float64(s.Nodes))), max(xmax, math.Log10(float64(s.Nodes)))
	}
	if xmax == xmin {
		xmin, xmax = xmin-0.5, xmax+0.5
	}
	px := func(n int) int {
		return left + int((math.Log10(float64(n))-xmin)/(xmax-xmin)*float64(W-left-right))
	}
	py := func(v float64) int { return H - bottom - int(v/ymax*float64(H-top-bottom)) }

	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		y := py(v)
		line(img, left, y, W-right, y, grid, 1)
		label := fmt.Sprintf("%g", v)
		text(img, left-8-textWidth(label, 2), y-7, label, ink, 2)
	}
	for _, s := range r.Sizes {
		x := px(s.Nodes)
		line(img, x, top, x, H-bottom, grid, 1)
		label := fmt.Sprint(s.Nodes)
		text(img, x-textWidth(label, 2)/2, H-bottom+10, label, ink, 2)
	}
	line(img, left, H-bottom, W-right, H-bottom, ink, 2)
	line(img, left, top, left, H-bottom, ink, 2)
	text(img, left, 16, "PULSE BENCH: LATENCY (MS) AGAINST NODES", ink, 3)
	text(img, (W-textWidth("NODES (LOG SCALE)", 2))/2, H-28, "NODES (LOG SCALE)", ink, 2)

	lx, ly := left+20, top+10
	for _, se := range series {
		var prevX, prevY int
		for i, s := range r.Sizes {
			x, y := px(s.Nodes), py(msf(se.get(&s)))
			if i > 0 {
				line(img, prevX, prevY, x, y, se.c, 3)
			}
			fill(img, image.Rect(x-4, y-4, x+5, y+5), se.c)
			prevX, prevY = x, y
		}
		fill(img, image.Rect(lx, ly+2, lx+18, ly+12), se.c)
		text(img, lx+26, ly, se.name, ink, 2)
		ly += 22
	}
	return png.Encode(w, img)
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws with Bresenham's algorithm, a square pen of width w.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, w int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		fill(img, image.Rect(x0-w/2, y0-w/2, x0-w/2+w, y0-w/2+w), c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

func textWidth(s string, scale int) int { return len(s) * 6 * scale }

// text draws s in a 5x7 bitmap font; characters the font lacks are blank.
func text(img *image.RGBA, x, y int, s string, c color.RGBA, scale int) {
	for _, ch := range strings.ToUpper(s) {
		g := glyphs[ch]
		for row := 0; row < 7; row++ {
			for col := 0; col < 5; col++ {
				if g[row]&(0x10>>col) != 0 {
					fill(img, image.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), c)
				}
			}
		}
		x += 6 * scale
	}
}

var glyphs = map[rune][7]byte{
	'0': {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, '1': {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
	'2': {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, '3': {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
	'4': {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, '5': {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
	'6': {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, '7': {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
	'8': {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, '9': {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},
	'A': {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, 'B': {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E},
	'C': {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, 'D': {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C},
	'E': {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, 'F': {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},
	'G': {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, 'H': {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},
	'I': {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, 'J': {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C},
	'K': {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, 'L': {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},
	'M': {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, 'N': {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},
	'O': {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, 'P': {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},
	'Q': {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, 'R': {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11},
	'S': {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, 'T': {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},
	'U': {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, 'V': {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04},
	'W': {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, 'X': {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11},
	'Y': {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}, 'Z': {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F},
	'.': {0, 0, 0, 0, 0, 0x0C, 0x0C}, '-': {0, 0, 0, 0x1F, 0, 0, 0},
	'/': {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}, '(': {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02},
	')': {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, ',': {0, 0, 0, 0, 0x0C, 0x04, 0x08},
	':': {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0},
}
