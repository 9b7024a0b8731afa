package resync_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

// Two tenants each have a connection named "okta" with their own people;
// resynced at the same time, each tenant's snapshot holds its own people
// and nothing of the other's.
func TestTwoTenantsSameConnectionID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		acme := h.conn("t1", "okta", resync.IdP, "okta", resynctest.Identities("acme-", 30), 10)
		globex := h.conn("t2", "okta", resync.IdP, "okta", resynctest.Identities("globex-", 20), 10)
		acme.SetLatency(time.Second)
		globex.SetLatency(time.Second)

		var wg sync.WaitGroup
		infos := map[string]resync.RunInfo{}
		var mu sync.Mutex
		for tenant, admin := range map[string]resync.Principal{"t1": alice, "t2": dave} {
			wg.Go(func() {
				r, err := h.engine.ResyncPersonnel(context.Background(), tenant, admin)
				if !assert.NoError(t, err) {
					return
				}
				info, err := r.Wait(context.Background())
				assert.NoError(t, err)
				mu.Lock()
				infos[tenant] = info
				mu.Unlock()
			})
		}
		wg.Wait()

		for tenant, want := range map[string]struct {
			prefix string
			n      int
		}{"t1": {"acme-", 30}, "t2": {"globex-", 20}} {
			require.Equal(t, resync.RunSucceeded, infos[tenant].Status, "tenant %s: %v", tenant, infos[tenant].Err())
			assert.Equal(t, want.n, result(t, infos[tenant], "okta").Added, "tenant %s", tenant)
			live := h.live(tenant, "okta")
			assert.Len(t, live, want.n, "tenant %s", tenant)
			for key := range live {
				assert.Regexp(t, "^"+want.prefix, key, "tenant %s holds another tenant's record", tenant)
			}
		}
		assert.Equal(t, 1, acme.Reads())
		assert.Equal(t, 1, globex.Reads())
	})
}
