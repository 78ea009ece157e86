package awssim

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

const snsXMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"

// snsState holds topics and what was published to each.
type snsState struct {
	mu     sync.Mutex
	topics map[string][]SNSMessage // by ARN
	seq    int
}

func newSNSState() *snsState { return &snsState{topics: map[string][]SNSMessage{}} }

var topicNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}(\.fifo)?$`)

type snsMeta struct {
	RequestID string `xml:"RequestId"`
}

type snsCreateTopicResponse struct {
	XMLName  xml.Name `xml:"CreateTopicResponse"`
	Xmlns    string   `xml:"xmlns,attr"`
	TopicArn string   `xml:"CreateTopicResult>TopicArn"`
	Meta     snsMeta  `xml:"ResponseMetadata"`
}

type snsPublishResponse struct {
	XMLName   xml.Name `xml:"PublishResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	MessageID string   `xml:"PublishResult>MessageId"`
	Meta      snsMeta  `xml:"ResponseMetadata"`
}

func (s *Sim) snsRoute(r *http.Request, body []byte) (route, bool) {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("Action") == "" {
		return route{}, false
	}
	action := form.Get("Action")
	rt := route{service: "sns", api: action}
	switch action {
	case "CreateTopic":
		rt.h = func(req *request) (*response, *apiError) { return s.snsCreateTopic(req, form) }
	case "Publish":
		rt.h = func(req *request) (*response, *apiError) { return s.snsPublish(req, form) }
	default:
		rt.h = func(*request) (*response, *apiError) {
			return nil, &apiError{status: 400, code: "InvalidAction", message: "awssim does not implement SNS " + action}
		}
	}
	return rt, true
}

func snsInvalid(msg string) *apiError {
	return &apiError{status: 400, code: "InvalidParameter", message: "Invalid parameter: " + msg}
}

func (s *Sim) topicARN(name string) string {
	return fmt.Sprintf("arn:aws:sns:%s:%s:%s", s.region, s.account, name)
}

// CreateTopic creates a topic (idempotent) and returns its ARN.
func (s *Sim) CreateTopic(name string) string {
	arn := s.topicARN(name)
	s.sns.mu.Lock()
	defer s.sns.mu.Unlock()
	if _, ok := s.sns.topics[arn]; !ok {
		s.sns.topics[arn] = nil
	}
	return arn
}

func (s *Sim) snsCreateTopic(req *request, form url.Values) (*response, *apiError) {
	name := form.Get("Name")
	req.params["Name"] = name
	if !topicNameRE.MatchString(name) {
		return nil, snsInvalid("Topic Name")
	}
	arn := s.CreateTopic(name)
	req.result["TopicArn"] = arn
	return xmlResponse(200, snsCreateTopicResponse{Xmlns: snsXMLNS, TopicArn: arn, Meta: snsMeta{newRequestID()}}, nil)
}

func (s *Sim) snsPublish(req *request, form url.Values) (*response, *apiError) {
	arn := form.Get("TopicArn")
	if arn == "" {
		arn = form.Get("TargetArn")
	}
	msg := SNSMessage{TopicARN: arn, Message: form.Get("Message"), Subject: form.Get("Subject"),
		Attributes: messageAttributes(form), Time: s.clock.Now()}
	req.params["TopicArn"], req.params["Subject"], req.params["Message"] = arn, msg.Subject, msg.Message
	switch {
	case arn == "":
		return nil, snsInvalid("TopicArn or TargetArn Reason: no value for required parameter")
	case msg.Message == "":
		return nil, snsInvalid("Empty message")
	case len(msg.Message) > 256*1024:
		return nil, snsInvalid("Message too long")
	case len(msg.Subject) > 100 || strings.ContainsAny(msg.Subject, "\n\r"):
		return nil, snsInvalid("Subject")
	}
	s.sns.mu.Lock()
	defer s.sns.mu.Unlock()
	if _, ok := s.sns.topics[arn]; !ok {
		return nil, &apiError{status: 404, code: "NotFound", message: "Topic does not exist"}
	}
	s.sns.seq++
	msg.MessageID = newRequestID()
	s.sns.topics[arn] = append(s.sns.topics[arn], msg)
	req.result["MessageId"] = msg.MessageID
	return xmlResponse(200, snsPublishResponse{Xmlns: snsXMLNS, MessageID: msg.MessageID, Meta: snsMeta{newRequestID()}}, nil)
}

// messageAttributes reads MessageAttributes.entry.N.{Name,Value.StringValue
// |Value.BinaryValue} (binary kept base64 as sent).
func messageAttributes(form url.Values) map[string]string {
	out := map[string]string{}
	for i := 1; ; i++ {
		p := fmt.Sprintf("MessageAttributes.entry.%d.", i)
		name := form.Get(p + "Name")
		if name == "" {
			break
		}
		v := form.Get(p + "Value.StringValue")
		if v == "" {
			v = form.Get(p + "Value.BinaryValue")
		}
		out[name] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// SNSMessages returns what was published to topicARN, oldest first.
func (s *Sim) SNSMessages(topicARN string) []SNSMessage {
	s.sns.mu.Lock()
	defer s.sns.mu.Unlock()
	return slices.Clone(s.sns.topics[topicARN])
}
