package resync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"unicode/utf8"
)

// recKey identifies a record within a connection.
type recKey struct {
	kind RecordKind
	key  string
}

// snapIndex holds a snapshot's kinds, keys, fingerprints and volatile
// digests, and whether the fresh read has seen each, in pointer-free
// memory: a hash table of 64-bit key hashes into a slice of entries whose
// keys live in one byte arena. A million-record snapshot costs about 70
// bytes per record plus its keys, and nothing for the garbage collector to
// scan.
type snapIndex struct {
	seed    maphash.Seed
	heads   map[uint64]int32 // hash of kind and key -> first entry with that hash
	entries []snapEntry
	arena   []byte
}

type snapEntry struct {
	fp   uint64
	vol  uint64 // volatile digest
	off  uint64 // key bytes: arena[off : off+klen]
	klen uint32
	next int32 // next entry with the same hash, or -1
	kind uint8 // RecordKind.index()
	seen bool
	// stale: stored with another fingerprintVersion. Once fp and vol are
	// recomputed from the stored record, the record is rewritten (a
	// refresh) even if the read matches it.
	stale bool
}

func newSnapIndex() *snapIndex {
	return &snapIndex{seed: maphash.MakeSeed(), heads: map[uint64]int32{}}
}

func (x *snapIndex) hash(kind uint8, key string) uint64 {
	return maphash.String(x.seed, key) ^ uint64(kind)*0x9e3779b97f4a7c15
}

// find returns the index of the entry for kind and key, or -1.
func (x *snapIndex) find(k RecordKind, key string) int32 {
	return x.findHash(x.hash(k.index(), key), k, key)
}

// findHash is find with the hash of kind and key given.
func (x *snapIndex) findHash(h uint64, k RecordKind, key string) int32 {
	if len(x.entries) == 0 {
		return -1
	}
	kind := k.index()
	i, ok := x.heads[h]
	if !ok {
		return -1
	}
	for ; i >= 0; i = x.entries[i].next {
		e := &x.entries[i]
		if e.kind == kind && int(e.klen) == len(key) && string(x.arena[e.off:e.off+uint64(e.klen)]) == key {
			return i
		}
	}
	return -1
}

// add inserts an entry, or returns false if kind and key are there already.
func (x *snapIndex) add(k RecordKind, key string, fp, vol uint64) bool {
	kind := k.index()
	h := x.hash(kind, key)
	next, ok := x.heads[h]
	if !ok {
		next = -1
	}
	for i := next; i >= 0; i = x.entries[i].next {
		if e := &x.entries[i]; e.kind == kind && x.key(e) == key {
			return false
		}
	}
	x.heads[h] = int32(len(x.entries))
	x.entries = append(x.entries, snapEntry{fp: fp, vol: vol, off: uint64(len(x.arena)), klen: uint32(len(key)), next: next, kind: kind})
	x.arena = append(x.arena, key...)
	return true
}

func (x *snapIndex) key(e *snapEntry) string { return string(x.arena[e.off : e.off+uint64(e.klen)]) }

func (x *snapIndex) len() int { return len(x.entries) }

// addedSet is the set of kinds and keys a read adds (those not in the
// snapshot), to find a key read twice: an open-addressing hash table of
// indexes into the differ's changes, which hold the kinds and keys. It is
// pointer-free and one allocation, sized ahead by differ.expect: a first
// sync, where every record read is an addition, pays no map of its keys.
type addedSet struct {
	seed  maphash.Seed // the snapshot index's: one hash serves both
	slots []int32      // index of a change + 1; 0: empty
	n     int
}

func (a *addedSet) hash(k RecordKind, key string) uint64 {
	return maphash.String(a.seed, key) ^ uint64(k.index())*0x9e3779b97f4a7c15
}

