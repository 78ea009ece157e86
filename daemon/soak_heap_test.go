package daemon

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"testing"
	"time"
)

// This file measures the soak's heap: live bytes after a GC at intervals
// of simulated time, and the in-use bytes of the heap profile by owner, so
// that growth is attributed to the code that holds it.

// heapSample is the heap at one instant of simulated time.
type heapSample struct {
	at         time.Duration // simulated time since the measured part began
	live       uint64        // HeapAlloc right after a GC: live bytes
	inuse      uint64        // HeapInuse: spans in use, fragmentation included
	objects    uint64
	goroutines int
	byOwner    map[string]int64 // in-use bytes by owner (see owner)
}

// sampleHeap collects garbage and reads the heap. dir, when set, also
// gets the heap profile as heap-<minutes>m.pb.gz for go tool pprof.
func sampleHeap(at time.Duration, dir string) (heapSample, error) {
	runtime.GC()
	runtime.GC() // the heap profile reflects the last completed cycle
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := heapSample{at: at, live: ms.HeapAlloc, inuse: ms.HeapInuse, objects: ms.HeapObjects,
		goroutines: runtime.NumGoroutine(), byOwner: inuseByOwner()}
	if dir == "" {
		return s, nil
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%04.0fm.pb.gz", at.Minutes())))
	if err != nil {
		return s, err
	}
	defer f.Close()
	return s, pprof.Lookup("heap").WriteTo(f, 0)
}

// inuseByOwner sums the heap profile's in-use bytes, scaled for sampling
// as pprof scales them, by owner.
func inuseByOwner() map[string]int64 {
	var recs []runtime.MemProfileRecord
	n, ok := runtime.MemProfile(nil, false)
	for !ok {
		recs = make([]runtime.MemProfileRecord, n+64)
		n, ok = runtime.MemProfile(recs, false)
	}
	out := map[string]int64{}
	rate := int64(runtime.MemProfileRate)
	for _, r := range recs[:n] {
		out[owner(r.Stack())] += scaledInuse(r.InUseObjects(), r.InUseBytes(), rate)
	}
	return out
}

// scaledInuse undoes the heap profile's sampling (one sample per rate bytes
// on average) as pprof does.
func scaledInuse(count, size, rate int64) int64 {
	if count <= 0 || size <= 0 || rate <= 1 {
		return max(size, 0)
	}
	avg := float64(size) / float64(count)
	return int64(float64(size) / (1 - math.Exp(-avg/float64(rate))))
}

const modulePrefix = "github.com/canaryd/canaryd/"

// owner names who holds an allocation: the innermost canaryd function on
// its stack (the code that asked for the memory, whatever library did the
// allocating), then the allocating function itself when it differs, e.g.
// "daemon.(*outbox).dispatch <- runtime.mapassign". Allocations with no
// canaryd frame are named by their allocating function and package.
func owner(stack []uintptr) string {
	frames := runtime.CallersFrames(stack)
	site, own := "", ""
	for {
		f, more := frames.Next()
		name := f.Function
		if site == "" && !strings.HasPrefix(name, "runtime.") && !strings.HasPrefix(name, "internal/") {
			site = trimModule(name)
		}
		if strings.HasPrefix(name, modulePrefix) {
			own = trimModule(name)
			break
		}
		if !more {
			break
		}
	}
	switch {
	case own == "":
		return site
	case own == site:
		return own
	}
	return own + " <- " + site
}

func trimModule(fn string) string { return strings.TrimPrefix(fn, modulePrefix) }

// ownerGrowth is one owner's growth of in-use bytes per minute.
type ownerGrowth struct {
	owner  string
	perMin float64
}

// ownerTrend fits each owner's in-use bytes against time by least squares,
// sample by sample, in memory that does not grow with the samples (the
// heap it measures must not): an owner absent from a sample had 0 bytes.
type ownerTrend struct {
	n, sx, sxx float64
	sy, sxy    map[string]float64
}

func newOwnerTrend() *ownerTrend {
	return &ownerTrend{sy: map[string]float64{}, sxy: map[string]float64{}}
}

func (o *ownerTrend) add(s heapSample) {
	x := s.at.Minutes()
	o.n, o.sx, o.sxx = o.n+1, o.sx+x, o.sxx+x*x
	for k, v := range s.byOwner {
		o.sy[k] += float64(v)
		o.sxy[k] += x * float64(v)
	}
}

// growth returns the owners growing fastest (at most up, fastest first),
// those shrinking fastest (at most down, fastest last) and the sum of the
// others' slopes, in bytes per minute.
func (o *ownerTrend) growth(up, down int) (grew, shrank []ownerGrowth, rest float64) {
	den := o.n*o.sxx - o.sx*o.sx
	if den == 0 {
		return nil, nil, 0
	}
	all := make([]ownerGrowth, 0, len(o.sy))
	for k, sy := range o.sy {
		all = append(all, ownerGrowth{k, (o.n*o.sxy[k] - o.sx*sy) / den})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].perMin > all[j].perMin })
	for i, g := range all {
		switch {
		case i < up && g.perMin > 0:
			grew = append(grew, g)
		case i >= len(all)-down && g.perMin < 0:
			shrank = append(shrank, g)
		default:
			rest += g.perMin
		}
	}
	return grew, shrank, rest
}

