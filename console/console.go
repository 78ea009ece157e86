// Package console is canaryd's read-only web console: a static shell
// (HTML, one script, one stylesheet, embedded in the binary) that the
// admin API serves on /console/ without authentication, and that reads
// every piece of data from the /v1 JSON API with the reader's token.
//
// The token lives in the tab's sessionStorage and is sent in the
// Authorization header of each fetch, never in a cookie: the API keeps
// one way to authenticate (a bearer header, which a browser never attaches
// on its own, so no request from another site can ride on it and no CSRF
// defence is needed), and the token is gone when the tab closes. The
// price — a script on the page could read it — is what the strict
// Content-Security-Policy (scripts from the page's origin only, no inline
// script or style) and building the DOM with textContent only are for.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every console response: nothing
// from elsewhere, no inline script or style, no plugins, no framing, no
// form posts.
const CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

// Handler serves the console's files (index.html at "/").
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
