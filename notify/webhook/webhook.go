package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/notify"
)

// Header names, as in the Standard Webhooks specification.
const (
	// HeaderID carries the notification's idempotency key (Payload.ID).
	HeaderID = "Webhook-Id"
	// HeaderTimestamp carries the time of sending, in Unix seconds.
	HeaderTimestamp = "Webhook-Timestamp"
	// HeaderSignature carries "v1,<signature>" (see the package doc).
	HeaderSignature = "Webhook-Signature"
)

// DefaultTimeout bounds one request when Config.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// Tolerance is how far a request's timestamp may be from the receiver's
// clock before Verify rejects it.
const Tolerance = 5 * time.Minute

// minSecret is the shortest signing secret New accepts, in bytes.
const minSecret = 16

// maxErrorBody is how much of an error response's body an error keeps.
const maxErrorBody = 256

// Config configures a Notifier.
type Config struct {
	// URL receives the POST requests: http or https. Required. Errors name
	// only its host, never its path or query, which often hold a token.
	URL string
	// Secret signs every request (see the package doc): a "whsec_" prefix
	// followed by base64, as Standard Webhooks secrets are written, or
	// else its bytes as they are. At least 16 bytes. Required. It never
	// appears in an error or in the output of fmt or log/slog.
	Secret string
	// Timeout bounds each request, from sending to reading the response.
	// Default DefaultTimeout.
	Timeout time.Duration
	// Client sends the requests. Default: a client on
	// http.DefaultTransport. Redirects are never followed (a 3xx answer
	// is a permanent error), whatever the client's CheckRedirect says.
	Client *http.Client
	// Channels lists the channels delivered; notifications on others are
	// ignored. Empty means every channel.
	Channels []resync.Channel
	// Clock stamps the requests. Default: the system clock.
	Clock resync.Clock
}

// String describes the configuration without its secret.
func (c Config) String() string {
	host := "?"
	if u, err := url.Parse(c.URL); err == nil {
		host = u.Host
	}
	return fmt.Sprintf("webhook.Config{host: %s, secret: REDACTED, timeout: %s, channels: %v}", host, c.Timeout, c.Channels)
}

// GoString describes the configuration without its secret, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue describes the configuration without its secret, for log/slog.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Notifier posts notifications to a webhook receiver. Create it with New.
// It is safe for concurrent use.
type Notifier struct {
	url      string
	host     string
	key      []byte
	timeout  time.Duration
	client   *http.Client
	channels []resync.Channel
	clock    resync.Clock
}

var _ resync.Notifier = (*Notifier)(nil)

