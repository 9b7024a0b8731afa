// This file keeps credentials out of errors and log lines.

package connkit

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// redacted replaces a secret in errors and log lines.
const redacted = "REDACTED"

// secretNameParts are the parts of a query parameter or header name that
// mark its value as a secret.
var secretNameParts = []string{"token", "secret", "password", "passwd", "pwd", "key", "sig", "auth", "credential", "session", "cookie", "code", "jwt", "assertion"}

// secretName reports whether a query parameter or header named name
// carries a secret (access_token, api_key, client_secret, X-Api-Key,
// Authorization, signature, ...).
func secretName(name string) bool {
	n := strings.ToLower(name)
	for _, p := range secretNameParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

// redactURL renders u with any password and the values of secret-named
// query parameters replaced by REDACTED.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		if _, has := c.User.Password(); has {
			c.User = url.UserPassword(c.User.Username(), redacted)
		}
	}
	if c.RawQuery != "" {
		q, err := url.ParseQuery(c.RawQuery)
		if err != nil {
			c.RawQuery = redacted // unparseable: keep none of it
		} else {
			changed := false
			for k, vs := range q {
				if secretName(k) {
					for i := range vs {
						vs[i] = redacted
					}
					changed = true
				}
			}
			if changed {
				c.RawQuery = q.Encode()
			}
		}
	}
	return c.String()
}

// minSecret is the shortest value scrubbed from text: shorter ones would
// blot out ordinary words and are no secret worth the name.
const minSecret = 4

// redactor scrubs the secrets a client has sent (tokens, passwords, the
// values of secret-named query parameters and headers) from text. A nil
// redactor scrubs nothing. It is safe for concurrent use.
type redactor struct {
	mu      sync.Mutex
	secrets map[string]struct{}
}

// maxSecrets bounds what a redactor remembers: a provider that signs each
// page's URL would otherwise grow it by a secret a page. Past it, the
// secrets start over from the request being sent, whose secrets are added
// again on every request.
const maxSecrets = 256

// add records secrets to scrub from now on.
func (r *redactor) add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets == nil {
		r.secrets = map[string]struct{}{}
	}
	for _, s := range secrets {
		if len(s) >= minSecret {
			r.secrets[s] = struct{}{}
			if e := url.QueryEscape(s); e != s {
				r.secrets[e] = struct{}{} // as it appears in a URL
			}
		}
	}
}

// addRequest records the secrets a request carries: the credentials of
// its Authorization header (a basic password decoded), the values of
// secret-named headers and query parameters, a URL password.
func (r *redactor) addRequest(req *http.Request) {
	r.mu.Lock()
	if len(r.secrets) > maxSecrets {
		r.secrets = nil
	}
	r.mu.Unlock()
	for name, vs := range req.Header {
		if !secretName(name) {
			continue
		}
		for _, v := range vs {
			r.add(v)
			scheme, cred, ok := strings.Cut(v, " ")
			if !ok {
				continue
			}
			r.add(cred)
			if strings.EqualFold(scheme, "Basic") {
				if dec, err := base64.StdEncoding.DecodeString(cred); err == nil {
					_, pass, _ := strings.Cut(string(dec), ":")
					r.add(string(dec), pass)
				}
			}
		}
	}
	if u := req.URL; u != nil {
		if p, ok := u.User.Password(); ok {
			r.add(p)
		}
		for k, vs := range u.Query() {
			if secretName(k) {
				r.add(vs...)
			}
		}
	}
}

// redact returns s with every recorded secret replaced by REDACTED.
func (r *redactor) redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Longest first, so that a secret containing another is replaced whole.
	var found []string
	for sec := range r.secrets {
		if strings.Contains(s, sec) {
			found = append(found, sec)
		}
	}
	slices.SortFunc(found, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range found {
		s = strings.ReplaceAll(s, sec, redacted)
	}
	return s
}

// redactedError is an error whose message has been scrubbed of secrets;
// it unwraps to the original for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Unwrap() error { return e.err }
