package memstore

import (
	"iter"
	"math"
	"slices"

	resync "github.com/openresync/resync"
)

// logBlock is the number of entries in a full block of a change log.
const logBlock = 4096

// changeLog is a tenant's change log in Seq order, in blocks of logBlock
// entries, every block full but the last. One slice would be copied whole
// each time it grew, under s.mu and out of the garbage collector's reach:
// seconds for a log of millions of entries. A full block is never copied;
// only the first grows, and to logBlock entries at most, so that a tenant
// with a short log costs no more than its entries.
type changeLog struct {
	blocks [][]resync.ChangeLogEntry
}

// add appends e, whose Seq is above every entry's.
func (l *changeLog) add(e resync.ChangeLogEntry) {
	n := len(l.blocks)
	if n == 0 {
		l.blocks = [][]resync.ChangeLogEntry{nil}
		n = 1
	}
	if len(l.blocks[n-1]) == logBlock {
		l.blocks = append(l.blocks, make([]resync.ChangeLogEntry, 0, logBlock))
		n++
	}
	l.blocks[n-1] = append(l.blocks[n-1], e)
}

// after yields the entries with Seq above seq, in Seq order, for reading
// or changing in place; a nil log has none. Finding the first costs
// O(log n).
func (l *changeLog) after(seq int64) iter.Seq[*resync.ChangeLogEntry] {
	return func(yield func(*resync.ChangeLogEntry) bool) {
		if l == nil {
			return
		}
		// The first block whose last entry is after seq, then the entry.
		b, _ := slices.BinarySearchFunc(l.blocks, seq, func(blk []resync.ChangeLogEntry, seq int64) int {
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

// afterCmp orders e before every position after seq: -1 if e.Seq <= seq,
// else +1.
func afterCmp(e resync.ChangeLogEntry, seq int64) int {
	if e.Seq <= seq {
		return -1
	}
	return 1
}

// deleteFunc deletes the entries for which del is true.
func (l *changeLog) deleteFunc(del func(*resync.ChangeLogEntry) bool) {
	var kept changeLog
	for e := range l.after(math.MinInt64) {
		if !del(e) {
			kept.add(*e)
		}
	}
	*l = kept
}
