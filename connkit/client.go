// This file is the HTTP client connectors make their requests with.

package connkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/openresync/resync"
)

// DefaultMaxBodyBytes is the largest response body a Client reads when
// Client.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 32 << 20

// Client makes a connector's HTTP requests: it resolves paths against a
// base URL, authenticates, reads the body up to a limit, reads the rate
// limit of every response, classifies failures with ClassifyHTTP and keeps
// secrets out of its errors and log lines. It never retries, but once:
// a 401 answered with a renewed token (see Auth). The engine does the
// retrying, page by page.
//
// Set the fields before the first request and do not change them after;
// a Client is then safe for concurrent use. Use it through a pointer: it
// remembers the secrets it has sent, to scrub them from errors.
type Client struct {
	// BaseURL is the absolute URL that request paths are resolved against
	// (RFC 3986), e.g. "https://acme.okta.com/api/v1/". Keep the trailing
	// slash when paths are relative to it. An absolute URL in a request
	// (a Link header's next page) is used as it is, but credentials are
	// sent only to BaseURL's scheme and host: a request elsewhere fails
	// with a permanent error.
	BaseURL string
	// Auth puts credentials on each request; nil sends none.
	Auth Auth
	// HTTPClient sends the requests; nil means http.DefaultClient. Its
	// redirects keep Go's rule: credentials are not sent to another host.
	HTTPClient *http.Client
	// Header holds fields sent with every request (Accept, User-Agent).
	Header http.Header
	// MaxBodyBytes bounds a response body; 0 means DefaultMaxBodyBytes. A
	// larger body fails the request with a permanent error: a page that
	// big is a misconfigured page size, and asking again will not help.
	MaxBodyBytes int64
	// Logger receives one Debug line per request (method, URL, status,
	// duration, remaining quota), secrets redacted; nil logs nothing.
	Logger *slog.Logger
	// Now is the local clock that rate-limit waits are measured from; nil
	// means time.Now.
	Now func() time.Time

	secrets redactor
}

// Response is a successful (2xx) response, its body read.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// URL is the URL requested, against which links resolve.
	URL *url.URL
	// RateLimit is what the response said about the quota.
	RateLimit RateLimit
}

// NotBefore is the earliest time the next request should be sent (see
// RateLimit.NotBefore). Put it in resync.Page.NotBefore and the engine
// waits for it before asking for the next page.
func (r *Response) NotBefore() time.Time { return r.RateLimit.NotBefore() }

// NextLink is the absolute URL of the Link header's rel="next" target,
// resolved against the request's URL; "" on the last page.
func (r *Response) NextLink() string {
	next := NextLink(r.Header)
	if next == "" {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil {
		return next
	}
	if r.URL != nil {
		u = r.URL.ResolveReference(u)
	}
	return u.String()
}

// Get requests ref (a path relative to BaseURL, or an absolute URL) with
// query added to its own query.
func (c *Client) Get(ctx context.Context, ref string, query url.Values) (*Response, error) {
	u, err := c.resolve(ref)
	if err != nil {
		return nil, err
	}
	if len(query) > 0 {
		q := u.Query()
		for k, vs := range query {
			q[k] = append(q[k], vs...)
		}
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, resync.Permanent(c.scrub(err))
	}
	return c.Do(req)
}

// GetJSON is Get, then decodes the body into v. A body that is not the
// JSON expected is a permanent error naming the URL.
func (c *Client) GetJSON(ctx context.Context, ref string, query url.Values, v any) (*Response, error) {
	resp, err := c.Get(ctx, ref, query)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(resp.Body, v); err != nil {
		return resp, resync.Permanent(fmt.Errorf("GET %s: decoding the response: %w", c.secrets.redact(redactURL(resp.URL)), err))
	}
	return resp, nil
}

// Do sends req, its URL resolved against BaseURL if relative, with the
// Client's headers and credentials. It returns the response of a 2xx, or
// an error classified for the engine: the HTTPError of ClassifyHTTP, a
// transport error (transient), or a permanent error for a body over the
// limit or a request the Client refuses. The context is req's.
func (c *Client) Do(req *http.Request) (*Response, error) {
	u, err := c.resolveURL(req.URL)
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.URL, req.Host = u, ""
	for k, vs := range c.Header {
		if _, set := req.Header[k]; !set {
			req.Header[k] = slices.Clone(vs)
		}
	}
	c.secrets.addRequest(req)
	var last error
	for refresh := false; ; refresh = true {
		if c.Auth != nil {
			renewed, err := c.Auth.Apply(req, refresh)
			if err != nil {
				return nil, c.scrub(fmt.Errorf("%s %s: getting credentials: %w", req.Method, redactURL(req.URL), err))
			}
			c.secrets.addRequest(req)
			if refresh && !renewed {
				return nil, last // the same credentials would be refused again
			}
		}
		resp, status, err := c.send(req)
		if status != http.StatusUnauthorized || refresh || c.Auth == nil || (req.Body != nil && req.GetBody == nil) {
			return resp, err
		}
		// A 401: the token may have expired. Once with a fresh one.
		last = err
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, last
			}
		}
	}
}

