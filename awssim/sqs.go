package awssim

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SQS, as far as canaryd's event source needs it, over AWS JSON 1.0 — what
// aws-sdk-go-v2/service/sqs speaks since v1.34 (X-Amz-Target:
// AmazonSQS.<Op>, Content-Type application/x-amz-json-1.0, errors with
// X-Amzn-Query-Error for the awsQueryCompatible codes). Standard queues:
// at-least-once delivery, a visibility timeout per message, long polling
// (WaitTimeSeconds, woken by a send or by a message becoming visible again,
// never a busy loop), ApproximateReceiveCount and a redrive policy moving a
// message to its dead-letter queue once it was received maxReceiveCount
// times. Delivery faults (SQSFaults) duplicate and reorder messages.

const sqsTargetPrefix = "AmazonSQS."

// SQSMessage is a message as the simulator holds it.
type SQSMessage struct {
	ID           string
	Body         string
	Sent         time.Time
	ReceiveCount int
	visibleAt    time.Time
	receipt      string // the latest receipt handle; "" until received
	copy         bool   // a duplicate made by the duplicate-delivery fault
}

type sqsQueue struct {
	name, url, arn    string
	visibility        time.Duration
	maxReceive        int    // redrive: 0 = none
	dlqARN            string // redrive target
	msgs              []*SQSMessage
	deletedHandles    map[string]bool // receipts of deleted messages (DeleteMessage is idempotent)
	receiptsByMessage map[string]*SQSMessage
}

type sqsState struct {
	mu     sync.Mutex
	queues map[string]*sqsQueue // by URL
	byName map[string]*sqsQueue
	byARN  map[string]*sqsQueue
	seq    int
	// wake is closed (and replaced) whenever a message is sent or made
	// visible by a call: long polls wait on it.
	wake chan struct{}
	// Delivery faults.
	dupRate, reorderRate float64
	// Long polls waiting now, and ever started (SQSLongPolls).
	waiting, waits int
}

func newSQSState() *sqsState {
	return &sqsState{queues: map[string]*sqsQueue{}, byName: map[string]*sqsQueue{}, byARN: map[string]*sqsQueue{}, wake: make(chan struct{})}
}

// SQSFaults sets the delivery faults of every queue: with probability
// duplicate a received message gets a second copy that a later receive
// delivers again (as SQS's at-least-once delivery may); with probability reorder a
// receive answers its messages newest first and skips the oldest visible
// one this time (out-of-order delivery). Rates in [0, 1]; the PRNG is the
// one SeedFaults seeds.
func (s *Sim) SQSFaults(duplicate, reorder float64) {
	s.sqs.mu.Lock()
	s.sqs.dupRate, s.sqs.reorderRate = duplicate, reorder
	s.sqs.mu.Unlock()
}

// CreateQueue creates a standard queue (idempotent) and returns its URL.
// visibility 0 means SQS's default, 30 s.
func (s *Sim) CreateQueue(name string, visibility time.Duration) string {
	s.sqs.mu.Lock()
	defer s.sqs.mu.Unlock()
	return s.createQueueLocked(name, visibility).url
}

// SetRedrive gives queue (URL) a dead-letter queue (URL): a message
// received maxReceive times and not deleted moves there.
func (s *Sim) SetRedrive(queueURL, dlqURL string, maxReceive int) error {
	s.sqs.mu.Lock()
	defer s.sqs.mu.Unlock()
	q, dlq := s.sqs.queues[queueURL], s.sqs.queues[dlqURL]
	if q == nil || dlq == nil {
		return fmt.Errorf("awssim: set redrive: unknown queue %q or %q", queueURL, dlqURL)
	}
	q.maxReceive, q.dlqARN = maxReceive, dlq.arn
	return nil
}

