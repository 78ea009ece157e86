package watcher

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/canaryd/canaryd/sample"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/config"
)

// Probe read bounds.
const (
	// drainLimit is how much of a body past MaxBodyBytes is discarded to
	// keep the connection reusable; a longer body closes the connection.
	drainLimit = 16 << 10
)

// ProberConfig configures a Prober.
type ProberConfig struct {
	// Client makes the requests. Default: no cookie jar, redirects bounded
	// per probe by Probe.MaxRedirects, keep-alive connections.
	Client *http.Client
	Clock  clockwork.Clock
	// Concurrency bounds probes in flight; default 64.
	Concurrency int
	Metrics     *Metrics
	// Sink receives every scheduled probe's sample. It must not block long.
	Sink func(sample.Sample)
	// Stalls, when set (and running), tells a probe that failed on time
	// whether canaryd itself stood still meanwhile; such a result is a
	// source error, not evidence (stall.go).
	Stalls *StallMeter
}

// Prober runs HTTP health probes, one at a time (Probe) or on a jittered
// schedule for the targets under watch (SetActive + Tick).
type Prober struct {
	cfg    ProberConfig
	client *http.Client

	reMu sync.RWMutex
	re   map[string]*regexp.Regexp // compiled body matchers, by expression

	sched schedule
}

// NewProber builds a Prober.
func NewProber(cfg ProberConfig) *Prober {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Sink == nil {
		cfg.Sink = func(sample.Sample) {}
	}
	p := &Prober{cfg: cfg, client: cfg.Client, re: make(map[string]*regexp.Regexp)}
	if p.client == nil {
		p.client = DefaultProbeClient()
	}
	p.sched.init(cfg.Concurrency)
	return p
}

// DefaultProbeClient is an http.Client without a cookie jar whose redirect
// limit is the probe's own MaxRedirects (carried in the request context).
func DefaultProbeClient() *http.Client {
	tr := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{Transport: tr, CheckRedirect: checkRedirect}
}

// redirectPolicy travels in the request context to checkRedirect.
type redirectPolicy struct {
	max     int
	secrets []string // secret header names: never sent to another host
}

type redirectKey struct{}

var errTooManyRedirects = errors.New("too many redirects")

// checkRedirect bounds redirects by the probe's MaxRedirects and drops
// secret headers when a redirect leaves the original host (Go itself only
// drops Authorization and Cookie).
func checkRedirect(req *http.Request, via []*http.Request) error {
	pol, _ := req.Context().Value(redirectKey{}).(*redirectPolicy)
	if pol == nil {
		pol = &redirectPolicy{}
	}
	if len(via) > pol.max {
		return fmt.Errorf("%w (max %d)", errTooManyRedirects, pol.max)
	}
	if req.URL.Host != via[0].URL.Host {
		for _, k := range pol.secrets {
			req.Header.Del(k)
		}
	}
	return nil
}

// Probe runs p once against target's endpoint and returns its sample. It
// returns within p.Timeout (on the injected clock) whatever the server does,
// and reads at most p.MaxBodyBytes of the body. Secret header values are
// sent but never copied into the sample.
func (pr *Prober) Probe(ctx context.Context, target string, p config.Probe) sample.Sample {
	start := pr.cfg.Clock.Now()
	s := sample.Sample{Target: target, Kind: sample.KindProbe, Source: p.Name, Time: start}
	mark := pr.cfg.Stalls.Mark()
	status, reason, err := pr.do(ctx, p)
	s.Latency = pr.cfg.Clock.Since(start)
	s.Status = status
	switch {
	case err != nil:
		s.Outcome, s.Reason = sample.OutcomeFail, err.Error()
	case reason != "":
		s.Outcome, s.Reason = sample.OutcomeFail, reason
	case p.MaxLatency.Duration > 0 && s.Latency > p.MaxLatency.Duration:
		s.Outcome = sample.OutcomeFail
		s.Reason = fmt.Sprintf("too slow: %s > max_latency %s", s.Latency.Round(time.Millisecond), p.MaxLatency.Duration)
	default:
		s.Outcome = sample.OutcomeOK
	}
	if ctx.Err() != nil && s.Outcome == sample.OutcomeFail && !errors.Is(err, errProbeTimeout) {
		// Our own shutdown is not the target's fault.
		s.Outcome, s.Reason = sample.OutcomeSourceError, "probe cancelled: "+ctx.Err().Error()
	}
	if s.Outcome == sample.OutcomeFail && notTheVersion(err) {
		s.Outcome = sample.OutcomeSourceError
		s.Reason += ": the name lookup, the certificate or canaryd's own network, not evidence about the version"
	}
	if s.Outcome == sample.OutcomeFail {
		if stalled := pr.cfg.Stalls.Since(mark); stallExplains(stalled, s.Latency, err, reason, p) {
			s.Outcome = sample.OutcomeSourceError
			s.Reason += fmt.Sprintf("; canaryd itself stalled %s meanwhile: not evidence about the target", stalled.Round(time.Millisecond))
		}
	}
	pr.cfg.Metrics.ProbeLatency.Observe(s.Latency.Seconds())
	pr.cfg.Metrics.sample(s)
	return s
}

var errProbeTimeout = errors.New("timeout")

