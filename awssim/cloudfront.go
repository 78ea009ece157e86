package awssim

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

const cfXMLNS = "http://cloudfront.amazonaws.com/doc/2020-05-31/"

// cfState holds distributions and their invalidations (oldest first).
type cfState struct {
	mu    sync.Mutex
	dists map[string][]*cfInvalidation
	seq   int
}

type cfInvalidation struct {
	id, ref string
	paths   []string
	created time.Time
}

func newCFState() *cfState { return &cfState{dists: map[string][]*cfInvalidation{}} }

type cfPaths struct {
	Quantity int      `xml:"Quantity"`
	Items    []string `xml:"Items>Path"`
}

type cfBatch struct {
	XMLName         xml.Name `xml:"InvalidationBatch"`
	Xmlns           string   `xml:"xmlns,attr,omitempty"`
	Paths           cfPaths  `xml:"Paths"`
	CallerReference string   `xml:"CallerReference"`
}

type cfInvalidationXML struct {
	XMLName    xml.Name `xml:"Invalidation"`
	Xmlns      string   `xml:"xmlns,attr"`
	ID         string   `xml:"Id"`
	Status     string   `xml:"Status"`
	CreateTime string   `xml:"CreateTime"`
	Batch      cfBatch  `xml:"InvalidationBatch"`
}

type cfSummary struct {
	ID         string `xml:"Id"`
	CreateTime string `xml:"CreateTime"`
	Status     string `xml:"Status"`
}

type cfList struct {
	XMLName     xml.Name    `xml:"InvalidationList"`
	Xmlns       string      `xml:"xmlns,attr"`
	Marker      string      `xml:"Marker"`
	NextMarker  string      `xml:"NextMarker,omitempty"`
	MaxItems    int         `xml:"MaxItems"`
	IsTruncated bool        `xml:"IsTruncated"`
	Quantity    int         `xml:"Quantity"`
	Items       []cfSummary `xml:"Items>InvalidationSummary"`
}

func (s *Sim) cloudfrontRoute(r *http.Request) (route, bool) {
	segs := pathSegments(r.URL) // 2020-05-31 distribution {id} invalidation [{iid}]
	if len(segs) < 4 || segs[1] != "distribution" || segs[3] != "invalidation" {
		return unknownOp("cloudfront", r), true
	}
	rt := route{service: "cloudfront", vars: segs[2:]}
	switch {
	case len(segs) == 4 && r.Method == http.MethodPost:
		rt.api, rt.h = "CreateInvalidation", s.cfCreateInvalidation
	case len(segs) == 4 && r.Method == http.MethodGet:
		rt.api, rt.h = "ListInvalidations", s.cfListInvalidations
	case len(segs) == 5 && r.Method == http.MethodGet:
		rt.api, rt.h = "GetInvalidation", s.cfGetInvalidation
	default:
		return unknownOp("cloudfront", r), true
	}
	return rt, true
}

// CreateDistribution makes a distribution id known to CloudFront calls.
func (s *Sim) CreateDistribution(id string) {
	s.cf.mu.Lock()
	defer s.cf.mu.Unlock()
	if _, ok := s.cf.dists[id]; !ok {
		s.cf.dists[id] = nil
	}
}

func cfError(status int, code, msg string) *apiError {
	return &apiError{status: status, code: code, message: msg}
}

// distLocked checks a distribution exists (or creates it when the sim auto
// creates distributions).
func (s *Sim) distLocked(id string) *apiError {
	if _, ok := s.cf.dists[id]; ok {
		return nil
	}
	if s.autoDist {
		s.cf.dists[id] = nil
		return nil
	}
	return cfError(404, "NoSuchDistribution", "The specified distribution does not exist.")
}

func (s *Sim) cfStatus(inv *cfInvalidation) string {
	if !s.clock.Now().Before(inv.created.Add(s.invDel)) {
		return "Completed"
	}
	return "InProgress"
}

func (s *Sim) cfXML(inv *cfInvalidation, status string) cfInvalidationXML {
	return cfInvalidationXML{Xmlns: cfXMLNS, ID: inv.id, Status: status, CreateTime: cfTime(inv.created),
		Batch: cfBatch{CallerReference: inv.ref, Paths: cfPaths{Quantity: len(inv.paths), Items: inv.paths}}}
}

func cfTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (s *Sim) cfCreateInvalidation(req *request) (*response, *apiError) {
	dist := req.vars[0]
	req.params["DistributionId"] = dist
	var in cfBatch
	if len(req.body) == 0 {
		return nil, cfError(400, "MissingBody", "This operation requires a body.")
	}
	if err := xml.Unmarshal(req.body, &in); err != nil {
		return nil, cfError(400, "MalformedXML", "The XML you provided was not well-formed: "+err.Error())
	}
	req.params["CallerReference"], req.params["Paths"] = in.CallerReference, slices.Clone(in.Paths.Items)
	if aerr := validateBatch(in); aerr != nil {
		return nil, aerr
	}
	s.cf.mu.Lock()
	defer s.cf.mu.Unlock()
	if aerr := s.distLocked(dist); aerr != nil {
		return nil, aerr
	}
	for _, inv := range s.cf.dists[dist] {
		if inv.ref != in.CallerReference {
			continue
		}
		if !slices.Equal(inv.paths, in.Paths.Items) {
			return nil, cfError(400, "InvalidationBatchAlreadyExists", "A different invalidation batch with this caller reference already exists.")
		}
		return s.cfCreated(req, dist, inv)
	}
	s.cf.seq++
	inv := &cfInvalidation{id: fmt.Sprintf("I%012X", uint64(s.cf.seq)*0x9E3779B1%0xFFFFFFFFFFFF), ref: in.CallerReference,
		paths: slices.Clone(in.Paths.Items), created: s.clock.Now()}
	s.cf.dists[dist] = append(s.cf.dists[dist], inv)
	return s.cfCreated(req, dist, inv)
}

func (s *Sim) cfCreated(req *request, dist string, inv *cfInvalidation) (*response, *apiError) {
	req.result["Id"], req.result["Status"] = inv.id, s.cfStatus(inv)
	loc := fmt.Sprintf("https://cloudfront.amazonaws.com/2020-05-31/distribution/%s/invalidation/%s", dist, inv.id)
	return xmlResponse(201, s.cfXML(inv, s.cfStatus(inv)), map[string]string{"Location": loc})
}

func validateBatch(in cfBatch) *apiError {
	if in.CallerReference == "" {
		return cfError(400, "InvalidArgument", "CallerReference is required.")
	}
	if len(in.Paths.Items) == 0 {
		return cfError(400, "InvalidArgument", "Your request must contain at least one path.")
	}
	if in.Paths.Quantity != len(in.Paths.Items) {
		return cfError(400, "InconsistentQuantities", "The value of Quantity and the size of Items don't match.")
	}
	for _, p := range in.Paths.Items {
		if len(p) == 0 || p[0] != '/' {
			return cfError(400, "InvalidArgument", "Your request contains one or more invalid invalidation paths.")
		}
	}
	if len(in.Paths.Items) > 3000 {
		return cfError(413, "BatchTooLarge", "Invalidation batch specified is too large.")
	}
	return nil
}

func (s *Sim) cfGetInvalidation(req *request) (*response, *apiError) {
	dist, id := req.vars[0], req.vars[2]
	req.params["DistributionId"], req.params["Id"] = dist, id
	s.cf.mu.Lock()
	defer s.cf.mu.Unlock()
	if aerr := s.distLocked(dist); aerr != nil {
		return nil, aerr
	}
	for _, inv := range s.cf.dists[dist] {
		if inv.id == id {
			return xmlResponse(200, s.cfXML(inv, s.cfStatus(inv)), nil)
		}
	}
	return nil, cfError(404, "NoSuchInvalidation", "The specified invalidation does not exist.")
}

// cfListInvalidations lists newest first; Marker is the id of the last
// invalidation of the previous page, as in AWS.
func (s *Sim) cfListInvalidations(req *request) (*response, *apiError) {
	dist := req.vars[0]
	q := req.r.URL.Query()
	marker := q.Get("Marker")
	maxItems := 100
	if v := q.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, cfError(400, "InvalidArgument", "MaxItems must be a non-negative integer.")
		}
		maxItems = n
	}
	req.params["DistributionId"], req.params["Marker"], req.params["MaxItems"] = dist, marker, maxItems
	s.cf.mu.Lock()
	defer s.cf.mu.Unlock()
	if aerr := s.distLocked(dist); aerr != nil {
		return nil, aerr
	}
	invs := slices.Clone(s.cf.dists[dist])
	slices.Reverse(invs)
	start := 0
	if marker != "" {
		start = slices.IndexFunc(invs, func(i *cfInvalidation) bool { return i.id == marker }) + 1
		if start == 0 {
			return nil, cfError(400, "InvalidArgument", "Invalid marker.")
		}
	}
	end := min(start+maxItems, len(invs))
	out := cfList{Xmlns: cfXMLNS, Marker: marker, MaxItems: maxItems, Items: []cfSummary{}}
	for _, inv := range invs[start:end] {
		out.Items = append(out.Items, cfSummary{ID: inv.id, CreateTime: cfTime(inv.created), Status: s.cfStatus(inv)})
	}
	out.Quantity = len(out.Items)
	if end < len(invs) && end > start {
		out.IsTruncated, out.NextMarker = true, invs[end-1].id
	}
	return xmlResponse(200, out, nil)
}

// Invalidations returns a distribution's invalidations, oldest first, with
// their status as of the simulator's clock.
func (s *Sim) Invalidations(distribution string) []Invalidation {
	s.cf.mu.Lock()
	defer s.cf.mu.Unlock()
	var out []Invalidation
	for _, inv := range s.cf.dists[distribution] {
		out = append(out, Invalidation{ID: inv.id, Distribution: distribution, CallerReference: inv.ref,
			Paths: slices.Clone(inv.paths), CreateTime: inv.created, Status: s.cfStatus(inv)})
	}
	return out
}
