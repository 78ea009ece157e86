package notify

// Shared HTTP delivery for the PagerDuty, Slack and webhook notifiers.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxDetail bounds how much of an error response is kept in an error.
const maxDetail = 256

// httpPost is one POST of a JSON body, judged by r.
type httpPost struct {
	notifier string
	client   *http.Client
	url      string
	body     []byte
	header   http.Header
	retrier  Retrier
	secrets  []string // values to scrub from any error text
}

// do sends the request. Transport failures (refused, reset, timeout) are
// retryable; statuses are judged by the Retrier. No error it returns
// carries the URL's path or query, or any of p.secrets.
func (p httpPost) do(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(p.body))
	if err != nil {
		// NewRequest errors quote the URL: never return them raw.
		return &DeliveryError{Notifier: p.notifier, Err: redactErr(fmt.Errorf("build request for %s: invalid url", redactURL(p.url)), p.secrets...)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "canaryd-notify")
	for k, vs := range p.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return &DeliveryError{Notifier: p.notifier, Retry: true, Err: redactErr(err, append(p.secrets, p.url)...)}
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, maxDetail))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	cerr := p.retrier.Check(p.notifier, resp.StatusCode, strings.TrimSpace(string(excerpt)))
	if cerr == nil {
		return nil
	}
	de := cerr.(*DeliveryError)
	de.RetryAfter = parseRetryAfter(resp.Header)
	de.Err = redactErr(de.Err, append(p.secrets, p.url)...)
	return de
}

// defaultHTTPClient is used when Deps carries none. It has no Timeout of
// its own: the dispatcher's per-attempt context bounds every request.
func defaultHTTPClient() *http.Client {
	return &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
}
