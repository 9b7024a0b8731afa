package resync_test

import (
	"context"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/storage"
)

type fuzzKey struct {
	kind resync.RecordKind
	key  string
}

// fuzzRecords turns fuzz bytes into two reads, A and B, over a small key
// space so that they overlap. Each record takes two bytes: the first picks
// the kind (bits 3-4), the key (bits 0-2) and, when bits 5-7 are all set,
// makes the record invalid; the second picks its content. A 0xFF byte in a
// record's first position ends A and starts B.
func fuzzRecords(data []byte) (a, b []resync.Record) {
	cur := &a
	for i := 0; i < len(data); i++ {
		b0 := data[i]
		if b0 == 0xFF {
			cur = &b
			continue
		}
		var b1 byte
		if i+1 < len(data) {
			i++
			b1 = data[i]
		}
		key := fmt.Sprintf("k%d", b0&7)
		invalid := b0>>5 == 7
		var r resync.Record
		switch (b0 >> 3) & 3 {
		case 0, 3:
			id := &resync.Identity{Key: key, Name: fmt.Sprintf("n%d", b1&3), Status: resync.StatusActive}
			if b1&4 != 0 {
				id.Status = resync.StatusSuspended
			}
			if b1&8 != 0 {
				id.Groups = []string{"g1", "g2"}
			}
			if b1&16 != 0 {
				id.Attributes = map[string]string{"dept": fmt.Sprint(b1 >> 5)}
			}
			if invalid {
				switch b1 % 4 {
				case 0:
					id.Key = ""
				case 1:
					id.Status = "bogus"
				case 2:
					id.Key = "k\xff"
				case 3:
					id.Email = "\xfe"
				}
			}
			r = id
		case 1:
			g := &resync.Group{Key: key, Name: fmt.Sprintf("g%d", b1&1)}
			for j := range int(b1>>1) & 3 {
				g.Members = append(g.Members, fmt.Sprintf("k%d", j))
			}
			if invalid {
				g.Members = append(g.Members, "\xc0")
			}
			r = g
		case 2:
			acc := &resync.Account{Key: key, Username: fmt.Sprintf("u%d", b1&3), Status: resync.StatusActive}
			if b1&4 != 0 {
				acc.MFA = resync.MFAEnabled
			}
			if b1&8 != 0 {
				acc.Roles = []string{"admin"}
			}
			if invalid {
				acc.MFA = "maybe"
			}
			r = acc
		}
		*cur = append(*cur, r)
	}
	return a, b
}

// fuzzExpect computes the live records after applying read on top of
// stored. A key is poisoned when it is read more than once valid, or read
// invalid with a usable key: it keeps its stored version (if any). Other
// valid records replace or add; every other stored record is removed.
func fuzzExpect(stored map[fuzzKey]uint64, read []resync.Record) map[fuzzKey]uint64 {
	count := map[fuzzKey]int{}
	poisoned := map[fuzzKey]bool{}
	fp := map[fuzzKey]uint64{}
	for _, r := range read {
		k := fuzzKey{storage.KindOfRecord(r), storage.KeyOf(r)}
		if resync.ValidateRecord(r, resync.Limits{}) != nil {
			if k.key != "" && utf8.ValidString(k.key) && len(k.key) <= 1024 {
				poisoned[k] = true
			}
			continue
		}
		count[k]++
		fp[k] = resync.Fingerprint(r)
	}
	out := map[fuzzKey]uint64{}
	for k, n := range count {
		if n == 1 && !poisoned[k] {
			out[k] = fp[k]
		}
	}
	for k := range stored {
		if poisoned[k] || count[k] > 1 {
			out[k] = stored[k]
		}
	}
	return out
}

type fuzzEnv struct {
	t     *testing.T
	ctx   context.Context
	store *memstore.Store
}

func (e *fuzzEnv) live() map[fuzzKey]uint64 {
	recs, err := e.store.Records(e.ctx, resync.RecordQuery{Tenant: "t", ConnectionID: "c"})
	require.NoError(e.t, err)
	out := map[fuzzKey]uint64{}
	for _, r := range recs {
		require.False(e.t, !r.RemovedAt.IsZero())
		require.Equal(e.t, r.Fingerprint, resync.Fingerprint(r.Record), "stored fingerprint matches the stored record")
		out[fuzzKey{r.Kind, r.Key}] = r.Fingerprint
	}
	return out
}

