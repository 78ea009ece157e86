package quality

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/canaryd/canaryd/sample"
)

// Static is a CodeDeploy-style set of CloudWatch alarms on the alias,
// hand-tuned the way a competent user would set them and then left alone.
// Any alarm in ALARM at or after the deploy rolls back. Missing datapoints
// (no traffic, read errors) are missing, not breaching (CloudWatch's
// default treatMissingData); an alarm judges the last N periods up to the
// newest delivered datapoint.
type Static struct {
	ErrorRate      float64 // Errors/Invocations above this ...
	ErrorM, ErrorN int     // ... in M of the last N one-minute datapoints
	ThrottleRate   float64 // Throttles/(Invocations+Throttles) above this ...
	ThrM, ThrN     int     // ... in M of N
	P99Factor      float64 // Duration p99 above this times the pre-deploy p99 ...
	P99M, P99N     int     // ... in M of N
	ProbeRun       int     // the health check failing this many times in a row
}

// DefaultStatic is the fixed static alarm of the benchmark (README.md):
// errors > 5% in 2 of 3 minutes, throttles > 5% of requests in 2 of 3,
// p99 > 1.5x the pre-deploy p99 (the median of the baseline's per-minute
// p99) in 3 of 3, the health check failing 3 times in a row.
func DefaultStatic() *Static {
	return &Static{ErrorRate: 0.05, ErrorM: 2, ErrorN: 3, ThrottleRate: 0.05, ThrM: 2, ThrN: 3,
		P99Factor: 1.5, P99M: 3, P99N: 3, ProbeRun: 3}
}

// Name implements Judge.
func (s *Static) Name() string { return "static" }

// Promotes implements Promoter: no alarm by the horizon is a promotion.
func (s *Static) Promotes() bool { return true }

// aliasPeriod is what the alarms know of one alias-level period.
type aliasPeriod struct {
	inv, errs, thr, p99 float64
	hasInv, hasErr      bool
	hasThr, hasP99      bool
}

// Judge implements Judge: the alarms over the trace's alias-level samples
// and probes, evaluated at every delivery instant.
func (s *Static) Judge(_ context.Context, c *Case) (Decision, error) {
	recs, err := caseRecords(c)
	if err != nil {
		return Decision{}, err
	}
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(a, b Record) int { return a.Delivered().Compare(b.Delivered()) })
	deploy, ok := findDeploy(recs)
	if !ok {
		return Decision{}, fmt.Errorf("static alarm: trace has no deploy record")
	}
	st := staticState{s: s, periods: map[int64]*aliasPeriod{}}
	st.p99Limit = s.P99Factor * baselineP99(recs)
	for i := 0; i < len(recs); {
		at := recs[i].Delivered()
		for ; i < len(recs) && recs[i].Delivered().Equal(at); i++ {
			st.add(&recs[i])
		}
		if at.Before(deploy.Time) {
			continue
		}
		if why := st.alarm(); why != "" {
			return Decision{Failing: true, At: at.Sub(deploy.Time), Note: why}, nil
		}
	}
	// An alarm already on at the deploy with no record after it.
	if why := st.alarm(); why != "" {
		return Decision{Failing: true, Note: why}, nil
	}
	return Decision{Promoted: true, Note: "no alarm"}, nil
}

func caseRecords(c *Case) ([]Record, error) {
	if c.Trace != nil {
		return c.Trace.Records, nil
	}
	return ReadTrace(bytes.NewReader(c.Bytes))
}

func findDeploy(recs []Record) (Record, bool) {
	for _, r := range recs {
		if r.Type == RecDeploy {
			return r, true
		}
	}
	return Record{}, false
}

// baselineP99 is the median of the baseline's per-minute p99 values.
func baselineP99(recs []Record) float64 {
	var xs []float64
	for _, r := range recs {
		if r.Type == RecBaseline && r.S.Metric == "Duration.p99" && r.S.Outcome == sample.OutcomeOK {
			xs = append(xs, r.S.Value)
		}
	}
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[(len(xs)-1)/2]
}

type staticState struct {
	s        *Static
	p99Limit float64
	periods  map[int64]*aliasPeriod // by period start, Unix seconds
	newest   int64                  // newest period with an Invocations or Throttles datapoint
	newestL  int64                  // newest period with a p99 datapoint
	run      int                    // trailing run of failed probes
}

func (st *staticState) add(r *Record) {
	s := &r.S
	if r.Type != RecSample && r.Type != RecBaseline {
		return
	}
	if s.Kind == sample.KindProbe {
		if s.Outcome == sample.OutcomeFail {
			st.run++
		} else if s.Outcome == sample.OutcomeOK {
			st.run = 0
		}
		return
	}
	if s.Version != "" {
		return
	}
	k := s.Time.Unix()
	p := st.periods[k]
	if p == nil {
		p = &aliasPeriod{}
		st.periods[k] = p
	}
	ok := s.Outcome == sample.OutcomeOK
	switch s.Metric {
	case "Invocations":
		p.inv, p.hasInv = s.Value, ok
	case "Errors":
		p.errs, p.hasErr = s.Value, ok
	case "Throttles":
		p.thr, p.hasThr = s.Value, ok
	case "Duration.p99":
		p.p99, p.hasP99 = s.Value, ok
		if ok {
			st.newestL = max(st.newestL, k)
		}
	}
	if ok && (s.Metric == "Invocations" || s.Metric == "Throttles") {
		st.newest = max(st.newest, k)
	}
}

// alarm names the alarms in ALARM, or "".
func (st *staticState) alarm() string {
	s := st.s
	var on []string
	errs := st.mOfN(st.newest, s.ErrorN, func(p *aliasPeriod) (bool, bool) {
		return p.errs/p.inv > s.ErrorRate, p.hasInv && p.hasErr && p.inv > 0
	})
	if errs >= s.ErrorM {
		on = append(on, fmt.Sprintf("errors > %g%% in %d of %d minutes", 100*s.ErrorRate, errs, s.ErrorN))
	}
	thr := st.mOfN(st.newest, s.ThrN, func(p *aliasPeriod) (bool, bool) {
		req := p.thr
		if p.hasInv {
			req += p.inv
		}
		return p.thr/req > s.ThrottleRate, p.hasThr && req > 0
	})
	if thr >= s.ThrM {
		on = append(on, fmt.Sprintf("throttles > %g%% in %d of %d minutes", 100*s.ThrottleRate, thr, s.ThrN))
	}
	if st.p99Limit > 0 {
		lat := st.mOfN(st.newestL, s.P99N, func(p *aliasPeriod) (bool, bool) { return p.p99 > st.p99Limit, p.hasP99 })
		if lat >= s.P99M {
			on = append(on, fmt.Sprintf("p99 > %.4g ms in %d of %d minutes", st.p99Limit, lat, s.P99N))
		}
	}
	if st.run >= s.ProbeRun {
		on = append(on, fmt.Sprintf("health check failed %d times in a row", st.run))
	}
	return strings.Join(on, "; ")
}

// mOfN counts the breaching datapoints among the n periods ending at newest.
func (st *staticState) mOfN(newest int64, n int, judge func(*aliasPeriod) (breach, present bool)) int {
	hits := 0
	step := int64(period / time.Second)
	for i := range int64(n) {
		p := st.periods[newest-i*step]
		if p == nil {
			continue
		}
		if breach, present := judge(p); present && breach {
			hits++
		}
	}
	return hits
}
