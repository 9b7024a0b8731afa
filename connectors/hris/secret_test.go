package hris_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/hris"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// syncBuffer is a log sink safe for the engine's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretReferences: a token given as a secret reference is resolved
// through Config.Secrets and sent; an unknown reference fails the
// connection permanently, naming the setting and the reference; the
// secret never reaches an error or a log, even when the server rejects it
// and echoes it back.
func TestSecretReferences(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const secret = "tok-vault-5e1a9c"
	var echo sync.Map
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+secret {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if _, ok := echo.Load("on"); ok {
			w.WriteHeader(http.StatusForbidden)
			_, _ = fmt.Fprintf(w, `{"error":"token %s lacks scope"}`, secret)
			return
		}
		_, _ = w.Write([]byte("employee_id,email,name\nE1,a@x.example,Ada\n"))
	})
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var resolved []string
	var mu sync.Mutex
	src := resynctest.NewSource()
	conn := resync.Connection{ID: "hr", Tenant: "t1", Type: resync.HRIS, Provider: "bamboohr",
		Settings: map[string]string{"url": srv.URL + "/export.csv", "token": "secret:vault/hr-token"}}
	src.Add(conn)
	e, err := resync.New(ctx, resync.Config{Store: memstore.New(), Connections: src, Authorizer: resynctest.AllowAll,
		Logger: logger, MinReadInterval: -1,
		Secrets: func(_ context.Context, ref string) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			resolved = append(resolved, ref)
			if ref == "vault/hr-token" {
				return secret, nil
			}
			return "", fmt.Errorf("vault: no key %q: %w", ref, resync.ErrNotFound)
		},
		Connectors: map[string]resync.ConnectorFactory{
			"bamboohr": hris.NewFactory(hris.Config{Clock: resynctest.NewClock(today), HTTPClient: srv.Client(), Logger: logger}),
		}})
	require.NoError(t, err)
	defer func() { require.NoError(t, e.Close(context.Background())) }()
	resync1 := func() resync.ConnectionResult {
		t.Helper()
		run, err := e.ResyncPersonnel(ctx, "t1", resync.Principal{ID: "admin"})
		require.NoError(t, err)
		info, err := run.Wait(ctx)
		require.NoError(t, err)
		require.Len(t, info.Connections, 1)
		return info.Connections[0]
	}

	res := resync1()
	assert.Equal(t, resync.ConnSucceeded, res.Status, res.Error)
	assert.Equal(t, 1, res.Added)
	assert.Equal(t, []string{"vault/hr-token"}, resolved)

	echo.Store("on", true)
	res = resync1()
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.NotContains(t, res.Error, secret)

	conn.Settings = map[string]string{"url": srv.URL + "/export.csv", "token": "secret:vault/missing"}
	src.Remove("t1")
	src.Add(conn)
	before := n.Load()
	res = resync1()
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.Contains(t, res.Error, `setting "token": secret reference "vault/missing" not found`)
	assert.Equal(t, before, n.Load(), "no request without the credential")
	mu.Lock()
	assert.Equal(t, []string{"vault/hr-token", "vault/hr-token", "vault/missing"}, resolved, "an unknown reference is not retried")
	mu.Unlock()

	assert.NotEmpty(t, logs.String())
	assert.NotContains(t, logs.String(), secret)
}

// TestSecretWithoutResolver: outside an engine with Config.Secrets, a
// reference is a permanent error naming the setting; a plain value is
// returned as written.
func TestSecretWithoutResolver(t *testing.T) {
	t.Parallel()
	_, err := hris.Factory(t.Context(), resync.Connection{ID: "hr", Settings: map[string]string{
		"url": "https://hr.example/x.csv", "password": "secret:hr/pw", "username": "svc"}})
	require.Error(t, err)
	assert.True(t, resync.IsPermanent(err))
	assert.Contains(t, err.Error(), `setting "password": secret reference "hr/pw"`)
	v, err := resync.Secret(t.Context(), resync.Connection{Settings: map[string]string{"token": "plain"}}, "token")
	require.NoError(t, err)
	assert.Equal(t, "plain", v)
}
