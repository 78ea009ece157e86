package awssim

import (
	"net/http"
	"time"
)

type lambdaState struct{}

func newLambdaState() *lambdaState { return &lambdaState{} }

type cwStore struct{}

func newCWStore() *cwStore { return &cwStore{} }

type cfState struct{}

func newCFState() *cfState { return &cfState{} }

type snsState struct{}

func newSNSState() *snsState { return &snsState{} }

type faultSet struct{}

func newFaultSet() *faultSet { return &faultSet{} }

type recorder struct{}

// ServeHTTP routes a request to the service it addresses.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not implemented", http.StatusNotImplemented)
}

// CreateFunction creates a function with only $LATEST.
func (s *Sim) CreateFunction(name string) {}

// PublishVersion publishes $LATEST as the next version number.
func (s *Sim) PublishVersion(fn string) string { return "" }

// CreateAlias creates an alias on version and returns its RevisionId.
func (s *Sim) CreateAlias(fn, alias, version string) string { return "" }

// Deploy moves alias to version with optional weights, as a pipeline would.
func (s *Sim) Deploy(fn, alias, version string, weights map[string]float64) string { return "" }

// Alias returns an alias's version, weights and RevisionId.
func (s *Sim) Alias(fn, alias string) (version string, weights map[string]float64, revisionID string) {
	return "", nil, ""
}

// PutDatapoint records values for a metric at t.
func (s *Sim) PutDatapoint(ns, metric string, dims map[string]string, t time.Time, values ...float64) {
}

// LambdaTraffic writes per-minute Lambda metrics for [from, to).
func (s *Sim) LambdaTraffic(fn, alias, version string, from, to time.Time, p Profile) {}

// InjectFault adds a fault.
func (s *Sim) InjectFault(f Fault) {}

// Calls returns recorded calls of api ("" for all).
func (s *Sim) Calls(api string) []Call { return nil }

// Invalidations returns a distribution's invalidations.
func (s *Sim) Invalidations(distribution string) []Invalidation { return nil }

// SNSMessages returns what was published to topicARN.
func (s *Sim) SNSMessages(topicARN string) []SNSMessage { return nil }

// CreateDistribution creates a CloudFront distribution.
func (s *Sim) CreateDistribution(id string) {}

// CreateTopic creates an SNS topic and returns its ARN.
func (s *Sim) CreateTopic(name string) string { return "" }
