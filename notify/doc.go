// Package notify delivers resync notifications to more than one place, and
// holds what the notifier backends share.
//
// A host gives the engine one resync.Notifier. To deliver to several
// backends (in-product notices through the host's own notifier, email
// through notify/email, signed webhooks through notify/webhook), wrap them
// in a Fanout:
//
//	notifier := notify.Fanout{inApp, mailer, hooks}
//
// # Fan-out
//
// Fanout.Notify calls every backend concurrently and waits for all of
// them; the result joins their errors with errors.Join, each prefixed with
// the backend's position. A backend that is down or slow does not delay
// delivery through the others: each runs in its own goroutine, and Notify
// returns when the last one returns (each backend must honour ctx, as the
// resync.Notifier contract asks).
//
// When the engine retries a Fanout whose delivery failed in one backend,
// every backend is called again, so the others deliver the notification
// twice. That is why every backend passes on the notification's
// idempotency key (Key): receivers drop what they have already seen.
// Retry classification: the joined error is permanent (resync.IsPermanent)
// only if every failing backend's error is permanent, and carries the
// longest of their resync.RetryAfter delays.
//
// # Idempotency key
//
// Key returns a notification's idempotency key: its ID, which the engine
// sets to a value that is the same on every delivery attempt and different
// for every other notification. For a notification without an ID (one a
// host builds itself) Key derives a stable one from what identifies it.
//
// # Header values
//
// SafeHeader turns a value from tenant or provider data (a name, a tenant
// ID, a connection's name) into one line, so that a backend can put it in
// a mail or HTTP header without letting CR or LF start a header of the
// data's choosing.
package notify