// reserve makes room for n more additions; changes are the differ's.
func (a *addedSet) reserve(n int, changes []Change) {
	size := 16
	for size < 2*(a.n+n) { // at most half full
		size *= 2
	}
	if size <= len(a.slots) {
		return
	}
	old := a.slots
	a.slots = make([]int32, size)
	mask := uint64(size - 1)
	for _, v := range old {
		if v == 0 {
			continue
		}
		c := &changes[v-1]
		for j := a.hash(c.Kind, c.Key) & mask; ; j = (j + 1) & mask {
			if a.slots[j] == 0 {
				a.slots[j] = v
				break
			}
		}
	}
}

// find returns the index in changes of the addition of k, whose hash is
// h, or -1.
func (a *addedSet) find(h uint64, k recKey, changes []Change) int32 {
	if a.n == 0 {
		return -1
	}
	mask := uint64(len(a.slots) - 1)
	for j := h & mask; ; j = (j + 1) & mask {
		v := a.slots[j]
		if v == 0 {
			return -1
		}
		if c := &changes[v-1]; c.Key == k.key && c.Kind == k.kind {
			return v - 1
		}
	}
}

// insert adds the change at index i of changes, whose kind and key hash
// to h and are not in the set.
func (a *addedSet) insert(h uint64, i int32, changes []Change) {
	if 2*(a.n+1) > len(a.slots) {
		a.reserve(max(a.n, 8), changes)
	}
	mask := uint64(len(a.slots) - 1)
	for j := h & mask; ; j = (j + 1) & mask {
		if a.slots[j] == 0 {
			a.slots[j] = i + 1
			a.n++
			return
		}
	}
}

// differ computes a change set while pages stream in: it keeps the
// snapshot's fingerprints and only the changed records of the read, so a
// large connection with few changes needs little memory.
type differ struct {
	limits  Limits
	snap    *snapIndex
	added   addedSet
	dups    map[recKey]struct{}
	changes []Change

	stale      int   // snapshot entries of another fingerprintVersion
	staleKinds uint8 // bit k set: an entry of RecordKind k is stale
	read       int   // records observed, rejected included
	rejected   int
	samples    []string
	seen       int // snapshot records seen in the read (poisoned ones included)
	dupInSnap  int // poisoned keys of the snapshot
	dupInAdded int // poisoned keys first read as valid additions
}

const maxRejectedSamples = 5

// newDiffer returns a differ; sizeHint, if positive, is the expected
// snapshot size (the previous read's), so the index is built without
// growing.
func newDiffer(l Limits, sizeHint int) *differ {
	snap := newSnapIndex()
	if sizeHint > 0 {
		snap.heads = make(map[uint64]int32, sizeHint)
		snap.entries = make([]snapEntry, 0, sizeHint)
		snap.arena = make([]byte, 0, 16*sizeHint)
	}
	return &differ{
		limits: l.withDefaults(),
		snap:   snap,
		added:  addedSet{seed: snap.seed},
	}
}

// maxExpected bounds what expect allocates ahead for a connector's Total:
// a wrong Total must not reserve unbounded memory; past it, slices grow.
const maxExpected = 1 << 17

// expect reserves room for the additions a read of total records will make
// (those beyond the snapshot's size), before the first page is observed: a
// first sync then builds its change list and duplicate check without
// growing them record by record.
func (d *differ) expect(total int) {
	n := min(total-d.snap.len(), maxExpected)
	if n <= 0 || d.added.n > 0 || len(d.changes) > 0 {
		return
	}
	d.added.reserve(n, d.changes)
	d.changes = make([]Change, 0, n)
}

// addSnapshot adds one live record of the stored snapshot: its kind, key,
// stored Fingerprint and volatile digest.
func (d *differ) addSnapshot(kind RecordKind, key string, fp, vol uint64) error {
	if len(key) > math.MaxUint32 || d.snap.len() >= math.MaxInt32 {
		return fmt.Errorf("resync: snapshot too large (%d records, a %d-byte key)", d.snap.len(), len(key))
	}
	if kind.index() == 0 {
		return fmt.Errorf("resync: store returned a snapshot entry of unknown kind %q (key %q)", kind, key)
	}
	if !d.snap.add(kind, key, fp, vol) {
		return fmt.Errorf("resync: store returned %s %q twice in one snapshot", kind, key)
	}
	if fingerprintVersionOf(fp) != fingerprintVersion {
		d.snap.entries[len(d.snap.entries)-1].stale = true
		d.stale++
		d.staleKinds |= 1 << kind.index()
	}
	return nil
}

