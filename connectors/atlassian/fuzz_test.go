package atlassian_test

import (
	"strings"
	"testing"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/atlassian"
)

// Any cursor, the connector's own or not, gives a page, a permanent error
// (not one this connector made) or a restart (state of the read lost):
// never a panic, never a retryable error.
func FuzzCursor(f *testing.F) {
	for _, c := range []string{"", "r", "g:0", "g:50", "m:0:0", "m:3:50", "u:0", "u:1000", "m:-1:0", "m:0", "x:1", "r:1", "u:a", ":"} {
		f.Add(c)
	}
	s := newSite(f)
	populate(s, 3)
	f.Fuzz(func(t *testing.T, cursor string) {
		c, err := atlassian.New(resync.Connection{ID: "jira", Settings: map[string]string{"url": s.URL, "email": s.email, "api_token": s.apiToken}},
			atlassian.Config{HTTPClient: s.Client()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ReadPage(t.Context(), cursor)
		if err != nil && !resync.IsPermanent(err) && !strings.HasPrefix(err.Error(), "cursor cannot be resumed") {
			t.Fatalf("cursor %q: %v is neither permanent nor a restart", cursor, err)
		}
	})
}
