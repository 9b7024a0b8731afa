package resync_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

// Secrets never reach the outbox: a connection's credentials, resolved
// from the host's secret store, are in no stored notification and no
// stored run, also when the connection fails.
func TestOutbox_NoSecrets(t *testing.T) {
	const secret, ref = "s3cr3t-v4lue", "vault/okta-token"
	h := newHarness(t, func(c *resync.Config) {
		c.Secrets = func(ctx context.Context, r string) (string, error) {
			if r == ref {
				return secret, nil
			}
			return "", resync.ErrNotFound
		}
		c.Connectors["okta"] = func(ctx context.Context, conn resync.Connection) (resync.Connector, error) {
			tok, err := resync.Secret(ctx, conn, "token")
			if err != nil {
				return nil, err
			}
			require.Equal(t, secret, tok)
			fc := resynctest.NewConnector(nil, 0)
			fc.AddFault(resynctest.Fault{Page: 0, Err: resync.Permanent(errors.New("401 unauthorized"))})
			return fc, nil
		}
	})
	h.src.Add(resync.Connection{ID: "okta1", Tenant: "t1", Type: resync.IdP, Provider: "okta", Name: "Okta",
		Settings: map[string]string{"token": "secret:" + ref, "org": "acme"}})
	info := h.personnel(alice)
	require.Equal(t, resync.RunFailed, info.Status)
	ns := h.waitNotes(3)
	stored, err := h.store.GetRun(context.Background(), "t1", info.ID)
	require.NoError(t, err)
	for _, v := range []any{ns, stored} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		assert.NotContains(t, string(b), secret)
		assert.NotContains(t, string(b), ref)
	}
	assert.Contains(t, result(t, ns[2].Run, "okta1").Error, "401 unauthorized", "the failure is told, without the credentials")
}

// Notifications are stored with the state change and delivered after it:
// a Notifier that hangs holds up neither the run nor its completion.
func TestOutbox_DeliveryNeverBlocksTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		rec := &resynctest.Notifier{}
		h := newHarness(t, func(c *resync.Config) {
			c.Notifier = notifyFunc(func(ctx context.Context, n resync.Notification) error {
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
				return rec.Notify(ctx, n)
			})
		})
		h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 5), 0)
		info := h.personnel(alice)
		assert.Equal(t, resync.RunSucceeded, info.Status, "the run ended while its started notice hangs")
		assert.Empty(t, rec.Notifications())
		// Each hanging attempt times out after LeaseTTL and is retried.
		time.Sleep(2 * time.Minute)
		close(release)
		time.Sleep(time.Hour)
		synctest.Wait()
		ns := rec.Notifications()
		require.Len(t, ns, 3, "delivered once the Notifier answers")
		assert.Greater(t, ns[0].Attempt, 1)
		ids := map[string]bool{}
		for _, n := range ns {
			assert.False(t, ids[n.ID], "notification %q delivered twice", n.ID)
			ids[n.ID] = true
			assert.Equal(t, info.ID, n.Run.ID)
		}
		stored, err := h.store.GetRun(context.Background(), "t1", info.ID)
		require.NoError(t, err)
		assert.Empty(t, stored.NotifyErrors)
	})
}

// A requester who joins a run gets a started notice of its own, with its
// own ID: the IDs differ by recipients.
func TestOutbox_JoinerStartedNoticeHasItsOwnID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		okta := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 20), 10)
		okta.Block()
		r, err := h.engine.ResyncPersonnel(context.Background(), "t1", alice)
		require.NoError(t, err)
		synctest.Wait()
		_, err = h.engine.ResyncPersonnel(context.Background(), "t1", bob)
		require.NoError(t, err)
		synctest.Wait()
		okta.Unblock()
		_, err = r.Wait(context.Background())
		require.NoError(t, err)
		synctest.Wait()
		var started []resync.Notification
		for _, n := range h.notifier.Notifications() {
			if n.Kind == resync.NotifyRunStarted {
				started = append(started, n)
			}
		}
		require.Len(t, started, 2)
		assert.NotEqual(t, started[0].ID, started[1].ID)
		assert.True(t, strings.HasPrefix(started[1].ID, r.ID()+"/"))
	})
}

type notifyFunc func(context.Context, resync.Notification) error

func (f notifyFunc) Notify(ctx context.Context, n resync.Notification) error { return f(ctx, n) }

// With a Store that keeps no outbox, the engine delivers directly, before
// the run's end: nothing is stored to deliver later.
func TestOutbox_DirectDeliveryWithoutOutbox(t *testing.T) {
	h := newHarness(t, func(c *resync.Config) { c.Store = withoutOutbox(c.Store) })
	h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 5), 0)
	info := h.personnel(alice)
	require.Equal(t, resync.RunSucceeded, info.Status)
	ns := h.notifier.Notifications()
	require.Len(t, ns, 3, "delivered before the run ended")
	for _, n := range ns {
		assert.Zero(t, n.Attempt)
		assert.False(t, n.At.IsZero())
	}
	pending, err := h.store.ClaimNotifications(context.Background(), "probe", time.Hour, 100)
	require.NoError(t, err)
	assert.Empty(t, pending, "nothing written to the outbox")
}
