package awssim

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func sqsClient(t *testing.T, s *Sim) *sqs.Client {
	t.Helper()
	return sqs.NewFromConfig(mustConfig(t, s), func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
}

func receiveCount(m sqstypes.Message) string {
	return m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]
}

// TestSQSThroughTheSDK: the real SQS client creates a queue, sends a batch,
// receives it (the SDK checks every MD5), deletes it in a batch and finds
// the queue empty; an unknown queue is the modeled QueueDoesNotExist.
func TestSQSThroughTheSDK(t *testing.T) {
	s, _, _ := start(t, Options{})
	c := sqsClient(t, s)
	cq, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("deploys"), Attributes: map[string]string{"VisibilityTimeout": "45"}})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(cq.QueueUrl)
	got, err := c.GetQueueUrl(ctx(t), &sqs.GetQueueUrlInput{QueueName: aws.String("deploys")})
	if err != nil || aws.ToString(got.QueueUrl) != url {
		t.Fatalf("GetQueueUrl = %v, %v; want %s", got, err, url)
	}
	var entries []sqstypes.SendMessageBatchRequestEntry
	for i := range 3 {
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(fmt.Sprintf(`{"n":%d}`, i))})
	}
	sent, err := c.SendMessageBatch(ctx(t), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
	if err != nil || len(sent.Successful) != 3 {
		t.Fatalf("SendMessageBatch = %+v, %v", sent, err)
	}
	if _, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("fourth")}); err != nil {
		t.Fatal(err)
	}
	rm, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 3,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
	if err != nil || len(rm.Messages) != 3 {
		t.Fatalf("ReceiveMessage = %+v, %v; want 3 of 4 (MaxNumberOfMessages)", rm, err)
	}
	if b := aws.ToString(rm.Messages[0].Body); b != `{"n":0}` || receiveCount(rm.Messages[0]) != "1" {
		t.Fatalf("first message %q receive count %q", b, receiveCount(rm.Messages[0]))
	}
	attrs, err := c.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil || attrs.Attributes["VisibilityTimeout"] != "45" || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "3" {
		t.Fatalf("GetQueueAttributes = %v, %v", attrs.Attributes, err)
	}
	var del []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range rm.Messages {
		del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
	}
	del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String("bad"), ReceiptHandle: aws.String("nope")})
	dr, err := c.DeleteMessageBatch(ctx(t), &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: del})
	if err != nil || len(dr.Successful) != 3 || len(dr.Failed) != 1 || aws.ToString(dr.Failed[0].Id) != "bad" {
		t.Fatalf("DeleteMessageBatch = %+v, %v", dr, err)
	}
	if left := s.QueueMessages(url); len(left) != 1 || left[0].Body != "fourth" {
		t.Fatalf("queue holds %+v, want only the fourth message", left)
	}
	_, err = c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url + "-missing")})
	var nq *sqstypes.QueueDoesNotExist
	if !errors.As(err, &nq) {
		t.Fatalf("unknown queue: %v (%T), want QueueDoesNotExist", err, err)
	}
}

// receiveAsync starts a ReceiveMessage and returns its result channel.
func receiveAsync(t *testing.T, c *sqs.Client, in *sqs.ReceiveMessageInput) <-chan *sqs.ReceiveMessageOutput {
	ch := make(chan *sqs.ReceiveMessageOutput, 1)
	go func() {
		out, err := c.ReceiveMessage(ctx(t), in)
		if err != nil {
			t.Errorf("ReceiveMessage: %v", err)
		}
		ch <- out
	}()
	return ch
}

func recvWithin(t *testing.T, ch <-chan *sqs.ReceiveMessageOutput) *sqs.ReceiveMessageOutput {
	t.Helper()
	select {
	case out := <-ch:
		return out
	case <-time.After(10 * time.Second):
		t.Fatal("ReceiveMessage did not answer within 10s")
	}
	return nil
}

// TestSQSLongPolling: a receive waits (on the simulator's clock) until a
// message is sent, answers at once when it is, and answers empty when
// WaitTimeSeconds passes with nothing sent.
func TestSQSLongPolling(t *testing.T) {
	s, _, clk := start(t, Options{})
	c := sqsClient(t, s)
	url := s.CreateQueue("q", 0)
	ch := receiveAsync(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 20, MaxNumberOfMessages: 10})
	if err := clk.BlockUntilContext(ctx(t), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("a long poll on an empty queue answered before anything was sent")
	default:
	}
	if _, err := s.SendSQS(url, "hello"); err != nil {
		t.Fatal(err)
	}
	if out := recvWithin(t, ch); len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "hello" {
		t.Fatalf("woken receive got %+v", out.Messages)
	}

	ch = receiveAsync(t, c, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 5})
	if err := clk.BlockUntilContext(ctx(t), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	if out := recvWithin(t, ch); len(out.Messages) != 0 {
		t.Fatalf("after the wait: %+v, want none (the first is invisible for 30s)", out.Messages)
	}
}

