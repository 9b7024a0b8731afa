package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// A connection is made for each connector whose variables are all set;
// credentials become secret references, never values in the settings.
func TestConnectionsFromEnv(t *testing.T) {
	conns, missing := connectionsFromEnv("t", env(map[string]string{
		"KNOWBE4_API_TOKEN": "kb4-secret-value", "KNOWBE4_REGION": "eu",
		"ATLASSIAN_URL": "https://acme.atlassian.net", "ATLASSIAN_EMAIL": "ops@acme.example", // no token
	}))
	require.Len(t, conns, 1)
	c := conns[0]
	assert.Equal(t, "knowbe4", c.Provider)
	assert.Equal(t, resync.SecurityTraining, c.Type)
	assert.Equal(t, map[string]string{"token": "secret:env/KNOWBE4_API_TOKEN", "region": "eu"}, c.Settings)
	assert.Contains(t, missing, "atlassian  set ATLASSIAN_API_TOKEN")
	for _, s := range specs() {
		assert.NotNil(t, factories()[s.id], s.id)
		for _, secret := range s.secrets {
			assert.Contains(t, s.settings, secret, "%s: secret setting %q is read from a variable", s.id, secret)
		}
	}
}

// References resolve from the environment; an unset one is not found.
func TestEnvSecrets(t *testing.T) {
	t.Setenv("RESYNC_LIVE_TEST_SECRET", "s3cret")
	v, err := envSecrets(context.Background(), "env/RESYNC_LIVE_TEST_SECRET")
	require.NoError(t, err)
	assert.Equal(t, "s3cret", v)
	_, err = envSecrets(context.Background(), "env/RESYNC_LIVE_TEST_UNSET")
	assert.ErrorIs(t, err, resync.ErrNotFound)
	_, err = envSecrets(context.Background(), "vault/x")
	assert.ErrorIs(t, err, resync.ErrNotFound)
}

// Without any variable the program lists what to set, and fails.
func TestNothingConfigured(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), &out, t.TempDir()+"/db", false, 10, env(nil))
	require.Error(t, err)
	assert.Contains(t, out.String(), "KNOWBE4_API_TOKEN")
	assert.Contains(t, out.String(), "LDAP_URL")
}

// With -plan, the program prints each plan and reads nothing.
func TestPlanOnly(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), &out, t.TempDir()+"/db", true, 10, env(map[string]string{
		"ATLASSIAN_URL": "https://acme.atlassian.net", "ATLASSIAN_EMAIL": "ops@acme.example", "ATLASSIAN_API_TOKEN": "x",
		"KNOWBE4_API_TOKEN": "y",
	}))
	require.NoError(t, err)
	assert.Contains(t, out.String(), "plan: personnel")
	assert.Contains(t, out.String(), "resync  knowbe4")
	assert.Contains(t, out.String(), "plan: accounts types=access_review")
	assert.Contains(t, out.String(), "resync  atlassian")
}