func (e *fuzzEnv) version() int64 {
	v, err := e.store.Snapshot(e.ctx, "t", "c", func(resync.RecordKind, string, uint64, uint64) error { return nil })
	require.NoError(e.t, err)
	return v
}

func (e *fuzzEnv) logLen() int {
	log, err := e.store.Changes(e.ctx, resync.ChangeQuery{Tenant: "t"})
	require.NoError(e.t, err)
	return len(log)
}

// diffApply diffs read against the stored snapshot and applies the change
// set as the engine does (nothing to apply when there are no changes).
func (e *fuzzEnv) diffApply(id string, read []resync.Record) *resync.ChangeSet {
	changes, version, _, err := resync.DiffForTest(resync.Limits{}, func(fn func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error) (int64, error) {
		return e.store.Snapshot(e.ctx, "t", "c", fn)
	}, read)
	require.NoError(e.t, err)
	cs := &resync.ChangeSet{ID: id, Tenant: "t", ConnectionID: "c", RunID: "run-" + id, BaseVersion: version, Changes: changes}
	require.NoError(e.t, resync.ValidateChangeSet(cs), "the diff makes well-formed change sets")
	if len(changes) > 0 {
		require.NoError(e.t, e.store.Apply(e.ctx, cs))
	}
	return cs
}

func FuzzDiffApply(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x00, 0x01, 0x01, 0x02, 0xFF, 0x00, 0x01, 0x01, 0x03})
	f.Add([]byte{0x00, 0x00, 0x08, 0x05, 0x10, 0x04, 0xFF, 0x00, 0x00, 0x00, 0x01})                   // identity k0 twice in B
	f.Add([]byte{0x00, 0x00, 0x01, 0x00, 0xFF, 0xE0, 0x01, 0x01, 0x00})                               // invalid identity k0 in B
	f.Add([]byte{0x08, 0x06, 0x09, 0x02, 0x12, 0x0C, 0xFF, 0x08, 0x07, 0x08, 0x07, 0xE9, 0x00})       // groups, dup and invalid
	f.Add([]byte{0x01, 0x10, 0x02, 0x30, 0x03, 0x50, 0xFF})                                           // B empty
	f.Add([]byte{0xFF, 0x01, 0x00, 0x02, 0x00, 0x11, 0x0F, 0x00, 0x00})                               // A empty
	f.Add([]byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0x00, 0x00, 0xF8, 0x01, 0xF8, 0x02, 0xFF}) // triple in A
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		e := &fuzzEnv{t: t, ctx: ctx, store: memstore.New()}
		a, b := fuzzRecords(data)

		e.diffApply("A", a)
		afterA := e.live()
		require.Equal(t, fuzzExpect(nil, a), afterA, "after A")

		csB := e.diffApply("B", b)
		want := fuzzExpect(afterA, b)
		require.Equal(t, want, e.live(), "after B")

		// Re-applying the same change set changes nothing.
		v, n := e.version(), e.logLen()
		if len(csB.Changes) > 0 {
			require.NoError(t, e.store.Apply(ctx, csB))
		}
		require.Equal(t, v, e.version(), "version after re-apply")
		require.Equal(t, n, e.logLen(), "change log after re-apply")
		require.Equal(t, want, e.live(), "records after re-apply")

		// The change log holds one entry per change of B.
		log, err := e.store.Changes(ctx, resync.ChangeQuery{Tenant: "t", RunID: "run-B"})
		require.NoError(t, err)
		require.Len(t, log, len(csB.Changes))

		// Reading B again is a fixed point: no changes.
		again, _, _, err := resync.DiffForTest(resync.Limits{}, func(fn func(kind resync.RecordKind, key string, fingerprint, volatile uint64) error) (int64, error) {
			return e.store.Snapshot(ctx, "t", "c", fn)
		}, b)
		require.NoError(t, err)
		require.Empty(t, again, "a second diff of the same read")
	})
}