// TestSQSVisibilityAndRedrive: a received message stays invisible for its
// visibility timeout, comes back with a higher ApproximateReceiveCount, is
// made visible at once by ChangeMessageVisibility 0, and moves to the
// dead-letter queue after maxReceiveCount receives.
func TestSQSVisibilityAndRedrive(t *testing.T) {
	s, _, clk := start(t, Options{})
	c := sqsClient(t, s)
	dlq := s.CreateQueue("dlq", 0)
	dlqARN := fmt.Sprintf("arn:aws:sqs:us-east-1:123456789012:%s", "dlq")
	cq, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{
		"VisibilityTimeout": "30", "RedrivePolicy": `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":"3"}`}})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(cq.QueueUrl)
	if _, err := s.SendSQS(url, "poison"); err != nil {
		t.Fatal(err)
	}
	all := []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}
	recv := func(vis int32) []sqstypes.Message {
		out, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url, VisibilityTimeout: vis, MessageSystemAttributeNames: all})
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages
	}
	m := recv(10)
	if len(m) != 1 || receiveCount(m[0]) != "1" {
		t.Fatalf("first receive %+v", m)
	}
	if again := recv(0); len(again) != 0 {
		t.Fatalf("received again inside the visibility timeout: %+v", again)
	}
	clk.Advance(10 * time.Second)
	m = recv(0)
	if len(m) != 1 || receiveCount(m[0]) != "2" {
		t.Fatalf("after the visibility timeout: %+v", m)
	}
	if _, err := c.ChangeMessageVisibility(ctx(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: m[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	if m = recv(0); len(m) != 1 || receiveCount(m[0]) != "3" {
		t.Fatalf("after ChangeMessageVisibility 0: %+v", m)
	}
	_, err = c.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: aws.String("stale")})
	if apiCode(err) != "ReceiptHandleIsInvalid" {
		t.Fatalf("delete with a bad handle: %v", err)
	}
	clk.Advance(30 * time.Second)
	if m = recv(0); len(m) != 0 {
		t.Fatalf("received a fourth time: %+v; maxReceiveCount is 3", m)
	}
	if d := s.QueueMessages(dlq); len(d) != 1 || d[0].Body != "poison" {
		t.Fatalf("dead-letter queue holds %+v", d)
	}
}

// TestSQSFaults: throttling and 5xx come back as SQS's errors (the SDK
// retries them); duplicate delivery hands one message out twice; out-of-order
// delivery answers newest first.
func TestSQSFaults(t *testing.T) {
	s, _, _ := start(t, Options{FastRetries: true})
	c := sqsClient(t, s)
	url := s.CreateQueue("q", 0)
	s.InjectFault(Fault{API: "ReceiveMessage", Kind: FaultThrottle, Count: 1})
	_, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url})
	if apiCode(err) != "RequestThrottled" {
		t.Fatalf("throttled receive: %v, want RequestThrottled", err)
	}
	s.InjectFault(Fault{API: "DeleteMessageBatch", Kind: Fault5xx, Count: 1})
	_, err = c.DeleteMessageBatch(ctx(t), &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: []sqstypes.DeleteMessageBatchRequestEntry{{Id: aws.String("a"), ReceiptHandle: aws.String("x")}}})
	if apiCode(err) != "InternalError" {
		t.Fatalf("5xx delete: %v, want InternalError", err)
	}
	retrying := sqs.NewFromConfig(mustConfig(t, s))
	s.InjectFault(Fault{API: "ReceiveMessage", Kind: FaultThrottle, Count: 2})
	if _, err := retrying.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url}); err != nil {
		t.Fatalf("the SDK did not retry two throttles: %v", err)
	}

	s.SQSFaults(1, 0)
	if _, err := s.SendSQS(url, "once"); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		out, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url})
		if err != nil || len(out.Messages) != 1 {
			t.Fatalf("duplicate delivery: %+v, %v", out, err)
		}
		ids = append(ids, aws.ToString(out.Messages[0].MessageId))
	}
	if ids[0] != ids[1] {
		t.Fatalf("duplicate delivery gave two messages %v", ids)
	}

	s.SQSFaults(0, 1)
	url2 := s.CreateQueue("ordered", 0)
	for _, b := range []string{"1", "2", "3"} {
		if _, err := s.SendSQS(url2, b); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: &url2, MaxNumberOfMessages: 10})
	if err != nil || len(out.Messages) != 2 || aws.ToString(out.Messages[0].Body) != "3" || aws.ToString(out.Messages[1].Body) != "2" {
		t.Fatalf("out-of-order delivery: %+v, %v; want 3, 2 (1 later)", out, err)
	}
}