// QueueMessages returns the messages a queue holds (visible or not), oldest first.
func (s *Sim) QueueMessages(queueURL string) []SQSMessage {
	s.sqs.mu.Lock()
	defer s.sqs.mu.Unlock()
	q := s.sqs.queues[queueURL]
	if q == nil {
		return nil
	}
	out := make([]SQSMessage, 0, len(q.msgs))
	for _, m := range q.msgs {
		out = append(out, *m)
	}
	return out
}

// SendSQS puts body on a queue as EventBridge would deliver it and returns
// the message id.
func (s *Sim) SendSQS(queueURL, body string) (string, error) {
	s.sqs.mu.Lock()
	defer s.sqs.mu.Unlock()
	q := s.sqs.queues[queueURL]
	if q == nil {
		return "", fmt.Errorf("awssim: send: unknown queue %q", queueURL)
	}
	return s.sendLocked(q, body), nil
}

func (s *Sim) createQueueLocked(name string, visibility time.Duration) *sqsQueue {
	if q, ok := s.sqs.byName[name]; ok {
		return q
	}
	if visibility <= 0 {
		visibility = 30 * time.Second
	}
	q := &sqsQueue{
		name: name, visibility: visibility,
		url:               fmt.Sprintf("%s/%s/%s", strings.TrimRight(s.URL(), "/"), s.account, name),
		arn:               fmt.Sprintf("arn:aws:sqs:%s:%s:%s", s.region, s.account, name),
		deletedHandles:    map[string]bool{},
		receiptsByMessage: map[string]*SQSMessage{},
	}
	s.sqs.queues[q.url], s.sqs.byName[name], s.sqs.byARN[q.arn] = q, q, q
	return q
}

func (s *Sim) sendLocked(q *sqsQueue, body string) string {
	s.sqs.seq++
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", s.sqs.seq, s.sqs.seq)
	q.msgs = append(q.msgs, &SQSMessage{ID: id, Body: body, Sent: s.clock.Now()})
	s.wakeLocked()
	return id
}

func (s *Sim) wakeLocked() {
	close(s.sqs.wake)
	s.sqs.wake = make(chan struct{})
}

func (s *Sim) sqsRoute(r *http.Request) (route, bool) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), sqsTargetPrefix)
	rt := route{service: "sqs", api: op}
	switch op {
	case "CreateQueue":
		rt.h = s.sqsCreateQueue
	case "GetQueueUrl":
		rt.h = s.sqsGetQueueURL
	case "GetQueueAttributes":
		rt.h = s.sqsGetQueueAttributes
	case "SendMessage":
		rt.h = s.sqsSendMessage
	case "SendMessageBatch":
		rt.h = s.sqsSendMessageBatch
	case "ReceiveMessage":
		rt.h = s.sqsReceiveMessage
	case "DeleteMessage":
		rt.h = s.sqsDeleteMessage
	case "DeleteMessageBatch":
		rt.h = s.sqsDeleteMessageBatch
	case "ChangeMessageVisibility":
		rt.h = s.sqsChangeVisibility
	default:
		rt.h = func(*request) (*response, *apiError) {
			return nil, sqsErr(400, "InvalidAction", "AWS.SimpleQueueService.InvalidAction", "awssim does not implement SQS "+op)
		}
	}
	return rt, true
}

// sqsErr is an SQS error: code is the JSON protocol's __type, query the
// awsQueryCompatible code the SDK reports (X-Amzn-Query-Error).
func sqsErr(status int, code, query, msg string) *apiError {
	return &apiError{status: status, code: code, queryCode: query, message: msg}
}

func sqsNoQueue() *apiError {
	return sqsErr(400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
}

// writeJSON10Error writes an AWS JSON 1.0 error with the query-compatible header.
func writeJSON10Error(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.sqs#" + e.code, "message": e.message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if e.queryCode != "" {
		w.Header().Set("X-Amzn-Query-Error", e.queryCode+";"+e.fault)
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

func json10(v any) (*response, *apiError) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &apiError{status: 500, code: "InternalError", message: err.Error()}
	}
	return &response{ctype: "application/x-amz-json-1.0", body: b}, nil
}

