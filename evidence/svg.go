package evidence

import (
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// SVG draws one rule's series as a self-contained SVG: the new version's
// observed value against the known-good baseline and the threshold (top)
// and, for a statistical rule, log10 of its e-value against log10(1/α),
// where it trips (bottom). Evaluations that breached are marked. Colours
// are presentation attributes (no <style>, nothing external), so the
// picture survives a wiki paste, an <img> and a strict CSP; elements carry
// classes a page may restyle (the console does, for dark mode).
func SVG(w io.Writer, s Series, r Rule) error {
	c := chart{w: 640, top: 170, gap: 34, bottom: 130, left: 64, right: 16}
	hasE := r.Alpha > 0
	height := 28 + c.top + 30
	if hasE {
		height += c.gap + c.bottom
	}
	var b strings.Builder
	id := "ev-" + sanitizeID(s.WatchID+"-"+r.Name)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="evchart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="%s-t %s-d">`,
		c.w, height, c.w, height, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, esc(title(s, r)), id, esc(r.Last))
	fmt.Fprintf(&b, `<rect class="bg" x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`, c.w, height)
	fmt.Fprintf(&b, `<text class="label" x="%d" y="18" font-family="sans-serif" font-size="13" fill="#222222">%s</text>`, c.left, esc(title(s, r)))
	t0, t1 := span(r.Points)
	c.t0, c.t1 = t0, t1
	c.panel(&b, 28, c.top, observedLines(s, r), r.Points)
	if hasE {
		c.panel(&b, 28+c.top+c.gap, c.bottom, evidenceLines(r), r.Points)
	}
	y := height - 8
	layout := "15:04"
	if t1.Sub(t0) < 30*time.Minute {
		layout = "15:04:05"
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" font-family="sans-serif" font-size="11" fill="#555555">%s</text>`, c.left, y, esc(clockIn(t0, layout)))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="middle" font-family="sans-serif" font-size="11" fill="#555555">%s</text>`,
		(c.w+c.left-c.right)/2, y, esc(clockIn(t0.Add(t1.Sub(t0)/2), layout)))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end" font-family="sans-serif" font-size="11" fill="#555555">%s UTC</text>`, c.w-c.right, y, esc(clockIn(t1, layout)))
	b.WriteString(`</svg>`)
	_, err := io.WriteString(w, b.String())
	return err
}

// DataURI is the SVG as a data:image/svg+xml;base64 URI (a Markdown image
// that carries its picture wherever it is pasted).
func DataURI(s Series, r Rule) string {
	var b strings.Builder
	_ = SVG(&b, s, r)
	return "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(b.String()))
}

func title(s Series, r Rule) string {
	t := fmt.Sprintf("%s (%s): version %s", r.Name, r.Kind, s.NewVersion)
	if s.KnownGood != "" {
		t += " vs known-good " + s.KnownGood
	}
	return t
}

// line is one series of a panel.
type line struct {
	class, name, color string
	dashed             bool
	value              func(Point) (float64, bool)
}

func observedLines(s Series, r Rule) []line {
	return []line{
		{class: "obs", name: "version " + s.NewVersion, color: "#1f6fd1", value: func(p Point) (float64, bool) { return p.Observed, true }},
		{class: "base", name: "known-good " + orNone(s.KnownGood), color: "#2e8b57", value: func(p Point) (float64, bool) {
			if p.Baseline == nil {
				return 0, false
			}
			return *p.Baseline, true
		}},
		{class: "thr", name: "threshold", color: "#c0392b", dashed: true, value: func(p Point) (float64, bool) { return p.Threshold, true }},
	}
}

func evidenceLines(r Rule) []line {
	lt := r.LogThreshold()
	return []line{
		{class: "loge", name: "log10 e-value", color: "#8e44ad", value: func(p Point) (float64, bool) {
			if p.LogE == nil {
				return 0, false
			}
			return *p.LogE, true
		}},
		{class: "thr", name: fmt.Sprintf("trips at log10(1/α) = %.3g", lt), color: "#c0392b", dashed: true,
			value: func(Point) (float64, bool) { return lt, true }},
	}
}

type chart struct {
	w, top, gap, bottom, left, right int
	t0, t1                           time.Time
}

func (c chart) x(t time.Time) float64 {
	width := float64(c.w - c.left - c.right)
	if !c.t1.After(c.t0) {
		return float64(c.left) + width/2
	}
	return float64(c.left) + width*float64(t.Sub(c.t0))/float64(c.t1.Sub(c.t0))
}

// panel draws lines over points in a box at y0 of height h.
func (c chart) panel(b *strings.Builder, y0, h int, lines []line, ps []Point) {
	lo, hi := bounds(lines, ps)
	y := func(v float64) float64 { return float64(y0+h) - float64(h)*(v-lo)/(hi-lo) }
	fmt.Fprintf(b, `<rect class="frame" x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999999" stroke-width="1"/>`,
		c.left, y0, c.w-c.left-c.right, h)
	for _, v := range []float64{lo, hi} {
		fmt.Fprintf(b, `<text class="axis" x="%d" y="%.1f" text-anchor="end" font-family="sans-serif" font-size="11" fill="#555555">%s</text>`,
			c.left-4, y(v)+4, esc(num(v)))
	}
	for i, l := range lines {
		var pts []string
		for _, p := range ps {
			if v, ok := l.value(p); ok && math.Abs(v) < 1e299 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", c.x(p.At), y(clamp(v, lo, hi))))
			}
		}
		dash := ""
		if l.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		if len(pts) == 1 { // one period: a dot, not an invisible line
			xy := strings.Split(pts[0], ",")
			fmt.Fprintf(b, `<circle class="%s" cx="%s" cy="%s" r="3" fill="%s"/>`, l.class, xy[0], xy[1], l.color)
		} else if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline class="%s" points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`, l.class, strings.Join(pts, " "), l.color, dash)
		}
		lx := c.left + 8 + i*190
		fmt.Fprintf(b, `<line class="%s" x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`, l.class, lx, y0+12, lx+18, y0+12, l.color, dash)
		fmt.Fprintf(b, `<text class="legend" x="%d" y="%d" font-family="sans-serif" font-size="11" fill="#333333">%s</text>`, lx+22, y0+16, esc(l.name))
	}
	for _, p := range ps {
		if !p.Breached || len(lines) == 0 {
			continue
		}
		if v, ok := lines[0].value(p); ok && math.Abs(v) < 1e299 {
			fmt.Fprintf(b, `<circle class="breach" cx="%.1f" cy="%.1f" r="4" fill="#c0392b"><title>breached at %s</title></circle>`,
				c.x(p.At), y(clamp(v, lo, hi)), esc(clock(p.At)))
		}
	}
}

// bounds is the value range of a panel, with some room above.
func bounds(lines []line, ps []Point) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, l := range lines {
		for _, p := range ps {
			if v, ok := l.value(p); ok && math.Abs(v) < 1e299 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 1) {
		return 0, 1
	}
	lo = math.Min(lo, 0)
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi + (hi-lo)*0.15
}

func span(ps []Point) (time.Time, time.Time) {
	if len(ps) == 0 {
		return time.Time{}, time.Time{}
	}
	return ps[0].At, ps[len(ps)-1].At
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

func num(v float64) string { return fmt.Sprintf("%.3g", v) }

func clock(t time.Time) string { return clockIn(t, "15:04:05") }

func clockIn(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(layout)
}

func esc(s string) string { return html.EscapeString(s) }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func sanitizeID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}