// send makes one request and reads its response.
func (c *Client) send(req *http.Request) (*Response, int, error) {
	now := c.now()
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.log(req, 0, now, RateLimit{Limit: -1, Remaining: -1}, err)
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, 0, fmt.Errorf("%s %s: %w", req.Method, c.secrets.redact(redactURL(req.URL)), ctxErr)
		}
		return nil, 0, c.scrub(err) // transient: the engine retries
	}
	defer resp.Body.Close()
	limit := c.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	body, err := readBody(io.LimitReader(resp.Body, limit+1), resp.ContentLength, limit)
	read := c.now()
	rl := ParseRateLimit(resp.Header, read)
	if err != nil {
		c.log(req, resp.StatusCode, now, rl, err)
		return nil, resp.StatusCode, c.scrub(fmt.Errorf("%s %s: reading the response: %w", req.Method, redactURL(req.URL), err))
	}
	if int64(len(body)) > limit {
		err := resync.Permanent(fmt.Errorf("%s %s: response body larger than %d bytes (Client.MaxBodyBytes)", req.Method, c.secrets.redact(redactURL(req.URL)), limit))
		c.log(req, resp.StatusCode, now, rl, err)
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Request = req
		err := classify(resp, body, read, rl, &c.secrets)
		c.log(req, resp.StatusCode, now, rl, err)
		return nil, resp.StatusCode, err
	}
	c.log(req, resp.StatusCode, now, rl, nil)
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body, URL: req.URL, RateLimit: rl}, resp.StatusCode, nil
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// log writes one Debug line for a request, secrets redacted.
func (c *Client) log(req *http.Request, status int, start time.Time, rl RateLimit, err error) {
	if c.Logger == nil || !c.Logger.Enabled(req.Context(), slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("url", c.secrets.redact(redactURL(req.URL))),
		slog.Int("status", status),
		slog.Duration("duration", c.now().Sub(start)),
	}
	if rl.Remaining >= 0 {
		attrs = append(attrs, slog.Int("remaining", rl.Remaining))
	}
	if nb := rl.NotBefore(); !nb.IsZero() {
		attrs = append(attrs, slog.Time("not_before", nb))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", c.secrets.redact(err.Error())))
	}
	c.Logger.LogAttrs(req.Context(), slog.LevelDebug, "connkit: http request", attrs...)
}

// scrub returns err with every secret the Client has sent redacted from
// its message. A *url.Error (what http.Client returns) is rebuilt with a
// redacted URL, so that unwrapping it reveals nothing either.
func (c *Client) scrub(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue == err {
		cp := *ue
		if u, perr := url.Parse(ue.URL); perr == nil {
			cp.URL = redactURL(u)
		} else {
			cp.URL = redacted
		}
		cp.URL = c.secrets.redact(cp.URL)
		err = &cp
	}
	msg := c.secrets.redact(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// resolve parses ref and resolves it against BaseURL.
func (c *Client) resolve(ref string) (*url.URL, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return nil, resync.Permanent(c.scrub(fmt.Errorf("connkit: bad request URL: %w", err)))
	}
	return c.resolveURL(u)
}

// resolveURL resolves u against BaseURL and refuses to send credentials
// to any other scheme and host.
func (c *Client) resolveURL(u *url.URL) (*url.URL, error) {
	if c.BaseURL == "" {
		if !u.IsAbs() {
			return nil, resync.Permanent(fmt.Errorf("connkit: relative URL %q and no Client.BaseURL", redactURL(u)))
		}
		return u, nil
	}
	base, err := url.Parse(c.BaseURL)
	if err != nil || !base.IsAbs() {
		return nil, resync.Permanent(fmt.Errorf("connkit: Client.BaseURL %q is not an absolute URL", c.BaseURL))
	}
	r := base.ResolveReference(u)
	if c.Auth != nil && (!strings.EqualFold(r.Scheme, base.Scheme) || !strings.EqualFold(r.Host, base.Host)) {
		return nil, resync.Permanent(fmt.Errorf("connkit: refusing to send credentials for %s to %s://%s, not Client.BaseURL's host",
			base.Host, r.Scheme, r.Host))
	}
	return r, nil
}

// readBody reads r to its end. When the response announced its length
// (size, -1 if not) within the limit, the buffer is allocated once at that
// size instead of growing by doubling: a 400 KB page costs one allocation,
// not a dozen and twice the memory.
func readBody(r io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 || size > limit {
		return io.ReadAll(r)
	}
	buf := make([]byte, 0, size+1) // +1: room to see EOF without growing
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) { // longer than announced: read the rest
			rest, err := io.ReadAll(r)
			return append(buf, rest...), err
		}
	}
}
