package config

import (
	"encoding/json"
	"net/url"
	"reflect"
	"sort"
	"strings"
)

// MinRedactLen is the shortest secret a Redactor replaces: replacing a
// one- or two-letter "secret" everywhere would garble every message while
// hiding nothing worth hiding.
const MinRedactLen = 4

// Redacted replaces a secret in redacted text.
const Redacted = "[redacted]"

// Secrets returns every secret value resolved at load — admin token, Redis
// passwords, notifier routing keys, URLs and HMAC keys, webhook HMAC keys,
// probe header secrets — sorted and without duplicates. It finds them by
// type, so a Secret field added later is covered too.
func (c *Config) Secrets() []string { return SecretsOf(c) }

// SecretsOf returns the values of every Secret reachable from v (a struct,
// a pointer, a slice or a map of them), sorted and without duplicates.
func SecretsOf(v any) []string {
	seen := map[string]bool{}
	collectSecrets(reflect.ValueOf(v), seen)
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

var secretType = reflect.TypeFor[Secret]()

func collectSecrets(v reflect.Value, seen map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectSecrets(v.Elem(), seen)
		}
	case reflect.Struct:
		if v.Type() == secretType {
			if s := v.Interface().(Secret).Value(); s != "" {
				seen[s] = true
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				collectSecrets(v.Field(i), seen)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			collectSecrets(v.Index(i), seen)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			collectSecrets(it.Value(), seen)
		}
	}
}

// CredentialEnv names the process environment variables that hold
// credentials canaryd does not read through its config (the AWS SDK does).
var CredentialEnv = []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

// EnvSecrets returns the values of CredentialEnv found with lookup
// (os.LookupEnv in the daemon).
func EnvSecrets(lookup func(string) (string, bool)) []string {
	var out []string
	for _, k := range CredentialEnv {
		if v, ok := lookup(k); ok && v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Redactor replaces known secret values with "[redacted]" in text that is
// journaled, logged or sent: hook output, error strings, response details.
// Each secret is also matched as it appears JSON-escaped and URL-escaped. A
// nil *Redactor redacts nothing. It is safe for concurrent use.
type Redactor struct {
	secrets []string
	r       *strings.Replacer
}

// NewRedactor returns a Redactor for secrets; values shorter than
// MinRedactLen are ignored.
func NewRedactor(secrets ...string) *Redactor {
	seen := map[string]bool{}
	var base, forms []string
	for _, s := range secrets {
		if len(s) < MinRedactLen || seen[s] {
			continue
		}
		seen[s] = true
		base = append(base, s)
		forms = append(forms, s)
		for _, f := range escapedForms(s) {
			if !seen[f] {
				seen[f] = true
				forms = append(forms, f)
			}
		}
	}
	// Longest first: a secret that contains another is replaced whole.
	sort.Slice(forms, func(i, j int) bool {
		if len(forms[i]) != len(forms[j]) {
			return len(forms[i]) > len(forms[j])
		}
		return forms[i] < forms[j]
	})
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Redacted)
	}
	return &Redactor{secrets: base, r: strings.NewReplacer(pairs...)}
}

// With returns a Redactor for r's secrets and more.
func (r *Redactor) With(more ...string) *Redactor {
	if r == nil {
		return NewRedactor(more...)
	}
	return NewRedactor(append(append([]string(nil), r.secrets...), more...)...)
}

// Redact returns s with every known secret replaced.
func (r *Redactor) Redact(s string) string {
	if r == nil || len(r.secrets) == 0 {
		return s
	}
	return r.r.Replace(s)
}

// MaxLen is the length of the longest secret form matched: text cut
// within that many bytes of a secret may hold a piece of it.
func (r *Redactor) MaxLen() int {
	n := 0
	if r == nil {
		return 0
	}
	for _, s := range r.secrets {
		for _, f := range append(escapedForms(s), s) {
			n = max(n, len(f))
		}
	}
	return n
}

// escapedForms are the ways s may be written into JSON or a URL.
func escapedForms(s string) []string {
	var out []string
	if b, err := json.Marshal(s); err == nil {
		if j := string(b[1 : len(b)-1]); j != s {
			out = append(out, j)
		}
	}
	for _, u := range []string{url.QueryEscape(s), url.PathEscape(s)} {
		if u != s {
			out = append(out, u)
		}
	}
	return out
}
