// This file gets access tokens for Microsoft Graph with the OAuth 2.0
// client credentials grant of the Microsoft identity platform
// (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow).

package entra

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// expiryMargin is how long before its expiry a token is replaced, so that
// a request does not reach Graph with a token that expires on the way.
const expiryMargin = time.Minute

// clientCredentials is a connkit.Auth that asks the token endpoint for a
// token with the app's client ID and secret, keeps it until shortly
// before it expires, and asks for a new one when Graph answers 401.
type clientCredentials struct {
	token      *connkit.Client // the authority's token endpoint
	path       string          // {tenant}/oauth2/v2.0/token
	id, secret string
	scope      string // https://graph.microsoft.com/.default
	now        func() time.Time

	mu      sync.Mutex
	current string
	expires time.Time
}

var _ connkit.Auth = (*clientCredentials)(nil)

// Apply sets the bearer token, fetching one when there is none, it is
// about to expire, or Graph refused the last (refresh).
func (a *clientCredentials) Apply(req *http.Request, refresh bool) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.current
	if refresh || a.current == "" || !a.now().Before(a.expires.Add(-expiryMargin)) {
		if err := a.fetch(req); err != nil {
			return false, err
		}
	}
	req.Header.Set("Authorization", "Bearer "+a.current)
	return refresh && a.current != old, nil
}

// fetch asks the token endpoint for a token, in req's context. Its
// errors are classified as the kit classifies them: a rejected client
// (400, 401) is permanent, a throttled or failing endpoint retryable.
func (a *clientCredentials) fetch(req *http.Request) error {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {a.id},
		"client_secret": {a.secret}, "scope": {a.scope}}
	tr, err := http.NewRequestWithContext(req.Context(), http.MethodPost, a.path, strings.NewReader(form.Encode()))
	if err != nil {
		return resync.Permanent(fmt.Errorf("entra: token request: %w", err))
	}
	tr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.token.Do(tr)
	if err != nil {
		return a.scrub(wrapError(err))
	}
	var body struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"` // a number; older endpoints sent a string
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil || body.AccessToken == "" {
		return resync.Permanent(fmt.Errorf("entra: token endpoint %s: %w: no access_token in the answer", resp.URL.Redacted(), ErrMalformed))
	}
	if body.TokenType != "" && !strings.EqualFold(body.TokenType, "Bearer") {
		return resync.Permanent(fmt.Errorf("entra: token endpoint: %w: token_type %.20q, want Bearer", ErrMalformed, body.TokenType))
	}
	secs := 3599
	var n json.Number
	if json.Unmarshal(body.ExpiresIn, &n) == nil || json.Unmarshal([]byte(strings.Trim(string(body.ExpiresIn), `"`)), &n) == nil {
		if v, err := n.Int64(); err == nil && v > 0 {
			secs = int(v)
		}
	}
	a.current, a.expires = body.AccessToken, a.now().Add(time.Duration(secs)*time.Second)
	return nil
}

// scrub keeps the client secret out of an error's text, should an error
// body ever echo it, keeping the error's classification.
func (a *clientCredentials) scrub(err error) error {
	if err == nil || len(a.secret) < 4 || !strings.Contains(err.Error(), a.secret) {
		return err
	}
	scrubbed := fmt.Errorf("%s", strings.ReplaceAll(err.Error(), a.secret, "REDACTED"))
	if d, ok := resync.RetryDelay(err); ok {
		return resync.RetryAfter(scrubbed, d)
	}
	if resync.IsPermanent(err) {
		return resync.Permanent(scrubbed)
	}
	return scrubbed
}
