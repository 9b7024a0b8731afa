package memstore

import (
	"cmp"
	"context"
	"slices"

	"github.com/openresync/resync"
	"github.com/openresync/resync/storage"
)

var _ storage.NotificationLog = (*Store)(nil)

// Notifications implements storage.NotificationLog. It costs O(notifications
// kept): the outbox is a map by ID.
func (s *Store) Notifications(ctx context.Context, tenant string, afterSeq int64, limit int) ([]resync.Notification, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var notes []*note
	for k, n := range s.outbox {
		if k.tenant == tenant && (afterSeq < 0 || n.seq > afterSeq) {
			notes = append(notes, n)
		}
	}
	slices.SortFunc(notes, func(a, b *note) int { return cmp.Compare(a.seq, b.seq) })
	if afterSeq < 0 && len(notes) > limit {
		notes = notes[len(notes)-limit:]
	}
	notes = notes[:min(limit, len(notes))]
	out := make([]resync.Notification, len(notes))
	for i, n := range notes {
		out[i] = cloneNote(n.n)
		out[i].Seq = n.seq
	}
	return out, nil
}
