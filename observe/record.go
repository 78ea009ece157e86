package observe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/canaryd/canaryd/replay"
	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/watch"
)

// TraceRecorder writes, for every watch this process judges, the trace of what
// it judged the watch on, in the format `canaryd replay` reads: the
// deploy, the baseline as it reached the watch (the known-good's probe
// results at once, the CloudWatch periods when the read answered), and
// every sample when it reached the watch (daemon.trace_dir). A decision someone doubts can then be
// replayed on the same evidence, its rules tuned, the trace shared.
//
// One file per watch, <dir>/<target>/<watch id>.jsonl, appended to in
// whole lines as samples arrive (nothing is held open); the newest keep
// files of a target are kept. A process that takes up a watch whose file
// exists (a restart, a lease take-over) appends to it: not the deploy and
// baseline again, only the kinds of baseline the other process never wrote
// (its CloudWatch read hung until it died), after cutting off a line it
// died writing. A rollout's evidence starts again when
// its first weight is set, and so does its trace.
//
// Writing never holds up judging: the callers (the run loop, the probe
// sink, the metric cycle) only queue lines, in memory, and one goroutine
// writes them while there are any. A disk that hangs or fills fills the
// queue instead (maxQueued lines-batches): the watches whose lines find
// it full, like those whose write failed, are logged once and their
// traces stop; judging goes on.
type TraceRecorder struct {
	dir  string
	keep int
	log  *zap.Logger

	mu      sync.Mutex
	watches map[string]*recording // by watch ID
	queue   []traceJob            // to write, in order
	writing bool                  // the writer goroutine runs
	idle    chan struct{}         // closed when it stops (Flush)
}

// maxQueued bounds the batches of lines waiting for the disk.
const maxQueued = 4096

// traceJob is one batch of lines for one watch's file.
type traceJob struct {
	rec  *recording
	w    store.Watch // for the log
	kind jobKind
	buf  []byte
	note string // jobStart: the line written instead when the file exists
	// jobBaseline: the lines of each kind, written unless a trace taken
	// up holds that kind already
	baseline []baselineLines
}

// baselineLines are a baseline's records of one kind.
type baselineLines struct {
	kind sample.Kind
	buf  []byte
}

type jobKind int

const (
	jobLines    jobKind = iota
	jobStart            // the watch's first lines: create the file, or take it up
	jobRestart          // a rollout's evidence starts again: a new file
	jobBaseline         // each kind skipped when the file was taken up with it
)

// recording is one watch's trace file.
type recording struct {
	path     string
	start    time.Time            // the deploy record's time (watch.JudgedFrom)
	baseline map[sample.Kind]bool // the kinds of baseline queued (each once)
	failed   bool                 // a write failed or found the queue full: not written on
	// last is each metric period's last recorded reading: a cycle reads
	// the last metric_lag periods again each time, and a reading that
	// did not change adds nothing to replay (a later delivery with the
	// same key replaces the earlier one), so it is not written again.
	last    map[periodKey]reading
	pruneAt int // len(last) beyond which readings older than lastKept are dropped
	// takenUp is, when the file existed as this process first wrote to it
	// (another process's trace taken up), the kinds of baseline it held
	// (the writer goroutine alone uses it). It goes with the recording when
	// Keep forgets the watch: kept by path in the recorder, it grew by one
	// entry per watch taken over for the life of the process.
	takenUp map[sample.Kind]bool
}

type periodKey struct {
	metric, version string
	start           int64
}

type reading struct {
	outcome sample.Outcome
	value   float64
}

// lastKept bounds how far back the recording remembers its periods'
// readings (a cycle re-reads at most an hour after a failure).
const lastKept = 2 * time.Hour

