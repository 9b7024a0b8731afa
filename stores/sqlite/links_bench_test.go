package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync/internal/linkscene"
	"github.com/openresync/resync/stores/sqlite"
)

// BenchmarkLinkingScale is linkscene.Scale, which says what it measures,
// on a SQLite file of its own: 500,000 accounts correlated to
// 50,000 people. Run it with -benchtime=1x; it is outside CI.
func BenchmarkLinkingScale(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "resync.db"), sqlite.Config{})
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	linkscene.Scale(b, s)
}
