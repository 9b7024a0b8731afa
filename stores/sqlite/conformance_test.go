package sqlite_test

import (
	"testing"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/stores/sqlite"
)

// TestConformance runs the Store conformance suite on a new file per check.
func TestConformance(t *testing.T) {
	resynctest.TestStore(t, func(t *testing.T) resync.Store {
		s, _ := open(t, sqlite.Config{})
		return s
	})
}