// refingerprint recomputes the fingerprints of snapshot entries stored
// with another fingerprintVersion from the stored records, so that a
// release that changes the fingerprint's definition reports only records
// whose content changed. It reads the records of each kind that has stale
// entries once; a stale entry it cannot recompute (its record changed
// since the snapshot was read) keeps its stored fingerprint, and Apply's
// version check refuses the change set if the snapshot moved meanwhile.
func (d *differ) refingerprint(ctx context.Context, s store, tenant, connectionID string) error {
	if d.stale == 0 {
		return nil
	}
	for i, kind := range kindsByIndex {
		if i == 0 || d.staleKinds&(1<<i) == 0 {
			continue
		}
		recs, err := s.Records(ctx, RecordQuery{Tenant: tenant, ConnectionID: connectionID, Kind: kind})
		if err != nil {
			return err
		}
		for i := range recs {
			r := &recs[i]
			if r.Record == nil || isNilRecord(r.Record) || r.Record.recordKind() != r.Kind || r.Record.recordKey() != r.Key {
				continue
			}
			j := d.snap.find(r.Kind, r.Key)
			if j < 0 {
				continue
			}
			if e := &d.snap.entries[j]; e.stale && e.fp == r.Fingerprint {
				e.fp, e.vol = fingerprints(r.Record)
			}
			recs[i] = StoredRecord{} // let the decoded record go
		}
	}
	return nil
}

func (d *differ) reject(reason string) {
	d.rejected++
	if len(d.samples) < maxRejectedSamples {
		d.samples = append(d.samples, reason)
	}
}

// observe takes one record of the fresh read.
func (d *differ) observe(r Record) {
	d.read++
	if err := ValidateRecord(r, d.limits); err != nil {
		d.reject(err.Error())
		if r != nil && !isNilRecord(r) {
			// The record is bad but may say which record it is: keep the
			// stored version rather than remove it for bad input.
			d.poisonIfUsable(r.recordKind(), r.recordKey())
		}
		return
	}
	k := recKey{r.recordKind(), r.recordKey()}
	if _, bad := d.dups[k]; bad {
		d.reject(dupReason(k))
		return
	}
	fp, vol := fingerprints(r)
	h := d.added.hash(k.kind, k.key)
	if i := d.snap.findHash(h, k.kind, k.key); i >= 0 {
		s := &d.snap.entries[i]
		if s.seen {
			d.reject(dupReason(k))
			d.poison(k)
			return
		}
		s.seen = true
		d.seen++
		switch {
		case s.fp != fp:
			d.push(OpUpdate, k, r, fp, s.fp, vol)
		case s.vol != vol || s.stale:
			// Only volatile fields moved, or the stored fingerprint is of
			// another version: store the new data, report nothing.
			d.push(OpRefresh, k, r, fp, s.fp, vol)
		}
		return
	}
	if d.added.find(h, k, d.changes) >= 0 {
		d.reject(dupReason(k))
		d.poison(k)
		return
	}
	d.added.insert(h, int32(len(d.changes)), d.changes)
	d.push(OpAdd, k, r, fp, 0, vol)
}

// push appends a change to d.changes field by field: appending a Change
// value copies it with a bulk write barrier while the garbage collector
// runs, which a first sync, its heap growing, makes most of the time.
func (d *differ) push(op ChangeOp, k recKey, r Record, fp, prev, vol uint64) {
	n := len(d.changes)
	if n == cap(d.changes) {
		d.changes = slices.Grow(d.changes, 1)
	}
	d.changes = d.changes[:n+1]
	c := &d.changes[n]
	c.Op, c.Kind, c.Key, c.Record = op, k.kind, k.key, r
	c.Fingerprint, c.PrevFingerprint, c.Volatile = fp, prev, vol
}

