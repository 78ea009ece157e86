package awssim

import (
	"encoding/base64"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

const (
	maxQueries       = 500
	defaultMaxPoints = 100800
)

var queryIDRE = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

// mdQuery is one parsed MetricDataQuery.
type mdQuery struct {
	id, label  string
	returnData bool
	period     int64
	// MetricStat
	key        string
	metricName string
	stat       statFunc
	// Expression
	expr mnode
}

// mdEnv evaluates queries by id with memoisation and cycle detection.
type mdEnv struct {
	s          *Sim
	byID       map[string]*mdQuery
	start, end time.Time
	cutoff     int64 // unix seconds: data after it is not visible yet
	done       map[string]mval
	busy       map[string]bool
}

func (e *mdEnv) lookup(id string) (mval, error) {
	if v, ok := e.done[id]; ok {
		return v, nil
	}
	q := e.byID[id]
	if q == nil {
		return mval{}, fmt.Errorf("unknown query id %q", id)
	}
	if e.busy[id] {
		return mval{}, fmt.Errorf("circular dependency on %q", id)
	}
	e.busy[id] = true
	defer delete(e.busy, id)
	var v mval
	if q.expr == nil {
		g := e.s.cw.query(q.key, e.start, e.end, q.period, q.stat, e.cutoff)
		v = mval{g: &g}
	} else {
		var err error
		if v, err = q.expr(e); err != nil {
			return mval{}, err
		}
		if v.g == nil {
			if q.period <= 0 {
				return mval{}, fmt.Errorf("expression %s does not reference a metric and has no Period", id)
			}
			g := newGrid(e.start, e.end, q.period)
			for i := range g.v {
				g.v[i] = v.scalar
			}
			v = mval{g: &g}
		}
	}
	e.done[id] = v
	return v, nil
}

func validPeriod(p int64) bool {
	return p == 1 || p == 5 || p == 10 || p == 30 || (p > 0 && p%60 == 0)
}

// parseQuery validates one MetricDataQuery member.
func parseQuery(m cbor.Map, n int) (*mdQuery, *apiError) {
	q := &mdQuery{returnData: true}
	q.id, _ = cStr(m, "Id")
	q.label, _ = cStr(m, "Label")
	if rd, ok := cBool(m, "ReturnData"); ok {
		q.returnData = rd
	}
	if p, ok := cFloat(m, "Period"); ok {
		q.period = int64(p)
	}
	if !queryIDRE.MatchString(q.id) {
		return nil, cwValidation("The value %s for parameter MetricDataQueries.member.%d.Id is invalid: it must start with a lowercase letter and contain only letters, numbers and underscores.", q.id, n)
	}
	expr, hasExpr := cStr(m, "Expression")
	ms, hasStat := cMap(m, "MetricStat")
	if hasExpr == hasStat {
		return nil, cwValidation("Exactly one element of MetricStat or Expression must be specified in MetricDataQueries.member.%d.", n)
	}
	if hasExpr {
		node, err := parseExpr(expr)
		if err != nil {
			return nil, cwValidation("The value %s for parameter MetricDataQueries.member.%d.Expression is invalid: %v", expr, n, err)
		}
		q.expr = node
		if q.label == "" {
			q.label = q.id
		}
		return q, nil
	}
	metric, _ := cMap(ms, "Metric")
	ns, _ := cStr(metric, "Namespace")
	q.metricName, _ = cStr(metric, "MetricName")
	statName, _ := cStr(ms, "Stat")
	p, _ := cFloat(ms, "Period")
	q.period = int64(p)
	if ns == "" || q.metricName == "" || statName == "" {
		return nil, cwValidation("MetricDataQueries.member.%d.MetricStat requires Metric.Namespace, Metric.MetricName, Period and Stat.", n)
	}
	if !validPeriod(q.period) {
		return nil, cwValidation("The parameter MetricDataQueries.member.%d.MetricStat.Period must be 1, 5, 10, 30 or a multiple of 60.", n)
	}
	stat, err := parseStat(statName)
	if err != nil {
		return nil, cwInvalidParam("The value %s for parameter MetricDataQueries.member.%d.MetricStat.Stat is invalid.", statName, n)
	}
	q.stat = stat
	q.key = metricKey(ns, q.metricName, parseDims(metric))
	if q.label == "" {
		q.label = q.metricName
	}
	return q, nil
}

// mdResult is one computed MetricDataResult before paging.
type mdResult struct {
	id, label string
	ts        []time.Time
	vals      []float64
}

func (s *Sim) cwGetMetricData(req *request) (*response, *apiError) {
	in, aerr := decodeCBORMap(req.body)
	if aerr != nil {
		return nil, aerr
	}
	qs, _ := cList(in, "MetricDataQueries")
	start, okS := cTime(in, "StartTime")
	end, okE := cTime(in, "EndTime")
	token, _ := cStr(in, "NextToken")
	scanBy, _ := cStr(in, "ScanBy")
	req.params["Queries"], req.params["StartTime"], req.params["EndTime"] = len(qs), start, end
	if token != "" {
		req.params["NextToken"] = token
	}
	maxPts := defaultMaxPoints
	if mp, ok := cFloat(in, "MaxDatapoints"); ok && mp > 0 {
		maxPts = int(mp)
	}
	switch {
	case len(qs) == 0:
		return nil, cwValidation("The parameter MetricDataQueries is required.")
	case len(qs) > maxQueries:
		return nil, cwValidation("The collection MetricDataQueries must not have a size greater than %d.", maxQueries)
	case !okS || !okE:
		return nil, cwValidation("The parameters StartTime and EndTime are required.")
	case !start.Before(end):
		return nil, cwInvalidParam("The parameter StartTime must be less than the parameter EndTime.")
	case scanBy != "" && scanBy != "TimestampDescending" && scanBy != "TimestampAscending":
		return nil, cwValidation("The value %s for parameter ScanBy is invalid.", scanBy)
	}
	results, aerr := s.evalQueries(qs, start, end, scanBy != "TimestampAscending")
	if aerr != nil {
		return nil, aerr
	}
	req.result["Results"] = len(results)
	return pageResults(results, token, maxPts)
}

func (s *Sim) evalQueries(qs cbor.List, start, end time.Time, desc bool) ([]mdResult, *apiError) {
	env := &mdEnv{s: s, byID: make(map[string]*mdQuery, len(qs)), start: start, end: end,
		done: make(map[string]mval, len(qs)), busy: map[string]bool{}, cutoff: math.MaxInt64 - 1}
	if s.hideFuture {
		env.cutoff = s.clock.Now().Add(-s.metricLag).Unix()
	}
	order := make([]*mdQuery, 0, len(qs))
	for i, qv := range qs {
		qm, ok := qv.(cbor.Map)
		if !ok {
			return nil, cwValidation("MetricDataQueries.member.%d is not a structure", i+1)
		}
		q, aerr := parseQuery(qm, i+1)
		if aerr != nil {
			return nil, aerr
		}
		if env.byID[q.id] != nil {
			return nil, cwValidation("The values for parameter id in MetricDataQueries are not unique: %s", q.id)
		}
		env.byID[q.id] = q
		order = append(order, q)
	}
	var out []mdResult
	for _, q := range order {
		if !q.returnData {
			continue
		}
		v, err := env.lookup(q.id)
		if err != nil {
			return nil, cwValidation("Error in expression %s: %v", q.id, err)
		}
		out = append(out, gridResult(q, v.g, desc))
	}
	if len(out) == 0 {
		return nil, cwValidation("At least one MetricDataQuery must have ReturnData set to true.")
	}
	return out, nil
}

func gridResult(q *mdQuery, g *grid, desc bool) mdResult {
	r := mdResult{id: q.id, label: q.label}
	n := len(g.v)
	for k := range n {
		i := k
		if desc {
			i = n - 1 - k
		}
		if math.IsNaN(g.v[i]) {
			continue
		}
		r.ts = append(r.ts, time.Unix(g.start+int64(i)*g.period, 0).UTC())
		r.vals = append(r.vals, g.v[i])
	}
	return r
}

// pageResults cuts the results to maxPts datapoints starting at token.
func pageResults(results []mdResult, token string, maxPts int) (*response, *apiError) {
	ri, off := 0, 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		parts := strings.Split(string(b), ":")
		if err == nil && len(parts) == 2 {
			ri, err = strconv.Atoi(parts[0])
			if err == nil {
				off, err = strconv.Atoi(parts[1])
			}
		}
		if err != nil || len(parts) != 2 || ri < 0 || ri >= len(results) || off < 0 || off > len(results[ri].vals) {
			return nil, &apiError{status: 400, code: "com.amazonaws.cloudwatch#InvalidNextToken", queryCode: "InvalidNextToken", message: "The service cannot process the NextToken."}
		}
	}
	budget := maxPts
	type cut struct {
		r        mdResult
		from, to int
		status   string
	}
	var page []cut
	next := ""
	for ; ri < len(results); ri++ {
		r := results[ri]
		take := min(len(r.vals)-off, budget)
		status := "Complete"
		if off+take < len(r.vals) {
			status = "PartialData"
			next = base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d:%d", ri, off+take)))
		}
		page = append(page, cut{r, off, off + take, status})
		budget -= take
		off = 0
		if next != "" {
			break
		}
		if budget == 0 && ri+1 < len(results) {
			next = base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d:0", ri+1)))
			break
		}
	}
	w := &cborWriter{b: make([]byte, 0, 256+len(page)*64+(maxPts-budget)*20)}
	n := 2
	if next != "" {
		n = 3
	}
	w.mapHead(n)
	w.str("MetricDataResults")
	w.listHead(len(page))
	for _, c := range page {
		encodeResult(w, c.r, c.from, c.to, c.status)
	}
	w.str("Messages")
	w.listHead(0)
	if next != "" {
		w.str("NextToken")
		w.str(next)
	}
	return &response{status: 200, ctype: "application/cbor",
		header: map[string]string{"Smithy-Protocol": "rpc-v2-cbor"}, body: w.b}, nil
}

func encodeResult(w *cborWriter, r mdResult, from, to int, status string) {
	w.mapHead(6)
	w.str("Id")
	w.str(r.id)
	w.str("Label")
	w.str(r.label)
	w.str("StatusCode")
	w.str(status)
	w.str("Timestamps")
	w.listHead(to - from)
	for _, t := range r.ts[from:to] {
		w.time(t)
	}
	w.str("Values")
	w.listHead(to - from)
	for _, v := range r.vals[from:to] {
		w.float(v)
	}
	w.str("Messages")
	w.listHead(0)
}
