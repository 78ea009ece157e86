package watcher

import (
	"strconv"
	"strings"
	"time"

	"github.com/canaryd/canaryd/sample"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// seriesData is what the pages of one call returned for one query id.
type seriesData struct {
	chunks []types.MetricDataResult
	failed string // a per-query error status (InternalError, Forbidden)
}

// collect indexes a call's results by query position (ids are "q<n>").
func collect(c *call, results []types.MetricDataResult) []seriesData {
	data := make([]seriesData, len(c.refs))
	for _, res := range results {
		id := ""
		if res.Id != nil {
			id = *res.Id
		}
		n, err := strconv.Atoi(strings.TrimPrefix(id, "q"))
		if err != nil || n < 0 || n >= len(data) {
			continue
		}
		switch res.StatusCode {
		case types.StatusCodeInternalError, types.StatusCodeForbidden:
			msg := string(res.StatusCode)
			for _, m := range res.Messages {
				if m.Value != nil {
					msg += ": " + *m.Value
				}
			}
			data[n].failed = msg
		}
		data[n].chunks = append(data[n].chunks, res)
	}
	return data
}

// decode turns one call's results into samples for every complete period
// of the window from the watch's detection period on.
func (r *MetricReader) decode(out []sample.Sample, c *call, results []types.MetricDataResult, watches []ActiveWatch) []sample.Sample {
	return r.decodeFrom(out, c, results, watches, time.Time{})
}

// decodeFrom is decode with an explicit first period (baselines); a zero
// from starts at the later of the window start and the detection period.
func (r *MetricReader) decodeFrom(out []sample.Sample, c *call, results []types.MetricDataResult, watches []ActiveWatch, from time.Time) []sample.Sample {
	data := collect(c, results)
	for i, ref := range c.refs {
		if ref.s.hidden {
			continue
		}
		aw := &watches[ref.watch]
		period := targetPeriod(aw.Target)
		first := from
		if first.IsZero() {
			first = c.start
			if d := floorTime(aw.Watch.DetectedAt, period); d.After(first) {
				first = d
			}
		}
		base := sample.Sample{Target: aw.Target.Name, Kind: sample.KindMetric, Source: SourceCloudWatch,
			Version: ref.s.version, Period: period, Metric: ref.s.metric}
		for p := first.UTC(); p.Before(c.end); p = p.Add(period) {
			s := base
			s.Time = p
			switch v, ok := data[i].at(p); {
			case data[i].failed != "":
				s.Outcome, s.Reason = sample.OutcomeSourceError, "GetMetricData: "+data[i].failed
			case ok:
				if ref.s.scale > 0 {
					v /= ref.s.scale
				}
				s.Outcome, s.Value = sample.OutcomeOK, v
			default:
				s.Outcome = sample.OutcomeNoData
			}
			out = append(out, s)
		}
	}
	return out
}

// at returns the datapoint stamped t.
func (d *seriesData) at(t time.Time) (float64, bool) {
	for k := range d.chunks {
		ch := &d.chunks[k]
		for j, ts := range ch.Timestamps {
			if ts.Equal(t) && j < len(ch.Values) {
				return ch.Values[j], true
			}
		}
	}
	return 0, false
}

// errorSamples records a failed read: one source_error sample per (watch,
// metric, version) of the call, stamped with the newest complete period so
// that the next successful read of that period replaces it.
func (r *MetricReader) errorSamples(out []sample.Sample, c *call, watches []ActiveWatch, reason string) []sample.Sample {
	for _, ref := range c.refs {
		if ref.s.hidden {
			continue
		}
		aw := &watches[ref.watch]
		period := targetPeriod(aw.Target)
		out = append(out, sample.Sample{Target: aw.Target.Name, Kind: sample.KindMetric, Source: SourceCloudWatch,
			Version: ref.s.version, Period: period, Metric: ref.s.metric,
			Time: c.end.Add(-period).UTC(), Outcome: sample.OutcomeSourceError, Reason: reason})
	}
	return out
}
