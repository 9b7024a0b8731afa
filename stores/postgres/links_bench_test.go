package postgres_test

import (
	"testing"

	"github.com/openresync/resync/internal/linkscene"
	"github.com/openresync/resync/stores/postgres"
)

// BenchmarkLinkingScale is linkscene.Scale, which says what it measures,
// on a PostgreSQL database of its own: 500,000 accounts correlated to
// 50,000 people. Run it with -benchtime=1x; it is outside CI.
func BenchmarkLinkingScale(b *testing.B) {
	s, _ := openStore(b, postgres.Config{})
	linkscene.Scale(b, s)
}
