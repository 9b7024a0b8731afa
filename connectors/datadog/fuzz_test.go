package datadog

import (
	"testing"

	"github.com/openresync/resync"
)

// FuzzDecodeUsers: any body either fails with ErrMalformed or decodes into
// users each of which becomes an Account keyed by its id, with a valid
// status, or a RecordError naming that id; never a panic.
func FuzzDecodeUsers(f *testing.F) {
	for _, s := range []string{
		`{"data":[],"meta":{"page":{"total_count":0}}}`,
		`{"data":[{"type":"users","id":"u1","attributes":{"email":"a@x","status":"Active","mfa_enabled":true},"relationships":{"roles":{"data":[{"type":"roles","id":"r1"}]}}}],"included":[{"type":"roles","id":"r1","attributes":{"name":"Admin"}}],"meta":{"page":{"total_count":1}}}`,
		`{"data":[{"type":"users","id":"u2","attributes":{"status":"Disabled","disabled":true,"created_at":"2025-01-01T00:00:00.5+00:00"}}]}`,
		`{"data":[{"type":"users","id":"u3","attributes":{"status":7}}]}`,
		`{"data":[{"type":"users","id":"u4","attributes":{"status":"Pending","created_at":"yesterday"}}],"meta":{"page":{"total_count":-1}}}`,
		`{"data":null}`,
		`{"errors":["Forbidden"]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		list, err := decodeUsers(body)
		if err != nil {
			return
		}
		if list.total < -1 {
			t.Fatalf("total %d", list.total)
		}
		for _, u := range list.users {
			rec, err := u.record(list.roles)
			if err != nil {
				re, ok := err.(*resync.RecordError)
				if !ok || re.Key != u.ID || re.Kind != resync.KindAccount {
					t.Fatalf("error %v is not a RecordError keyed %q", err, u.ID)
				}
				continue
			}
			a := rec.(*resync.Account)
			if a.Key == "" || a.Key != u.ID {
				t.Fatalf("key %q for id %q", a.Key, u.ID)
			}
			switch a.Status {
			case resync.StatusActive, resync.StatusDeprovisioned:
			default:
				t.Fatalf("status %q", a.Status)
			}
			if u.Attributes.Disabled && a.Status != resync.StatusDeprovisioned {
				t.Fatalf("a disabled user is %q", a.Status)
			}
		}
	})
}
