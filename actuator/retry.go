package actuator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/canaryd/canaryd/awsclient"
)

// RetryPolicy is the step-level retry decision as data: how many attempts a
// step makes on transient errors (throttling, 5xx, network) and how long it
// waits between them, on the injected clock. AWS calls get this on top of
// the SDK's own adaptive retries, so a throttling storm that outlasts the
// SDK's attempts is still ridden out.
type RetryPolicy struct {
	Attempts int           // total attempts, including the first
	Base     time.Duration // wait after the first failure; doubles after each
	Max      time.Duration // cap on one wait
}

// DefaultRetry is used when Config.Retry is zero.
var DefaultRetry = RetryPolicy{Attempts: 4, Base: 500 * time.Millisecond, Max: 10 * time.Second}

// Next says whether to try again after attempt (1-based) failed with an
// error of class c, and how long to wait first.
func (p RetryPolicy) Next(attempt int, c ErrClass) (retry bool, wait time.Duration) {
	if c != Transient || attempt >= p.Attempts {
		return false, 0
	}
	wait = p.Base
	for i := 1; i < attempt && wait < p.Max; i++ {
		wait *= 2
	}
	if p.Max > 0 && wait > p.Max {
		wait = p.Max
	}
	return true, wait
}

// ErrClass says what an error means for the step.
type ErrClass int

// Error classes.
const (
	Permanent    ErrClass = iota // fail the step now: AccessDenied, not found, invalid parameter
	Transient                    // retry with backoff: throttling, 5xx, network
	Precondition                 // the alias moved under us: abort, never retry
)

func (c ErrClass) String() string {
	switch c {
	case Transient:
		return "transient"
	case Precondition:
		return "precondition"
	}
	return "permanent"
}

// classified marks an error with its class (non-AWS steps).
type classified struct {
	class ErrClass
	err   error
}

func (e *classified) Error() string { return e.err.Error() }
func (e *classified) Unwrap() error { return e.err }

func transient(err error) error { return &classified{Transient, err} }
func permanent(err error) error { return &classified{Permanent, err} }

// permanentCodes fail a step at once: retrying cannot help.
var permanentCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
	"ResourceNotFoundException": true, "NoSuchDistribution": true, "NoSuchInvalidation": true,
	"InvalidParameterValueException": true, "InvalidArgument": true, "InvalidRequestContentException": true,
	"ValidationException": true, "UnrecognizedClientException": true, "InvalidSignatureException": true,
	"MissingBody": true, "BatchTooLarge": true, "InconsistentQuantities": true,
}

// Classify says whether err is worth retrying.
func Classify(err error) ErrClass {
	if err == nil {
		return Permanent
	}
	if awsclient.IsTimeout(err) {
		// AWS did not answer within the call's deadline (a hung or
		// black-holed connection): another attempt may get through.
		return Transient
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Permanent
	}
	var c *classified
	if errors.As(err, &c) {
		return c.class
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		switch {
		case code == "PreconditionFailedException":
			return Precondition
		case permanentCodes[code]:
			return Permanent
		case isThrottleCode(code):
			return Transient
		}
	}
	var quota ratelimit.QuotaExceededError
	var maxAttempts *retry.MaxAttemptsError
	if errors.As(err, &quota) || errors.As(err, &maxAttempts) {
		// The SDK gave up on a retryable error; our policy may go on.
		return Transient
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return Transient
	}
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary {
		return Transient
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return Transient
	}
	return Permanent
}

// withRetry runs op until it succeeds, fails for good, or the policy says
// stop; waits happen on the injected clock. It returns the attempts made.
func (a *Actuator) withRetry(ctx context.Context, op func(attempt int) error) (int, error) {
	return a.retry(ctx, a.cfg.Retry, op)
}

// retry is withRetry under an explicit policy.
func (a *Actuator) retry(ctx context.Context, pol RetryPolicy, op func(attempt int) error) (int, error) {
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		if err == nil {
			return attempt, nil
		}
		again, wait := pol.Next(attempt, Classify(err))
		if !again {
			if Classify(err) == Transient {
				err = fmt.Errorf("gave up after %d attempts: %w", attempt, err)
			}
			return attempt, err
		}
		select {
		case <-ctx.Done():
			return attempt, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-a.clk.After(wait):
		}
	}
}

func isThrottleCode(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok || code == "TooManyInvalidationsInProgress"
}
