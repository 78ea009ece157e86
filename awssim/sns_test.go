package awssim

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
)

func TestSNSPublishReadBack(t *testing.T) {
	s, c, _ := start(t, Options{})
	ct, err := c.SNS.CreateTopic(ctx(t), &sns.CreateTopicInput{Name: aws.String("canary-alerts")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(ct.TopicArn)
	if arn != "arn:aws:sns:us-east-1:123456789012:canary-alerts" {
		t.Fatalf("TopicArn %q", arn)
	}
	out, err := c.SNS.Publish(ctx(t), &sns.PublishInput{TopicArn: aws.String(arn), Subject: aws.String("rollback checkout"),
		Message: aws.String(`{"verdict":"failing"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"severity": {DataType: aws.String("String"), StringValue: aws.String("critical")},
			"target":   {DataType: aws.String("String"), StringValue: aws.String("checkout")},
		}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := s.SNSMessages(arn)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.MessageID != aws.ToString(out.MessageId) || m.Message != `{"verdict":"failing"}` || m.Subject != "rollback checkout" ||
		m.Attributes["severity"] != "critical" || m.Attributes["target"] != "checkout" || !m.Time.Equal(t0) {
		t.Fatalf("message %+v (id %s)", m, aws.ToString(out.MessageId))
	}
}

func TestSNSErrors(t *testing.T) {
	s, c, _ := start(t, Options{})
	arn := s.CreateTopic("t")
	_, err := c.SNS.Publish(ctx(t), &sns.PublishInput{TopicArn: aws.String(arn + "-nope"), Message: aws.String("x")})
	var nf *types.NotFoundException
	if !asErr(err, &nf) || httpStatus(err) != 404 {
		t.Fatalf("unknown topic: %v", err)
	}
	_, err = c.SNS.Publish(ctx(t), &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("")})
	var ip *types.InvalidParameterException
	if !asErr(err, &ip) {
		t.Fatalf("empty message: %v", err)
	}
	_, err = c.SNS.CreateTopic(ctx(t), &sns.CreateTopicInput{Name: aws.String("bad name!")})
	if !asErr(err, &ip) {
		t.Fatalf("bad topic name: %v", err)
	}
	if n := len(s.SNSMessages(arn)); n != 0 {
		t.Fatalf("%d messages after failed publishes", n)
	}
}
