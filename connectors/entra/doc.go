// Package entra is a resync connector for Microsoft Entra ID (formerly
// Azure Active Directory): it reads a tenant's users, their MFA
// registration and last sign-in, deleted users still restorable, and the
// groups with their transitive members, over Microsoft Graph v1.0 with an
// app registration's client credentials.
//
// Register it for the connections whose provider is Entra ID:
//
//	resync.Config{
//		Connectors: map[string]resync.ConnectorFactory{
//			"entra": entra.NewFactory(entra.Config{Logger: logger}),
//		},
//	}
//
// The app registration needs the application permissions User.Read.All,
// GroupMember.Read.All, AuditLog.Read.All (signInActivity and the
// registration report) and, for the report,
// UserAuthenticationMethod.Read.All, with admin consent.
//
// # Configuration
//
// Connection.Settings:
//
//   - "tenant_id" (required): the directory (tenant) ID, or a verified
//     domain (contoso.onmicrosoft.com).
//   - "client_id" and "client_secret" (required): the app registration's
//     application (client) ID and a client secret. The secret may be a
//     secret reference ("secret:<ref>"), which the factory resolves with
//     resync.Secret through the engine's Config.Secrets. Both are
//     replaced by Config.Auth when the host sets it (a certificate
//     credential or a managed identity of its own). The secret never
//     appears in an error or a log line, and is sent only to the token
//     endpoint; the token only to Graph.
//   - "sign_in_activity" (optional): "auto" (the default) selects each
//     user's signInActivity where the tenant's licence (Entra ID P1 or
//     P2) allows, and reads on without it, LastLogin left empty, where
//     Graph refuses it for want of one; "true" requires it (the refusal
//     fails the read); "false" never asks.
//   - "mfa" (optional): "auto", "true" or "false", the same for the
//     authentication methods registration report that gives MFA.
//   - "groups" (optional): "true" (the default) reads the groups and
//     their transitive members; "false" reads users only.
//   - "deleted_users" (optional): "true" (the default) reads the deleted
//     users Entra keeps restorable for 30 days, as deprovisioned
//     identities; "false" skips them, and a deleted user is then gone.
//   - "page_size" (optional): the $top asked for, 1 to 999, default 999
//     (Graph answers at most 120 users a page with signInActivity).
//   - "authority" and "graph_url" (optional): the identity platform and
//     Graph origins of a national cloud (https://login.microsoftonline.us
//     and https://graph.microsoft.us); default the global ones
//     (DefaultAuthority, DefaultGraphURL).
//
// Any other setting is an error, so that a misspelled one is not silently
// ignored. New checks the settings without asking anything.
//
// # Records
//
// Users are Identity records keyed by the user's object id, which never
// changes; the userPrincipalName and mail can. From a user:
//
//	Graph                          Identity
//	id                             Key
//	accountEnabled                 Status (false: suspended), Attributes["accountEnabled"]
//	mail, else userPrincipalName   Email (a guest's #EXT# name is not an email)
//	displayName, else givenName    Name
//	  surname
//	employeeId                     EmployeeID
//	jobTitle                       Title
//	department                     Department
//	onPremisesImmutableId          ExternalID
//	signInActivity                 LastLogin: the latest of the interactive,
//	                               non-interactive and successful sign-ins
//	isMfaRegistered (report)       MFA: enabled or disabled; unknown for a
//	                               user the report does not list
//
// userPrincipalName, givenName, surname, userType, companyName,
// officeLocation, createdDateTime and the report's isMfaCapable are kept
// in Attributes under those names.
//
// Deleted users (directory/deletedItems) are deprovisioned identities
// with Attributes["deleted"] "true" and their deletedDateTime: deleting a
// user shows as a deprovisioning, and only the purge, 30 days later, as a
// removal.
//
// Groups are Group records keyed by the group's object id and named by
// displayName. Members are the group's transitive members that are users:
// the users of nested groups are members too; nested groups, devices and
// service principals are left out. Identity.Groups stays empty: the
// groups' member lists are authoritative.
//
// # Capabilities
//
// Paging: Graph's @odata.nextLink (an opaque $skiptoken), in phases: the
// registration report, users, deleted users, groups. The report is read
// first and held by the connector (a user id and two flags per user), so
// each user's MFA is known when the user is read; a users page read by a
// connector that does not hold it (another process) returns
// resync.RestartRead. A group's members are read one page per ReadPage
// and the group returned once, on the page that completes its member
// list; the member keys gathered so far are held, so a retried page adds
// nothing twice. Re-reading any cursor is safe. A group deleted during the
// read (404) is skipped.
//
// A ReadPage makes one Graph request, or two when it starts a new page
// of groups, plus a token request when the token is missing or about to
// expire (tokens are kept until a minute before expires_in).
//
// Requests per read, with U users (R of them in the report, which pages
// at the service's own size P), D deleted users, G groups and M_g members
// of group g: 1 token + ceil(R/P) + ceil(U/120) with signInActivity
// (ceil(U/999) without) + max(1, ceil(D/999)) + ceil(G/999) + the sum
// over groups of max(1, ceil(M_g/999)). That is the fewest Graph allows
// for these fields: MFA comes from the bulk report, not a request per
// user, and Graph has no listing of all memberships at once. An
// unlicensed tenant costs one refused request more for each of the
// report and signInActivity.
//
// resync.HealthChecker: CheckHealth gets a token and asks for one user.
//
// No incremental reads: every read is a full read (Graph's delta query
// is left for a later version).
//
// # Errors
//
// Graph's error body ({"error": {"code", "message", "innerError":
// {"request-id"}}}) and the token endpoint's ({"error",
// "error_description"}) become an *Error, whose message says them:
// "entra: GET https://graph.microsoft.com/v1.0/users?...: 403
// Authorization_RequestDenied: Insufficient privileges to complete the
// operation. (request-id ...)". It unwraps to the kit's
// *connkit.HTTPError.
//
// resync.Permanent (the engine does not retry them): a bad setting (also
// wrapping resync.ErrInvalidRequest); a client the token endpoint refuses
// (401 invalid_client, AADSTS7000215: a wrong secret; 400: an unknown
// tenant or app): one request, to the token endpoint, and none to Graph;
// a token Graph refuses (401) after one renewal; 403 (a missing
// permission; the licence refusal under "true"), 404 and any other 4xx
// but 408 and 429; an answer that is not the JSON documented
// (ErrMalformed); a cursor not made by this connector.
//
// Retried by the engine: network errors, 408 and 5xx, at the token
// endpoint too. A canceled context returns ctx.Err().
//
// # Rate limits
//
// Graph throttles per app and tenant, with limits that differ by service
// (https://learn.microsoft.com/en-us/graph/throttling-limits), and
// answers 429 Too Many Requests, or 503 Service Unavailable, with a
// Retry-After in seconds (https://learn.microsoft.com/en-us/graph/throttling).
// Both are returned as resync.RetryAfter with that wait: the engine asks
// for the same page again then, or ends the read as throttled when the
// wait is longer than the read has left. A 429 without Retry-After is
// retried with the engine's backoff, as Graph advises. Rate-limit fields
// on successful responses (Retry-After, the IETF RateLimit fields some
// Graph services send) set Page.NotBefore. Reading pages one at a time,
// at the largest page size, is what Graph's guidance asks of a client.
// Requests go through the connector kit's client (package connkit),
// which never retries by itself and logs one Debug line per request to
// Config.Logger, credentials redacted.
package entra