// rejectInput counts input a connector could not turn into a record.
func (d *differ) rejectInput(err error) {
	d.read++
	if err == nil {
		err = errors.New("resync: connector rejected a record without saying why")
	}
	d.reject(err.Error())
	var re *RecordError
	if errors.As(err, &re) {
		d.poisonIfUsable(re.Kind, re.Key)
	}
}

// poisonIfUsable poisons the key of a rejected record when the kind and
// key are themselves valid, so the record can still be told apart.
func (d *differ) poisonIfUsable(kind RecordKind, key string) {
	if kind.index() != 0 && key != "" && len(key) <= d.limits.MaxKeyBytes && utf8.ValidString(key) {
		d.poison(recKey{kind, key})
	}
}

func dupReason(k recKey) string {
	return fmt.Sprintf("resync: %s key %q read more than once (or also read invalid): the stored version is kept", k.kind, truncate(k.key, 64))
}

// poison marks a key whose content this read cannot be trusted for (read
// twice, or read once invalid): no change is made to it, the stored version
// (if any) stays, and a valid copy accepted earlier is rejected too.
func (d *differ) poison(k recKey) {
	if d.dups == nil {
		d.dups = make(map[recKey]struct{})
	}
	if _, already := d.dups[k]; already {
		return
	}
	d.dups[k] = struct{}{}
	if i := d.snap.find(k.kind, k.key); i >= 0 {
		if s := &d.snap.entries[i]; s.seen {
			d.reject(dupReason(k)) // the valid copy accepted until now
		} else {
			s.seen = true
			d.seen++
		}
		d.dupInSnap++
		return
	}
	if d.added.find(d.added.hash(k.kind, k.key), k, d.changes) >= 0 {
		d.reject(dupReason(k)) // the valid copy accepted until now
		d.dupInAdded++
	}
}

// diffResult is the outcome of a read's diff.
type diffResult struct {
	changes                       []Change
	added, updated, removed       int
	refreshed                     int // not counted as changes: unchanged includes them
	unchanged, rejected, snapSize int
	validRead                     int // distinct valid records read
	samples                       []string
}

