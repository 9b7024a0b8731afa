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
