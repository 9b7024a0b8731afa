// This file turns SCIM error messages (RFC 7644 §3.12) into errors that
// say what the service provider said, classified as the kit classified
// the HTTP status.

package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// Error is a SCIM error response (RFC 7644 §3.12): the HTTP status, and
// the scimType and detail of its body when it had a SCIM Error message.
// It wraps the *connkit.HTTPError of the response (method, redacted URL,
// status, the start of the body). Errors the connector returns wrap it
// in resync.Permanent or resync.RetryAfter as the status calls for.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// ScimType is the body's scimType ("invalidFilter", "tooMany", ...),
	// if any.
	ScimType string
	// Detail is the body's human-readable detail, if any.
	Detail string
	// HTTP is the response as the kit reported it.
	HTTP *connkit.HTTPError
}

// Error returns the request, the status, the scimType and the detail.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scim: %s %s: %d", e.HTTP.Method, e.HTTP.URL, e.Status)
	if e.ScimType != "" {
		b.WriteString(" " + e.ScimType)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// Unwrap returns the kit's HTTPError.
func (e *Error) Unwrap() error { return e.HTTP }

// wrapError replaces a kit HTTPError whose body is a SCIM Error message
// with an *Error, keeping its classification (permanent, retry after a
// delay, or transient). Other errors are returned as they are.
func wrapError(err error) error {
	var he *connkit.HTTPError
	if !errors.As(err, &he) {
		return err
	}
	se := parseError(he)
	if se == nil {
		return err
	}
	if d, ok := resync.RetryDelay(err); ok {
		return resync.RetryAfter(se, d)
	}
	if resync.IsPermanent(err) {
		return resync.Permanent(se)
	}
	return se
}

// parseError reads the SCIM Error message at the start of he's body; nil
// if the body is not one. The body is already redacted by the kit.
func parseError(he *connkit.HTTPError) *Error {
	var body struct {
		Schemas  []string        `json:"schemas"`
		Status   json.RawMessage `json:"status"`
		ScimType string          `json:"scimType"`
		Detail   string          `json:"detail"`
	}
	if json.Unmarshal([]byte(he.Body), &body) != nil {
		return nil
	}
	isErr := false
	for _, s := range body.Schemas {
		isErr = isErr || strings.EqualFold(s, errorSchema)
	}
	if !isErr && body.ScimType == "" && body.Detail == "" {
		return nil
	}
	e := &Error{Status: he.StatusCode, ScimType: strings.TrimSpace(body.ScimType), Detail: strings.TrimSpace(body.Detail), HTTP: he}
	if e.Status == 0 {
		// status is a string in RFC 7644 §3.12; some providers send a number.
		if n, err := strconv.Atoi(strings.Trim(string(body.Status), `" `)); err == nil {
			e.Status = n
		}
	}
	return e
}
