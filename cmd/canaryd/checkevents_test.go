package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/canaryd/canaryd/awsclient"
	"github.com/canaryd/canaryd/awssim"
	"github.com/canaryd/canaryd/config"
)

// TestCheckProvesTheEventQueue: `check --aws` reads the queue's attributes
// and proves ChangeMessageVisibility and DeleteMessage with a receipt
// handle no message has (the message on the queue stays, untouched); a
// queue without a dead-letter queue is a WARN, a denied action a FAIL.
func TestCheckProvesTheEventQueue(t *testing.T) {
	sim, _ := awssim.Start(t, awssim.Options{})
	queue := sim.CreateQueue("canaryd-events", 0)
	if _, err := sim.SendSQS(queue, "a message that must stay"); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`[aws]
region = "us-east-1"
endpoint_url = %q
max_attempts = 1
[events]
queue_url = %q
[[target]]
name = "api"
function = "api-fn"
alias = "live"
  [[target.rule]]
  name = "errors"
  kind = "error_rate"
  threshold = 0.05
`, sim.URL(), queue)), "c.toml", config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run := func() string {
		var out bytes.Buffer
		r := &checkReport{w: &out}
		awsChecker{base: awsclient.Options{Credentials: credentials.NewStaticCredentialsProvider("A", "B", "")}}.events(context.Background(), r, cfg)
		return out.String()
	}
	out := run()
	for _, want := range []string{"ok       events sqs:GetQueueAttributes: queue " + queue + " readable: visibility timeout 30s",
		"WARN     events redrive policy", "ok       events sqs:ChangeMessageVisibility: allowed", "ok       events sqs:DeleteMessage: allowed",
		"UNPROVED events sqs:ReceiveMessage"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if m := sim.QueueMessages(queue); len(m) != 1 || m[0].ReceiveCount != 0 {
		t.Fatalf("the check touched the queue's message: %+v", m)
	}
	sim.Deny("sqs:DeleteMessage")
	if out := run(); !strings.Contains(out, "FAIL     events sqs:DeleteMessage: MISSING PERMISSION") {
		t.Fatalf("denied DeleteMessage:\n%s", out)
	}
}
