package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/config"
)

// bogusReceipt is a receipt handle no message has: SQS authorises a call
// carrying it, then refuses it with ReceiptHandleIsInvalid — so that answer
// proves the permission and no message is touched.
const bogusReceipt = "canaryd-check-not-a-receipt-handle"

// events proves what the deploy event consumer needs ([events]): the
// queue's attributes are read (and its redrive policy looked for);
// sqs:ChangeMessageVisibility and sqs:DeleteMessage by calls with a receipt
// handle no message has. sqs:ReceiveMessage has no call that proves it
// without receiving (which counts towards a real message's redrive).
func (c awsChecker) events(ctx context.Context, r *checkReport, cfg *config.Config) {
	ev := cfg.Events
	if !ev.Enabled() {
		return
	}
	const scope = "events"
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	o := awsclient.ForTarget(c.base, cfg.AWS, config.Target{Region: ev.Region, RoleARN: ev.RoleARN, ExternalID: ev.ExternalID})
	o.MaxAttempts = 2
	awsCfg, err := awsclient.Load(ctx, o)
	if err != nil {
		r.add(checkLine{checkFail, scope, "aws config", err.Error()})
		return
	}
	q := sqs.NewFromConfig(awsCfg)
	url := aws.String(ev.QueueURL)
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameVisibilityTimeout, sqstypes.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		r.add(awsLine(scope, "sqs:GetQueueAttributes", err, ""))
	} else {
		a := attrs.Attributes
		r.add(checkLine{checkOK, scope, "sqs:GetQueueAttributes", fmt.Sprintf("queue %s readable: visibility timeout %ss", ev.QueueURL, a["VisibilityTimeout"])})
		if a["RedrivePolicy"] == "" {
			r.add(checkLine{checkWarn, scope, "redrive policy", "the queue has no dead-letter queue: a message canaryd cannot read is received again and again"})
		}
	}
	_, err = q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: url, ReceiptHandle: aws.String(bogusReceipt), VisibilityTimeout: 0})
	r.add(receiptLine(scope, "sqs:ChangeMessageVisibility", err))
	out, err := q.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: url,
		Entries: []sqstypes.DeleteMessageBatchRequestEntry{{Id: aws.String("check"), ReceiptHandle: aws.String(bogusReceipt)}}})
	if err == nil && len(out.Failed) == 1 {
		err = &smithy.GenericAPIError{Code: aws.ToString(out.Failed[0].Code), Message: aws.ToString(out.Failed[0].Message)}
	}
	r.add(receiptLine(scope, "sqs:DeleteMessage", err))
	r.add(checkLine{checkUnproved, scope, "sqs:ReceiveMessage", "no call proves it without receiving a message (which counts towards its redrive): grant it on the queue (README IAM policy)"})
}

// receiptLine turns the answer to a call with bogusReceipt into a line:
// ReceiptHandleIsInvalid proves the permission.
func receiptLine(scope, action string, err error) checkLine {
	var ae smithy.APIError
	switch {
	case err == nil:
		return checkLine{checkOK, scope, action, "allowed"}
	case errors.As(err, &ae) && ae.ErrorCode() == "ReceiptHandleIsInvalid":
		return checkLine{checkOK, scope, action, "allowed (refused a receipt handle no message has: nothing changed)"}
	}
	return awsLine(scope, action, err, "")
}