// finish returns the change set's changes: adds, updates and refreshes in
// read order, then removes sorted by kind and key.
func (d *differ) finish() diffResult {
	changes := d.changes
	if len(d.dups) > 0 {
		changes = slices.DeleteFunc(changes, func(c Change) bool {
			_, dup := d.dups[recKey{c.Kind, c.Key}]
			return dup
		})
	}
	res := diffResult{rejected: d.rejected, snapSize: d.snap.len(), samples: d.samples}
	for _, c := range changes {
		switch c.Op {
		case OpAdd:
			res.added++
		case OpUpdate:
			res.updated++
		case OpRefresh:
			res.refreshed++
		}
	}
	start := len(changes)
	for i := range d.snap.entries {
		if s := &d.snap.entries[i]; !s.seen {
			changes = append(changes, Change{Op: OpRemove, Kind: kindsByIndex[s.kind], Key: d.snap.key(s), PrevFingerprint: s.fp})
		}
	}
	removes := changes[start:]
	slices.SortFunc(removes, func(a, b Change) int {
		if c := cmp.Compare(a.Kind.index(), b.Kind.index()); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	res.removed = len(removes)
	res.unchanged = d.seen - res.updated - d.dupInSnap
	res.validRead = d.seen - d.dupInSnap + d.added.n - d.dupInAdded
	res.changes = changes
	return res
}

// DeleteGuard holds change sets that would remove too much of a
// connection's snapshot: nothing is applied until an admin approves or
// rejects the held change set. Zero fields take the defaults.
//
// A read is held when it would remove more than MaxRemovals records, or
// more than MaxFraction of the snapshot and more than MinRemovals records,
// or when it returned nothing for a non-empty snapshot. With the defaults:
// a 50-person HRIS that suddenly returns 20 (30 removals, 60%) is held,
// as is a 10-person one that loses 3 (30%); 1 or 2 removals never are,
// nor 10 of 50 (20%); a 10,000-person IdP is held past 500 removals.
//
// Why these defaults. The vendors' own safeguards protect large
// directories and leave small ones unguarded, and most tenants of a
// compliance platform are small:
//   - Okta's import safeguard holds an import that would unassign more
//     than 20% of an app's users, but only for apps with more than 100
//     users (https://help.okta.com/en/prod/Content/Topics/users-groups-profiles/usgp-import-safeguard.htm).
//     Copying its 100-user floor lets a 50-person company lose 30 people
//     from a truncated HRIS export without anyone looking. We keep its
//     20% and replace the size floor by a floor on the number of
//     removals, so that the fraction protects every snapshot size while
//     the ordinary offboarding of one or two people still goes through.
//   - Microsoft Entra Connect stops an export with more than 500 deletes
//     and tells admins to tune the count to the organization's size
//     (https://learn.microsoft.com/en-us/entra/identity/hybrid/connect/how-to-connect-sync-feature-prevent-accidental-deletes).
//     A fixed count alone guards nothing below 500 people, so here it is
//     only the cap for large connections, where 20% would allow
//     thousands.
//   - Google Cloud Directory Sync has no fixed default: each sync is
//     stopped when deletions exceed a percentage or a number the admin
//     sets per object type, and Google asks admins to relate the value to
//     the domain's size (https://support.google.com/a/answer/9520714,
//     https://support.google.com/a/answer/7177267). The combination here
//     is that advice applied for the admin who never set it: a
//     percentage, bounded below by a small count and above by a large one.
//
// A hold costs an admin one click (Engine.Approve); a missed one marks
// people as gone who are not, in the record auditors read. The defaults
// therefore err towards holding.
type DeleteGuard struct {
	// MaxFraction: hold when more than this fraction of the snapshot would
	// be removed (and more than MinRemovals records). Default 0.2, as
	// Okta's import safeguard.
	MaxFraction float64
	// MinRemovals: at most this many removals are never held by fraction,
	// so that offboarding one or two people from a small connection is
	// not held. Default 2; negative means no floor (any removal above the
	// fraction is held).
	MinRemovals int
	// MaxRemovals: hold when more than this many records would be removed,
	// whatever the fraction. Default 500, as Entra Connect.
	MaxRemovals int
	// Disabled turns off the thresholds above. An empty read of a
	// non-empty snapshot is held regardless.
	Disabled bool
}

// Defaults of DeleteGuard.
const (
	defaultMaxFraction = 0.2
	defaultMinRemovals = 2
	defaultMaxRemovals = 500
)

func (g DeleteGuard) withDefaults() DeleteGuard {
	if g.MaxFraction <= 0 {
		g.MaxFraction = defaultMaxFraction
	}
	if g.MinRemovals == 0 {
		g.MinRemovals = defaultMinRemovals // a negative floor stays: none
	}
	if g.MaxRemovals <= 0 {
		g.MaxRemovals = defaultMaxRemovals
	}
	return g
}

// check returns why a diff must be held, or "".
func (g DeleteGuard) check(r diffResult) string {
	if r.snapSize > 0 && r.validRead == 0 {
		return fmt.Sprintf("the read returned no records, the snapshot has %d", r.snapSize)
	}
	if g.Disabled || r.removed == 0 {
		return ""
	}
	if r.removed > g.MaxRemovals {
		return fmt.Sprintf("%d of %d records would be removed (more than %d)", r.removed, r.snapSize, g.MaxRemovals)
	}
	if r.removed > g.MinRemovals && float64(r.removed) > g.MaxFraction*float64(r.snapSize) {
		return fmt.Sprintf("%d of %d records (%.0f%%) would be removed (more than %.0f%%)",
			r.removed, r.snapSize, 100*float64(r.removed)/float64(r.snapSize), 100*g.MaxFraction)
	}
	return ""
}
