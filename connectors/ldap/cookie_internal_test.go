package ldap

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
)

// TestUnknownCookieRestartsTheRead sends the server a cookie it never
// issued on the live connection, as when a server forgets a cookie (Active
// Directory expires idle ones; a server behind a load balancer may not
// know another's): the server refuses it, and the connector asks the
// engine to read again from the first page instead of retrying it.
func TestUnknownCookieRestartsTheRead(t *testing.T) {
	url, dn, pw, base := os.Getenv("RESYNC_LDAP_URL"), os.Getenv("RESYNC_LDAP_BIND_DN"), os.Getenv("RESYNC_LDAP_BIND_PASSWORD"), os.Getenv("RESYNC_LDAP_BASE_DN")
	if url == "" {
		if os.Getenv("RESYNC_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(`RESYNC_LDAP_URL is not set: start a server with eval "$(bash .ci/slapd.sh)" (RESYNC_REQUIRE_INTEGRATION=1 requires it)`)
		}
		t.Skip(`RESYNC_LDAP_URL is not set: start a server with eval "$(bash .ci/slapd.sh)" from the repository root`)
	}
	c, err := New(resync.Connection{ID: "x", Settings: map[string]string{"url": url, "bind_dn": dn, "bind_password": pw,
		"base_dn": base, "page_size": "2", "user_filter": "(objectClass=*)"}})
	require.NoError(t, err)
	defer c.Close()
	p, err := c.ReadPage(context.Background(), "")
	require.NoError(t, err)
	require.NotEmpty(t, p.Next)
	forged := cursor{phase: phaseUsers, page: 1, cookie: []byte("not-a-cookie-of-this-server")}.String()
	c.pending = forged
	_, err = c.ReadPage(context.Background(), forged)
	require.Error(t, err)
	t.Log(err)
	assert.Contains(t, err.Error(), "cursor cannot be resumed")
	assert.Contains(t, err.Error(), "no longer knows the paging cookie")
	assert.False(t, resync.IsPermanent(err))
}
