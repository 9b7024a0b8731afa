// Package atlassian is a resync connector for Atlassian Cloud sites, Jira
// and Confluence: it reads the site's users as accounts, with the
// application roles (product access) their groups grant, and the site's
// groups with their members, for access reviews.
//
// Users and groups of an Atlassian Cloud site are the site's, shared by its
// products: one connection reads them once, through the Jira Cloud platform
// REST API v3 (https://developer.atlassian.com/cloud/jira/platform/rest/v3/),
// whether the site runs Jira, Confluence or both. Confluence access is
// granted by groups (confluence-users by default), which the accounts'
// "groups" attribute and the Group records show.
//
// Register it for Atlassian connections (type resync.AccessReview, or any
// accounts type):
//
//	resync.Config{
//		Connectors: map[string]resync.ConnectorFactory{
//			"atlassian": atlassian.NewFactory(atlassian.Config{Logger: logger}),
//		},
//	}
//
// # Configuration
//
// Connection.Settings:
//
//   - "url" (required): the site, https only (https://your-domain.atlassian.net),
//     or an OAuth 2.0 app's API gateway URL for the site
//     (https://api.atlassian.com/ex/jira/<cloud id>).
//   - "email" and "api_token": an Atlassian account's email and an API
//     token of that account, sent as HTTP basic authentication; or "token":
//     an OAuth 2.0 access token, sent as a bearer token. The account needs
//     the "Browse users and groups" global permission (or Jira
//     administration). Credentials may be secret references
//     ("secret:<ref>"), which the factory resolves with resync.Secret
//     through the engine's Config.Secrets, as every connector does; they
//     never appear in an error or a log line, and are sent only to the
//     URL's host.
//   - "groups" (optional): "true" (the default) reads application roles,
//     groups and their members; "false" reads users only (no roles).
//
// Any other setting is an error, so that a misspelled one is not silently
// ignored. New checks the settings without asking the site.
//
// # Records
//
// Every user is an Account keyed by its accountId, Atlassian's immutable
// account ID (emails can change or be hidden by the user's privacy
// settings); every group a Group keyed by its groupId (names can change),
// with the accountIds of all its members, inactive ones included.
//
//	Jira user field     Account
//	accountId           Key
//	emailAddress        Username, OwnerEmail (empty when the user hides it)
//	displayName         DisplayName
//	active              Status: true is active, false suspended (a
//	                    deactivated account can be reactivated); the
//	                    original in Attributes["active"]
//	accountType         Type: "atlassian" and "customer" are human, "app"
//	                    a service account; the original in
//	                    Attributes["account_type"]
//	(groups)            Attributes["groups"]: group names, sorted, comma-separated
//	(application roles) Roles: the keys of the application roles
//	                    ("jira-software", "jira-servicedesk", ...) whose
//	                    groups include one of the user's groups
//
// # Capabilities
//
// resync.HealthChecker: CheckHealth asks for one user.
//
// No incremental reads: every read is a full read, in phases: the
// application roles (one request), the group listing (50 a page), each
// group's members (50 a page, the API's most), then the users (1,000 asked
// a page; the server may answer fewer). The user listing gives no total, so
// only an empty page ends it. That is the fewest requests the API allows
// for these fields: Jira has no listing of users with their groups, so
// membership costs one request per 50 members of each group, and never a
// request per user. What the first phases gather (roles, groups,
// memberships) lives in the connector the engine builds for the read; a
// later phase's cursor asked of a new connector (after a restart, say) is
// answered with resync.RestartRead, and the engine reads again from the
// first page.
//
// # Errors
//
// resync.Permanent (the engine does not retry them): a bad setting (also
// wrapping resync.ErrInvalidRequest); 401 (wrong email or token, a revoked
// token), 403 (the permission above missing), 404 and any other 4xx but 408
// and 429; a response that is not the JSON documented (wrapping
// ErrMalformed); a body over the kit's size limit. The start of the body,
// where Jira puts its errorMessages, is kept in the error.
//
// Retried by the engine: network errors, 408 and 5xx, each only for the page
// that failed. A canceled context returns ctx.Err().
//
// # Rate limits
//
// Jira Cloud limits requests by cost over time, per tenant and per app
// (https://developer.atlassian.com/cloud/jira/platform/rate-limiting/). A
// 429 carries Retry-After, and RateLimit-Reason naming the limit hit
// (jira-quota-tenant-based, jira-burst-based, ...): the connector returns
// resync.RetryAfter with the Retry-After wait, and the reason in the error's
// message; the engine waits that long before asking for the page again, or
// ends the read as throttled when the wait outlasts what the read has left.
// Jira's X-RateLimit-Reset is an ISO 8601 time, not the Unix seconds other
// providers send under that name; it is not needed, as a 429 always has
// Retry-After. Rate-limit fields on successful responses (Retry-After, the
// IETF RateLimit fields) set Page.NotBefore, so a read that keeps within
// the advertised limit is not refused.
package atlassian
