package awssim

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// SQS receive, delete and visibility: long polling, receipt handles,
// redrive, and the delivery faults (see sqs.go).

type sqsReceiveInput struct {
	QueueUrl            string
	MaxNumberOfMessages int
	VisibilityTimeout   *int
	WaitTimeSeconds     int
}

// sqsReceiveMessage answers at once when messages are visible; otherwise it
// waits up to WaitTimeSeconds (on the simulator's clock) for a send, a
// message becoming visible again, or the caller giving up.
func (s *Sim) sqsReceiveMessage(req *request) (*response, *apiError) {
	var in sqsReceiveInput
	if e := decodeSQS(req, &in); e != nil {
		return nil, e
	}
	req.params["QueueUrl"] = in.QueueUrl
	if in.MaxNumberOfMessages == 0 {
		in.MaxNumberOfMessages = 1
	}
	if in.MaxNumberOfMessages < 1 || in.MaxNumberOfMessages > 10 {
		return nil, sqsErr(400, "InvalidParameterValue", "InvalidParameterValue", "Value "+strconv.Itoa(in.MaxNumberOfMessages)+" for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.")
	}
	if in.WaitTimeSeconds < 0 || in.WaitTimeSeconds > 20 {
		return nil, sqsErr(400, "InvalidParameterValue", "InvalidParameterValue", "Value "+strconv.Itoa(in.WaitTimeSeconds)+" for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.")
	}
	deadline := s.clock.Now().Add(time.Duration(in.WaitTimeSeconds) * time.Second)
	for {
		msgs, next, wake, e := s.receiveOnce(req, in)
		if e != nil || len(msgs) > 0 || !s.clock.Now().Before(deadline) {
			if e != nil {
				return nil, e
			}
			req.result["Messages"] = len(msgs)
			return json10(map[string]any{"Messages": msgs})
		}
		wait := deadline.Sub(s.clock.Now())
		if !next.IsZero() && next.Sub(s.clock.Now()) < wait {
			wait = max(next.Sub(s.clock.Now()), 0)
		}
		if !s.waitFor(req.r.Context(), wake, wait) {
			req.result["Messages"] = 0
			return json10(map[string]any{"Messages": []any{}})
		}
	}
}

// SQSLongPolls returns how many receives wait in a long poll now and how
// many waits began so far: a test on a fake clock advances it once the
// consumer is waiting again.
func (s *Sim) SQSLongPolls() (waiting, started int) {
	s.sqs.mu.Lock()
	defer s.sqs.mu.Unlock()
	return s.sqs.waiting, s.sqs.waits
}

// waitFor waits for wake, d on the simulator's clock, or ctx; false when
// ctx ended.
func (s *Sim) waitFor(ctx context.Context, wake <-chan struct{}, d time.Duration) bool {
	tm := s.clock.NewTimer(d)
	defer tm.Stop()
	s.sqs.mu.Lock()
	s.sqs.waiting++
	s.sqs.waits++
	s.sqs.mu.Unlock()
	defer func() {
		s.sqs.mu.Lock()
		s.sqs.waiting--
		s.sqs.mu.Unlock()
	}()
	select {
	case <-wake:
	case <-tm.Chan():
	case <-ctx.Done():
		return false
	}
	return true
}

type sqsWireMessage struct {
	MessageId     string
	ReceiptHandle string
	MD5OfBody     string
	Body          string
	Attributes    map[string]string
}

// receiveOnce takes up to MaxNumberOfMessages visible messages, moving
// those over their redrive limit to the dead-letter queue first. It also
// returns when the next invisible message becomes visible and the channel
// that a send closes.
func (s *Sim) receiveOnce(req *request, in sqsReceiveInput) ([]sqsWireMessage, time.Time, <-chan struct{}, *apiError) {
	s.sqs.mu.Lock()
	defer s.sqs.mu.Unlock()
	q, e := s.queueLocked(req, in.QueueUrl)
	if e != nil {
		return nil, time.Time{}, nil, e
	}
	now := s.clock.Now()
	vis := q.visibility
	if in.VisibilityTimeout != nil {
		vis = time.Duration(*in.VisibilityTimeout) * time.Second
	}
	s.redriveLocked(q, now)
	var visible []*SQSMessage
	var next time.Time
	for _, m := range q.msgs {
		if m.visibleAt.After(now) {
			if next.IsZero() || m.visibleAt.Before(next) {
				next = m.visibleAt
			}
			continue
		}
		visible = append(visible, m)
	}
	if len(visible) > 1 && s.sqs.reorderRate > 0 && s.faults.chance(s.sqs.reorderRate) {
		// Out of order: the oldest waits for a later receive and the
		// rest come newest first.
		visible = slices.Clone(visible[1:])
		slices.Reverse(visible)
	}
	if len(visible) > in.MaxNumberOfMessages {
		visible = visible[:in.MaxNumberOfMessages]
	}
	out := make([]sqsWireMessage, 0, len(visible))
	for _, m := range visible {
		m.ReceiveCount++
		s.sqs.seq++
		m.receipt = fmt.Sprintf("%s#%d", m.ID, s.sqs.seq)
		q.receiptsByMessage[m.receipt] = m
		m.visibleAt = now.Add(vis)
		if !m.copy && s.sqs.dupRate > 0 && s.faults.chance(s.sqs.dupRate) {
			// A second copy (as on another SQS server): delivered again
			// by a later receive, whatever becomes of this one.
			q.msgs = append(q.msgs, &SQSMessage{ID: m.ID, Body: m.Body, Sent: m.Sent, copy: true})
		}
		out = append(out, sqsWireMessage{MessageId: m.ID, ReceiptHandle: m.receipt, MD5OfBody: md5Hex(m.Body), Body: m.Body,
			Attributes: map[string]string{
				"ApproximateReceiveCount":          strconv.Itoa(m.ReceiveCount),
				"SentTimestamp":                    strconv.FormatInt(m.Sent.UnixMilli(), 10),
				"ApproximateFirstReceiveTimestamp": strconv.FormatInt(now.UnixMilli(), 10),
			}})
	}
	return out, next, s.sqs.wake, nil
}

