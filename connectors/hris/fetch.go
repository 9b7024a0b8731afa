package hris

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/openresync/resync"
)

// maxRetryAfter bounds a server's Retry-After: an absurd value waits a day.
const maxRetryAfter = 24 * time.Hour

// errBodyBytes is how much of an error response's body its error keeps.
const errBodyBytes = 512

var defaultClient = &http.Client{Timeout: 5 * time.Minute}

// fetch returns the export's bytes, from the file or the URL.
func (c *connector) fetch(ctx context.Context) ([]byte, error) {
	if c.url != nil {
		return c.get(ctx)
	}
	f, err := os.Open(c.path)
	if err != nil {
		return nil, fileErr(c.path, err)
	}
	defer f.Close()
	data, err := readLimited(f, c.maxBytes)
	if err != nil {
		return nil, fileErr(c.path, err)
	}
	return data, nil
}

// fileErr classifies a file error: a missing, forbidden or oversized file
// is permanent, other I/O errors are retried.
func fileErr(path string, err error) error {
	err = fmt.Errorf("hris: reading %s: %w", path, err)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EISDIR) || errors.Is(err, ErrMalformed) {
		return resync.Permanent(err)
	}
	return err
}

// readLimited reads r to the end, failing with ErrMalformed past limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf(`%w: larger than %d bytes (raise the "max_bytes" setting)`, ErrMalformed, limit)
	}
	return data, nil
}

// get fetches the export over HTTPS. Errors name the URL without its query
// and never hold the credentials.
func (c *connector) get(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url.String(), nil)
	if err != nil {
		return nil, resync.Permanent(fmt.Errorf("hris: GET %s: %w", c.src, err))
	}
	req.Header.Set("Accept", "text/csv, */*;q=0.5")
	var secrets []string
	switch {
	case c.token != "":
		tok, err := c.secret(ctx, c.token)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		secrets = append(secrets, tok)
	case c.user != "":
		pass, err := c.secret(ctx, c.pass)
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth(c.user, pass)
		secrets = append(secrets, pass)
	}
	client := c.cfg.HTTPClient
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		// *url.Error quotes the full URL: name the redacted one instead.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("hris: GET %s: %s", c.src, redact(err.Error(), secrets)) // transient: retried
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyBytes))
		return nil, c.classify(resp, redact(string(body), secrets))
	}
	data, err := readLimited(resp.Body, c.maxBytes)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if errors.Is(err, ErrMalformed) {
			return nil, resync.Permanent(fmt.Errorf("hris: GET %s: %w", c.src, err))
		}
		return nil, fmt.Errorf("hris: GET %s: reading the body: %s", c.src, redact(err.Error(), secrets))
	}
	return data, nil
}

// secret resolves a credential setting through Config.Secret.
func (c *connector) secret(ctx context.Context, ref string) (string, error) {
	if c.cfg.Secret == nil {
		return ref, nil
	}
	v, err := c.cfg.Secret(ctx, c.conn, ref)
	if err != nil {
		return "", fmt.Errorf("hris: connection %q: resolving a credential: %w", c.conn.ID, err)
	}
	return v, nil
}

// classify turns a non-2xx response into the error the engine acts on:
// 429, and 503 with a Retry-After, wait as the server asks; other 5xx and
// 408 are retried with backoff; any other status (401, 403, 404...) is
// permanent. The message has the status and the start of the body.
func (c *connector) classify(resp *http.Response, body string) error {
	body = strings.TrimSpace(body)
	for len(body) > 0 && !utf8.ValidString(body) {
		body = body[:len(body)-1] // cut inside a character
	}
	msg := fmt.Sprintf("hris: GET %s: %d %s", c.src, resp.StatusCode, http.StatusText(resp.StatusCode))
	if body != "" {
		msg += ": " + body
	}
	err := errors.New(msg)
	code := resp.StatusCode
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if d, ok := retryAfter(resp.Header, c.cfg.Clock.Now()); ok {
			return resync.RetryAfter(err, d)
		}
		return err
	case code == http.StatusRequestTimeout || code >= 500:
		return err
	}
	return resync.Permanent(err)
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date
// measured against the response's Date (the server's clock), else now.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(n) || n < 0 {
			return 0, false
		}
		return min(time.Duration(min(n, maxRetryAfter.Seconds())*float64(time.Second)), maxRetryAfter), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		now = d
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}

// redactURL is the URL for messages: no credentials, no query (Workday
// report URLs and signed links carry tokens there).
func redactURL(u *url.URL) string {
	r := *u
	r.User = nil
	if r.RawQuery != "" {
		r.RawQuery = "…"
	}
	r.Fragment = ""
	return r.String()
}

// redact replaces the secrets in s.
func redact(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "[REDACTED]")
		}
	}
	return s
}
