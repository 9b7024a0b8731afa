package memstore

import (
	"iter"
	"math"
	"slices"
	"time"

	resync "github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

// logBatch is what the change-log entries of one Apply (or Erase of one
// connection) share, kept once rather than in every entry. Its entries
// have consecutive Seqs from seq0.
type logBatch struct {
	tenant, conn, run, changeSet string
	at                           time.Time
	by                           string
	seq0                         int64
	// before holds the entries' Before records by offset, for the
	// batches that have any: an add has none, and a first sync adds.
	before []resync.Record
	size   int // the most entries the batch may have
}

// logEntry is a change-log entry as the store keeps it: the fields of a
// resync.ChangeLogEntry that differ between the entries of one Apply, with
// the operation and kind as their storage codes (as the SQL stores keep
// them) and the Seq and Before in the batch: 64 bytes where a
// resync.ChangeLogEntry takes 208. The records are the values stored (the
// caller's, which nobody modifies), not copies.
type logEntry struct {
	batch      *logBatch
	key        string
	fp, prevFP uint64
	after      resync.Record
	off        int32 // Seq - batch.seq0
	op, kind   uint8 // storage.OpCode, storage.KindCode
}

func (e *logEntry) seq() int64 { return e.batch.seq0 + int64(e.off) }

func (e *logEntry) before() resync.Record {
	if e.batch.before == nil {
		return nil
	}
	return e.batch.before[e.off]
}

func (e *logEntry) setBefore(r resync.Record) {
	if r == nil && e.batch.before == nil {
		return
	}
	if e.batch.before == nil {
		e.batch.before = make([]resync.Record, e.batch.size)
	}
	e.batch.before[e.off] = r
}

func opCode(o resync.ChangeOp) uint8     { return uint8(storage.OpCode(o)) }
func kindCode(k resync.RecordKind) uint8 { return uint8(storage.KindCode(k)) }

// opOf and kindOf return the operation and kind of a code; "" for 0, an
// operation or kind the store does not know.
func opOf(code uint8) resync.ChangeOp {
	o, _ := storage.OpOf(int64(code))
	return o
}

func kindOf(code uint8) resync.RecordKind {
	k, _ := storage.KindOf(int64(code))
	return k
}

// entry returns e as a resync.ChangeLogEntry.
func (e *logEntry) entry() resync.ChangeLogEntry {
	b := e.batch
	return resync.ChangeLogEntry{Seq: e.seq(), Tenant: b.tenant, ConnectionID: b.conn, RunID: b.run, ChangeSetID: b.changeSet,
		Op: opOf(e.op), Kind: kindOf(e.kind), Key: e.key, Fingerprint: e.fp, PrevFingerprint: e.prevFP, At: b.at,
		Before: e.before(), After: e.after, By: b.by}
}

// logBlock is the number of entries in a full block of a change log.
const logBlock = 4096

// changeLog is a tenant's change log in Seq order, in blocks of logBlock
// entries, every block full but the last. One slice would be copied whole
// each time it grew, under s.mu and out of the garbage collector's reach:
// seconds for a log of millions of entries. A full block is never copied;
// only the first grows, and to logBlock entries at most, so that a tenant
// with a short log costs no more than its entries.
type changeLog struct {
	blocks [][]logEntry
}

// add appends e, whose Seq is above every entry's.
func (l *changeLog) add(e logEntry) { *l.next() = e }

// next appends a zero entry for the caller to fill in field by field,
// whose Seq will be above every entry's, and returns it. Filling it in place
// spares the bulk write barrier of copying a logEntry value, which costs
// while the garbage collector runs.
func (l *changeLog) next() *logEntry {
	n := len(l.blocks)
	if n == 0 {
		l.blocks = [][]logEntry{nil}
		n = 1
	}
	blk := l.blocks[n-1]
	if len(blk) == logBlock {
		blk = make([]logEntry, 0, logBlock)
		l.blocks = append(l.blocks, blk)
		n++
	} else if len(blk) == cap(blk) {
		blk = slices.Grow(blk, 1)
	}
	blk = blk[:len(blk)+1]
	l.blocks[n-1] = blk
	return &blk[len(blk)-1] // zero: blocks only grow, and fresh
}

// after yields the entries with Seq above seq, in Seq order, for reading
// or changing in place; a nil log has none. Finding the first costs
// O(log n).
func (l *changeLog) after(seq int64) iter.Seq[*logEntry] {
	return func(yield func(*logEntry) bool) {
		if l == nil {
			return
		}
		// The first block whose last entry is after seq, then the entry.
		b, _ := slices.BinarySearchFunc(l.blocks, seq, func(blk []logEntry, seq int64) int {
			return afterCmp(blk[len(blk)-1], seq)
		})
		for ; b < len(l.blocks); b++ {
			blk := l.blocks[b]
			i, _ := slices.BinarySearchFunc(blk, seq, afterCmp)
			for ; i < len(blk); i++ {
				if !yield(&blk[i]) {
					return
				}
			}
		}
	}
}

// afterCmp orders e before every position after seq: -1 if e.seq <= seq,
// else +1.
func afterCmp(e logEntry, seq int64) int {
	if e.seq() <= seq {
		return -1
	}
	return 1
}

// deleteFunc deletes the entries for which del is true.
func (l *changeLog) deleteFunc(del func(*logEntry) bool) {
	var kept changeLog
	for e := range l.after(math.MinInt64) {
		if !del(e) {
			kept.add(*e)
		}
	}
	*l = kept
}
