// This file puts credentials on requests: a static bearer token, basic
// auth, or tokens from an OAuth2 token source.

package connkit

import (
	"net/http"
	"sync"
)

// Auth puts credentials on a request. Implementations must be safe for
// concurrent use.
type Auth interface {
	// Apply sets req's credentials. refresh is true when the server
	// rejected the previous credentials with 401 Unauthorized: an Auth
	// that can obtain fresh ones (a token source whose token expired)
	// does so and reports renewed, and the Client sends the request once
	// more; otherwise the 401 stands, as a permanent error.
	Apply(req *http.Request, refresh bool) (renewed bool, err error)
}

// Bearer authenticates with a static token: Authorization: Bearer token.
func Bearer(token string) Auth { return staticAuth{BearerToken(token)} }

// Basic authenticates with HTTP basic auth (RFC 7617).
func Basic(user, password string) Auth { return basicAuth{user, password} }

type staticAuth struct{ tok AccessToken }

func (a staticAuth) Apply(req *http.Request, refresh bool) (bool, error) {
	a.tok.SetAuthHeader(req)
	return false, nil
}

type basicAuth struct{ user, password string }

func (a basicAuth) Apply(req *http.Request, refresh bool) (bool, error) {
	req.SetBasicAuth(a.user, a.password)
	return false, nil
}

// AccessToken is a credential that can put itself on a request. It is the
// method the kit needs of golang.org/x/oauth2's *oauth2.Token, which has
// it; BearerToken is the simplest one.
type AccessToken interface {
	SetAuthHeader(r *http.Request)
}

// BearerToken is an AccessToken sent as Authorization: Bearer <token>.
type BearerToken string

// SetAuthHeader sets the Authorization header.
func (t BearerToken) SetAuthHeader(r *http.Request) {
	r.Header.Set("Authorization", "Bearer "+string(t))
}

// TokenSource supplies access tokens, fetching a new one when the last has
// expired. golang.org/x/oauth2's TokenSource satisfies it as it is, with T
// = *oauth2.Token: the kit names only the method it calls, so the root
// module does not depend on x/oauth2, and a connector that needs OAuth2
// brings x/oauth2 into its own module and writes
//
//	cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: url}
//	auth := connkit.OAuth2(cfg.TokenSource(ctx)) // T inferred as *oauth2.Token
//
// A source of plain strings is a TokenSource[BearerToken].
//
// Why generic: x/oauth2's method returns *oauth2.Token, which the kit
// cannot name without importing x/oauth2. A plain interface such as
// Token() (string, time.Time, error), or a func, would need an adapter
// between every x/oauth2 source and the kit, written by each connector;
// with T inferred from the source's Token method there is none, and the
// token keeps its own way of setting the header (its type: Bearer or
// another). Checked against golang.org/x/oauth2 v0.38.0.
type TokenSource[T AccessToken] interface {
	Token() (T, error)
}

// OAuth2 authenticates with tokens from src. On a 401 it asks src for a
// token once more and, if src returns a different one (the old one had
// expired), the request is sent again with it; a second 401, or the same
// token again, is permanent. Wrap an x/oauth2 source in
// oauth2.ReuseTokenSource (as oauth2.Config.TokenSource already does) so
// that a token is reused until it expires rather than fetched per request.
func OAuth2[T AccessToken](src TokenSource[T]) Auth {
	return &oauth2Auth[T]{src: src}
}

type oauth2Auth[T AccessToken] struct {
	src  TokenSource[T]
	mu   sync.Mutex
	last string // the Authorization header of the last token
}

func (a *oauth2Auth[T]) Apply(req *http.Request, refresh bool) (bool, error) {
	tok, err := a.src.Token()
	if err != nil {
		return false, err
	}
	tok.SetAuthHeader(req)
	h := req.Header.Get("Authorization")
	a.mu.Lock()
	defer a.mu.Unlock()
	renewed := refresh && h != a.last
	a.last = h
	return renewed, nil
}
