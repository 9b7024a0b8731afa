// This file turns the errors of the Directory API client and of the OAuth
// token endpoint into errors the engine knows how to treat.

package google

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// throttleReasons are the error reasons Google gives to a request refused
// for its rate (https://developers.google.com/workspace/admin/directory/v1/limits):
// on a 403 they are throttling, not a refusal.
var throttleReasons = map[string]bool{
	"userRateLimitExceeded": true,
	"rateLimitExceeded":     true,
	"quotaExceeded":         true,
}

// Error is a failed Directory API request or token request: what was
// asked, the HTTP status and Google's reason and message. The errors the
// connector returns wrap it in resync.Permanent or resync.RetryAfter as
// the failure calls for. Access tokens are removed from the message.
type Error struct {
	// Op is the API method ("users.list", "groups.list", "members.list"),
	// or "token" for the OAuth token endpoint.
	Op string
	// Status is the HTTP status code.
	Status int
	// Reason is the reason of the first of Google's error items
	// ("userRateLimitExceeded", "forbidden", "notFound", ...), or the
	// token endpoint's error code ("invalid_grant", "unauthorized_client").
	Reason string
	// Message is Google's message, access tokens removed.
	Message string
}

// Error returns the method, the status, the reason and the message.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "google: %s: %d", e.Op, e.Status)
	if e.Reason != "" {
		b.WriteString(" " + e.Reason)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// classify turns an error of a call into the engine's classification:
//
//   - 429, and 403 with a rate-limit reason, are throttling: RetryAfter
//     with the Retry-After if the response has one, else the connector's
//     throttle wait;
//   - other 4xx (401 and 403 included), and token endpoint refusals, are
//     permanent;
//   - 5xx, 408, network errors and timeouts are returned as they are,
//     for the engine to retry;
//   - a done context returns its error.
func (c *connector) classify(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("google: %s: %w", op, ctxErr)
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		e := &Error{Op: op, Status: ge.Code, Message: c.tokens.scrub(ge.Message)}
		if len(ge.Errors) > 0 {
			e.Reason = ge.Errors[0].Reason
			if e.Message == "" {
				e.Message = c.tokens.scrub(ge.Errors[0].Message)
			}
		}
		if e.Message == "" {
			e.Message = c.tokens.scrub(truncate(strings.TrimSpace(ge.Body), 200))
		}
		return c.classifyStatus(e, ge.Header)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e := &Error{Op: "token", Reason: re.ErrorCode, Message: re.ErrorDescription}
		var h http.Header
		if re.Response != nil {
			e.Status, h = re.Response.StatusCode, re.Response.Header
		}
		if e.Reason == "" && e.Message == "" {
			e.Message = truncate(strings.TrimSpace(string(re.Body)), 200)
		}
		e.Message = c.tokens.scrub(e.Message)
		if e.Status == 0 || e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
			// invalid_grant (a revoked or wrong key, a subject that is
			// not an admin), unauthorized_client (no domain-wide
			// delegation for these scopes): asking again will not help.
			return resync.Permanent(e)
		}
		return c.classifyStatus(e, h)
	}
	// A transport error: retried by the engine. Its text is the URL and
	// the network's error, no credentials.
	return fmt.Errorf("google: %s: %s", op, c.tokens.scrub(err.Error()))
}

func (c *connector) classifyStatus(e *Error, h http.Header) error {
	retryAfter := connkit.ParseRateLimit(h, time.Now()).RetryAfter
	wait := func() time.Duration {
		if !retryAfter.IsZero() {
			return max(time.Until(retryAfter), 0)
		}
		return c.throttleWait
	}
	switch {
	case e.Status == http.StatusTooManyRequests,
		e.Status == http.StatusForbidden && throttleReasons[e.Reason]:
		return resync.RetryAfter(e, wait())
	case e.Status == http.StatusRequestTimeout || e.Status >= 500:
		if !retryAfter.IsZero() {
			return resync.RetryAfter(e, wait())
		}
		return e
	default:
		return resync.Permanent(e)
	}
}
