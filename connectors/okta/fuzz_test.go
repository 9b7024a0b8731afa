package okta

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
	for _, s := range []string{"", "p=u", "p=g", "p=u&u=https%3A%2F%2Facme.okta.com%2Fapi%2Fv1%2Fusers%3Fafter%3D00u1",
		"i=3&m=https%3A%2F%2Fx%2Fapi%2Fv1%2Fgroups%2F00g%2Fusers%3Fafter%3D00u9&p=g&u=", "p=x", "i=-1&p=g", "%zz", "o=3&p=u"} {
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
		if c.phase != "u" && c.phase != "g" {
			t.Fatalf("parseCursor(%q): phase %q", s, c.phase)
		}
		back, err := parseCursor(c.String())
		if err != nil || back != c {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, c, c.String(), back, err)
		}
	})
}

// FuzzUser: any JSON element of a users page becomes a valid record, a
// RecordError naming it, or a decode error; never a panic or an invalid
// record.
func FuzzUser(f *testing.F) {
	f.Add(`{"id":"00ub0oNGTSWTBKOLGLNR","status":"STAGED","created":"2013-07-02T21:36:25.344Z","lastLogin":null,
		"profile":{"firstName":"Isaac","lastName":"Brock","email":"isaac.brock@example.com","login":"isaac.brock@example.com"}}`)
	f.Add(`{"id":"00u1","status":"ACTIVE","lastLogin":"2026-11-30T09:12:00.000Z","type":{"id":"oty1"},"profile":{"managerId":"00u2"}}`)
	f.Add(`{"id":"00u1","status":"NEW"}`)
	f.Add(`{"id":7}`)
	f.Add(`{"status":"ACTIVE"}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, raw string) {
		c := &connector{readMFA: true, mfa: map[string]resync.MFAState{}}
		u, err := decodeUser(json.RawMessage(raw))
		if err != nil {
			return
		}
		rec, err := c.identity(u)
		if err != nil {
			var re *resync.RecordError
			if re, _ = err.(*resync.RecordError); re == nil || re.Key != u.ID {
				t.Fatalf("identity(%s) error %v is not a RecordError keyed by the id", raw, err)
			}
			return
		}
		if rec.Key != u.ID {
			t.Fatalf("key %q, id %q", rec.Key, u.ID)
		}
		if !utf8.ValidString(raw) {
			return // the engine rejects what is not UTF-8
		}
		if err := resync.ValidateRecord(rec, resync.Limits{}); err != nil && len(raw) < 2000 {
			t.Fatalf("identity(%s) = %+v: %v", raw, rec, err)
		}
	})
}

// FuzzError: parseError reads Okta's error body or gives nil.
func FuzzError(f *testing.F) {
	f.Add(`{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorLink":"E0000011","errorId":"oaeX","errorCauses":[]}`)
	f.Add(`{"errorCode":7}`)
	f.Add(`<html>`)
	f.Fuzz(func(t *testing.T, body string) {
		he := &connkit.HTTPError{Method: "GET", URL: "https://acme.okta.com/api/v1/users", StatusCode: 401, Body: body}
		if e := parseError(he); e != nil {
			if e.Code == "" && e.Summary == "" {
				t.Fatalf("parseError(%q) = %+v with neither code nor summary", body, e)
			}
			_ = e.Error()
		}
	})
}
