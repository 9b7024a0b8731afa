// Package connkit is the kit for writing connectors to HTTP APIs: the
// plumbing every such connector needs, written once, so that a connector
// is its provider's mapping and little else. The package example is a
// complete connector.
//
// # Client
//
// A Client resolves request paths against a base URL, puts credentials on
// each request (Auth), reads the body up to a limit, reads the rate-limit
// fields of every response and turns a failure into an error the engine
// knows how to treat. GetJSON decodes a page; Response.NextLink and
// Response.NotBefore give the next cursor and the provider's pace.
//
//	client := &connkit.Client{BaseURL: "https://acme.okta.com/api/v1/", Auth: connkit.Bearer(token)}
//	var users []oktaUser
//	resp, err := client.GetJSON(ctx, cursor, nil, &users)
//	if err != nil {
//		return resync.Page{}, err // already classified
//	}
//	page := resync.Page{Next: resp.NextLink(), NotBefore: resp.NotBefore()}
//
// The Client never retries (but once after a 401 with a renewed token):
// the engine retries the page, with backoff, and waits as the provider
// asks.
//
// # Authentication
//
// Bearer and Basic send static credentials. OAuth2 takes a TokenSource,
// which golang.org/x/oauth2's TokenSource satisfies as it is, so a
// connector that needs OAuth2 flows brings x/oauth2 into its own module
// and the root module stays free of it:
//
//	cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: tokenURL}
//	auth := connkit.OAuth2(cfg.TokenSource(ctx)) // *oauth2.Token inferred
//
// A 401 is answered by asking the source for a token once more; a new
// token (the old one had expired) is tried once, and a second 401, or the
// same token again, is permanent. Credentials are sent only to the base
// URL's scheme and host: a next-page link elsewhere is refused.
//
// # Errors
//
// ClassifyHTTP, which the Client uses and a connector making its own
// requests may call, maps a response to resync's classification:
// throttling (429; 403 with the quota spent, a Retry-After or GitHub's
// "secondary rate limit") becomes resync.RetryAfter with the provider's
// wait; 5xx and 408 are transient; any other 4xx is resync.Permanent. An
// HTTPError keeps the start of the body, where providers put their error
// code. A body over Client.MaxBodyBytes is permanent.
//
// # Rate limits
//
// ParseRateLimit reads Retry-After, the IETF RateLimit and
// RateLimit-Policy fields (and the earlier drafts' RateLimit-*), GitHub's
// x-ratelimit-* and Okta's X-Rate-Limit-* on every response, success
// included; absolute times are measured against the response's Date
// header. Put Response.NotBefore in resync.Page.NotBefore: the engine
// then waits before the next page without spending a retry, so a read
// that keeps within the advertised limit is never refused. A wait longer
// than the read has left ends the read as throttled (resync.ErrThrottled,
// resync.ConnThrottled with the reset time), nothing applied.
//
// # Paging
//
// The engine's cursor is an opaque string; these helpers make one of each
// paging style:
//
//   - Link headers (RFC 8288): the cursor is Response.NextLink, an
//     absolute URL the Client requests as it is (NextLink reads the header).
//   - Cursor tokens: the provider's token is the cursor, as it is.
//   - Offsets and page numbers: NextOffset/ParseOffset and
//     NextPage/ParsePage, which stop at a short page or the total.
//   - SCIM's 1-based startIndex and count, over a list that may change
//     between requests: StartIndex overlaps pages and drops what an earlier
//     page returned, so an item that shifts is neither lost nor read twice.
//     A short page before totalResults is a provider's cap, not the end.
//
// # Secrets
//
// Tokens, passwords, the Authorization header and the values of query
// parameters and headers named like secrets (access_token, api_key,
// client_secret, X-Api-Key, signature, ...) are replaced by REDACTED in
// every error the Client returns and every line it logs, the start of an
// error body included (providers sometimes echo what they were sent).
//
// # Testing
//
// resynctest.Provider is a fake provider API speaking these paging styles
// and rate-limit fields, with failures injected at a given page and a
// list that can change mid-read; its Transport runs it in process, so a
// test of waits runs in virtual time under testing/synctest.
package connkit