// redriveLocked moves the visible messages already received maxReceive
// times to the dead-letter queue (SQS does it when such a message would be
// received once more).
func (s *Sim) redriveLocked(q *sqsQueue, now time.Time) {
	dlq := s.sqs.byARN[q.dlqARN]
	if q.maxReceive <= 0 || dlq == nil {
		return
	}
	kept := q.msgs[:0]
	for _, m := range q.msgs {
		if !m.visibleAt.After(now) && m.ReceiveCount >= q.maxReceive {
			dlq.msgs = append(dlq.msgs, &SQSMessage{ID: m.ID, Body: m.Body, Sent: m.Sent})
			continue
		}
		kept = append(kept, m)
	}
	q.msgs = kept
}

// messageOf finds the message a receipt handle names; deleted
// reports a handle of a message already deleted.
func (q *sqsQueue) messageOf(receipt string) (m *SQSMessage, deleted bool) {
	if q.deletedHandles[receipt] {
		return nil, true
	}
	m = q.receiptsByMessage[receipt]
	if m == nil || m.receipt != receipt {
		return nil, false // unknown, or superseded by a later receive
	}
	return m, false
}

func (q *sqsQueue) deleteLocked(m *SQSMessage) {
	for i, x := range q.msgs {
		if x == m {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			break
		}
	}
	q.deletedHandles[m.receipt] = true
	for h, x := range q.receiptsByMessage {
		if x == m {
			delete(q.receiptsByMessage, h)
		}
	}
}

func receiptInvalid(h string) *apiError {
	return sqsErr(400, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", "The input receipt handle \""+h+"\" is not a valid receipt handle.")
}

func (s *Sim) sqsDeleteMessage(req *request) (*response, *apiError) {
	var in struct {
		sqsQueueRef
		ReceiptHandle string
	}
	return s.onQueue(req, &in, func(q *sqsQueue) (*response, *apiError) {
		if !q.deleteByReceipt(in.ReceiptHandle) {
			return nil, receiptInvalid(in.ReceiptHandle)
		}
		return json10(struct{}{})
	})
}

// deleteByReceipt deletes the message a receipt handle names; a message
// deleted already counts as deleted (SQS's delete is idempotent). It
// reports false for a handle the queue never gave out.
func (q *sqsQueue) deleteByReceipt(h string) bool {
	m, deleted := q.messageOf(h)
	switch {
	case deleted:
	case m == nil:
		return false
	default:
		q.deleteLocked(m)
	}
	return true
}

func (s *Sim) sqsDeleteMessageBatch(req *request) (*response, *apiError) {
	return s.sqsBatch(req, func(q *sqsQueue, en sqsBatchEntry) (map[string]any, *sqsEntryError) {
		if !q.deleteByReceipt(en.ReceiptHandle) {
			return nil, &sqsEntryError{"ReceiptHandleIsInvalid", "invalid receipt handle"}
		}
		return nil, nil
	})
}

func (s *Sim) sqsChangeVisibility(req *request) (*response, *apiError) {
	var in struct {
		sqsQueueRef
		ReceiptHandle     string
		VisibilityTimeout int
	}
	return s.onQueue(req, &in, func(q *sqsQueue) (*response, *apiError) {
		req.params["VisibilityTimeout"] = in.VisibilityTimeout
		if in.VisibilityTimeout < 0 || in.VisibilityTimeout > 43200 {
			return nil, sqsErr(400, "InvalidParameterValue", "InvalidParameterValue", "Value for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.")
		}
		m, _ := q.messageOf(in.ReceiptHandle)
		if m == nil {
			return nil, receiptInvalid(in.ReceiptHandle)
		}
		now := s.clock.Now()
		if !m.visibleAt.After(now) {
			return nil, sqsErr(400, "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", "Message does not exist or is not available for visibility timeout change.")
		}
		m.visibleAt = now.Add(time.Duration(in.VisibilityTimeout) * time.Second)
		if in.VisibilityTimeout == 0 {
			s.wakeLocked()
		}
		return json10(struct{}{})
	})
}