// New checks cfg and returns a Notifier. A missing or malformed URL or a
// short or malformed secret is an error wrapping resync.ErrInvalidRequest.
func New(cfg Config) (*Notifier, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: webhook: URL must be an absolute http or https URL", resync.ErrInvalidRequest)
	}
	key, err := secretKey(cfg.Secret)
	if err != nil {
		return nil, err
	}
	client := &http.Client{}
	if cfg.Client != nil {
		c := *cfg.Client
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	return &Notifier{
		url: u.String(), host: u.Host, key: key, timeout: cfg.Timeout, client: client,
		channels: slices.Clone(cfg.Channels), clock: cfg.Clock,
	}, nil
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// secretKey decodes a signing secret.
func secretKey(secret string) ([]byte, error) {
	key := []byte(secret)
	if b64, ok := strings.CutPrefix(secret, "whsec_"); ok {
		var err error
		if key, err = base64.StdEncoding.DecodeString(b64); err != nil {
			return nil, fmt.Errorf("%w: webhook: secret: the part after \"whsec_\" is not valid base64", resync.ErrInvalidRequest)
		}
	}
	if len(key) < minSecret {
		return nil, fmt.Errorf("%w: webhook: secret must be at least %d bytes, got %d", resync.ErrInvalidRequest, minSecret, len(key))
	}
	return key, nil
}

// Notify posts n as a signed Payload, once. See the package doc for how
// failures are classified for the engine's retries.
func (w *Notifier) Notify(ctx context.Context, n resync.Notification) error {
	if len(w.channels) > 0 && !slices.Contains(w.channels, n.Channel) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := NewPayload(n)
	body, err := json.Marshal(p)
	if err != nil {
		return resync.Permanent(fmt.Errorf("webhook: encoding the payload: %w", err))
	}
	id := notify.SafeHeader(p.ID)
	ts := w.clock.Now().Unix()

	errTimeout := errors.New("timeout")
	rctx, cancel := context.WithTimeoutCause(ctx, w.timeout, errTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return resync.Permanent(fmt.Errorf("webhook: POST to %s: %v", w.host, redactURLError(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "resync-webhook/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, "v1,"+sign(w.key, id, ts, body))

	resp, err := w.client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("webhook: POST to %s: %w", w.host, ctx.Err())
		case context.Cause(rctx) == errTimeout:
			// Not wrapping context.DeadlineExceeded: the engine does
			// not retry context errors, and a slow receiver is worth
			// another try.
			return fmt.Errorf("webhook: POST to %s: no response within %s", w.host, w.timeout)
		}
		err = redactURLError(err)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			// A transport's own deadline (a dial timeout), not the
			// caller's context: keep the message, not the context error.
			return fmt.Errorf("webhook: POST to %s: %s", w.host, err.Error())
		}
		var cert *tls.CertificateVerificationError
		if errors.As(err, &cert) {
			return resync.Permanent(fmt.Errorf("webhook: POST to %s: %w", w.host, err))
		}
		return fmt.Errorf("webhook: POST to %s: %w", w.host, err)
	}
	defer resp.Body.Close()
	var errBody []byte
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		errBody, _ = io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	}
	// Drain a little so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return classify(resp, errBody, w.host, w.clock.Now())
}

// sign returns the base64 HMAC-SHA256 of "id.timestamp.body" under key.
func sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// StatusError is a receiver's answer other than 2xx. Notify returns it
// wrapped in resync.Permanent (4xx other than 408 and 429, and 3xx) or
// resync.RetryAfter (a Retry-After header), or as it is (408, 429 and 5xx
// without Retry-After: retried with the engine's backoff).
type StatusError struct {
	// Host is the receiver URL's host; the path and query are left out.
	Host       string
	StatusCode int
	// Body is the start of the response body (at most 256 bytes).
	Body string
}

// Error names the host, the status and the start of the body.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("webhook: POST to %s: %d %s", e.Host, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

func classify(resp *http.Response, body []byte, host string, now time.Time) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	// One line of valid UTF-8 (the body was cut at maxErrorBody bytes).
	b := notify.SafeHeader(strings.ToValidUTF8(string(body), ""))
	se := &StatusError{Host: host, StatusCode: code, Body: b}
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), resp.Header.Get("Date"), now); ok {
			return resync.RetryAfter(se, d)
		}
		return se
	}
	return resync.Permanent(se)
}

// maxRetryAfter caps a receiver's Retry-After.
const maxRetryAfter = 24 * time.Hour

// retryAfter parses a Retry-After value: delay seconds or an HTTP date,
// measured against the response's Date (the receiver's clock) when it
// has one.
func retryAfter(v, date string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return min(time.Duration(min(s, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d, err := http.ParseTime(date); err == nil {
		now = d
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}

// redactURLError drops the URL (which may hold a token) from a
// *url.Error, keeping its operation and cause.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Verify checks a request the Notifier sent, for receivers: the
// Webhook-Signature header must hold a valid "v1," signature by secret of
// the Webhook-Id and Webhook-Timestamp headers and body (see the package
// doc), and the timestamp must be within Tolerance of now. Pass the body
// exactly as received, before any JSON decoding. The error says what is
// wrong without repeating any signature.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	id, tsv, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsv == "" || sigs == "" {
		return errors.New("webhook: missing Webhook-Id, Webhook-Timestamp or Webhook-Signature header")
	}
	ts, err := strconv.ParseInt(tsv, 10, 64)
	if err != nil {
		return errors.New("webhook: malformed Webhook-Timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("webhook: timestamp %s is more than %s from now", time.Unix(ts, 0).UTC().Format(time.RFC3339), Tolerance)
	}
	want, _ := base64.StdEncoding.DecodeString(sign(key, id, ts, body))
	for s := range strings.FieldsSeq(sigs) {
		v, sig, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("webhook: no valid v1 signature")
}
