package api

import (
	"io"
	"net/http"
	"strings"
)

// maxDrainBytes bounds how much of a request body the server reads and
// discards after answering without reading it all (413, 401, ...).
const maxDrainBytes = 64 << 20

// drainBody answers a refused request's sender instead of resetting it.
// Clients that write the whole request before reading the answer (scripts,
// simple HTTP libraries) are still sending when the handler has answered,
// say, 413: closing the connection on unread data makes the kernel reset
// it and the client never sees the answer. So, after the handler, the
// answer is flushed and the rest of the body — up to maxDrainBytes, within
// the server's ReadTimeout — is read and discarded; a larger body is left
// to the reset. A request waiting for "100 Continue" whose body the handler
// never read was sent no body, and gets none drained.
func drainBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		orig := r.Body
		body := &readCounter{ReadCloser: orig}
		r.Body = body
		next.ServeHTTP(w, r)
		// The server looks at the body's own type when it finishes the
		// request (expect-continue, how much to discard): give it back.
		r.Body = orig
		waiting := strings.EqualFold(r.Header.Get("Expect"), "100-continue") && body.n == 0
		if waiting || r.ContentLength > maxDrainBytes {
			return
		}
		_ = http.NewResponseController(w).Flush()
		_, _ = io.Copy(io.Discard, io.LimitReader(orig, maxDrainBytes))
	})
}

// readCounter counts the reads made of a request body.
type readCounter struct {
	io.ReadCloser
	n int
}

func (c *readCounter) Read(p []byte) (int, error) {
	c.n++
	return c.ReadCloser.Read(p)
}