// changed reports whether a metric sample says something the trace does
// not say yet, and remembers it.
func (rec *recording) changed(s sample.Sample, at time.Time) bool {
	if s.Kind != sample.KindMetric || s.Outcome == sample.OutcomeSourceError {
		return true // probes are one result each; a failed read is an event
	}
	if rec.last == nil {
		rec.last, rec.pruneAt = map[periodKey]reading{}, 4096
	}
	k, v := periodKey{s.Metric, s.Version, s.Time.UnixNano()}, reading{s.Outcome, s.Value}
	if old, ok := rec.last[k]; ok && old == v {
		return false
	}
	rec.last[k] = v
	if len(rec.last) > rec.pruneAt {
		for k := range rec.last {
			if k.start < at.Add(-lastKept).UnixNano() {
				delete(rec.last, k)
			}
		}
		// Swept again only once it has doubled: a watch reading many
		// metrics would otherwise sweep the map at every sample.
		rec.pruneAt = max(4096, 2*len(rec.last))
	}
	return true
}

// NewTraceRecorder records traces under dir, keeping the newest keep per
// target. It creates dir and proves it writable (a volume mounted
// read-only or owned by another user fails the start, not every trace).
func NewTraceRecorder(dir string, keep int, log *zap.Logger) (*TraceRecorder, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("trace_dir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".canaryd-write-check-*")
	if err != nil {
		return nil, fmt.Errorf("trace_dir %s is not writable: %w", dir, err)
	}
	_ = f.Close()
	_ = os.Remove(f.Name())
	if log == nil {
		log = zap.NewNop()
	}
	return &TraceRecorder{dir: dir, keep: max(keep, 1), log: log, watches: map[string]*recording{}}, nil
}

// Path is where watch w's trace is written.
func (r *TraceRecorder) Path(w store.Watch) string { return TracePath(r.dir, w) }

// OpenTrace opens watch w's trace once the lines queued so far are
// written (or two seconds have passed), and names it for a download:
// <target>-<watch id>.jsonl (api.TraceSource).
func (r *TraceRecorder) OpenTrace(w store.Watch) (io.ReadCloser, string, error) {
	r.Flush(2 * time.Second)
	path := r.Path(w)
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	return f, fileName(w.Target) + "-" + filepath.Base(path), nil
}

// Flush waits until the queued lines are written, at most timeout; it
// reports whether they were.
func (r *TraceRecorder) Flush(timeout time.Duration) bool {
	r.mu.Lock()
	if !r.writing {
		r.mu.Unlock()
		return true
	}
	idle := r.idle
	r.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

// TracePath is where a recorder writing under dir writes watch w's trace.
func TracePath(dir string, w store.Watch) string {
	return filepath.Join(dir, fileName(w.Target), fileName(w.ID)+".jsonl")
}

// fileName keeps a name to letters, digits, '.', '-' and '_'.
func fileName(s string) string {
	out := []rune(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			out[i] = '_'
		}
	}
	if n := string(out); n != "" && strings.Trim(n, ".") != "" {
		return n
	}
	return "_"
}

// Baseline records baseline samples that reached the watch at now, each
// kind once per watch: the known-good's probe results, which the watch has
// before its first verdict (Adopt), and the alias-level CloudWatch periods
// with the shape history, which it has when the read answers — with that
// instant when it is after the watch began, so that replay judges without
// them until then, as the daemon did. In a trace taken up from another
// process, only the kinds that process never wrote are added.
func (r *TraceRecorder) Baseline(w store.Watch, now time.Time, samples []sample.Sample) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.begin(w, now)
	if rec.failed {
		return
	}
	if rec.baseline == nil {
		rec.baseline = map[sample.Kind]bool{}
	}
	var parts []baselineLines
	for _, s := range samples {
		if s.Version != "" || rec.baseline[s.Kind] { // the trace's baseline is alias-level
			continue
		}
		if len(parts) == 0 || parts[len(parts)-1].kind != s.Kind {
			parts = append(parts, baselineLines{kind: s.Kind})
		}
		p := &parts[len(parts)-1]
		if s.Kind == sample.KindMetric && now.After(rec.start) {
			p.buf = replay.AppendLateBaseline(p.buf, s, now)
		} else {
			p.buf = replay.AppendBaseline(p.buf, s)
		}
	}
	// A call's kinds are marked once all its samples are in: it may hold
	// a kind in more than one run.
	for _, p := range parts {
		rec.baseline[p.kind] = true
	}
	if len(parts) > 0 {
		r.enqueue(traceJob{rec: rec, w: w, kind: jobBaseline, baseline: parts})
	}
}

