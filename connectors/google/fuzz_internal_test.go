package google

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/openresync/resync"
)

// FuzzCursor: any string either fails to parse, or parses to a state
// whose encoding parses back to the same state.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", "u", "g", "u?t=abc", "g?t=x%2By", "m?g=&i=0", "m?g=tok&i=3&t=p2", "m?i=-1", "x?t=1", "m?g=a&i=9999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := parseCursor(s)
		if err != nil {
			return
		}
		again, err := parseCursor(st.String())
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose encoding %q does not parse: %v", s, st, st.String(), err)
		}
		if again != st {
			t.Fatalf("%q: %+v then %+v", s, st, again)
		}
	})
}

// FuzzUserRecord: any users.list item the client library decodes becomes
// a record that validates, or a RecordError; never a panic.
func FuzzUserRecord(f *testing.F) {
	for _, s := range []string{
		`{"id":"1","primaryEmail":"a@example.com","suspended":true}`,
		`{"id":"2","archived":true,"lastLoginTime":"1970-01-01T00:00:00.000Z","organizations":[{"title":"T","primary":true}]}`,
		`{"id":"3","organizations":"x","externalIds":[{"type":"organization","value":"E1"}],"relations":[{"type":"manager","value":"m@x"}]}`,
		`{"id":"4","lastLoginTime":"yesterday"}`,
		`{"primaryEmail":"noid@example.com"}`,
		`{"id":"5","externalIds":{"a":1},"relations":[1,2]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var u admin.User
		if json.Unmarshal([]byte(body), &u) != nil {
			return
		}
		for _, identities := range []bool{true, false} {
			c := &connector{identities: identities}
			rec, err := c.userRecord(&u)
			if err != nil {
				var re *resync.RecordError
				if !asRecordError(err, &re) || re.Key != u.Id {
					t.Fatalf("error %v is not a RecordError keyed %q", err, u.Id)
				}
				continue
			}
			var key string
			var status resync.LifecycleStatus
			var mfa resync.MFAState
			switch r := rec.(type) {
			case *resync.Identity:
				key, status, mfa = r.Key, r.Status, r.MFA
			case *resync.Account:
				key, status, mfa = r.Key, r.Status, r.MFA
			default:
				t.Fatalf("a user became %T", rec)
			}
			if key != u.Id || key == "" {
				t.Fatalf("key %q for id %q", key, u.Id)
			}
			if _, want := userState(&u); status != want {
				t.Fatalf("status %q, want %q", status, want)
			}
			if (mfa == resync.MFAEnabled) != u.IsEnrolledIn2Sv {
				t.Fatalf("MFA %q with isEnrolledIn2Sv %v", mfa, u.IsEnrolledIn2Sv)
			}
			if utf8.ValidString(body) && len(body) < 2000 {
				if err := resync.ValidateRecord(rec, resync.Limits{}); err != nil {
					t.Fatalf("a record of a short valid body fails validation: %v", err)
				}
			}
		}
	})
}

func asRecordError(err error, target **resync.RecordError) bool {
	re, ok := err.(*resync.RecordError)
	if ok {
		*target = re
	}
	return ok
}
