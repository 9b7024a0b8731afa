package resync

import (
	"context"
	"fmt"
)

// notificationLog is storage.NotificationLog, which the engine detects on
// its Store.
type notificationLog interface {
	Notifications(ctx context.Context, tenant string, afterSeq int64, limit int) ([]Notification, error)
}

// maxNotificationsPage bounds a page of Engine.Notifications.
const maxNotificationsPage = 1000

// Notifications returns the tenant's notifications in the order the Store
// enqueued them, delivered or not: those after afterSeq (the Seq of the
// last one the caller has seen; 0 for the first), at most limit of them
// (100 if 0, at most 1000), each with its Seq. A negative afterSeq returns
// the last limit ones: where a reader that wants only what comes next
// starts. It is the durable record of what was notified, for an admin
// page's event stream and in-product notices; it needs ActionViewRuns.
//
// It needs a Store that keeps its notifications (storage.NotificationLog:
// memstore, stores/sqlite and stores/postgres do); with another it fails
// with ErrInvalidRequest.
func (e *Engine) Notifications(ctx context.Context, tenant string, by Principal, afterSeq int64, limit int) ([]Notification, error) {
	if err := e.authorize(ctx, tenant, by, ActionViewRuns); err != nil {
		return nil, err
	}
	if limit < 0 || limit > maxNotificationsPage {
		return nil, fmt.Errorf("%w: limit %d is not between 0 and %d", ErrInvalidRequest, limit, maxNotificationsPage)
	}
	if limit == 0 {
		limit = 100
	}
	s := ungated(e.cfg.Store)
	if err := live(ctx, "listing notifications of tenant %q", tenant); err != nil {
		return nil, err
	}
	log, ok := s.(notificationLog)
	if !ok {
		return nil, fmt.Errorf("%w: the Store keeps no notification log (storage.NotificationLog)", ErrInvalidRequest)
	}
	ns, err := log.Notifications(ctx, tenant, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("resync: listing notifications of tenant %q: %w", tenant, err)
	}
	return ns, nil
}
