package awsclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go/middleware"

	"github.com/canaryd/canaryd/config"
)

// TimeoutError is an AWS operation cut off at its deadline (Options
// ReadTimeout or ActionTimeout) while the caller's context was still live:
// AWS did not answer in time. It matches context.DeadlineExceeded with
// errors.Is; callers that retry tell it apart from their own context
// ending with errors.As.
type TimeoutError struct {
	Service, Operation string
	After              time.Duration
	Err                error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s %s: no answer within %s: %v", e.Service, e.Operation, e.After, e.Err)
}

// Unwrap returns the SDK's error.
func (e *TimeoutError) Unwrap() error { return e.Err }

// Timeout reports true (net.Error style).
func (e *TimeoutError) Timeout() bool { return true }

// Is makes a TimeoutError match context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// IsTimeout reports whether err is, or wraps, a TimeoutError.
func IsTimeout(err error) bool {
	var te *TimeoutError
	return errors.As(err, &te)
}

// IsRead reports whether an operation only reads (Get*, List*, Describe*,
// Head*): it gets ReadTimeout, everything else ActionTimeout.
func IsRead(operation string) bool {
	for _, p := range []string{"Get", "List", "Describe", "Head"} {
		if strings.HasPrefix(operation, p) {
			return true
		}
	}
	return false
}

// withDefaults fills in zero deadlines.
func (o Options) withDefaults() Options {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.ReadTimeout, config.DefaultAWSReadTimeout)
	set(&o.ActionTimeout, config.DefaultAWSActionTimeout)
	set(&o.ConnectTimeout, config.DefaultAWSConnectTimeout)
	set(&o.ResponseHeaderTimeout, config.DefaultAWSResponseHeaderTimeout)
	return o
}

// httpClient is the SDK's default client with every wait of an attempt
// bounded: connect, TLS handshake, response headers.
func httpClient(o Options) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = o.ConnectTimeout }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = o.ConnectTimeout
			tr.ResponseHeaderTimeout = o.ResponseHeaderTimeout
		})
}

// deadlines returns an API option bounding each operation, its retries
// included, by read or action.
func deadlines(read, action time.Duration) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc(deadlineID,
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op := middleware.GetOperationName(ctx)
				d := action
				if IsRead(op) {
					d = read
				}
				cctx, cancel := context.WithTimeout(ctx, d)
				defer cancel()
				out, md, err := next.HandleInitialize(cctx, in)
				if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
					err = &TimeoutError{Service: awsmiddleware.GetServiceID(ctx), Operation: op, After: d, Err: err}
				}
				return out, md, err
			}), middleware.Before)
	}
}

// deadlineID is the ID of the middleware deadlines adds.
const deadlineID = "canarydDeadline"

// LongLambdaCall is a per-operation option for a Lambda call that may
// rightly wait longer than ActionTimeout and ResponseHeaderTimeout — a
// synchronous Invoke of a traffic hook that runs for minutes. The call is
// then bounded by the caller's context alone (which must have a deadline),
// on a connection of its own; connect and TLS handshake stay bounded.
func LongLambdaCall(o *lambda.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		_, _ = s.Initialize.Remove(deadlineID) // absent in a config not built by Load
		return nil
	})
	if bc, ok := o.HTTPClient.(*awshttp.BuildableClient); ok {
		o.HTTPClient = bc.WithTransportOptions(func(tr *http.Transport) {
			tr.ResponseHeaderTimeout = 0
			tr.DisableKeepAlives = true // a transport per call: keep no idle connection
		})
	}
}
