// Package resynchttp serves a resync Engine over HTTP: the admin API a host
// platform mounts so that its admin pages can plan, start, follow, cancel
// and decide on resyncs, and read a tenant's people, accounts and change
// log, without writing any of it.
//
//	h, err := resynchttp.New(engine, resynchttp.Config{
//		Authenticate: func(r *http.Request) (string, resync.Principal, error) {
//			s, err := sessions.Get(r) // the host's own session or token
//			if err != nil {
//				return "", resync.Principal{}, err
//			}
//			return s.Tenant, resync.Principal{ID: s.UserID, Email: s.Email, Name: s.Name}, nil
//		},
//	})
//	mux.Handle("/resync/", http.StripPrefix("/resync", h))
//
// # Routes
//
// Relative to where the handler is mounted; every route acts on the tenant
// that Config.Authenticate returns, for the principal it returns, and the
// Engine's Authorizer decides whether that principal may.
//
//	POST /plan                     what a resync would touch: {"Scope": ...} → Plan
//	POST /runs                     start a resync: {"Scope": ...} → 202, RunInfo, Location
//	GET  /runs                     the tenant's runs, newest first (?trigger= &status= &limit=)
//	GET  /runs/{id}                a run's status and per-connection progress
//	POST /runs/{id}/cancel         cancel a run → 204
//	GET  /held                     change sets held by the delete guard
//	GET  /held/decided             decided ones, newest first (?limit=)
//	POST /held/{id}/approve        apply a held set: optional {"Reason": "..."} → HeldSummary
//	POST /held/{id}/reject         discard it: optional {"Reason": "..."} → HeldSummary
//	POST /connections/{id}/check   test a connection → {"OK": bool, "Error", "Permanent"}
//	GET  /records                  records across connections (?connection= &type= &kind=
//	                               &email= &identity= &status= &removed= &cursor= &limit=)
//	                               → {"Records": [...], "Next": cursor}
//	GET  /people/{person}          every identity and account of one email or
//	                               identity key, each with Active
//	GET  /changes                  the change log (?connection= &run= &key= &kind= &op=
//	                               &since= &until= (RFC 3339) &after= &limit=)
//	                               → {"Entries": [...], "Next": after}
//	GET  /events                   the tenant's event stream (see Event stream)
//	GET  /runs/{id}/events         one run's event stream
//
// With Config.Linker (package linking), who holds what:
//
//	GET  /people/{person}/access   a person (email or identity) and every account
//	                               linked to them, with its situation
//	GET  /links                    accounts and their situations (?connection= &situation=
//	                               &person= &cursor= &limit=) → {"Links": [...], "Next": cursor}
//	GET  /findings                 offboarding gaps, orphaned, no MFA, unused (?kind= &open=
//	                               &connection= &account= &person= &run= &since= &until=
//	                               &after= &limit=) → {"Findings": [...], "Next": after}
//	GET  /decisions                admins' linking decisions (?connection= &account=
//	                               &current= &after= &limit=)
//	POST /decisions                link, unlink or mark a service account: {"ConnectionID",
//	                               "AccountKey", "Kind", "Person", "Reason"} → 201, Decision
//	GET  /accounts.csv             every account with its person and situation, for auditors
//
// A run's "Findings" (GET /runs/{id}) counts the findings it opened by
// kind; GET /findings?kind=offboarding_gap&run={id} lists them, the
// address a completion email links to.
//
// Ids in paths are path-escaped by the client (a held change set's id
// contains "/": url.PathEscape, encodeURIComponent). A scope is the JSON of
// resync.Scope: {"Kind": "personnel"}, or
// {"Kind": "accounts", "Types": ["infrastructure"], "Providers": ["aws"]},
// or with "ConnectionIDs" for selected connections. Responses are the JSON
// of the engine's types (go doc resync.RunInfo, resync.HeldSummary,
// resync.StoredRecord, resync.ChangeLogEntry), field names as in Go;
// connections appear without their Settings.
//
// # Errors
//
// Every error is an RFC 9457 problem (application/problem+json, see
// Problem): 400 for a malformed body or query (unknown fields and
// parameters are refused, not ignored), 401 when Authenticate fails, 403
// when the Authorizer refuses or a cross-site request is refused, 404 for
// an id the tenant does not have (another tenant's ids included: they are
// not found, never forbidden, so their existence does not leak), 409 for a
// decision on a change set that is no longer held, 413 for a body over
// Config.MaxBodyBytes, 415 for a body that is not application/json, 422
// for a scope the engine refuses, 503 while the engine closes. A 500 says
// nothing but "internal error"; the error goes to Config.Logger. No answer
// carries a stack trace, a credential or a connection's settings.
//
// # Event stream
//
// GET /events serves Server-Sent Events (text/event-stream) of the tenant's
// runs; GET /runs/{id}/events those of one run. Events:
//
//   - started, held, decided, completed: an in-product notification (the
//     JSON of resync.Notification: its Kind, Recipients, Run and, for held
//     and decided, Held), read from the engine's durable record of
//     notifications (Engine.Notifications) in the order they were stored.
//     Each has an id; a client that reconnects sends the last one it saw as
//     Last-Event-ID (EventSource does) and gets every event after it, none
//     twice, however long it was away.
//   - progress: the JSON of resync.RunInfo of a run in progress, when it
//     changed, at most once per Config.EventPoll (default twice a second).
//     Progress has no id: a client that falls behind or reconnects misses
//     intermediate states, never a lifecycle event.
//   - error: the stream ends ({"detail": ...}), e.g. while the engine closes.
//
// A stream with no Last-Event-ID starts after the newest event. It needs
// resync.ActionViewRuns, and a Store that keeps a notification log
// (memstore, stores/sqlite and stores/postgres do; else 422). Streams never
// slow a run: each reads the store on its own schedule, and a client that
// stops reading blocks only its own stream. A comment line every 15 s of
// silence keeps proxies from closing it.
//
// # Cross-site requests
//
// State-changing routes (POST) are protected with Go's
// http.CrossOriginProtection: a request a browser marks as cross-site
// (Sec-Fetch-Site) or whose Origin is another host's is refused with 403,
// unless its origin is one of Config.TrustedOrigins. They also take only
// application/json bodies, which an HTML form cannot send. What the host
// must add: authentication that a cross-site page cannot replay by itself
// (SameSite=Lax or Strict session cookies, or a bearer token the page sets
// in a header), and HTTPS. GET routes change nothing and are not checked.
package resynchttp
