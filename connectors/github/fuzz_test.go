package github

import (
	"strings"
	"testing"
)

// FuzzCursor: any string either parses into a cursor that prints back as
// itself, or is refused with errCursor; nothing panics.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", "2fa:1", "admins:3", "members:19", "c2fa:1", "collabs:2", "teams:1",
		"tm:1:0:1", "tm:2:99:7", "members:0", "members:01", "tm:1:-1:1", "x:1", "members:1:2", ":", "tm:::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			if !strings.Contains(err.Error(), errCursor.Error()) {
				t.Fatalf("parseCursor(%q): %v does not wrap errCursor", s, err)
			}
			return
		}
		if got := c.String(); got != s {
			t.Fatalf("parseCursor(%q).String() = %q", s, got)
		}
	})
}

// FuzzPrivateKey: the private key parser never panics and never quotes
// its input in an error.
func FuzzPrivateKey(f *testing.F) {
	f.Add("-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----\n")
	f.Add("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	f.Add("not a key secretvalue")
	f.Fuzz(func(t *testing.T, s string) {
		_, err := parsePrivateKey(s)
		if err != nil && len(s) > 12 && strings.Contains(err.Error(), s) {
			t.Fatalf("error quotes the key: %v", err)
		}
	})
}
