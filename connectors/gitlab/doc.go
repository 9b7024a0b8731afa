// Package gitlab is a resync connector for GitLab (a VersionControl
// connection): it reads a group's members with their access level,
// inherited members included, and, on a self-managed or Dedicated instance
// with an administrator's token, the instance's users with their state,
// two-factor state and last activity, over GitLab's REST API (v4) with the
// official client (gitlab.com/gitlab-org/api/client-go/v2).
//
// Register it for the "gitlab" provider:
//
//	resync.Config{
//		Connectors: map[string]resync.ConnectorFactory{
//			"gitlab": gitlab.NewFactory(gitlab.Config{Logger: logger}),
//		},
//	}
//
// # Configuration
//
// Connection.Settings:
//
//   - "token" (required): a personal, group or project access token with
//     the read_api scope (read_user is not enough for members), or an
//     OAuth access token; sent as "Authorization: Bearer <token>". It may
//     be a secret reference ("secret:<ref>"), which the factory resolves
//     with resync.Secret through the engine's Config.Secrets, as every
//     connector does. It never appears in an error or a log line and is
//     sent only to base_url's host.
//   - "base_url" (optional): the REST API's URL, https only. Default
//     https://gitlab.com/api/v4/; a self-managed instance's is
//     https://HOST/api/v4/.
//   - "group" (required unless "users" is "true"): the group's numeric ID
//     or full path (acme/platform). Its members are read, and those of its
//     ancestor groups and of groups it is shared with, as GitLab lists
//     them for the group.
//   - "users" (optional): "true" reads every user of the instance (GET
//     /users), with the fields only an administrator sees: state, email,
//     two_factor_enabled, last sign-in and last activity, identities. It
//     needs an administrator's token, so a self-managed or Dedicated
//     instance; on GitLab.com leave it unset. Default "false".
//   - "page_size" (optional): per_page, 1 to 100, default 100 (GitLab's
//     largest).
//
// Any other setting is an error, so that a misspelled one is not silently
// ignored. New checks the settings without asking GitLab.
//
// # Records
//
// Every account is keyed by the user's numeric GitLab ID, which never
// changes (a username can).
//
// With "group" only, each member (GET /groups/:id/members/all, one entry
// per user with the highest access level it has through the group, its
// ancestors or a shared group) is an Account:
//
//	GitLab field           Account
//	id                     Key
//	username, name         Username, DisplayName
//	email, public_email    OwnerEmail (email only for enterprise users,
//	                       to a group owner)
//	state                  Status (below), Attributes["state"]
//	access_level           Roles [guest, reporter, developer, ...],
//	                       Attributes["access_level"] (the number) and
//	                       Attributes["group_role"]
//	expires_at             Attributes["membership_expires_at"]
//	member_role.name       Attributes["member_role"] (a custom role)
//	group_saml_identity    ExternalID (extern_uid, the SAML NameID),
//	                       Attributes["saml_provider"]
//
// MFA stays unknown: the members listing does not carry it.
//
// With "users", each user of the instance (GET /users, internal users
// such as the ghost user left out) is an Account, and the group's members
// only give them their role:
//
//	GitLab field           Account
//	id, username, name     Key, Username, DisplayName
//	email                  OwnerEmail (public_email without it)
//	state                  Status, Attributes["state"]
//	two_factor_enabled     MFA (MFAEnabled or MFADisabled)
//	is_admin               Roles "instance_admin", Attributes["is_admin"]
//	bot                    Type AccountTypeService, Attributes["bot"]
//	external, locked       Attributes["external"], Attributes["locked"]
//	current_sign_in_at     LastLogin (last_sign_in_at without it)
//	last_activity_on       LastUsed["last_activity"]
//	identities             Attributes["identity:<provider>"] = extern_uid;
//	                       ExternalID the group SAML identity, else the
//	                       first by provider name
//
// plus the group membership's fields above, for a member of the group.
// LastLogin and LastUsed are volatile: they are stored, and a change in
// them alone is not reported as an update.
//
// Status: "active" is StatusActive; "blocked", "ldap_blocked",
// "blocked_pending_approval", "banned" and "deactivated", which keep the
// user from signing in (until an administrator lifts it, or, deactivated,
// until the user signs in again), are StatusSuspended, as is a state this
// package does not know. A user deleted from the instance, or who leaves
// the group, is no longer listed and the engine records the account as
// removed (in "users" mode a member who leaves the group keeps the
// account, without the role).
//
// With "group", the group itself is a Group record keyed by its numeric
// ID, Name its full path, Members the IDs of every member listed.
//
// # Capabilities
//
// A read requests, in order:
//
//	GET /groups/:id                              once ("group")
//	GET /groups/:id/members/all?page=N           offset pages ("group")
//	GET /users?pagination=keyset&order_by=id     keyset pages ("users")
//
// The group's request gives its ID (the group record's key) and name.
// Members are paged with page numbers (X-Next-Page), users with keyset
// pagination (the Link header's rel="next" URL), which GitLab recommends
// for long lists and which does not skip or repeat a user when others are
// added or deleted during the read. Page numbers can: a member added while
// a read is under way can be read twice (the second is dropped) or shift
// another onto a page already read (it is then missed until the next
// read). A read costs one request per page plus one: the fewest GitLab's
// API allows for these fields. 2,100 users and a group of 1,050 members
// cost 33 requests.
//
// Cursors are "members:<page>", "users:" and "users:<next URL>"; a cursor
// that needs what an earlier page gathered, given to a connector that did
// not read it, ends in resync.RestartRead.
//
// resync.HealthChecker: CheckHealth asks for the group (GET /groups/:id)
// and, with "users", for the token's user (GET /user), which must be an
// administrator: a request each.
//
// No incremental reads: every read is a full read.
//
// # Errors
//
// Requests go through the connector kit's client (package connkit), which
// client-go uses as its transport: client-go builds the requests and
// decodes the pages, the kit authenticates, bounds the body, redacts the
// token and classifies every failure, once. client-go's own retries and
// rate limiter are off. The errors say the connector, the group, the
// request and GitLab's message: "gitlab connector (group acme/platform):
// GET https://gitlab.com/api/v4/groups/acme%2Fplatform?...: 401 ...
// {"message":"401 Unauthorized"}".
//
// resync.Permanent (not retried): a bad setting (also wrapping
// resync.ErrInvalidRequest); 401 (a bad, expired or revoked token), 403
// (a token without the scope, or "users" without an administrator's
// token), 404 (an unknown group, or one the token cannot see) and any
// other 4xx but 408 and 429; a page that is not the JSON expected; with
// "users", a page of users without the fields only an administrator sees
// (GitLab answers anyone's GET /users, with public fields only), which
// would otherwise read as every user without 2FA.
//
// Retried by the engine: network errors, 408 and 5xx. A canceled context
// returns ctx.Err().
//
// # Rate limits
//
// GitLab.com allows an authenticated user 2,000 API requests a minute; a
// self-managed instance's administrators set its limits
// (https://docs.gitlab.com/user/gitlab_com/#rate-limits-on-gitlabcom,
// https://docs.gitlab.com/administration/settings/user_and_ip_rate_limits/).
// Responses carry RateLimit-Limit, RateLimit-Observed, RateLimit-Remaining,
// RateLimit-Reset (a Unix time) and RateLimit-ResetTime, read on every
// response:
//
//   - A 429 ("Retry later") is resync.RetryAfter for its Retry-After, else
//     until RateLimit-Reset, measured against the response's Date header.
//   - On every successful page, once less than a tenth of the quota is
//     left, Page.NotBefore shares the time to the reset out over the
//     requests left (and is the reset time when none is left), so a long
//     read slows down instead of being refused.
//
// The engine waits the time asked before requesting the page again, or
// ends the read as throttled when the wait is longer than the read has
// left.
package gitlab
