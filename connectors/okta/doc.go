// Package okta is a resync connector for Okta: it reads an org's users,
// of every status, its groups and their members, and, when asked, each
// user's MFA enrollment, over Okta's management API (/api/v1).
//
// Register it for the connections whose provider is Okta:
//
//	resync.Config{
//		Connectors: map[string]resync.ConnectorFactory{
//			"okta": okta.NewFactory(okta.Config{Logger: logger}),
//		},
//	}
//
// # Configuration
//
// Connection.Settings:
//
//   - "url" (required): the org's URL, https only, without a path
//     (https://acme.okta.com, or a custom domain). The connector reads
//     url/api/v1/users and url/api/v1/groups.
//   - "token": an API token, sent as "Authorization: SSWS <token>"; or
//     "access_token": an OAuth 2.0 access token with the okta.users.read
//     and okta.groups.read scopes (factors need okta.users.read too),
//     sent as "Authorization: Bearer <token>". One of the two is
//     required, unless Config.Auth is set (a token source, renewed on a
//     401, for an Okta service app). Each may be a secret reference
//     ("secret:<ref>"), which the factory resolves with resync.Secret
//     through the engine's Config.Secrets. Credentials never appear in
//     an error or a log line, and are sent only to the url's host.
//   - "groups" (optional): "true" (the default) reads the groups and
//     their members after the users; "false" reads users only.
//   - "mfa" (optional): "true" reads each user's enrolled factors, which
//     costs one request per user (see Rate limits); "false" (the
//     default) leaves Identity.MFA unknown.
//   - "page_size" (optional): users per request, 1 to 200; default 200,
//     or 25 with "mfa" on (each of those users costs a request more).
//   - "group_page_size" (optional): groups per request, 1 to 10000,
//     default 1000. "member_page_size": a group's members per request, 1
//     to 1000, default 1000.
//
// Any other setting is an error, so that a misspelled one is not silently
// ignored. New checks the settings without asking Okta.
//
// # Records
//
// Users are Identity records, keyed by the Okta user id (00u...), which
// never changes; the login and email can. Users of every status are read:
// a plain list leaves DEPROVISIONED users out, so the list is asked for
// with a filter naming all eight statuses. From a User:
//
//	Okta                          Identity
//	id                            Key
//	status                        Status, and Attributes["status"]
//	profile.email                 Email
//	profile.displayName, else     Name
//	  firstName lastName
//	profile.title                 Title
//	profile.department            Department
//	profile.employeeNumber        EmployeeID
//	profile.managerId, else       Manager
//	  profile.manager
//	lastLogin                     LastLogin
//	factors (with "mfa")          MFA
//
// profile.login, firstName, lastName, division, organization,
// costCenter and userType, type.id and the activation time are kept in
// Attributes under those names ("type.id", "activated").
//
// Statuses (see Status): ACTIVE, RECOVERY (a password reset under way),
// PASSWORD_EXPIRED and LOCKED_OUT are active: the person holds an
// account they can get back into. STAGED and PROVISIONED (not yet
// activated, no sign-in possible) and SUSPENDED are suspended.
// DEPROVISIONED is deprovisioned. A status Okta does not document is
// rejected (Page.Rejected, keyed by the user id), so the stored version
// of that user is kept.
//
// MFA is enabled when the user has a factor whose status is ACTIVE,
// disabled when none is (none enrolled, or only pending ones), and
// unknown when "mfa" is off or the user was deleted between the list and
// the factors request.
//
// Groups (OKTA_GROUP, APP_GROUP and the built-in Everyone) are Group
// records keyed by the group id (00g...), named by profile.name, with
// their members' user ids as Members. Identity.Groups stays empty: the
// groups' member lists are authoritative.
//
// # Capabilities
//
// Paging: Okta's Link headers (rel="next", with its opaque after
// cursor), users first, then groups. A group's members are read one page
// per ReadPage at the largest page size, and the group is returned once,
// on the page that completes its member list; the member keys gathered so
// far are held by the connector, so a retried page adds nothing twice. A
// read resumed by a connector that does not hold them (another process)
// returns resync.RestartRead and starts again from the first page.
// Re-reading any cursor is safe.
//
// A ReadPage makes one request, or two when it starts a new page of
// groups; with "mfa" on, a users page makes one more per user whose
// factors this read has not yet read (a retried page does not ask again).
//
// Requests per read, with U users, G groups and M_g members in group g:
// ceil(U/200) + ceil(G/1000) + sum over groups of max(1, ceil(M_g/1000)),
// the fewest Okta's API allows for users and memberships (it has no
// listing of all memberships at once). With "mfa" on, add U factors
// requests and use ceil(U/25) users requests: Okta's API has no bulk read
// of factors (the MFA enrollment report is in the Admin Console only).
//
// resync.HealthChecker: CheckHealth asks for one user.
//
// No incremental reads: every read is a full read.
//
// # Errors
//
// An Okta error body (errorCode, errorSummary, errorId) becomes an
// *Error, whose message says them: "okta: GET
// https://acme.okta.com/api/v1/users?...: 401 E0000011: Invalid token
// provided (errorId oae...)". It unwraps to the kit's *connkit.HTTPError.
//
// resync.Permanent (the engine does not retry them): a bad setting (also
// wrapping resync.ErrInvalidRequest); 401 (E0000011, a rejected token:
// one request, not retried), 403 (E0000006, a token without the
// permission; a 403 with the quota spent is throttling, as below), 404,
// and any other 4xx but 408 and 429; a body that is not the JSON
// expected; a cursor not made by this connector.
//
// Retried by the engine: network errors, 408 and 5xx (Retry-After
// honoured when sent). A canceled context returns ctx.Err().
//
// # Rate limits
//
// Okta limits requests per endpoint per minute, org-wide, and says where
// a client stands on every response: X-Rate-Limit-Limit,
// X-Rate-Limit-Remaining and X-Rate-Limit-Reset, the reset as UTC epoch
// seconds (https://developer.okta.com/docs/reference/rl-best-practices/).
// The connector reads them on every response, measured against the
// response's Date header. It slows down before a 429: when what remains
// of the window would not cover the next page's requests plus a tenth of
// the limit, left to the org's other clients, the page's
// Page.NotBefore is the reset time, and the engine waits until then
// before asking for the next page. A 429 (E0000047) is returned as
// resync.RetryAfter with the wait until X-Rate-Limit-Reset (or
// Retry-After): the engine asks for the same page again then, or ends the
// read as throttled when the wait is longer than the read has left.
// Requests go through the connector kit's client (package connkit),
// which never retries by itself and logs one Debug line per request to
// Config.Logger, credentials redacted.
package okta
