package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/canaryd/canaryd/history"
	"github.com/canaryd/canaryd/store"
)

// maxResponseBytes bounds what the client reads from the server.
const maxResponseBytes = 32 << 20

// Client talks to the admin API (the CLI's status, override, rollback and
// history subcommands). Its errors never contain the token.
type Client struct {
	base   *url.URL
	urlErr error // a bad baseURL, reported by every call
	token  string
	hc     *http.Client
}

// Error is a non-2xx answer: the server's status and message, and the
// field a bad request was about.
type Error struct {
	Method  string
	Path    string
	Status  int
	Message string
	Field   string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
	if e.Field != "" {
		msg += fmt.Sprintf(" (field %q)", e.Field)
	}
	return msg
}

// Is lets callers test errors.Is(err, ErrUnknownTarget) and friends on the
// client side.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnknownTarget, store.ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict, ErrStale:
		return e.Status == http.StatusConflict
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable
	}
	return false
}

// NewClient makes a client for the API at baseURL (e.g.
// "http://127.0.0.1:8080"); httpClient nil means http.DefaultClient. A
// malformed baseURL is reported by every call.
func NewClient(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	c := &Client{token: token, hc: httpClient}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	switch {
	case err != nil:
		c.urlErr = fmt.Errorf("admin api url: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		c.urlErr = fmt.Errorf("admin api url %q: scheme must be http or https", u.Redacted())
	default:
		c.base = u
	}
	return c
}

// Health calls /healthz.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// Ready calls /readyz; a not-ready daemon is an *Error with status 503 and
// the reason as its message.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil, nil)
}

// Status returns every target's state.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &s)
}

// Overrides lists stored overrides; activeOnly drops expired ones.
func (c *Client) Overrides(ctx context.Context, activeOnly bool) ([]OverrideView, error) {
	q := url.Values{}
	if activeOnly {
		q.Set("active", "true")
	}
	var r OverridesResponse
	return r.Overrides, c.do(ctx, http.MethodGet, "/v1/overrides", q, nil, &r)
}

// SetOverride creates an override and returns it as stored.
func (c *Client) SetOverride(ctx context.Context, req OverrideRequest) (OverrideView, error) {
	var o OverrideView
	return o, c.do(ctx, http.MethodPost, "/v1/overrides", nil, req, &o)
}

// DeleteOverride removes an override (resume); actor is recorded.
func (c *Client) DeleteOverride(ctx context.Context, id, actor string) error {
	q := url.Values{}
	if actor != "" {
		q.Set("actor", actor)
	}
	return c.do(ctx, http.MethodDelete, "/v1/overrides/"+url.PathEscape(id), q, nil, nil)
}

// Resume deletes every active pause override set for exactly target ("*"
// for the all-targets pause) and returns the IDs it removed. A pause set
// for "*" is not removed by resuming one target.
func (c *Client) Resume(ctx context.Context, target, actor string) ([]string, error) {
	os, err := c.Overrides(ctx, true)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, o := range os {
		if o.Kind != store.OverridePause || o.Target != target {
			continue
		}
		if err := c.DeleteOverride(ctx, o.ID, actor); err != nil && !errors.Is(err, store.ErrNotFound) {
			return removed, err
		}
		removed = append(removed, o.ID)
	}
	return removed, nil
}

// Rollback asks for a manual rollback (or only its plan).
func (c *Client) Rollback(ctx context.Context, req RollbackRequest) (RollbackResponse, error) {
	var r RollbackResponse
	return r, c.do(ctx, http.MethodPost, "/v1/rollback", nil, req, &r)
}

// AnnounceDeploy tells the daemon about a deploy.
func (c *Client) AnnounceDeploy(ctx context.Context, req DeployRequest) (AnnounceResult, error) {
	var r AnnounceResult
	return r, c.do(ctx, http.MethodPost, "/v1/deploys", nil, req, &r)
}

// Watches lists watches newest first.
func (c *Client) Watches(ctx context.Context, f store.WatchFilter) ([]store.Watch, error) {
	q := url.Values{}
	if f.Target != "" {
		q.Set("target", f.Target)
	}
	if f.ActiveOnly {
		q.Set("active", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var r WatchesResponse
	return r.Watches, c.do(ctx, http.MethodGet, "/v1/watches", q, nil, &r)
}

// Incidents lists incidents newest first; target "" means all, limit 0
// the server's default.
func (c *Client) Incidents(ctx context.Context, target string, limit int) ([]IncidentView, error) {
	q := url.Values{}
	if target != "" {
		q.Set("target", target)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var r IncidentsResponse
	return r.Incidents, c.do(ctx, http.MethodGet, "/v1/incidents", q, nil, &r)
}

// Incident returns one incident with its watch, journal and events.
func (c *Client) Incident(ctx context.Context, id string) (IncidentDetail, error) {
	var d IncidentDetail
	return d, c.do(ctx, http.MethodGet, "/v1/incidents/"+url.PathEscape(id), nil, nil, &d)
}

// Postmortem returns an incident's postmortem draft.
func (c *Client) Postmortem(ctx context.Context, id string) (history.Doc, error) {
	var d history.Doc
	q := url.Values{"format": {"json"}}
	return d, c.do(ctx, http.MethodGet, "/v1/incidents/"+url.PathEscape(id)+"/postmortem", q, nil, &d)
}

// PostmortemMarkdown returns an incident's postmortem draft as Markdown.
func (c *Client) PostmortemMarkdown(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	q := url.Values{"format": {"markdown"}}
	return b, c.do(ctx, http.MethodGet, "/v1/incidents/"+url.PathEscape(id)+"/postmortem", q, nil, &b)
}

// Trace returns the replay trace the daemon recorded of a watch
// (GET /v1/watches/{id}/trace).
func (c *Client) Trace(ctx context.Context, watchID string) ([]byte, error) {
	var b []byte
	return b, c.do(ctx, http.MethodGet, "/v1/watches/"+url.PathEscape(watchID)+"/trace", nil, nil, &b)
}

// do sends one request and decodes the answer into out (*[]byte: raw).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	if c.urlErr != nil {
		return c.urlErr
	}
	u := *c.base
	// path is escaped already (an incident reference may hold '#'): keep
	// it so, rather than escaping it a second time.
	u.RawPath = c.base.EscapedPath() + path
	unescaped, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	u.Path = unescaped
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %s", method, path, c.scrub(err.Error()))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %s", method, path, c.scrub(err.Error()))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.apiError(method, path, resp.StatusCode, raw)
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = raw
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

func (c *Client) apiError(method, path string, status int, raw []byte) error {
	e := &Error{Method: method, Path: path, Status: status}
	var eb ErrorBody
	if json.Unmarshal(raw, &eb) == nil && eb.Error != "" {
		e.Message, e.Field = eb.Error, eb.Field
	} else if len(raw) > 0 {
		var ready struct{ Reason string }
		if json.Unmarshal(raw, &ready) == nil && ready.Reason != "" {
			e.Message = ready.Reason
		} else {
			e.Message = strings.TrimSpace(string(raw[:min(len(raw), 512)]))
		}
	} else {
		e.Message = http.StatusText(status)
	}
	e.Message = c.scrub(e.Message)
	e.Field = c.scrub(e.Field)
	return e
}

// scrub removes the token from text that came from elsewhere (a server
// echoing headers, a proxy's error page, a transport error).
func (c *Client) scrub(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}
