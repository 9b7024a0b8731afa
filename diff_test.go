package resync

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// DiffForTest runs the diff as the engine does (every snapshot entry, then
// every record in read order, then finish) so that external tests can drive
// it against a real Store. snapshot is called like SnapshotStore.Snapshot.
// It returns the changes, the snapshot version and the rejected count.
func DiffForTest(l Limits, snapshot func(fn func(kind RecordKind, key string, fingerprint, volatile uint64) error) (int64, error), recs []Record) (changes []Change, version int64, rejected int, err error) {
	d := newDiffer(l, 0)
	version, err = snapshot(d.addSnapshot)
	if err != nil {
		return nil, 0, 0, err
	}
	for _, r := range recs {
		d.observe(r)
	}
	res := d.finish()
	return res.changes, version, res.rejected, nil
}

func ident(key, name string) *Identity {
	return &Identity{Key: key, Name: name, Status: StatusActive}
}

func snapOf(t *testing.T, d *differ, recs ...Record) {
	t.Helper()
	for _, r := range recs {
		require.NoError(t, d.addSnapshot(r.recordKind(), r.recordKey(), Fingerprint(r), 0))
	}
}

func opsOf(changes []Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = string(c.Op) + " " + string(c.Kind) + " " + c.Key
	}
	return out
}

func TestDifferCounts(t *testing.T) {
	t.Parallel()
	d := newDiffer(Limits{}, 0)
	snapOf(t, d, ident("a", "A"), ident("b", "B"), ident("d", "D"), ident("c", "C"), &Group{Key: "a"}, &Group{Key: "g", Name: "G"})
	read := []Record{ident("f", "F"), ident("a", "A"), ident("b", "B2"), ident("e", "E"), &Group{Key: "g", Name: "G"}, &Identity{Key: "", Status: StatusActive}}
	for _, r := range read {
		d.observe(r)
	}
	res := d.finish()
	assert.Equal(t, []string{
		"add identity f", "update identity b", "add identity e", // read order
		"remove identity c", "remove identity d", "remove group a", // sorted by kind, then key
	}, opsOf(res.changes))
	assert.Equal(t, 2, res.added)
	assert.Equal(t, 1, res.updated)
	assert.Equal(t, 3, res.removed)
	assert.Equal(t, 2, res.unchanged)
	assert.Equal(t, 1, res.rejected)
	assert.Equal(t, 6, res.snapSize)
	assert.Equal(t, 5, res.validRead)
	assert.Equal(t, 6, d.read)
	require.Len(t, res.samples, 1)
	assert.Contains(t, res.samples[0], "empty key")

	byKey := map[string]Change{}
	for _, c := range res.changes {
		byKey[string(c.Op)+c.Key] = c
	}
	up := byKey["updateb"]
	assert.Equal(t, Fingerprint(ident("b", "B")), up.PrevFingerprint)
	assert.Equal(t, Fingerprint(ident("b", "B2")), up.Fingerprint)
	assert.Equal(t, "B2", up.Record.(*Identity).Name)
	add := byKey["addf"]
	assert.Zero(t, add.PrevFingerprint)
	assert.Equal(t, Fingerprint(ident("f", "F")), add.Fingerprint)
	rm := byKey["removec"]
	assert.Nil(t, rm.Record)
	assert.Zero(t, rm.Fingerprint)
	assert.Equal(t, Fingerprint(ident("c", "C")), rm.PrevFingerprint)
}

func TestDifferEmptySnapshotAndRead(t *testing.T) {
	t.Parallel()
	res := newDiffer(Limits{}, 0).finish()
	assert.Empty(t, res.changes)
	assert.Zero(t, res.validRead+res.snapSize+res.added+res.removed+res.unchanged)
	assert.Empty(t, DeleteGuard{}.withDefaults().check(res), "nothing to remove, nothing to hold")
}

func TestDifferSnapshotDuplicate(t *testing.T) {
	t.Parallel()
	d := newDiffer(Limits{}, 0)
	require.NoError(t, d.addSnapshot(KindGroup, "g", 1, 0))
	require.NoError(t, d.addSnapshot(KindIdentity, "g", 1, 0), "same key, other kind")
	err := d.addSnapshot(KindGroup, "g", 2, 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `group "g" twice`)
}

