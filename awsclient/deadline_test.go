package awsclient_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
)

// blackHole is an endpoint that accepts connections and never answers.
type blackHole struct {
	ln       net.Listener
	accepted atomic.Int32
	mu       sync.Mutex
	conns    []net.Conn
}

func newBlackHole(t *testing.T) *blackHole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	return b
}

func (b *blackHole) URL() string { return "http://" + b.ln.Addr().String() }

func lambdaClient(t *testing.T, o awsclient.Options) *lambda.Client {
	t.Helper()
	o.Region = "us-east-1"
	o.Credentials = credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")
	cfg, err := awsclient.Load(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return lambda.NewFromConfig(cfg)
}

// getAlias calls GetAlias and returns its error and how long it took, or
// fails the test if the call has not returned within bound: a hung call.
func getAlias(t *testing.T, lc *lambda.Client, bound time.Duration) (time.Duration, error) {
	t.Helper()
	type result struct {
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		_, err := lc.GetAlias(context.Background(), &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")})
		done <- result{err, time.Since(start)}
	}()
	select {
	case r := <-done:
		return r.took, r.err
	case <-time.After(bound):
		t.Fatalf("GetAlias still hanging after %s", bound)
		return 0, nil
	}
}

// TestBlackHoledCallEndsAtItsDeadline is issue #13 item 1: a GetAlias to an
// endpoint that accepts and never answers returns a TimeoutError at the
// read deadline instead of hanging forever.
func TestBlackHoledCallEndsAtItsDeadline(t *testing.T) {
	bh := newBlackHole(t)
	reg := prometheus.NewRegistry()
	m := awsclient.NewMetrics(reg)
	lc := lambdaClient(t, awsclient.Options{EndpointURL: bh.URL(), MaxAttempts: 3, RetryMode: "standard",
		ReadTimeout: 300 * time.Millisecond, ResponseHeaderTimeout: time.Minute, Metrics: m})

	took, err := getAlias(t, lc, 30*time.Second)

	var te *awsclient.TimeoutError
	if !errors.As(err, &te) || te.Operation != "GetAlias" || te.After != 300*time.Millisecond {
		t.Fatalf("error %v (%T), want a TimeoutError for GetAlias after 300ms", err, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a TimeoutError should match context.DeadlineExceeded: %v", err)
	}
	// The deadline is 300ms; the bound leaves room for a loaded machine.
	if took > 10*time.Second {
		t.Errorf("GetAlias took %s with a 300ms deadline", took)
	}
	if got := testutil.ToFloat64(m.Calls.WithLabelValues("Lambda", "GetAlias", "timeout")); got != 1 {
		t.Errorf("calls{outcome=timeout} = %v, want 1", got)
	}
	t.Logf("black-holed GetAlias returned after %s: %v", took, err)
}

// TestResponseHeaderTimeoutBoundsEachAttempt: with a long operation
// deadline, each attempt still gives up waiting for headers, and the SDK
// retries on a new connection.
func TestResponseHeaderTimeoutBoundsEachAttempt(t *testing.T) {
	bh := newBlackHole(t)
	lc := lambdaClient(t, awsclient.Options{EndpointURL: bh.URL(), MaxAttempts: 2, RetryMode: "standard",
		MaxBackoff: time.Millisecond, ReadTimeout: time.Minute, ResponseHeaderTimeout: 200 * time.Millisecond})

	took, err := getAlias(t, lc, 30*time.Second)

	if err == nil || awsclient.IsTimeout(err) || !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Fatalf("error %v, want the transport's response header timeout (not the operation deadline)", err)
	}
	if n := bh.accepted.Load(); n != 2 {
		t.Errorf("%d connections, want one per attempt (2)", n)
	}
	if took > 20*time.Second {
		t.Errorf("two 200ms attempts took %s", took)
	}
}

// TestReadsAndChangesHaveTheirOwnDeadlines: with both delayed by the same
// real latency, a read with a short read deadline times out and a change
// with a long action deadline goes through.
func TestReadsAndChangesHaveTheirOwnDeadlines(t *testing.T) {
	sim, _ := awssim.Start(t, awssim.Options{})
	sim.CreateFunction("fn")
	sim.Deploy("fn", "live", "1", nil)
	rev := sim.Deploy("fn", "live", "2", nil)
	const latency = 600 * time.Millisecond
	sim.InjectFault(awssim.Fault{API: "GetAlias", Kind: awssim.FaultLatency, Latency: latency, Count: 1})
	sim.InjectFault(awssim.Fault{API: "UpdateAlias", Kind: awssim.FaultLatency, Latency: latency, Count: 1})
	lc := lambdaClient(t, awsclient.Options{EndpointURL: sim.URL(), MaxAttempts: 1, RetryMode: "standard",
		ReadTimeout: 100 * time.Millisecond, ActionTimeout: 20 * time.Second})

	_, err := getAlias(t, lc, 30*time.Second)
	if !awsclient.IsTimeout(err) {
		t.Errorf("GetAlias: %v, want a TimeoutError (read deadline 100ms < latency %s)", err, latency)
	}
	_, err = lc.UpdateAlias(context.Background(), &lambda.UpdateAliasInput{FunctionName: aws.String("fn"),
		Name: aws.String("live"), FunctionVersion: aws.String("1"), RevisionId: aws.String(rev)})
	if err != nil {
		t.Errorf("UpdateAlias under a 20s action deadline: %v", err)
	}
	if v, _, _ := sim.Alias("fn", "live"); v != "1" {
		t.Errorf("alias at %s, want 1", v)
	}
}

func TestIsRead(t *testing.T) {
	cases := map[string]bool{"GetAlias": true, "GetMetricData": true, "ListVersionsByFunction": true,
		"GetInvalidation": true, "UpdateAlias": false, "CreateInvalidation": false, "Publish": false, "AssumeRole": false}
	for op, want := range cases {
		if got := awsclient.IsRead(op); got != want {
			t.Errorf("IsRead(%s) = %v, want %v", op, got, want)
		}
	}
}

// TestLongLambdaCallIsBoundByTheCallerAlone: an Invoke with LongLambdaCall
// (a traffic hook that may run for minutes) outlives the action and
// response-header deadlines and ends at the caller's own deadline; without
// it the action deadline cuts it.
func TestLongLambdaCallIsBoundByTheCallerAlone(t *testing.T) {
	bh := newBlackHole(t)
	// The response-header deadline later than the action's: two equal
	// timers race, and the header one, when it fired first (a loaded
	// machine), failed the first call with its own error.
	lc := lambdaClient(t, awsclient.Options{EndpointURL: bh.URL(), MaxAttempts: 1, RetryMode: "standard",
		ActionTimeout: 100 * time.Millisecond, ResponseHeaderTimeout: 300 * time.Millisecond})
	invoke := func(opts ...func(*lambda.Options)) error {
		ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
		defer cancel()
		_, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("hook")}, opts...)
		return err
	}
	if err := invoke(); !awsclient.IsTimeout(err) {
		t.Fatalf("without LongLambdaCall: %v, want the action deadline's TimeoutError", err)
	}
	start := time.Now()
	err := invoke(awsclient.LongLambdaCall)
	if err == nil || awsclient.IsTimeout(err) || strings.Contains(err.Error(), "timeout awaiting response headers") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with LongLambdaCall: %v, want the caller's deadline", err)
	}
	if took := time.Since(start); took < 700*time.Millisecond {
		t.Errorf("with LongLambdaCall the call ended after %s, before the caller's 800ms", took)
	}
}
