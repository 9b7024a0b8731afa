package sqlite_test

import (
	"testing"

	"github.com/openresync/resync"
	"github.com/openresync/resync/internal/linkscene"
	"github.com/openresync/resync/stores/sqlite"
)

// The offboarding scene on SQLite: Jane deprovisioned at the IdP while
// still active in AWS opens a gap; the AWS resync that no longer sees
// her account closes it; an admin's decision and the findings survive a
// reopen of the file.
func TestLinkingOffboardingScene(t *testing.T) {
	var path string
	linkscene.Offboarding(t, func(clock resync.Clock) resync.Store {
		if path == "" {
			s, p := open(t, sqlite.Config{Clock: clock})
			path = p
			return s
		}
		return reopen(t, path, sqlite.Config{Clock: clock})
	})
}