func decodeSQS(req *request, v any) *apiError {
	if err := json.Unmarshal(req.body, v); err != nil {
		return sqsErr(400, "InvalidParameterValue", "InvalidParameterValue", "malformed request: "+err.Error())
	}
	return nil
}

// queueRequest is the input of an action on one queue (QueueUrl).
type queueRequest interface{ queueURL() string }

// sqsQueueRef is embedded in the inputs of actions on one queue.
type sqsQueueRef struct{ QueueUrl string }

func (r *sqsQueueRef) queueURL() string { return r.QueueUrl }

// onQueue decodes in, then runs f on its queue with the queue state locked.
func (s *Sim) onQueue(req *request, in queueRequest, f func(*sqsQueue) (*response, *apiError)) (*response, *apiError) {
	if e := decodeSQS(req, in); e != nil {
		return nil, e
	}
	s.sqs.mu.Lock()
	defer s.sqs.mu.Unlock()
	q, e := s.queueLocked(req, in.queueURL())
	if e != nil {
		return nil, e
	}
	return f(q)
}

func (s *Sim) queueLocked(req *request, url string) (*sqsQueue, *apiError) {
	req.params["QueueUrl"] = url
	q := s.sqs.queues[url]
	if q == nil {
		return nil, sqsNoQueue()
	}
	return q, nil
}

func (s *Sim) sqsCreateQueue(req *request) (*response, *apiError) {
	var in struct {
		QueueName  string
		Attributes map[string]string
	}
	if e := decodeSQS(req, &in); e != nil {
		return nil, e
	}
	req.params["QueueName"] = in.QueueName
	if in.QueueName == "" || len(in.QueueName) > 80 {
		return nil, sqsErr(400, "InvalidParameterValue", "InvalidParameterValue", "Queue name must be 1 to 80 characters")
	}
	vis := 30 * time.Second
	if v, ok := in.Attributes["VisibilityTimeout"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 43200 {
			return nil, sqsErr(400, "InvalidAttributeValue", "InvalidAttributeValue", "Invalid value for the parameter VisibilityTimeout.")
		}
		vis = time.Duration(n) * time.Second
	}
	s.sqs.mu.Lock()
	defer s.sqs.mu.Unlock()
	q := s.createQueueLocked(in.QueueName, vis)
	q.visibility = vis
	if rp, ok := in.Attributes["RedrivePolicy"]; ok {
		var p struct {
			DeadLetterTargetArn string `json:"deadLetterTargetArn"`
			MaxReceiveCount     any    `json:"maxReceiveCount"`
		}
		if err := json.Unmarshal([]byte(rp), &p); err != nil || s.sqs.byARN[p.DeadLetterTargetArn] == nil {
			return nil, sqsErr(400, "InvalidAttributeValue", "InvalidAttributeValue", "Value "+rp+" for parameter RedrivePolicy is invalid.")
		}
		n, err := strconv.Atoi(fmt.Sprint(p.MaxReceiveCount))
		if err != nil || n < 1 || n > 1000 {
			return nil, sqsErr(400, "InvalidAttributeValue", "InvalidAttributeValue", "Value for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount.")
		}
		q.maxReceive, q.dlqARN = n, p.DeadLetterTargetArn
	}
	req.result["QueueUrl"] = q.url
	return json10(map[string]string{"QueueUrl": q.url})
}

func (s *Sim) sqsGetQueueURL(req *request) (*response, *apiError) {
	var in struct{ QueueName string }
	if e := decodeSQS(req, &in); e != nil {
		return nil, e
	}
	req.params["QueueName"] = in.QueueName
	s.sqs.mu.Lock()
	defer s.sqs.mu.Unlock()
	q := s.sqs.byName[in.QueueName]
	if q == nil {
		return nil, sqsNoQueue()
	}
	return json10(map[string]string{"QueueUrl": q.url})
}