// slope is the least-squares growth of y per minute of x.
func slope(samples []heapSample, y func(heapSample) float64) float64 {
	if len(samples) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, s := range samples {
		x := s.at.Minutes()
		sx, sy, sxx, sxy = sx+x, sy+y(s), sxx+x*x, sxy+x*y(s)
	}
	k := float64(len(samples))
	den := k*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (k*sxy - sx*sy) / den
}

// daemonMaps counts what the daemon holds per watch, target and alert: the
// structures that would grow if something were never pruned.
type daemonMaps struct {
	evidence   int // watches with evidence (target.watches)
	samples    int // samples in their histories
	baseline   int // samples in their baselines
	inFlight   int // outbox entries in flight (outbox.inFlight)
	running    int // work running (inflight.Book.Running)
	incidentMu int // per-target incident locks (effects.Applier.Locks)
	watching   int // targets fed by probes (observe.Observer.Watching)
}

func (d *Daemon) maps() daemonMaps {
	var m daemonMaps
	_, ts, _ := d.snapshot()
	for _, t := range ts {
		w, s, b := t.Memory.Size()
		m.evidence, m.samples, m.baseline = m.evidence+w, m.samples+s, m.baseline+b
	}
	m.inFlight = d.box.InFlight()
	m.watching = d.obs.Watching()
	d.mu.Lock()
	m.running, m.incidentMu = d.runner.Book().Running(), d.effects.Locks()
	d.mu.Unlock()
	return m
}

// fitGrowth fits y = a + perMin·t + perWatch·w by least squares over the
// samples (t in minutes, w the watches with evidence): perMin is the
// growth that the number of watches under way at each instant does not
// explain. ok is false when the system is singular (too few samples, or
// watches exactly proportional to time).
func fitGrowth(t, w, y []float64) (perMin, perWatch float64, ok bool) {
	// Normal equations for the columns 1, t, w.
	var m [3][4]float64
	for i := range t {
		x := [3]float64{1, t[i], w[i]}
		for r := range 3 {
			for c := range 3 {
				m[r][c] += x[r] * x[c]
			}
			m[r][3] += x[r] * y[i]
		}
	}
	for col := range 3 { // Gauss-Jordan with partial pivoting
		p := col
		for r := col + 1; r < 3; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[p][col]) {
				p = r
			}
		}
		if math.Abs(m[p][col]) < 1e-9 {
			return 0, 0, false
		}
		m[col], m[p] = m[p], m[col]
		for r := range 3 {
			if r != col {
				f := m[r][col] / m[col][col]
				for c := col; c < 4; c++ {
					m[r][c] -= f * m[col][c]
				}
			}
		}
	}
	return m[1][3] / m[1][1], m[2][3] / m[2][2], true
}

// TestSoakGrowthFits checks the soak's arithmetic on exact data.
func TestSoakGrowthFits(t *testing.T) {
	cases := []struct {
		name             string
		t, w, y          []float64
		perMin, perWatch float64
		ok               bool
	}{
		{name: "time and watches", t: []float64{0, 10, 20, 30}, w: []float64{100, 120, 90, 110},
			y: []float64{5 + 0 + 300, 5 + 20 + 360, 5 + 40 + 270, 5 + 60 + 330}, perMin: 2, perWatch: 3, ok: true},
		{name: "flat heap, watches explain it all", t: []float64{0, 10, 20}, w: []float64{10, 12, 11},
			y: []float64{40, 48, 44}, perMin: 0, perWatch: 4, ok: true},
		{name: "watches proportional to time", t: []float64{0, 10, 20}, w: []float64{0, 10, 20},
			y: []float64{1, 2, 3}, ok: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			perMin, perWatch, ok := fitGrowth(tc.t, tc.w, tc.y)
			if ok != tc.ok || ok && (math.Abs(perMin-tc.perMin) > 1e-6 || math.Abs(perWatch-tc.perWatch) > 1e-6) {
				t.Errorf("fitGrowth = %v, %v, %v; want %v, %v, %v", perMin, perWatch, ok, tc.perMin, tc.perWatch, tc.ok)
			}
		})
	}
	tr := newOwnerTrend()
	for i, m := range []map[string]int64{{"a": 100, "b": 50}, {"a": 200, "b": 50}, {"a": 300, "c": 40}} {
		tr.add(heapSample{at: time.Duration(i) * time.Minute, byOwner: m})
	}
	grew, shrank, rest := tr.growth(1, 1)
	if len(grew) != 1 || grew[0].owner != "a" || math.Abs(grew[0].perMin-100) > 1e-9 {
		t.Errorf("grew %+v, want a at +100/min", grew)
	}
	if len(shrank) != 1 || shrank[0].owner != "b" || math.Abs(shrank[0].perMin+25) > 1e-9 || math.Abs(rest-20) > 1e-9 {
		t.Errorf("shrank %+v, rest %v; want b at -25/min, rest c at +20/min", shrank, rest)
	}
}
