package resync_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// accountsWithLogins returns n accounts that last logged in at t.
func accountsWithLogins(n int, t time.Time) []resync.Record {
	out := make([]resync.Record, n)
	for i := range out {
		key := "acct" + string(rune('a'+i))
		out[i] = &resync.Account{Key: key, Username: key, Status: resync.StatusActive, Roles: []string{"dev"},
			LastLogin: t, LastUsed: map[string]time.Time{"AKIA" + key: t}}
	}
	return out
}

// A read where only last-login and last-use times moved reports no
// update and writes no change-log entry, but the store shows the new times.
func TestVolatileOnlyChangeIsRefreshedNotUpdated(t *testing.T) {
	h := newHarness(t, nil)
	day1 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	c := h.conn("t1", "aws1", resync.Infrastructure, "aws", accountsWithLogins(5, day1), 2)
	first := result(t, h.personnel(alice), "aws1")
	require.Equal(t, resync.ConnSucceeded, first.Status, first.Error)
	require.Equal(t, 5, first.Added)
	before := h.live("t1", "aws1")
	logBefore := len(h.changes("t1"))

	day2 := day1.Add(24 * time.Hour)
	next := accountsWithLogins(5, day2)
	c.SetRecords(next, 2)
	info := h.personnel(bob)
	r := result(t, info, "aws1")
	require.Equal(t, resync.ConnSucceeded, r.Status, r.Error)
	assert.Equal(t, []int{0, 0, 0, 5}, []int{r.Added, r.Updated, r.Removed, r.Unchanged}, "added, updated, removed, unchanged")
	assert.Len(t, h.changes("t1"), logBefore, "a refresh writes no change-log entry")

	after := h.live("t1", "aws1")
	for key, rec := range after {
		a := rec.Record.(*resync.Account)
		assert.True(t, a.LastLogin.Equal(day2), "%s: stored LastLogin %v, want the new %v", key, a.LastLogin, day2)
		assert.True(t, a.LastUsed["AKIA"+key].Equal(day2), "%s: stored LastUsed %v", key, a.LastUsed)
		assert.Equal(t, resync.VolatileDigest(a), rec.Volatile)
		assert.Equal(t, before[key].Fingerprint, rec.Fingerprint, "%s: the content fingerprint stays", key)
		assert.Equal(t, before[key].UpdatedBy, rec.UpdatedBy, "%s: a refresh is not an update", key)
	}

	// A real change beside a volatile one is an update, logged once.
	next = accountsWithLogins(5, day2.Add(time.Hour))
	next[0].(*resync.Account).Roles = []string{"admin"}
	c.SetRecords(next, 2)
	r = result(t, h.personnel(alice), "aws1")
	assert.Equal(t, []int{0, 1, 0, 4}, []int{r.Added, r.Updated, r.Removed, r.Unchanged})
	assert.Len(t, h.changes("t1"), logBefore+1)

	// Nothing moved: nothing applied at all.
	v := h.snapshotVersion("t1", "aws1")
	r = result(t, h.personnel(alice), "aws1")
	assert.Equal(t, []int{0, 0, 0, 5}, []int{r.Added, r.Updated, r.Removed, r.Unchanged})
	assert.Equal(t, v, h.snapshotVersion("t1", "aws1"), "an unchanged read applies no change set")
}

func (h *harness) snapshotVersion(tenant, conn string) int64 {
	h.t.Helper()
	v, err := h.store.Snapshot(context.Background(), tenant, conn, func(resync.RecordKind, string, uint64, uint64) error { return nil })
	require.NoError(h.t, err)
	return v
}

// When the fingerprint's definition changes in a release, the stored
// fingerprints of the older version are recomputed from the stored
// records: only records whose content changed are reported, and the
// stored fingerprints are rewritten in the current version without
// change-log entries. Simulated by rewriting the stored fingerprints to
// version 0 (and the volatile digests to 0, as a store migrated from the
// release before volatile digests has them).
func TestFingerprintVersionChangeIsNotAnUpdate(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	day1 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	recs := accountsWithLogins(6, day1)
	c := h.conn("t1", "aws1", resync.Infrastructure, "aws", recs, 4)
	require.Equal(t, 6, result(t, h.personnel(alice), "aws1").Added)

	stored := h.live("t1", "aws1")
	old := &resync.ChangeSet{ID: "older-release", Tenant: "t1", ConnectionID: "aws1", RunID: "older-release",
		BaseVersion: h.snapshotVersion("t1", "aws1")}
	for _, r := range stored {
		old.Changes = append(old.Changes, resync.Change{Op: resync.OpRefresh, Kind: r.Kind, Key: r.Key, Record: r.Record,
			Fingerprint: r.Fingerprint&(1<<56-1) ^ 0x5a5a, PrevFingerprint: r.Fingerprint})
	}
	require.NoError(t, h.store.Apply(ctx, old))
	for _, r := range h.live("t1", "aws1") {
		require.Equal(t, 0, resync.FingerprintVersionOf(r.Fingerprint))
	}
	logBefore := len(h.changes("t1"))

	next := accountsWithLogins(6, day1)
	next[2].(*resync.Account).Roles = []string{"admin"} // one real change
	next[3].(*resync.Account).LastLogin = day1.Add(time.Hour)
	c.SetRecords(next, 4)
	r := result(t, h.personnel(bob), "aws1")
	require.Equal(t, resync.ConnSucceeded, r.Status, r.Error)
	assert.Equal(t, []int{0, 1, 0, 5}, []int{r.Added, r.Updated, r.Removed, r.Unchanged}, "added, updated, removed, unchanged")
	log := h.changes("t1")
	require.Len(t, log, logBefore+1, "only the real change is logged")
	assert.Equal(t, storage.KeyOf(next[2]), log[len(log)-1].Key)
	assert.Equal(t, resync.FingerprintVersion, resync.FingerprintVersionOf(log[len(log)-1].PrevFingerprint),
		"the update's previous fingerprint is the recomputed one")

	for key, rec := range h.live("t1", "aws1") {
		assert.Equal(t, resync.Fingerprint(rec.Record), rec.Fingerprint, "%s: rewritten in the current version", key)
		assert.Equal(t, resync.VolatileDigest(rec.Record), rec.Volatile, key)
	}
	assert.True(t, h.live("t1", "aws1")[storage.KeyOf(next[3])].Record.(*resync.Account).LastLogin.Equal(day1.Add(time.Hour)))

	// The next read finds everything current: nothing to apply.
	v := h.snapshotVersion("t1", "aws1")
	r = result(t, h.personnel(alice), "aws1")
	assert.Equal(t, []int{0, 0, 0, 6}, []int{r.Added, r.Updated, r.Removed, r.Unchanged})
	assert.Equal(t, v, h.snapshotVersion("t1", "aws1"))
}
