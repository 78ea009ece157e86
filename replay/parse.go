package replay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/canaryd/canaryd/sample"
	"github.com/canaryd/canaryd/store"
)

// Trace is a parsed, validated trace: its deploy and its records in order
// of delivery. Tools that serve a trace to something else (the parity test
// serves it to a daemon through the AWS simulator) read it with Parse.
type Trace struct {
	Deploy  Deploy
	Records []Record
}

// Deploy is the trace's deploy record.
type Deploy struct {
	Time       time.Time
	KnownGood  string
	NewVersion string
	Split      bool
	// BaselineSince is when the version before the deploy was first seen
	// serving the alias alone (zero: not known).
	BaselineSince time.Time
	// RecordedReads: the metric samples' At is when the daemon's metric
	// cycle read them (the daemon's own traces), not when CloudWatch had
	// them (the deploy record's "reads").
	RecordedReads bool
}

// Record is one sample, baseline or tick record.
type Record struct {
	Type   string        // RecordSample, RecordBaseline or RecordTick
	Sample sample.Sample // samples and baselines
	At     time.Time     // delivery time (a baseline record's: its "at", else the end of what it measured)
	// Phase is, on a tick the daemon recorded, its watch's phase from
	// then on.
	Phase store.Phase
	// Answered is when the daemon's read of a metric sample answered, if
	// it recorded that it did after At (zero otherwise).
	Answered time.Time
}

// Parse reads and validates a trace; period fills a metric sample's
// missing period. A malformed trace is an error (*TraceError names the
// line).
func Parse(r io.Reader, period time.Duration) (Trace, error) {
	recs, err := readTrace(r, period)
	if err != nil {
		return Trace{}, err
	}
	dep, err := findDeploy(recs)
	if err != nil {
		return Trace{}, err
	}
	slices.SortStableFunc(recs, func(a, b traceRecord) int { return a.at.Compare(b.at) })
	tr := Trace{Deploy: Deploy{Time: dep.Time.UTC(), KnownGood: dep.KnownGood, NewVersion: dep.NewVersion, Split: dep.Split,
		BaselineSince: dep.BaselineSince.UTC(), RecordedReads: dep.Reads == readsRecorded}} // the zero time stays zero
	for i := range recs {
		r := &recs[i]
		if r.Type == RecordDeploy {
			continue
		}
		rec := Record{Type: r.Type, At: r.at, Answered: r.Answered, Phase: r.Phase}
		if r.Type != RecordTick {
			rec.Sample = r.sample()
		}
		tr.Records = append(tr.Records, rec)
	}
	return tr, nil
}

// Written is what a trace file holds already, for a process that appends
// to another's (Scan).
type Written struct {
	Deploy   bool                 // its deploy record
	Baseline map[sample.Kind]bool // the kinds of sample its baseline records hold
}

// Scan reads what a trace holds, leniently: lines that do not decode are
// skipped. A process that takes up another's trace reads it so as to add
// only the baseline the other never wrote (a CloudWatch read that hung
// until it died), and the deploy if the other died writing it.
func Scan(r io.Reader) (Written, error) {
	w := Written{Baseline: map[sample.Kind]bool{}}
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		b, err := br.ReadBytes('\n')
		if t := bytes.TrimSpace(b); len(t) > 0 && t[0] != '#' && (bytes.Contains(t, []byte(`"`+RecordBaseline+`"`)) ||
			bytes.Contains(t, []byte(`"`+RecordDeploy+`"`))) {
			var rec struct {
				Type string      `json:"type"`
				Kind sample.Kind `json:"kind"`
			}
			if json.Unmarshal(t, &rec) == nil {
				switch rec.Type {
				case RecordBaseline:
					w.Baseline[rec.Kind] = true
				case RecordDeploy:
					w.Deploy = true
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return w, nil
		}
		if err != nil {
			return w, fmt.Errorf("read trace: %w", err)
		}
	}
}
