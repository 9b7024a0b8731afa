// This file turns Okta's error bodies into errors that say what Okta
// said, classified as the kit classified the HTTP status.

package okta

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// Error is an Okta error response
// (https://developer.okta.com/docs/reference/error-codes/): the HTTP
// status, and the errorCode, errorSummary and errorId of its body. It
// wraps the *connkit.HTTPError of the response (method, redacted URL,
// status, the start of the body). Errors the connector returns wrap it in
// resync.Permanent or resync.RetryAfter as the status calls for.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the body's errorCode: E0000011 (invalid token), E0000006
	// (no permission), E0000047 (rate limit), ...
	Code string
	// Summary is the body's errorSummary.
	Summary string
	// ID is the body's errorId, which Okta support can look up.
	ID string
	// HTTP is the response as the kit reported it.
	HTTP *connkit.HTTPError
}

// Error returns the request, the status, the code and the summary.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "okta: %s %s: %d", e.HTTP.Method, e.HTTP.URL, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Summary != "" {
		b.WriteString(": " + e.Summary)
	}
	if e.ID != "" {
		b.WriteString(" (errorId " + e.ID + ")")
	}
	return b.String()
}

// Unwrap returns the kit's HTTPError.
func (e *Error) Unwrap() error { return e.HTTP }

// wrapError replaces a kit HTTPError whose body is an Okta error with an
// *Error, keeping its classification. Other errors are returned as they
// are.
func wrapError(err error) error {
	var he *connkit.HTTPError
	if err == nil || !errors.As(err, &he) {
		return err
	}
	oe := parseError(he)
	if oe == nil {
		return err
	}
	if d, ok := resync.RetryDelay(err); ok {
		return resync.RetryAfter(oe, d)
	}
	if resync.IsPermanent(err) {
		return resync.Permanent(oe)
	}
	return oe
}

// parseError reads the Okta error at the start of he's body; nil if the
// body is not one. The body is already redacted by the kit.
func parseError(he *connkit.HTTPError) *Error {
	var body struct {
		ErrorCode    string `json:"errorCode"`
		ErrorSummary string `json:"errorSummary"`
		ErrorID      string `json:"errorId"`
	}
	if json.Unmarshal([]byte(he.Body), &body) != nil || (body.ErrorCode == "" && body.ErrorSummary == "") {
		return nil
	}
	return &Error{Status: he.StatusCode, Code: strings.TrimSpace(body.ErrorCode),
		Summary: strings.TrimSpace(body.ErrorSummary), ID: strings.TrimSpace(body.ErrorID), HTTP: he}
}
