package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/stores/postgres"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		// The crash test's child is killed mid-apply: no leak check.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

// serverURL returns RESYNC_POSTGRES_URL, or skips the test (fails it when
// RESYNC_REQUIRE_INTEGRATION=1).
func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("RESYNC_POSTGRES_URL")
	if u == "" {
		msg := "RESYNC_POSTGRES_URL is not set: start a server with eval \"$(bash .ci/postgres.sh)\""
		if os.Getenv("RESYNC_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg + " (RESYNC_REQUIRE_INTEGRATION=1)")
		}
		t.Skip(msg)
	}
	return u
}

// freshDB creates a database with a random name on the test server and
// returns its URL; it is dropped when the test ends.
func freshDB(t testing.TB) string {
	t.Helper()
	base := serverURL(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	require.NoError(t, err, "connecting to RESYNC_POSTGRES_URL")
	defer admin.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "resync_test_" + hex.EncodeToString(b)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("dropping %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// openStore opens a store on a fresh database, closed when the test ends.
func openStore(t testing.TB, cfg postgres.Config) (*postgres.Store, string) {
	t.Helper()
	dbURL := freshDB(t)
	s, err := postgres.Open(context.Background(), dbURL, cfg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s, dbURL
}

func TestConformance(t *testing.T) {
	serverURL(t)
	// Apply has three write paths: COPY into a fresh connection, arrays
	// for small change sets and a COPY-staged temporary table for large
	// ones. Run the suite with each of the last two forced.
	for _, tc := range []struct {
		name    string
		cfg     postgres.Config
		copyMin int
	}{
		{"arrays", postgres.Config{}, 1 << 30},
		{"staged", postgres.Config{Schema: "resync staged"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resynctest.TestStore(t, func(t *testing.T) resync.Store {
				s, _ := openStore(t, tc.cfg)
				s.SetCopyMin(tc.copyMin)
				return s
			})
		})
	}
}
