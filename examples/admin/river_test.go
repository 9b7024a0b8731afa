package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/examples/internal/sampleorg"
)

// pgDatabase creates a database on the server of RESYNC_POSTGRES_URL,
// dropped when the test ends, and returns its URL.
func pgDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("RESYNC_POSTGRES_URL")
	if base == "" {
		msg := "RESYNC_POSTGRES_URL is not set: start a server with eval \"$(bash .ci/postgres.sh)\""
		if os.Getenv("RESYNC_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg + " (RESYNC_REQUIRE_INTEGRATION=1)")
		}
		t.Skip(msg)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer admin.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "resync_admin_" + hex.EncodeToString(b)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// On PostgreSQL the example's reads are River jobs, and River UI, at
// /riverui/, lists them; the admin page is still served at /.
func TestRiverUI(t *testing.T) {
	a, err := openApp(t.Context(), io.Discard, t.TempDir(), "", pgDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.close()) })
	srv := httptest.NewServer(a.handler)
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()

	r, err := a.engine.ResyncPersonnel(t.Context(), sampleorg.Tenant, sampleorg.Admin)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	info, err := r.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, resync.RunSucceeded, info.Status)
	require.Equal(t, executorOwner, info.Owner, "the run carried out on River")

	get := func(path string) (int, string) {
		res, err := srv.Client().Get(srv.URL + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(b)
	}
	code, body := get("/riverui/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "<html")
	// River marks a job completed shortly after its read returns.
	require.Eventually(t, func() bool {
		code, body = get("/riverui/api/jobs?state=completed")
		return code == http.StatusOK && strings.Count(body, `"kind":"resync_read"`) == len(info.Connections)
	}, 10*time.Second, 50*time.Millisecond, "River UI lists the run's %d read jobs completed: %s", len(info.Connections), body)
	code, _ = get("/")
	require.Equal(t, http.StatusOK, code, "the admin page")
}

// executorOwner is the Owner of the runs an Executor carries out.
const executorOwner = "executor"
