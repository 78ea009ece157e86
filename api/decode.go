package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrorBody is every error answer: a message and, for a bad request, the
// field it is about.
type ErrorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// requestError is a decode failure with the status to answer.
type requestError struct {
	status int
	field  string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// decodeBody strictly decodes exactly one JSON object into v: bounded by
// max bytes (413 beyond), no unknown fields, nothing after the value.
func decodeBody(w http.ResponseWriter, r *http.Request, max int64, v any) *requestError {
	body := http.MaxBytesReader(w, r.Body, max)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return classify(err, max)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			if re := classify(err, max); re.status == http.StatusRequestEntityTooLarge {
				return re
			}
		}
		return &requestError{status: http.StatusBadRequest, msg: "request body must be exactly one JSON object"}
	}
	return nil
}

func classify(err error, max int64) *requestError {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body larger than %d bytes", max)}
	case errors.Is(err, io.EOF):
		return &requestError{status: http.StatusBadRequest, msg: "request body is empty; a JSON object is required"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &requestError{status: http.StatusBadRequest, msg: "request body is truncated JSON"}
	case errors.As(err, &syntax):
		return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, err)}
	case errors.As(err, &typ) && typ.Field == "":
		return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf("request body must be a JSON object, not %s", typ.Value)}
	case errors.As(err, &typ):
		return &requestError{status: http.StatusBadRequest, field: typ.Field,
			msg: fmt.Sprintf("field %q must be %s, not %s", typ.Field, typ.Type, typ.Value)}
	}
	// encoding/json reports unknown fields only as text: json: unknown field "x".
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field := strings.Trim(name, `"`)
		return &requestError{status: http.StatusBadRequest, field: field, msg: fmt.Sprintf("unknown field %q", field)}
	}
	return &requestError{status: http.StatusBadRequest, msg: "invalid request body: " + err.Error()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing left to tell it
}

func writeError(w http.ResponseWriter, status int, msg, field string) {
	writeJSON(w, status, ErrorBody{Error: msg, Field: field})
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
