package actuator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/awsclient"
)

func TestRetryPolicyNext(t *testing.T) {
	p := RetryPolicy{Attempts: 5, Base: time.Second, Max: 5 * time.Second}
	cases := []struct {
		attempt   int
		class     ErrClass
		wantRetry bool
		wantWait  time.Duration
	}{
		{1, Transient, true, time.Second},
		{2, Transient, true, 2 * time.Second},
		{3, Transient, true, 4 * time.Second},
		{4, Transient, true, 5 * time.Second}, // capped
		{5, Transient, false, 0},              // out of attempts
		{1, Permanent, false, 0},
		{1, Precondition, false, 0},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d-%s", tc.attempt, tc.class), func(t *testing.T) {
			again, wait := p.Next(tc.attempt, tc.class)
			if again != tc.wantRetry || wait != tc.wantWait {
				t.Errorf("Next(%d, %s) = %v, %s; want %v, %s", tc.attempt, tc.class, again, wait, tc.wantRetry, tc.wantWait)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	api := func(code string) error {
		return fmt.Errorf("op: %w", &smithy.GenericAPIError{Code: code, Message: "m"})
	}
	cases := []struct {
		name string
		err  error
		want ErrClass
	}{
		{"lambda throttle", api("TooManyRequestsException"), Transient},
		{"cloudfront throttle", api("Throttling"), Transient},
		{"precondition", api("PreconditionFailedException"), Precondition},
		{"access denied", api("AccessDeniedException"), Permanent},
		{"not found", api("ResourceNotFoundException"), Permanent},
		{"invalid parameter", api("InvalidParameterValueException"), Permanent},
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, Transient},
		{"marked transient", transient(errors.New("x")), Transient},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), Permanent},
		{"aws call deadline", fmt.Errorf("get alias: %w", &awsclient.TimeoutError{Operation: "GetAlias", Err: context.DeadlineExceeded}), Transient},
		{"unknown", errors.New("boom"), Permanent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.want {
				t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}

// TestRetryWaitsOnInjectedClock: the waits between attempts happen on the
// injected clock, doubling from Base.
func TestRetryWaitsOnInjectedClock(t *testing.T) {
	clk := clockwork.NewFakeClockAt(epoch)
	a := &Actuator{cfg: Config{Retry: RetryPolicy{Attempts: 3, Base: 2 * time.Second, Max: time.Minute}}, clk: clk}
	var at []time.Time
	done := make(chan error, 1)
	go func() {
		_, err := a.withRetry(context.Background(), func(int) error {
			at = append(at, clk.Now())
			return transient(errors.New("503"))
		})
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, d := range []time.Duration{2 * time.Second, 4 * time.Second} {
		if err := clk.BlockUntilContext(ctx, 1); err != nil {
			t.Fatalf("no backoff wait on the clock: %v", err)
		}
		clk.Advance(d)
	}
	err := <-done
	if err == nil || Classify(err) != Transient {
		t.Fatalf("err %v, want the transient error after giving up", err)
	}
	if len(at) != 3 || at[1].Sub(at[0]) != 2*time.Second || at[2].Sub(at[1]) != 4*time.Second {
		t.Errorf("attempts at %v, want t0, +2s, +6s", at)
	}
}
