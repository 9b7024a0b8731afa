package postgres

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
)

// Runs written by releases whose scope kinds and connection types were
// numbers read back as the same names; runs written now round-trip.
func TestDecodeRunReadsEarlierNumbers(t *testing.T) {
	legacy := []byte(`{"ID":"r1","Tenant":"acme","Scope":{"Kind":2,"Types":[3]},"Connections":[{"ID":"aws-1","Type":3},{"ID":"gh","Type":4}]}`)
	r, err := decodeRun(legacy)
	require.NoError(t, err)
	assert.Equal(t, resync.ScopeAccounts, r.Scope.Kind)
	assert.Equal(t, []resync.ConnectionType{resync.Infrastructure}, r.Scope.Types)
	require.Len(t, r.Connections, 2)
	assert.Equal(t, resync.Infrastructure, r.Connections[0].Type)
	assert.Equal(t, resync.VersionControl, r.Connections[1].Type)

	b, err := encodeRun(r)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"Kind":"accounts"`)
	back, err := decodeRun(b)
	require.NoError(t, err)
	assert.Equal(t, r, back)

	_, err = decodeRun([]byte(`{"ID":"r2","Scope":{"Kind":9}}`))
	assert.ErrorContains(t, err, "stored value 9 is unknown")
}