// Samples records samples that reached the watch at at.
func (r *TraceRecorder) Samples(w store.Watch, at time.Time, samples ...sample.Sample) {
	r.Read(w, at, at, samples...)
}

// Read records metric samples a CloudWatch read that began at at got,
// which reached the watch at answered (replay.AppendRead).
func (r *TraceRecorder) Read(w store.Watch, at, answered time.Time, samples ...sample.Sample) {
	if len(samples) == 0 {
		return
	}
	r.record(w, at, func(rec *recording) (buf []byte) {
		for _, s := range samples {
			if rec.changed(s, at) {
				buf = replay.AppendRead(buf, s, at, answered)
			}
		}
		return buf
	}, jobLines)
}

// Transition records a change of the watch's phase at now (a trip, a
// promotion, the end of its rollback window): a comment with what the
// daemon decided and why, and a tick, so that replay judges up to that
// instant.
func (r *TraceRecorder) Transition(w store.Watch, now time.Time, to store.Phase, why string) {
	r.record(w, now, func(*recording) []byte {
		buf := replay.AppendComment(nil, fmt.Sprintf("%s canaryd: %s -> %s: %s", now.UTC().Format(time.RFC3339Nano), w.Phase, to, why))
		return replay.AppendPhase(buf, now, to)
	}, jobLines)
}

// record queues the lines built for the watch's recording at now,
// unless its trace has stopped.
func (r *TraceRecorder) record(w store.Watch, now time.Time, lines func(*recording) []byte, kind jobKind) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec := r.begin(w, now); !rec.failed {
		r.enqueue(traceJob{rec: rec, w: w, kind: kind, buf: lines(rec)})
	}
}

// Keep forgets the watches not among the active ones (their files stay).
func (r *TraceRecorder) Keep(active []store.Watch) {
	if r == nil {
		return
	}
	ids := make(map[string]bool, len(active)) // a scan of active per recording is quadratic at 10,000 watches
	for _, w := range active {
		ids[w.ID] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.watches {
		if !ids[id] {
			delete(r.watches, id)
		}
	}
}

// begin returns the watch's recording, queueing its deploy record when
// this process has none yet: a new file (or one a process before started:
// the writer takes it up), or a new start (a rollout's first weight set).
// r.mu is held.
func (r *TraceRecorder) begin(w store.Watch, now time.Time) *recording {
	start := watch.JudgedFrom(w)
	rec := r.watches[w.ID]
	if rec != nil && rec.start.Equal(start) {
		return rec
	}
	kind := jobRestart
	if rec == nil {
		rec, kind = &recording{path: r.Path(w), start: start}, jobStart
		r.watches[w.ID] = rec
	} else {
		rec.start, rec.baseline, rec.last = start, nil, nil
	}
	buf := replay.AppendComment(nil, fmt.Sprintf("canaryd trace of watch %s: %s %s -> %s, recorded as judged\n"+
		"replay: canaryd replay --config CONFIG --target %s --trace THIS_FILE", w.ID, w.Target, orNone(w.KnownGood), w.NewVersion, w.Target))
	buf = replay.AppendDeploy(buf, replay.Deploy{Time: start, KnownGood: w.KnownGood, NewVersion: w.NewVersion, Split: len(w.Weights) > 0, BaselineSince: w.BaselineSince, RecordedReads: true})
	note := fmt.Sprintf("taken up by another canaryd process at %s: its samples follow", now.UTC().Format(time.RFC3339))
	r.enqueue(traceJob{rec: rec, w: w, kind: kind, buf: buf, note: note})
	return rec
}

// enqueue queues a batch of lines, starting the writer when it is idle;
// a full queue stops the watch's trace. r.mu is held.
func (r *TraceRecorder) enqueue(j traceJob) {
	if j.rec.failed || (len(j.buf) == 0 && j.kind == jobLines) {
		return
	}
	if len(r.queue) >= maxQueued {
		r.fail(j.w, j.rec, fmt.Errorf("%d batches of lines wait for the disk", len(r.queue)))
		return
	}
	r.queue = append(r.queue, j)
	if !r.writing {
		r.writing, r.idle = true, make(chan struct{})
		go r.drain()
	}
}

// drain writes the queue until it is empty.
func (r *TraceRecorder) drain() {
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.writing = false
			close(r.idle)
			r.mu.Unlock()
			return
		}
		j := r.queue[0]
		r.queue[0] = traceJob{}
		r.queue = r.queue[1:]
		failed := j.rec.failed
		r.mu.Unlock()
		if failed {
			continue
		}
		if err := r.apply(j); err != nil {
			r.mu.Lock()
			r.fail(j.w, j.rec, err)
			r.mu.Unlock()
		}
	}
}

