package webhook_test

import (
	ctx "context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/notify/webhook"
)

// A receiver verifies each request before it trusts the body, and drops a
// notification it has already handled by its Webhook-Id.
func ExampleVerify() {
	const secret = "whsec_c2VjcmV0LWtleS1vZi0yNC1ieXRlcyEh" // shared with the sender
	seen := map[string]bool{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := webhook.Verify(secret, r.Header, body, time.Now()); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(webhook.HeaderID)
		if seen[id] {
			fmt.Println("duplicate dropped:", id)
			return
		}
		seen[id] = true
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil || p.Version != webhook.Version {
			http.Error(w, "unsupported payload", http.StatusBadRequest)
			return
		}
		fmt.Printf("%s: run %s of tenant %s is %s\n", p.Type, p.Run.ID, p.Tenant, p.Run.Status)
	}))
	defer receiver.Close()
	defer receiver.Client().CloseIdleConnections()

	hooks, err := webhook.New(webhook.Config{URL: receiver.URL, Secret: secret, Client: receiver.Client()})
	if err != nil {
		fmt.Println(err)
		return
	}
	n := resync.Notification{
		ID: "run-1/run_completed/email", Kind: resync.NotifyRunCompleted, Channel: resync.ChannelEmail,
		Tenant: "acme", Run: resync.RunInfo{ID: "run-1", Tenant: "acme", Status: resync.RunSucceeded},
	}
	for range 2 { // a redelivery, as after a lost response
		if err := hooks.Notify(ctx.Background(), n); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// run_completed: run run-1 of tenant acme is succeeded
	// duplicate dropped: run-1/run_completed/email
}

// The JSON a receiver gets (version 1).
func ExampleNewPayload() {
	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	admin := resync.Principal{ID: "u-1", Email: "ada@example.com", Name: "Ada"}
	n := resync.Notification{
		ID: "run-9c1e/run_completed/email", Kind: resync.NotifyRunCompleted, Channel: resync.ChannelEmail,
		Tenant: "acme", Recipients: []resync.Principal{admin},
		Run: resync.RunInfo{
			ID: "run-9c1e", Tenant: "acme", Scope: resync.AccountsScope(resync.Infrastructure, "aws"),
			Trigger: resync.TriggerAdhoc, Initiator: admin, Status: resync.RunSucceeded,
			CreatedAt: start, FinishedAt: start.Add(time.Minute),
			Connections: []resync.ConnectionResult{{
				ConnectionID: "conn-aws-prod", Provider: "aws", Type: resync.Infrastructure, Name: "AWS prod",
				Status: resync.ConnSucceeded, Read: 310, Updated: 2, Unchanged: 308,
				StartedAt: start, FinishedAt: start.Add(time.Minute),
			}},
		},
	}
	out, _ := json.MarshalIndent(webhook.NewPayload(n), "", "  ")
	fmt.Println(string(out))
	// Output:
	// {
	//   "version": 1,
	//   "id": "run-9c1e/run_completed/email",
	//   "type": "run_completed",
	//   "channel": "email",
	//   "tenant": "acme",
	//   "recipients": [
	//     {
	//       "id": "u-1",
	//       "email": "ada@example.com",
	//       "name": "Ada"
	//     }
	//   ],
	//   "run": {
	//     "id": "run-9c1e",
	//     "scope": {
	//       "kind": "accounts",
	//       "types": [
	//         "infrastructure"
	//       ],
	//       "providers": [
	//         "aws"
	//       ]
	//     },
	//     "trigger": "adhoc",
	//     "initiator": {
	//       "id": "u-1",
	//       "email": "ada@example.com",
	//       "name": "Ada"
	//     },
	//     "status": "succeeded",
	//     "created_at": "2026-03-14T09:00:00Z",
	//     "finished_at": "2026-03-14T09:01:00Z",
	//     "connections": [
	//       {
	//         "id": "conn-aws-prod",
	//         "provider": "aws",
	//         "type": "infrastructure",
	//         "name": "AWS prod",
	//         "status": "succeeded",
	//         "read": 310,
	//         "added": 0,
	//         "updated": 2,
	//         "removed": 0,
	//         "unchanged": 308,
	//         "rejected": 0,
	//         "started_at": "2026-03-14T09:00:00Z",
	//         "finished_at": "2026-03-14T09:01:00Z"
	//       }
	//     ]
	//   }
	// }
}
