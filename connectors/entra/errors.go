// This file turns Microsoft Graph's and the token endpoint's error bodies
// into errors that say what they said, classified as the kit classified
// the HTTP status.

package entra

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// ErrMalformed is wrapped by the error for an answer that is not the JSON
// the API documents.
var ErrMalformed = errors.New("malformed response")

// Error is an error response of Microsoft Graph
// (https://learn.microsoft.com/en-us/graph/errors: {"error": {"code",
// "message", "innerError": {"request-id", "date"}}}) or of the token
// endpoint (RFC 6749 §5.2: {"error", "error_description"}). It wraps the
// *connkit.HTTPError of the response (method, redacted URL, status, the
// start of the body). Errors the connector returns wrap it in
// resync.Permanent or resync.RetryAfter as the status calls for.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is Graph's error code (Authorization_RequestDenied,
	// Authentication_RequestFromNonPremiumTenantOrB2CTenant,
	// TooManyRequests, ...) or the token endpoint's error
	// (invalid_client, ...).
	Code string
	// Message is Graph's message or the token endpoint's
	// error_description (AADSTS7000215: ...).
	Message string
	// RequestID is Graph's innerError request-id, for Microsoft support.
	RequestID string
	// HTTP is the response as the kit reported it.
	HTTP *connkit.HTTPError
}

// Error returns the request, the status, the code and the message.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "entra: %s %s: %d", e.HTTP.Method, e.HTTP.URL, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request-id " + e.RequestID + ")")
	}
	return b.String()
}

// Unwrap returns the kit's HTTPError.
func (e *Error) Unwrap() error { return e.HTTP }

// licenceCode is Graph's error code when a feature needs a Microsoft
// Entra ID P1 or P2 licence the tenant lacks (signInActivity, the
// authentication methods reports).
const licenceCode = "Authentication_RequestFromNonPremiumTenantOrB2CTenant"

// isLicence reports whether err is Graph's refusal for a missing licence.
func isLicence(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == 403 && strings.EqualFold(e.Code, licenceCode)
}

// isNotFound reports whether err is a 404.
func isNotFound(err error) bool {
	var he *connkit.HTTPError
	return errors.As(err, &he) && he.StatusCode == 404
}

// wrapError replaces a kit HTTPError whose body is a Graph or OAuth error
// with an *Error, keeping its classification. Other errors are returned
// as they are.
func wrapError(err error) error {
	var he *connkit.HTTPError
	if err == nil || !errors.As(err, &he) {
		return err
	}
	ge := parseError(he)
	if ge == nil {
		return err
	}
	if d, ok := resync.RetryDelay(err); ok {
		return resync.RetryAfter(ge, d)
	}
	if resync.IsPermanent(err) {
		return resync.Permanent(ge)
	}
	return ge
}

// parseError reads the error body at the start of he's body; nil if it
// is neither shape. The body is already redacted by the kit.
func parseError(he *connkit.HTTPError) *Error {
	var body struct {
		Error json.RawMessage `json:"error"`
		Desc  string          `json:"error_description"`
	}
	if json.Unmarshal([]byte(he.Body), &body) != nil || len(body.Error) == 0 {
		return nil
	}
	e := &Error{Status: he.StatusCode, HTTP: he}
	var code string
	if json.Unmarshal(body.Error, &code) == nil { // the token endpoint's
		e.Code, e.Message = strings.TrimSpace(code), strings.TrimSpace(body.Desc)
	} else {
		var g struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				RequestID string `json:"request-id"`
			} `json:"innerError"`
		}
		if json.Unmarshal(body.Error, &g) != nil {
			return nil
		}
		e.Code, e.Message, e.RequestID = strings.TrimSpace(g.Code), strings.TrimSpace(g.Message), strings.TrimSpace(g.InnerError.RequestID)
	}
	if e.Code == "" && e.Message == "" {
		return nil
	}
	return e
}