func TestDifferDuplicates(t *testing.T) {
	t.Parallel()
	d := newDiffer(Limits{}, 0)
	snapOf(t, d, ident("a", "A"), ident("b", "B"), ident("keep", "K"))
	for _, r := range []Record{
		ident("a", "A"), ident("a", "A-changed"), // stored key read twice, first copy unchanged
		ident("b", "B2"), ident("b", "B3"), ident("b", "B4"), // stored key read three times, all changed
		ident("n", "N"), ident("n", "N"), // new key read twice
		ident("keep", "K"),
		&Group{Key: "a"}, // same key, other kind: not a duplicate
	} {
		d.observe(r)
	}
	res := d.finish()
	assert.Equal(t, []string{"add group a"}, opsOf(res.changes),
		"duplicated keys: no update, no add, no remove; the stored version stays")
	assert.Equal(t, 7, res.rejected, "every occurrence of a duplicated key is rejected")
	assert.Equal(t, 1, res.added)
	assert.Zero(t, res.updated)
	assert.Zero(t, res.removed)
	assert.Equal(t, 1, res.unchanged, "only keep is unchanged; a and b were rejected")
	assert.Equal(t, 2, res.validRead, "keep and group a")
	require.NotEmpty(t, res.samples)
	assert.Contains(t, res.samples[0], `identity key "a" read more than once`)
	assert.LessOrEqual(t, len(res.samples), maxRejectedSamples)
}

func TestDifferOnlyDuplicatesIsHeld(t *testing.T) {
	t.Parallel()
	d := newDiffer(Limits{}, 0)
	snapOf(t, d, ident("a", "A"))
	d.observe(ident("a", "A"))
	d.observe(ident("a", "A"))
	res := d.finish()
	assert.Empty(t, res.changes)
	assert.Zero(t, res.validRead)
	assert.NotEmpty(t, DeleteGuard{Disabled: true}.withDefaults().check(res), "a read with nothing usable is held")
}

// TestDifferRejected covers records that fail validation. A rejected record
// is never stored. A record whose key is unusable (empty, too long, not
// UTF-8) cannot name a stored record and changes nothing else; a record with
// a usable key but a bad field keeps the stored version of that key: it is
// neither updated nor removed.
func TestDifferRejected(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxKeyBytes: 4, MaxFieldBytes: 8}
	d := newDiffer(lim, 0)
	snapOf(t, d, ident("a", "A"), ident("b", "B"), ident("c", "C"), ident("gone", "G"))
	for _, r := range []Record{
		ident("a", "A"),
		nil,
		(*Group)(nil),
		ident("", "empty"),
		ident("toolong", "x"),
		ident("\xff", "x"),
		&Identity{Key: "b", Status: "gone"}, // usable key, bad status
		ident("c", strings.Repeat("x", 9)),  // usable key, oversized field
		&Account{Key: "n", Status: StatusActive, MFA: "?"}, // new key, bad MFA
	} {
		d.observe(r)
	}
	res := d.finish()
	assert.Equal(t, 8, res.rejected)
	assert.Equal(t, 9, d.read, "rejected records count as read")
	assert.Len(t, res.samples, maxRejectedSamples, "samples are bounded")
	assert.Equal(t, []string{"remove identity gone"}, opsOf(res.changes),
		"b and c keep their stored version; the invalid new account is not added")
	assert.Zero(t, res.added)
	assert.Zero(t, res.updated)
	assert.Equal(t, 1, res.unchanged, "a")
	assert.Equal(t, 1, res.validRead, "a")
}

// TestDifferInvalidPoisonsValidCopy: a key read once valid and once invalid,
// in either order, is rejected as a whole: its stored version stays and a
// new key is not added.
func TestDifferInvalidPoisonsValidCopy(t *testing.T) {
	t.Parallel()
	bad := func(key string) Record { return &Identity{Key: key, Status: "bogus"} }
	cases := []struct {
		name string
		read []Record
	}{
		{"valid then invalid", []Record{ident("s", "S2"), bad("s"), ident("n", "N"), bad("n")}},
		{"invalid then valid", []Record{bad("s"), ident("s", "S2"), bad("n"), ident("n", "N")}},
		{"invalid, valid, valid", []Record{bad("s"), ident("s", "S2"), ident("s", "S3"), bad("n"), ident("n", "N"), ident("n", "N")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDiffer(Limits{}, 0)
			snapOf(t, d, ident("s", "S"), ident("keep", "K"))
			d.observe(ident("keep", "K"))
			for _, r := range c.read {
				d.observe(r)
			}
			res := d.finish()
			assert.Empty(t, res.changes, "no update of s, no add of n, no remove")
			assert.Equal(t, len(c.read), res.rejected, "every occurrence of a poisoned key is rejected")
			assert.Equal(t, 1, res.unchanged)
			assert.Equal(t, 1, res.validRead)
		})
	}
}

func TestDifferRejectInput(t *testing.T) {
	t.Parallel()
	d := newDiffer(Limits{}, 0)
	snapOf(t, d, ident("a", "A"), ident("b", "B"), &Group{Key: "a"})
	d.observe(ident("b", "B"))
	d.rejectInput(&RecordError{Kind: KindIdentity, Key: "a", Reason: "unparseable"}) // names a stored record
	d.rejectInput(errors.New("line 7: bad JSON"))                                    // names nothing
	d.rejectInput(nil)
	res := d.finish()
	assert.Equal(t, 3, res.rejected)
	assert.Equal(t, 4, d.read)
	assert.Equal(t, []string{"remove group a"}, opsOf(res.changes), "identity a keeps its stored version")
	require.Len(t, res.samples, 3)
	assert.Contains(t, res.samples[0], "unparseable")
	assert.Contains(t, res.samples[1], "bad JSON")
	assert.NotEmpty(t, res.samples[2])
}

