package actuator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// CloudFrontPoll is how often an invalidation's status is read while
// waiting for it to complete.
const CloudFrontPoll = 10 * time.Second

// cloudFrontDetail is the journal detail of a cloudfront step.
type cloudFrontDetail struct {
	Distribution    string   `json:"distribution"`
	Paths           []string `json:"paths"`
	CallerReference string   `json:"caller_reference"`
	InvalidationID  string   `json:"invalidation_id,omitempty"`
	Status          string   `json:"status,omitempty"` // InProgress | Completed, as last read
	Waited          string   `json:"waited,omitempty"`
	WaitExpired     bool     `json:"wait_expired,omitempty"` // Wait elapsed before Completed
	Rounds          int      `json:"rounds,omitempty"`       // failed rounds before this one (throttling storm)
}

func (d *cloudFrontDetail) setRounds(n int) { d.Rounds = n }

// CallerReference is the idempotency key of a cloudfront step: the same
// incident and step always send the same one, so CloudFront answers a
// retried or resumed step with the invalidation it already created.
func CallerReference(planID string, s Step) string {
	return fmt.Sprintf("canaryd/%s/%d/%s", planID, s.Index, s.CloudFront.Distribution)
}

// runCloudFront creates the configured invalidation and optionally waits
// for it to complete, up to the configured bound; the outcome is recorded
// either way (an invalidation still in progress is not a failure).
func (a *Actuator) runCloudFront(ctx context.Context, p Plan, s Step) stepOutcome {
	act := s.CloudFront
	d := &cloudFrontDetail{Distribution: act.Distribution, Paths: act.Paths, CallerReference: CallerReference(p.ID, s)}
	if a.cfg.CloudFront == nil {
		return failed(d, errors.New("no CloudFront client configured"))
	}
	cl := a.cfg.CloudFront(p.Target.Name)
	in := &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String(act.Distribution),
		InvalidationBatch: &cftypes.InvalidationBatch{
			CallerReference: aws.String(d.CallerReference),
			Paths:           &cftypes.Paths{Quantity: aws.Int32(int32(len(act.Paths))), Items: act.Paths},
		},
	}
	_, err := a.withRetry(ctx, func(int) error {
		out, err := cl.CreateInvalidation(ctx, in)
		if err == nil && out.Invalidation != nil {
			d.InvalidationID, d.Status = aws.ToString(out.Invalidation.Id), aws.ToString(out.Invalidation.Status)
		}
		return err
	})
	if err != nil {
		return failed(d, fmt.Errorf("create invalidation on %s: %w", act.Distribution, err))
	}
	if act.Wait.Duration <= 0 || completed(d.Status) || d.InvalidationID == "" {
		return done(d)
	}
	return a.waitInvalidation(ctx, cl, d, act.Wait.Duration)
}

// completed reports whether an invalidation status is Completed, in any
// case: CloudFront documents "Completed", and a "COMPLETED" must not make
// every rollback wait out its whole bound.
func completed(status string) bool { return strings.EqualFold(status, "Completed") }

// waitInvalidation polls GetInvalidation on the injected clock until it
// reads Completed or bound elapses.
func (a *Actuator) waitInvalidation(ctx context.Context, cl *cloudfront.Client, d *cloudFrontDetail, bound time.Duration) stepOutcome {
	start := a.clk.Now()
	deadline := start.Add(bound)
	for !completed(d.Status) {
		left := deadline.Sub(a.clk.Now())
		if left <= 0 {
			d.WaitExpired = true
			break
		}
		select {
		case <-ctx.Done():
			return failed(d, ctx.Err())
		case <-a.clk.After(min(CloudFrontPoll, left)):
		}
		_, err := a.withRetry(ctx, func(int) error {
			out, err := cl.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{
				DistributionId: aws.String(d.Distribution), Id: aws.String(d.InvalidationID)})
			if err == nil && out.Invalidation != nil {
				d.Status = aws.ToString(out.Invalidation.Status)
			}
			return err
		})
		if err != nil {
			// The invalidation exists; failing to watch it is recorded,
			// not a failure of the step.
			d.Waited = a.clk.Since(start).String()
			d.Status = "unknown: " + err.Error()
			return done(d)
		}
	}
	d.Waited = a.clk.Since(start).String()
	return done(d)
}
