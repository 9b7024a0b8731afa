// This file authenticates as a GitHub App installation: a JSON Web Token
// signed with the app's private key (RS256) is exchanged for an
// installation access token at POST /app/installations/{id}/access_tokens
// (https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app,
// https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app).

package github

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/openresync/resync/connkit"
)

// parsePrivateKey reads an RSA private key in PEM, PKCS #1 ("RSA PRIVATE
// KEY", as GitHub hands it out) or PKCS #8 ("PRIVATE KEY"). Its errors
// never quote the key.
func parsePrivateKey(s string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("not a PEM block")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a PKCS #1 RSA private key")
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a PKCS #8 private key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("not an RSA key (GitHub signs app tokens with RS256)")
		}
		return rk, nil
	}
	return nil, fmt.Errorf("a PEM block of type %q, want RSA PRIVATE KEY or PRIVATE KEY", block.Type)
}

// appJWT returns the JSON Web Token GitHub asks of an app: RS256, issued a
// minute in the past (for clock drift), expiring nine minutes from now
// (GitHub accepts at most ten), issuer the app's ID or client ID.
func appJWT(key *rsa.PrivateKey, issuer string, now time.Time) (string, error) {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, err := json.Marshal(struct {
		IAT int64  `json:"iat"`
		EXP int64  `json:"exp"`
		ISS string `json:"iss"`
	}{now.Add(-time.Minute).Unix(), now.Add(9 * time.Minute).Unix(), issuer})
	if err != nil {
		return "", err
	}
	signed := header + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signed + "." + enc.EncodeToString(sig), nil
}

// jwtAuth authenticates the token exchange with a fresh JWT per request.
type jwtAuth struct {
	key    *rsa.PrivateKey
	issuer string
}

// Apply sets Authorization: Bearer <JWT>. A JWT refused once is refused
// again: it never reports renewed.
func (a jwtAuth) Apply(req *http.Request, refresh bool) (bool, error) {
	if refresh {
		return false, nil
	}
	tok, err := appJWT(a.key, a.issuer, time.Now())
	if err != nil {
		return false, fmt.Errorf("signing the app's JWT: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return false, nil
}

// tokenMargin is how long before its expiry an installation token is
// replaced: a request sent with it must not outlive it.
const tokenMargin = 5 * time.Minute

// appAuth authenticates the API requests with an installation access
// token, fetched on the first request and again when it is within
// tokenMargin of its expiry (installation tokens live an hour), or when the
// API answers 401 (the token was revoked): once, after which a second 401
// is permanent, as the kit does for every token source.
type appAuth struct {
	client       *gh.Client // authenticated with jwtAuth
	installation int64

	mu      sync.Mutex
	token   string
	expires time.Time
}

var _ connkit.Auth = (*appAuth)(nil)

// Apply sets Authorization: Bearer <installation token>, fetching one in
// req's context when it has none or it expires soon, or when refresh says
// the last one was refused.
func (a *appAuth) Apply(req *http.Request, refresh bool) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.token
	if a.token == "" || refresh || time.Until(a.expires) < tokenMargin {
		if err := a.fetch(req.Context()); err != nil {
			return false, err
		}
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	return refresh && a.token != old, nil
}

// fetch exchanges a JWT for an installation token.
func (a *appAuth) fetch(ctx context.Context) error {
	it, _, err := a.client.Apps.CreateInstallationToken(ctx, a.installation, nil)
	if err != nil {
		return fmt.Errorf("creating an installation access token for installation %d: %w", a.installation, classify(err))
	}
	if it.GetToken() == "" {
		return fmt.Errorf("creating an installation access token for installation %d: the answer has no token", a.installation)
	}
	a.token = it.GetToken()
	a.expires = it.GetExpiresAt().Time
	if a.expires.IsZero() {
		a.expires = time.Now().Add(time.Hour) // GitHub's documented lifetime
	}
	return nil
}
