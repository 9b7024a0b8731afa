// Package google is a resync connector for Google Workspace: it reads the
// users, groups and group members of a Workspace account through the Admin
// SDK Directory API (google.golang.org/api/admin/directory/v1), as a
// service account with domain-wide delegation acting for an admin.
//
// Register it for the provider name the host uses:
//
//	resync.Config{
//		Connectors: map[string]resync.ConnectorFactory{
//			"google": google.NewFactory(google.Config{Logger: logger}),
//		},
//	}
//
// This package is its own module, so that a host that does not use it does
// not get the Google client libraries in its module graph. It needs Go 1.26.
//
// # Configuration
//
// Connection.Settings:
//
//   - "credentials_json" (required): the service account's JSON key, as the
//     Google Cloud console downloads it. A secret: put a secret reference
//     ("secret:<ref>") in the settings, which the factory resolves with
//     resync.Secret through the engine's Config.Secrets. The key, and the
//     access tokens obtained with it, never appear in an error or a log
//     line.
//   - "subject" (required): the email of the admin the service account acts
//     as. In the Admin console (Security > API controls > Domain-wide
//     delegation) the service account's client ID must be granted the
//     scopes in Scopes, both read-only:
//     https://www.googleapis.com/auth/admin.directory.user.readonly and
//     https://www.googleapis.com/auth/admin.directory.group.readonly.
//   - "customer" (optional): the customer ID whose users and groups are
//     read; default "my_customer", the subject's own account. Or "domain":
//     read the users and groups of that one domain only. Not both.
//   - "groups" (optional): "true" (the default) reads groups and their
//     members after the users; "false" reads users only.
//   - "page_size" (optional): users per request, 1 to 500, default 500
//     (the most Google allows). "group_page_size": groups and members per
//     request, 1 to 200, default 200.
//
// Any other setting is an error, so that a misspelled one is not silently
// ignored. New checks the settings and parses the key without asking
// Google.
//
// Config, the same for every connection: the HTTP client (its transport
// also carries the token requests), the API endpoint (tests point it at a
// local server; the token endpoint is the key's token_uri), the wait after
// a rate-limit error without Retry-After, and a logger for the library's
// request logs.
//
// # Records
//
// An IdP (or HRIS) connection's users are Identity records; any other
// type's (an access review of Workspace accounts) are Account records.
// Groups are Group records in both. Every record is keyed by Google's
// immutable ID (the user's or group's "id"), never the email, which an
// admin can rename. From a user
// (https://developers.google.com/workspace/admin/directory/reference/rest/v1/users):
//
//	Google field                        Identity     Account
//	id                                  Key          Key
//	primaryEmail                        Email        Username, OwnerEmail
//	name.fullName                       Name         DisplayName
//	suspended, archived                 Status       Status
//	isEnrolledIn2Sv                     MFA          MFA
//	lastLoginTime                       LastLogin    LastLogin
//	organizations (primary, else first) Title, Department (Attributes)
//	externalIds of type "organization"  EmployeeID   EmployeeID
//	relations of type "manager"         Manager (the manager's email)
//	isAdmin, isDelegatedAdmin           Attributes   Roles "super_admin", "delegated_admin"
//
// Status: archived (an Archived User license, a former employee kept for
// retention, who cannot sign in) is StatusDeprovisioned, whether or not
// also suspended; suspended is StatusSuspended; any other user is
// StatusActive. Google's own state is kept in Attributes["google_state"]
// ("active", "suspended", "archived"), with "suspended", "archived",
// "suspension_reason", "is_enrolled_in_2sv", "is_enforced_in_2sv",
// "is_admin", "org_unit_path", "creation_time" and "cost_center". A user
// Google has deleted is no longer listed: the engine removes its record
// (a tombstone, subject to the delete guard). A lastLoginTime of the Unix
// epoch, which Google gives a user who never signed in, is no last login.
//
// A group has its name (else its email) as Name and the IDs of its members
// of type USER as Members, so its members are identity keys; nested groups,
// the whole customer and external members are left out. The group's member
// list is the authoritative side of a membership; users carry no Groups.
//
// A user or group without an id, or a user whose fields are not of
// Google's documented shapes, does not stop the read: it is reported in
// Page.Rejected as a *resync.RecordError naming the listing and the id.
//
// # Capabilities
//
// Paging: page tokens (maxResults, pageToken, nextPageToken). Users first,
// then each page of groups, then, for each group of that page with members
// (directMembersCount above 0), its member list a page at a time. A group
// is yielded once, on the page that completes its member list; the member
// keys gathered so far are kept by the connector, and a read continued in
// another process (which does not have them) is started over
// (resync.RestartRead). Cursors are "u?t=<token>", "g?t=<token>" and
// "m?g=<groups page token>&i=<index>&t=<members page token>".
//
// Requests per read: one per users page, one per groups page, and one per
// page of each non-empty group's members, at the largest page sizes Google
// allows (500 users, 200 groups, 200 members) — the fewest the Directory
// API allows, as it has no call that lists all memberships at once; groups
// without direct members cost none. Plus one token request per hour of
// reading (tokens are reused until they expire). Only the fields mapped
// are asked for (the fields parameter).
//
// resync.HealthChecker: CheckHealth lists one user, which fails as a read
// would on a rejected key, a missing delegation or an unreachable API.
//
// No incremental reads: every read is a full read.
//
// # Errors
//
// A failed request becomes an *Error with the API method ("users.list",
// "groups.list", "members.list", or "token"), the HTTP status, Google's
// reason (the first of its error items, or the token endpoint's error code)
// and message; access tokens are removed from it.
//
// resync.Permanent (the engine does not retry them): a bad setting (also
// wrapping resync.ErrInvalidRequest); the token endpoint refusing the key
// (400 invalid_grant: a deleted or wrong key, a subject that is not a user;
// unauthorized_client: no domain-wide delegation for the scopes); 401; 403
// other than the rate limits below (forbidden: the subject is not an admin
// allowed to read users; domainCannotUseApis); 404 (an unknown customer or
// domain); any other 4xx but 408 and 429.
//
// Retried by the engine: network errors, 408 and 5xx (Google's
// backendError), with the engine's backoff, and with at least the
// Retry-After when the response has one. A canceled context returns an
// error wrapping ctx.Err().
//
// # Rate limits
//
// Google documents a default of 2,400 queries per minute per user per
// Cloud project for the Admin SDK
// (https://developers.google.com/workspace/admin/directory/v1/limits),
// with 403 userRateLimitExceeded, and 403 quotaExceeded for too many
// concurrent requests, and asks for exponential backoff; Google's front
// ends also answer 429 (rateLimitExceeded). All of these are throttling:
// the connector returns resync.RetryAfter with the response's Retry-After
// (measured against its Date header), or Config.ThrottleWait (default 10s)
// when it has none, and the engine waits at least that long before asking
// for the same page again, with its growing backoff on repeats, or ends the
// read as throttled when the wait is longer than the read has left.
// Successful responses carry no rate-limit fields, so there is no
// Page.NotBefore. The client library's own retries are not used: list calls
// go out once (the library's retrying applies only to uploads), so the
// engine's retry counts pages.
package google
