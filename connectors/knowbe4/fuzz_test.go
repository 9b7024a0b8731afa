package knowbe4_test

import (
	"strings"
	"testing"

	"github.com/openresync/resync"
)

// Any cursor, the connector's own or not, gives a page, a permanent error
// (not one this connector made) or a restart (state of the read lost):
// never a panic, never a retryable error.
func FuzzCursor(f *testing.F) {
	for _, c := range []string{"", "e:1", "a:2", "x:1", "g:1", "g:0", "a:-1", "q:1", "a", ":", "a:1:2", "e:99999999999999999999"} {
		f.Add(c)
	}
	s := newKB4(f)
	populate(s, 3)
	f.Fuzz(func(t *testing.T, cursor string) {
		_, err := connect(t, s, "page_size", "2").ReadPage(t.Context(), cursor)
		if err != nil && !resync.IsPermanent(err) && !strings.HasPrefix(err.Error(), "cursor cannot be resumed") {
			t.Fatalf("cursor %q: %v is neither permanent nor a restart", cursor, err)
		}
	})
}