// notTheVersion reports whether a probe's error lies outside anything a
// deploy changes: a failed name lookup (a Lambda version cannot change
// DNS; a resolver's hiccup would otherwise read as a failing version and
// roll a good one back), a certificate that does not verify (it belongs
// to the function URL, API Gateway, CloudFront or the load balancer, not
// to a version: rolling back cannot mend it) or no route out of canaryd's
// own host.
func notTheVersion(err error) bool {
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	return errors.As(err, &dns) || errors.As(err, &cert) || errors.Is(err, syscall.ENETUNREACH)
}

// stallExplains reports whether canaryd's own stall during a failed probe
// could explain its failure: a timeout during which the process stood
// still for a quarter of the timeout or more (the answer may have come
// while no goroutine ran to read it), or a response too slow only by
// less than the stall. A hung endpoint keeps failing the probes that run
// while canaryd is not starved.
func stallExplains(stalled, latency time.Duration, err error, reason string, p config.Probe) bool {
	switch {
	case stalled <= 0:
		return false
	case errors.Is(err, errProbeTimeout):
		return stalled >= p.Timeout.Duration/4
	case err == nil && reason == "" && p.MaxLatency.Duration > 0 && latency > p.MaxLatency.Duration:
		return latency-stalled <= p.MaxLatency.Duration
	}
	return false
}

// withClockTimeout cancels ctx with cause errProbeTimeout after d on clock.
// It sets no Deadline, so the dialer and TLS code (which read real time)
// never see a fake clock's instant; Done alone enforces the bound.
func withClockTimeout(parent context.Context, clock clockwork.Clock, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	t := clock.AfterFunc(d, func() { cancel(errProbeTimeout) })
	return ctx, func() { t.Stop(); cancel(context.Canceled) }
}

// do performs the request; it returns the status, a failure reason for a
// response that came back wrong, or an error when none came back.
func (pr *Prober) do(ctx context.Context, p config.Probe) (int, string, error) {
	timeout := p.Timeout.Duration // defaults are applied at config load
	rctx, cancel := withClockTimeout(ctx, pr.cfg.Clock, timeout)
	defer cancel()
	pol := &redirectPolicy{max: p.MaxRedirects}
	for k := range p.SecretHeaders {
		pol.secrets = append(pol.secrets, k)
	}
	rctx = context.WithValue(rctx, redirectKey{}, pol)
	req, err := http.NewRequestWithContext(rctx, p.Method, p.URL, nil)
	if err != nil {
		return 0, "", fmt.Errorf("bad probe request: %w", err)
	}
	for k, v := range p.Headers {
		setHeader(req, k, v)
	}
	for k, v := range p.SecretHeaders {
		setHeader(req, k, v.Value())
	}
	resp, err := pr.client.Do(req)
	if err != nil {
		return 0, "", probeError(rctx, err, timeout)
	}
	defer resp.Body.Close()
	reason, err := pr.checkResponse(rctx, resp, p)
	if err != nil {
		return resp.StatusCode, "", probeError(rctx, err, timeout)
	}
	return resp.StatusCode, reason, nil
}

// setHeader sets a request header; Host goes to req.Host, where Go reads it.
func setHeader(req *http.Request, k, v string) {
	if http.CanonicalHeaderKey(k) == "Host" {
		req.Host = v
		return
	}
	req.Header.Set(k, v)
}

// probeError names the failure without the URL's query or credentials.
func probeError(ctx context.Context, err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, errTooManyRedirects):
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			return ue.Unwrap()
		}
		return err
	case errors.Is(context.Cause(ctx), errProbeTimeout):
		return fmt.Errorf("%w after %s", errProbeTimeout, timeout)
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return fmt.Errorf("%s: %w", ne.Op, ne.Err)
	}
	return errors.Unwrap(err) // *url.Error carries the URL; drop it
}

// checkResponse judges status and body. The body is read up to
// MaxBodyBytes; a little more is drained so the connection can be reused.
func (pr *Prober) checkResponse(ctx context.Context, resp *http.Response, p config.Probe) (string, error) {
	if !statusExpected(resp.StatusCode, p.ExpectStatus) {
		drain(resp.Body)
		return "unexpected status " + strconv.Itoa(resp.StatusCode), nil
	}
	if p.BodyMatch == "" {
		drain(resp.Body)
		return "", ctx.Err()
	}
	re, err := pr.regexp(p.BodyMatch)
	if err != nil {
		return "bad body_match: " + err.Error(), nil
	}
	limit := p.MaxBodyBytes
	buf := bodyPool.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); bodyPool.Put(buf) }()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, limit)); err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	drain(resp.Body)
	if !re.Match(buf.Bytes()) {
		return fmt.Sprintf("body does not match %q (first %d bytes read)", p.BodyMatch, buf.Len()), nil
	}
	return "", nil
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// drain discards a bounded remainder; a longer body is left unread and the
// connection is closed by Body.Close.
func drain(r io.Reader) { _, _ = io.CopyN(io.Discard, r, drainLimit) }

func statusExpected(code int, expect []int) bool {
	if len(expect) == 0 {
		return code >= 200 && code <= 299
	}
	for _, c := range expect {
		if c == code {
			return true
		}
	}
	return false
}

func (pr *Prober) regexp(expr string) (*regexp.Regexp, error) {
	pr.reMu.RLock()
	re := pr.re[expr]
	pr.reMu.RUnlock()
	if re != nil {
		return re, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	pr.reMu.Lock()
	pr.re[expr] = re
	pr.reMu.Unlock()
	return re, nil
}