func TestDifferRespectsLimits(t *testing.T) {
	t.Parallel()
	d := newDiffer(Limits{MaxListLen: 2}, 0)
	d.observe(&Group{Key: "g", Members: []string{"a", "b", "c"}})
	d.observe(&Group{Key: "h", Members: []string{"a", "b"}})
	res := d.finish()
	assert.Equal(t, 1, res.rejected)
	assert.Equal(t, []string{"add group h"}, opsOf(res.changes))
}

func TestDeleteGuardCheck(t *testing.T) {
	t.Parallel()
	def := DeleteGuard{}.withDefaults()
	assert.Equal(t, DeleteGuard{MaxFraction: 0.2, MinRemovals: 2, MaxRemovals: 500}, def)
	r := func(snap, valid, removed int) diffResult {
		return diffResult{snapSize: snap, validRead: valid, removed: removed}
	}
	cases := []struct {
		name  string
		guard DeleteGuard
		res   diffResult
		held  string // substring of the reason; "" means not held
	}{
		{"empty read of non-empty snapshot", def, r(10, 0, 10), "the read returned no records, the snapshot has 10"},
		{"empty read held even when disabled", DeleteGuard{Disabled: true}.withDefaults(), r(1, 0, 1), "returned no records"},
		{"empty read of empty snapshot", def, r(0, 0, 0), ""},
		{"first read", def, r(0, 5000, 0), ""},
		{"nothing removed", def, r(100000, 100000, 0), ""},
		{"20% of 100 is allowed", def, r(100, 80, 20), ""},
		{"21% of 100 is held", def, r(100, 79, 21), "21 of 100 records (21%)"},
		{"30% of 1000 is held", def, r(1000, 700, 300), "300 of 1000"},
		{"small snapshots are held by fraction too: 30 of 50", def, r(50, 20, 30), "30 of 50 records (60%)"},
		{"11 of 50 is held", def, r(50, 39, 11), "(22%)"},
		{"10 of 50 (20%) is allowed", def, r(50, 40, 10), ""},
		{"3 of 10 is held", def, r(10, 7, 3), "3 of 10"},
		{"2 of 5 is allowed: MinRemovals", def, r(5, 3, 2), ""},
		{"1 of 2 is allowed: MinRemovals", def, r(2, 1, 1), ""},
		{"no floor: 1 of 2 held", DeleteGuard{MinRemovals: -1}.withDefaults(), r(2, 1, 1), "(50%)"},
		{"no floor survives a second withDefaults", DeleteGuard{MinRemovals: -1}.withDefaults().withDefaults(), r(2, 1, 1), "(50%)"},
		{"500 removals allowed", def, r(10000, 9500, 500), ""},
		{"501 removals held whatever the fraction", def, r(100000, 99499, 501), "more than 500"},
		{"disabled", DeleteGuard{Disabled: true}.withDefaults(), r(1000, 1, 999), ""},
		{"custom fraction", DeleteGuard{MaxFraction: 0.5}.withDefaults(), r(10, 4, 6), "more than 50%"},
		{"custom fraction allowed", DeleteGuard{MaxFraction: 0.5}.withDefaults(), r(10, 5, 5), ""},
		{"custom absolute", DeleteGuard{MaxRemovals: 3}.withDefaults(), r(50, 46, 4), "more than 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.guard.check(c.res)
			if c.held == "" {
				assert.Empty(t, got)
			} else {
				assert.Contains(t, got, c.held)
			}
		})
	}
}

// TestDeleteGuardThroughDiffer checks the guard on results the differ made,
// so that validRead is what it really computes.
func TestDeleteGuardThroughDiffer(t *testing.T) {
	t.Parallel()
	snap := make([]Record, 200)
	for i := range snap {
		snap[i] = ident(string(rune('A'+i%26))+strings.Repeat("x", i/26), "n")
	}
	run := func(read []Record) diffResult {
		d := newDiffer(Limits{}, 0)
		snapOf(t, d, snap...)
		for _, r := range read {
			d.observe(r)
		}
		return d.finish()
	}
	g := DeleteGuard{}.withDefaults()

	// Only invalid records: nothing valid was read, so it is held.
	res := run([]Record{ident("", "x"), &Identity{Key: "A", Status: "bad"}})
	assert.Zero(t, res.validRead)
	assert.Contains(t, g.check(res), "returned no records")

	// 160 of 200 kept: 40 removed is 20%, allowed.
	res = run(snap[:160])
	assert.Equal(t, 40, res.removed)
	assert.Equal(t, 160, res.validRead)
	assert.Empty(t, g.check(res))

	// 159 kept: 41 removed, held.
	res = run(snap[:159])
	assert.Equal(t, 41, res.removed)
	assert.NotEmpty(t, g.check(res))
}
