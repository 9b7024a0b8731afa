package entra

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// FuzzCursor: a cursor string either fails to parse with errBadCursor or
// parses to a cursor whose string form parses back to the same cursor.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"p=m", "p=u&s=0", "f=0&p=d", "p=g", "i=2&m=https%3A%2F%2Fgraph.microsoft.com%2Fv1.0%2Fgroups%2Fx%2FtransitiveMembers%3F%24skiptoken%3Dab&p=g",
		"p=u&u=https%3A%2F%2Fgraph.microsoft.com%2Fv1.0%2Fusers%3F%24skiptoken%3DX", "p=x", "i=1&p=u", "s=1&p=u", "%zz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			if err != errBadCursor {
				t.Fatalf("parseCursor(%q) = %v, want errBadCursor", s, err)
			}
			return
		}
		back, err := parseCursor(c.String())
		if err != nil || back != c {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, c, c.String(), back, err)
		}
	})
}

// FuzzUser: any element of a users page decodes to a user whose identity
// is keyed by its id and valid, or fails to decode; never a panic.
func FuzzUser(f *testing.F) {
	f.Add(`{"id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd","accountEnabled":true,"displayName":"Adele Vance","mail":"AdeleV@contoso.com",
		"signInActivity":{"lastSignInDateTime":"2026-11-30T09:12:00Z","lastNonInteractiveSignInDateTime":null}}`)
	f.Add(`{"id":"x","accountEnabled":false,"userPrincipalName":"a_b.com#EXT#@contoso.onmicrosoft.com","deletedDateTime":"2026-11-20T08:00:00Z"}`)
	f.Add(`{"id":5}`)
	f.Add(`{"displayName":"no id"}`)
	f.Fuzz(func(t *testing.T, raw string) {
		c := &connector{mfa: map[string]mfaState{"x": {registered: true}}}
		u, err := decodeUser(json.RawMessage(raw))
		if err != nil {
			return
		}
		for _, deleted := range []bool{false, true} {
			id := c.identity(u, deleted, false)
			if id.Key != u.ID {
				t.Fatalf("key %q, id %q", id.Key, u.ID)
			}
			if deleted && id.Status != resync.StatusDeprovisioned {
				t.Fatalf("a deleted user is %s", id.Status)
			}
			if utf8.ValidString(raw) && len(raw) < 2000 {
				if err := resync.ValidateRecord(id, resync.Limits{}); err != nil {
					t.Fatalf("identity(%s) = %+v: %v", raw, id, err)
				}
			}
		}
	})
}

// FuzzError: parseError reads Graph's or the token endpoint's error body,
// or gives nil.
func FuzzError(f *testing.F) {
	f.Add(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"request-id":"b3c8"}}}`)
	f.Add(`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
	f.Add(`{"error":7}`)
	f.Add(`<html>`)
	f.Fuzz(func(t *testing.T, body string) {
		he := &connkit.HTTPError{Method: "GET", URL: "https://graph.microsoft.com/v1.0/users", StatusCode: 403, Body: body}
		if e := parseError(he); e != nil {
			if e.Code == "" && e.Message == "" {
				t.Fatalf("parseError(%q) = %+v with neither code nor message", body, e)
			}
			_ = e.Error()
		}
	})
}
