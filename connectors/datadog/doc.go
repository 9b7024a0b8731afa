// Package datadog is a resync connector for Datadog: it reads the users of a
// Datadog organization, with their status, roles and MFA, as accounts of an
// Observability connection. It speaks the API v2 over the connector kit
// (package connkit) and needs nothing beyond the standard library.
//
// Register it for the provider name the host uses:
//
//	resync.Config{
//		Connectors: map[string]resync.ConnectorFactory{
//			"datadog": datadog.NewFactory(datadog.Config{Logger: logger}),
//		},
//	}
//
// # Configuration
//
// Connection.Settings:
//
//   - "api_key" and "application_key" (required): an API key and an
//     application key of the organization, sent as the DD-API-KEY and
//     DD-APPLICATION-KEY headers
//     (https://docs.datadoghq.com/api/latest/authentication/). The
//     application key needs the user_access_read permission (scope).
//     Secrets: put secret references ("secret:<ref>") in the settings,
//     which the factory resolves with resync.Secret through the engine's
//     Config.Secrets. The keys never appear in an error or a log line (a
//     response body that echoes one has it redacted), and are sent only to
//     the site's API host.
//   - "site" (optional): the Datadog site of the organization, as DD_SITE
//     spells it — "datadoghq.com" (the default, US1), "us3.datadoghq.com",
//     "us5.datadoghq.com", "datadoghq.eu", "ap1.datadoghq.com",
//     "ap2.datadoghq.com", "uk1.datadoghq.com", "ddog-gov.com" (US1-FED) or
//     "us2.ddog-gov.com" — or its short name ("US1", "US3", "US5", "EU1",
//     "AP1", "AP2", "UK1", "US1-FED", "US2-FED"), in any case. The site
//     decides the API host (Sites): api.datadoghq.eu for datadoghq.eu, and
//     so on.
//   - "page_size" (optional): users per request, 1 to 100, default 100
//     (the largest page[size] Datadog accepts).
//
// Any other setting is an error, so that a misspelled one is not silently
// ignored. New checks the settings without asking Datadog. Config.BaseURL
// replaces the site's URL for every connection (a proxy; tests).
//
// # Records
//
// Every user of GET /api/v2/users
// (https://docs.datadoghq.com/api/latest/users/#list-all-users), disabled
// and pending ones included, is an Account keyed by the user's id, a UUID
// Datadog never changes (the email and handle can change):
//
//	Datadog field                 Account
//	id                            Key
//	attributes.handle             Username
//	attributes.email              OwnerEmail
//	attributes.name               DisplayName
//	attributes.status, disabled   Status
//	attributes.service_account    Type (service, else human)
//	attributes.mfa_enabled        MFA (unknown when the field is absent)
//	relationships.roles           Roles (the roles' names)
//
// Status: "Active" is StatusActive; "Pending" (invited, the invitation not
// yet accepted) is StatusActive too, since the invitation grants the access
// the moment it is accepted; "Disabled", or the disabled flag, is
// StatusDeprovisioned: Datadog never deletes a user, disabling is how one
// is removed. Datadog's status is kept in Attributes["datadog_status"],
// with "disabled", "verified", "title", "created_at" and "role_ids" (the
// roles' IDs, sorted, comma-separated). A user the list no longer
// returns is removed by the engine, a tombstone subject to the delete
// guard.
//
// Roles come from the same response: each user's relationships name its
// role IDs and the document's included list names the roles, so there is
// no request per user or per role. A role missing from included is listed
// by its ID.
//
// A user of an unexpected shape (a field of the wrong type, an unknown
// status, no id) does not stop the read: it is reported in Page.Rejected as
// a *resync.RecordError naming its id, so its stored version is kept.
//
// Datadog has no groups for users (teams are a separate product) and does
// not give a last login time, so accounts carry neither.
//
// # Capabilities
//
// Paging: page numbers (page[number] from 0, page[size]); the cursor is the
// page number. meta.page.total_count ends the read on its last page without
// asking for an empty one, and is Page.Total, for progress. A read costs
// ceil(users / page size) requests, the fewest the API allows. The list is
// not a snapshot: a user invited while a read is under way may move others
// one place forward, and a user a page returns again (read first on an
// earlier page) is yielded once.
//
// resync.HealthChecker: CheckHealth asks for one user, which fails as a
// read would on rejected keys, a missing permission or an unreachable site.
//
// No incremental reads: every read is a full read.
//
// # Errors
//
// Errors are the kit's *connkit.HTTPError (method, URL, status and the
// start of the body, Datadog's {"errors":[...]}), classified:
//
// resync.Permanent (the engine does not retry them): a bad setting (also
// wrapping resync.ErrInvalidRequest); 401 and 403 (rejected keys, or an
// application key without user_access_read; a 403 with the quota spent is
// throttling, as below); 400, 404 and any other 4xx but 408 and 429; a body
// that is not the users list (wrapping ErrMalformed); a body over the kit's
// size limit.
//
// Retried by the engine: network errors, 408 and 5xx, with its backoff. A
// canceled context returns an error wrapping ctx.Err().
//
// # Rate limits
//
// Datadog limits its endpoints per organization and sends the limit on
// every response (https://docs.datadoghq.com/api/latest/rate-limits/):
// X-RateLimit-Limit requests per X-RateLimit-Period seconds,
// X-RateLimit-Remaining left, X-RateLimit-Reset seconds until the period
// ends. The connector reads them on every response: once Remaining is 0,
// Page.NotBefore asks the engine to wait for the reset before the next page,
// so a read that keeps within the advertised limit is not refused. A 429 is
// returned as resync.RetryAfter with Retry-After if present, else the
// reset: the engine waits at least that long and asks for the same page
// again, or ends the read as throttled (resync.ErrThrottled, nothing
// applied) when the wait is longer than the read has left.
package datadog
