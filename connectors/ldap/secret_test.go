package ldap_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/ldap"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// The bind password may be a secret reference that Factory resolves
// through the engine's Config.Secrets: an unknown reference fails the read
// permanently, before any server is contacted, naming the setting and the
// reference.
func TestFactoryResolvesSecretReferences(t *testing.T) {
	ctx := t.Context()
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "dir", Tenant: "t1", Type: resync.IdP, Provider: "ldap", Settings: map[string]string{
		"url": "ldap://127.0.0.1:1", "base_dn": "dc=example,dc=com",
		"bind_dn": "cn=reader,dc=example,dc=com", "bind_password": "secret:vault/missing"}})
	asked := 0
	secrets := func(_ context.Context, ref string) (string, error) {
		asked++
		return "", fmt.Errorf("%w: %s", resync.ErrNotFound, ref)
	}
	e, err := resync.New(ctx, resync.Config{Store: memstore.New(), Connections: src, Authorizer: resynctest.AllowAll,
		Secrets: secrets, Connectors: map[string]resync.ConnectorFactory{"ldap": ldap.Factory}})
	require.NoError(t, err)
	defer func() { require.NoError(t, e.Close(context.Background())) }()
	r, err := e.ResyncPersonnel(ctx, "t1", resync.Principal{ID: "admin"})
	require.NoError(t, err)
	info, err := r.Wait(ctx)
	require.NoError(t, err)
	require.Len(t, info.Connections, 1)
	res := info.Connections[0]
	assert.Equal(t, resync.ConnFailed, res.Status)
	assert.Contains(t, res.Error, `setting "bind_password": secret reference "vault/missing" not found`)
	assert.True(t, resync.IsPermanent(r.Err()), "%v", r.Err())
	assert.Equal(t, 1, asked, "a permanent failure is not retried")
}
