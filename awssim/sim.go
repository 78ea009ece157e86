package awssim

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/awsclient"
)

// Options configures a simulator.
type Options struct {
	// Clock drives metric "now", invalidation completion and call times.
	// Defaults to the real clock.
	Clock clockwork.Clock
	// Region is used in ARNs and in the aws.Config built by Start.
	// Defaults to "us-east-1".
	Region string
	// InvalidationDelay is how long a CloudFront invalidation stays
	// InProgress before it reads Completed. Zero means it completes at once.
	InvalidationDelay time.Duration
	// AccountID is used in ARNs. Defaults to "123456789012".
	AccountID string
	// AutoCreateDistributions makes any CloudFront distribution id known on
	// first use (the demo); otherwise unknown ids answer NoSuchDistribution
	// until CreateDistribution.
	AutoCreateDistributions bool
	// HideFutureData makes GetMetricData ignore datapoints stamped after the
	// clock's now, so a scenario written ahead of time is revealed as a fake
	// clock advances.
	HideFutureData bool
	// MetricDelay, when > 0, also implies HideFutureData and delays each
	// datapoint further: one stamped t is visible once now >= t+MetricDelay
	// (CloudWatch's ingestion lag; late data for the newest periods).
	MetricDelay time.Duration
	// FastRetries makes Start/Config replace awsclient's adaptive retryer
	// with standard mode (same 5 attempts, 50ms max backoff). Adaptive mode
	// rate-limits the client itself after throttles (down to 0.5 req/s, i.e.
	// ~2s sleeps per call), which is faithful but slow in tests that inject
	// many throttles. Leave false to exercise the daemon's real retryer.
	FastRetries bool
	// CallLogLimit bounds the call log that Calls reads: 0 keeps every
	// call (tests inspect it), > 0 keeps only the newest CallLogLimit
	// calls, NoCallLog keeps none. A long run (the soak benchmark) sets it
	// so that the simulator's memory does not grow with the calls it
	// answers; CallCount counts every call whatever the limit.
	CallLogLimit int
}

// Sim is an in-process AWS simulator. It is an http.Handler speaking Lambda
// REST-JSON, CloudWatch smithy RPCv2 CBOR, CloudFront REST-XML, the SNS
// query protocol and SQS JSON 1.0 (among others), as the pinned
// aws-sdk-go-v2 clients do.
type Sim struct {
	clock   clockwork.Clock
	region  string
	account string
	invDel  time.Duration

	autoDist   bool
	hideFuture bool
	metricLag  time.Duration
	fastRetry  bool

	mu  sync.Mutex // guards url
	url string

	lambda *lambdaState
	cw     *cwStore
	cf     *cfState
	sns    *snsState
	cd     *cdState
	sqs    *sqsState
	faults *faultSet
	deny   *denySet
	store  *objectStore
	rec    *recorder
}

// New returns a simulator with no functions, metrics, distributions or topics.
func New(o Options) *Sim {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	return &Sim{
		clock:      o.Clock,
		region:     o.Region,
		account:    o.AccountID,
		invDel:     o.InvalidationDelay,
		autoDist:   o.AutoCreateDistributions,
		hideFuture: o.HideFutureData || o.MetricDelay > 0,
		metricLag:  o.MetricDelay,
		fastRetry:  o.FastRetries,
		lambda:     newLambdaState(),
		cw:         newCWStore(),
		cf:         newCFState(),
		sns:        newSNSState(),
		cd:         newCDState(),
		sqs:        newSQSState(),
		faults:     newFaultSet(),
		deny:       newDenySet(),
		store:      newObjectStore(),
		rec:        newRecorder(o.CallLogLimit),
	}
}

// Start serves a new simulator on an httptest server closed at test end and
// returns it with an aws.Config (static credentials, endpoint set, fast
// retries) built through awsclient.Load, exactly as the daemon builds one.
func Start(t testing.TB, o Options) (*Sim, aws.Config) {
	t.Helper()
	s := New(o)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.setURL(srv.URL)
	cfg, err := s.Config(context.Background())
	if err != nil {
		t.Fatalf("awssim: %v", err)
	}
	return s, cfg
}

// Config returns an aws.Config pointing at the simulator's URL with static
// test credentials and a small retry backoff.
func (s *Sim) Config(ctx context.Context) (aws.Config, error) {
	cfg, err := awsclient.Load(ctx, awsclient.Options{
		Region:      s.region,
		EndpointURL: s.URL(),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		MaxBackoff:  50 * time.Millisecond,
	})
	if err == nil && s.fastRetry {
		cfg.Retryer = func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = 5
				so.MaxBackoff = 50 * time.Millisecond
			})
		}
	}
	return cfg, err
}

// Serve listens on addr (e.g. "127.0.0.1:0") and serves the simulator until
// stop is called. It returns the base URL to use as the AWS endpoint.
func (s *Sim) Serve(addr string) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	url = "http://" + ln.Addr().String()
	s.setURL(url)
	return url, func() { _ = srv.Close() }, nil
}

// URL returns the base URL when the simulator was started with Start or Serve.
func (s *Sim) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

func (s *Sim) setURL(u string) {
	s.mu.Lock()
	s.url = u
	s.mu.Unlock()
}

// Clock returns the simulator's clock.
func (s *Sim) Clock() clockwork.Clock { return s.clock }