// apply writes one batch (the writer goroutine alone).
func (r *TraceRecorder) apply(j traceJob) error {
	path := j.rec.path
	switch j.kind {
	case jobStart:
		if fi, err := os.Stat(path); err == nil {
			had := replay.Written{Deploy: true}
			if fi.Mode().IsRegular() { // not a FIFO or device someone put there
				if had, err = takeUp(path); err != nil {
					return err
				}
			}
			j.rec.takenUp = had.Baseline
			if had.Deploy {
				return appendFile(path, replay.AppendComment(nil, j.note))
			}
			// The other process died writing the deploy: start it again.
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return err
		}
		defer r.prune(filepath.Dir(path), path)
	case jobRestart:
		j.rec.takenUp = nil
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	case jobBaseline:
		var buf []byte
		had := j.rec.takenUp
		for _, p := range j.baseline {
			if !had[p.kind] { // a job's kinds are all new to this process: had holds the other's
				buf = append(buf, p.buf...)
			}
		}
		return appendFile(path, buf)
	}
	return appendFile(path, j.buf)
}

// takeUp prepares another process's trace file to be appended to and
// returns what it holds. A last line the other process did not finish (it
// died in the write) is cut off: the lines appended after it would
// otherwise join it into one that replay refuses.
func takeUp(path string) (replay.Written, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return replay.Written{}, err
	}
	defer f.Close()
	if err := cutUnfinishedLine(f); err != nil {
		return replay.Written{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return replay.Written{}, err
	}
	return replay.Scan(f)
}

// cutUnfinishedLine truncates f after its last newline.
func cutUnfinishedLine(f *os.File) error {
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for pos := end; pos > 0; { // back a block at a time
		n := min(pos, int64(len(buf)))
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			if cut := pos + int64(i) + 1; cut < end {
				return f.Truncate(cut)
			}
			return nil
		}
	}
	return f.Truncate(0)
}

func orNone(v string) string {
	if v == "" {
		return "(no known-good)"
	}
	return v
}

// appendFile appends whole lines to a file.
func appendFile(path string, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fail stops a watch's trace, logging why once. r.mu is held.
func (r *TraceRecorder) fail(w store.Watch, rec *recording, err error) {
	if rec.failed {
		return
	}
	rec.failed = true
	r.log.Warn("trace of the watch not written on", zap.String("target", w.Target), zap.String("watch", w.ID),
		zap.String("path", rec.path), zap.Error(err))
}

// prune removes the oldest traces of a target beyond keep (by
// modification time), never the one just started.
func (r *TraceRecorder) prune(dir, current string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type file struct {
		path string
		mod  time.Time
	}
	var files []file
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".jsonl") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, file{filepath.Join(dir, e.Name()), info.ModTime()})
	}
	if len(files) <= r.keep {
		return
	}
	slices.SortFunc(files, func(a, b file) int { return b.mod.Compare(a.mod) })
	for _, f := range files[r.keep:] {
		if f.path != current {
			_ = os.Remove(f.path)
		}
	}
}
