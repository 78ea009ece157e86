package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/canaryd/canaryd/config"
)

// Slack block limits.
const (
	maxSlackHeader  = 150
	maxSlackSection = 3000
)

var slackRetrier = Retrier{RetryCodes: []int{http.StatusTooManyRequests}}

// SlackConfig configures a Slack incoming-webhook notifier.
type SlackConfig struct {
	Name string
	// URL is the incoming-webhook URL. It is the credential: it never
	// appears in an error or a log line.
	URL    config.Secret
	Client *http.Client
}

// Slack posts events to a Slack incoming webhook as Block Kit messages
// with a plain-text fallback.
type Slack struct {
	c SlackConfig
}

// NewSlack returns a Slack notifier.
func NewSlack(c SlackConfig) *Slack {
	if c.Client == nil {
		c.Client = defaultHTTPClient()
	}
	return &Slack{c: c}
}

// Name is the configured notifier name.
func (s *Slack) Name() string { return s.c.Name }

// Notify posts one event.
func (s *Slack) Notify(ctx context.Context, ev Event) error {
	body, err := json.Marshal(slackPayload(Render(ev)))
	if err != nil {
		return &DeliveryError{Notifier: s.c.Name, Err: fmt.Errorf("encode slack message: %w", err)}
	}
	return httpPost{
		notifier: s.c.Name,
		client:   s.c.Client,
		url:      s.c.URL.Value(),
		body:     body,
		retrier:  slackRetrier,
		secrets:  []string{s.c.URL.Value()},
	}.do(ctx)
}

type slackMessage struct {
	Text   string       `json:"text"` // fallback for notifications and old clients
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type string     `json:"type"`
	Text *slackText `json:"text,omitempty"`
}

type slackText struct {
	Type string `json:"type"` // plain_text | mrkdwn
	Text string `json:"text"`
}

// slackPayload lays a Message out as blocks: a header, what happened, then
// one section per Message section (next steps as code).
func slackPayload(m Message) slackMessage {
	out := slackMessage{
		Text: m.Title + "\n" + m.What,
		Blocks: []slackBlock{
			{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate(m.Title, maxSlackHeader)}},
			{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(slackEscape(m.What), maxSlackSection)}},
		},
	}
	for _, sec := range m.Sections() {
		var b strings.Builder
		fmt.Fprintf(&b, "*%s*", sec.Heading)
		for _, l := range sec.Lines {
			if sec.Heading == "Next steps" {
				fmt.Fprintf(&b, "\n`%s`", strings.ReplaceAll(slackEscape(l), "`", "'"))
			} else {
				b.WriteString("\n- " + slackEscape(l))
			}
		}
		out.Blocks = append(out.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(b.String(), maxSlackSection)}})
	}
	return out
}

// slackEscape escapes the three characters Slack mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