func (s *Sim) sqsGetQueueAttributes(req *request) (*response, *apiError) {
	return s.onQueue(req, &sqsQueueRef{}, func(q *sqsQueue) (*response, *apiError) {
		return json10(map[string]any{"Attributes": s.queueAttributesLocked(q)})
	})
}

func (s *Sim) queueAttributesLocked(q *sqsQueue) map[string]string {
	now := s.clock.Now()
	visible, inflight := 0, 0
	for _, m := range q.msgs {
		if m.visibleAt.After(now) {
			inflight++
		} else {
			visible++
		}
	}
	attrs := map[string]string{
		"QueueArn":                              q.arn,
		"VisibilityTimeout":                     strconv.Itoa(int(q.visibility / time.Second)),
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inflight),
		"ReceiveMessageWaitTimeSeconds":         "0",
	}
	if q.dlqARN != "" {
		b, _ := json.Marshal(map[string]any{"deadLetterTargetArn": q.dlqARN, "maxReceiveCount": q.maxReceive})
		attrs["RedrivePolicy"] = string(b)
	}
	return attrs
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (s *Sim) sqsSendMessage(req *request) (*response, *apiError) {
	var in struct {
		sqsQueueRef
		MessageBody string
	}
	return s.onQueue(req, &in, func(q *sqsQueue) (*response, *apiError) {
		if in.MessageBody == "" {
			return nil, sqsErr(400, "MissingParameter", "MissingParameter", "The request must contain the parameter MessageBody.")
		}
		id := s.sendLocked(q, in.MessageBody)
		return json10(map[string]string{"MessageId": id, "MD5OfMessageBody": md5Hex(in.MessageBody)})
	})
}

func (s *Sim) sqsSendMessageBatch(req *request) (*response, *apiError) {
	return s.sqsBatch(req, func(q *sqsQueue, en sqsBatchEntry) (map[string]any, *sqsEntryError) {
		if en.MessageBody == "" {
			return nil, &sqsEntryError{"MissingParameter", "empty body"}
		}
		return map[string]any{"MessageId": s.sendLocked(q, en.MessageBody), "MD5OfMessageBody": md5Hex(en.MessageBody)}, nil
	})
}

// sqsBatchEntry is one entry of a batch request (the fields of every
// batch action: each uses its own).
type sqsBatchEntry struct{ Id, MessageBody, ReceiptHandle string }

// sqsEntryError is why one entry of a batch failed.
type sqsEntryError struct{ code, message string }

// sqsBatch answers a batch action (QueueUrl and 1 to 10 Entries): each
// entry is handled with the queues locked, and succeeds with the fields
// each returns or fails with its error, in SQS's Successful/Failed shape.
func (s *Sim) sqsBatch(req *request, each func(*sqsQueue, sqsBatchEntry) (map[string]any, *sqsEntryError)) (*response, *apiError) {
	var in struct {
		sqsQueueRef
		Entries []sqsBatchEntry
	}
	return s.onQueue(req, &in, func(q *sqsQueue) (*response, *apiError) {
		if len(in.Entries) == 0 || len(in.Entries) > 10 {
			return nil, sqsErr(400, "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "Maximum number of entries per request are 10.")
		}
		out := struct {
			Successful []map[string]any
			Failed     []map[string]any
		}{Successful: []map[string]any{}, Failed: []map[string]any{}}
		for _, en := range in.Entries {
			ok, fail := each(q, en)
			if fail != nil {
				out.Failed = append(out.Failed, map[string]any{"Id": en.Id, "Code": fail.code, "Message": fail.message, "SenderFault": true})
				continue
			}
			if ok == nil {
				ok = map[string]any{}
			}
			ok["Id"] = en.Id
			out.Successful = append(out.Successful, ok)
		}
		req.params["Entries"] = len(in.Entries)
		req.result["Failed"] = len(out.Failed)
		return json10(out)
	})
}
