// Package webhook delivers resync notifications as signed HTTP POST
// requests with a JSON body: to a chat bridge, a ticketing system or the
// host's own event bus.
//
//	hooks, err := webhook.New(webhook.Config{
//		URL:    "https://hooks.example.com/resync",
//		Secret: secretFromVault, // "whsec_..." or at least 16 bytes
//	})
//
// Pass the Notifier as Config.Notifier, alone or in a notify.Fanout.
//
// # Requests
//
// Each notification is one POST with Content-Type application/json and a
// Payload body, version 1 (Payload documents every field; a receiver can
// decode into it). Three headers follow the Standard Webhooks
// specification (https://www.standardwebhooks.com), so its receiver
// libraries verify them too:
//
//   - Webhook-Id: the notification's idempotency key (Payload.ID, from
//     resync.Notification.ID). It is the same on every delivery attempt of
//     one notification and different for every other: a receiver that has
//     seen an ID must drop the request and answer 2xx. Deliveries are at
//     least once, so duplicates do happen.
//   - Webhook-Timestamp: when this attempt was sent, in Unix seconds.
//   - Webhook-Signature: "v1," followed by the base64 (standard, padded)
//     HMAC-SHA256, keyed with the secret, of the Webhook-Id, a ".", the
//     Webhook-Timestamp, a ".", and the body, byte for byte. Several
//     space-separated signatures may appear in the future (while a secret
//     is rotated); one valid v1 signature is enough.
//
// The secret is the key's bytes, or for a secret written "whsec_<base64>"
// the decoded base64, as Standard Webhooks writes them.
//
// # Verifying on the receiver
//
// Verify checks the signature and that the timestamp is within Tolerance
// (five minutes) of the receiver's clock, which bounds how long a captured
// request can be replayed; deduplicating by Webhook-Id rejects replays
// within that window. Read the body as it arrived, verify, then decode:
//
//	func handle(w http.ResponseWriter, r *http.Request) {
//		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
//		if err != nil {
//			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
//			return
//		}
//		if err := webhook.Verify(secret, r.Header, body, time.Now()); err != nil {
//			http.Error(w, "bad signature", http.StatusUnauthorized)
//			return
//		}
//		if seen(r.Header.Get(webhook.HeaderID)) {
//			return // a redelivery: 200, nothing to do
//		}
//		var p webhook.Payload
//		if err := json.Unmarshal(body, &p); err != nil || p.Version != webhook.Version {
//			http.Error(w, "unsupported payload", http.StatusBadRequest)
//			return
//		}
//		// act on p.Type, p.Run, p.Held ...
//	}
//
// # Retries
//
// Notify makes one attempt and classifies its failure with resync's
// error classification; the engine's delivery retries with backoff, so
// there is one retry policy for every notifier instead of a loop inside
// each (nested loops multiply attempts and hold a delivery slot while they
// sleep):
//
//   - 2xx: delivered.
//   - 5xx, 408, 429, a timeout (Config.Timeout, default ten seconds, from
//     sending to the response headers) and network errors: a transient
//     error, retried. With a Retry-After header (seconds or an HTTP date,
//     capped at a day) the error is resync.RetryAfter and the next attempt
//     waits at least that long.
//   - Other 4xx, 3xx (redirects are never followed, as the signed request
//     would go elsewhere) and certificate errors: resync.Permanent, not
//     retried.
//   - The caller's context ending: its error, not retried.
//
// # Secrets
//
// The secret signs requests and is never sent, put in an error, or
// printed by fmt or log/slog (Config's String, GoString and LogValue
// redact it). Errors name the receiver's host only: webhook URLs often
// carry a token in their path or query.
package webhook
