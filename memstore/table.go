package memstore

import (
	"hash/maphash"
	"slices"
)

// table holds a connection's records: in a slice, each with its key, found
// through an open-addressing hash index (linear probing) of int32
// positions in the slice. A record costs its 64 bytes plus 5 to 11 of
// index, where a Go map sized for a change set rounds its tables up to
// powers of two and costs 80 to 130: on a first sync, fresh memory is most
// of the time spent per record.
type table struct {
	seed  maphash.Seed
	slots []int32 // position in recs + 1; 0: empty
	recs  []record
}

func newTable() *table { return &table{seed: maphash.MakeSeed()} }

func (t *table) len() int { return len(t.recs) }

func (t *table) hash(k recKey) uint64 {
	return maphash.String(t.seed, k.key) ^ uint64(k.kind)*0x9e3779b97f4a7c15
}

// slot returns the index slot of k, or of the empty slot where k would go.
func (t *table) slot(k recKey) int {
	mask := len(t.slots) - 1
	for i := int(t.hash(k)) & mask; ; i = (i + 1) & mask {
		p := t.slots[i]
		if p == 0 || t.recs[p-1].key == k {
			return i
		}
	}
}

// get returns the record of k, or nil; the pointer is valid until the
// next put or remove.
func (t *table) get(k recKey) *record {
	if len(t.recs) == 0 {
		return nil
	}
	if p := t.slots[t.slot(k)]; p != 0 {
		return &t.recs[p-1]
	}
	return nil
}

// reserve makes room for n more records without growing.
func (t *table) reserve(n int) {
	need := len(t.recs) + n
	t.recs = slices.Grow(t.recs, n)
	size := 16
	for 3*size < 4*need { // the index at most three quarters full
		size *= 2
	}
	if size <= len(t.slots) {
		return
	}
	t.slots = make([]int32, size)
	for p := range t.recs {
		t.slots[t.slot(t.recs[p].key)] = int32(p + 1)
	}
}

// put returns the record of k to be filled in, added with only its key set
// if k has none; the pointer is valid until the next put or remove.
// Filling it in place spares the bulk write barrier of copying a record
// value, which costs while the garbage collector runs.
func (t *table) put(k recKey) *record {
	if 3*len(t.slots) < 4*(len(t.recs)+1) {
		t.reserve(max(len(t.recs), 8))
	}
	i := t.slot(k)
	if p := t.slots[i]; p != 0 {
		return &t.recs[p-1]
	}
	n := len(t.recs)
	if n == cap(t.recs) {
		t.recs = slices.Grow(t.recs, 1)
	}
	t.recs = t.recs[:n+1]
	r := &t.recs[n]
	r.key, r.rec, r.fp, r.vol, r.st = k, nil, 0, 0, nil
	t.slots[i] = int32(n + 1)
	return r
}

// remove deletes the record of k, if any. The last record takes its
// place in the slice.
func (t *table) remove(k recKey) {
	if len(t.recs) == 0 {
		return
	}
	i := t.slot(k)
	p := t.slots[i]
	if p == 0 {
		return
	}
	// Backward-shift deletion: move up every entry of the probe run after
	// i that may sit at i, so that no lookup stops early at the hole.
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		home := int(t.hash(t.recs[t.slots[j]-1].key)) & mask
		// The entry at j stays if its home lies cyclically in (i, j].
		if (i < j && i < home && home <= j) || (j < i && (i < home || home <= j)) {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = 0
	last := int32(len(t.recs))
	if p != last {
		t.slots[t.slot(t.recs[last-1].key)] = p
		t.recs[p-1] = t.recs[last-1]
	}
	t.recs[last-1] = record{}
	t.recs = t.recs[:last-1]
}
