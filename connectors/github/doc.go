// Package github is a resync connector for GitHub organizations (a
// VersionControl connection): it reads the organization's members with
// their role and two-factor state, its outside collaborators, and its
// teams with their members, over GitHub's REST API with go-github
// (github.com/google/go-github/v93), on github.com, GitHub Enterprise Cloud
// or GitHub Enterprise Server.
//
// Register it for the "github" provider:
//
//	resync.Config{
//		Connectors: map[string]resync.ConnectorFactory{
//			"github": github.NewFactory(github.Config{Logger: logger}),
//		},
//	}
//
// # Configuration
//
// Connection.Settings:
//
//   - "org" (required): the organization's login (octo-org).
//   - "base_url" (optional): the REST API's URL, https only. Default
//     https://api.github.com/; for GitHub Enterprise Server
//     https://HOST/api/v3/.
//   - "token" (the credentials, or the next three): a personal access token (classic, with read:org; or
//     fine-grained, with the organization's Members permission, read), or
//     an installation token a host fetched itself. Sent as
//     "Authorization: Bearer <token>". The token's user must belong to the
//     organization: to anyone else GitHub lists its public members only.
//   - "app_id", "installation_id" and "private_key" (instead of "token"): a GitHub App
//     installed on the organization, with the Members permission (read).
//     app_id is the app's ID (or its client ID), installation_id the
//     installation's numeric ID, private_key the app's private key in PEM
//     (PKCS #1, as GitHub hands it out, or PKCS #8). The connector signs a
//     JSON Web Token with the key (RS256, valid ten minutes) and exchanges
//     it at POST /app/installations/{installation_id}/access_tokens for an
//     installation token, which it uses for the read and renews five
//     minutes before its hour is up, or once when the API answers 401.
//   - "two_factor" (optional): "true" (the default) reads each member's
//     two-factor state. GitHub gives it only to organization owners: with a
//     token that is not an owner's, set "false" (the state is then
//     unknown), or the read fails with GitHub's refusal.
//   - "outside_collaborators" (optional): "true" (the default) reads the
//     organization's outside collaborators too (owners only, as above).
//   - "teams" (optional): "true" (the default) reads the teams and their
//     members.
//   - "saml" (optional): "true" reads the SAML single sign-on identity
//     each member is linked to (GitHub Enterprise Cloud organizations with
//     SAML SSO), through GitHub's GraphQL API, which needs an owner's token
//     (admin:org, or an app with the organization's Administration
//     permission, read). Default "false". An organization without SSO
//     costs one request.
//   - "page_size" (optional): per_page, 1 to 100, default 100 (GitHub's
//     largest).
//
// "token" and "private_key" may be secret references ("secret:<ref>"),
// which the factory resolves with resync.Secret through the engine's
// Config.Secrets, as every connector does. Credentials never appear in an
// error or a log line and are sent only to base_url's host.
//
// Any other setting is an error, so that a misspelled one is not silently
// ignored. New checks the settings without asking GitHub.
//
// # Records
//
// Every member and outside collaborator is an Account keyed by the user's
// numeric GitHub ID, which never changes (a login can be renamed):
//
//	GitHub field          Account
//	id                    Key
//	login                 Username, Attributes["login"]
//	name, email           DisplayName, OwnerEmail (GitHub lists them
//	                      empty; kept if a server sends them)
//	type "Bot"            Type AccountTypeService (else AccountTypeHuman)
//	node_id, type         Attributes["node_id"], Attributes["type"]
//	site_admin            Attributes["site_admin"] = "true" (Enterprise Server)
//
// A member's Roles is ["admin"] (an organization owner) or ["member"],
// also in Attributes["org_role"], with Attributes["affiliation"] "member";
// an outside collaborator's Roles is ["outside_collaborator"], also its
// affiliation. MFA is MFADisabled for a user the filter=2fa_disabled
// listing returns and MFAEnabled for the others (Attributes["two_factor"]
// says the same), or MFAUnknown with "two_factor" set to "false".
//
// Status is always StatusActive: GitHub's organization listings have no
// state. A user who leaves the organization (or whose membership an
// owner removes, or who is converted to an outside collaborator) is no
// longer listed, and the engine records the account as removed.
// Pending invitations are not members and are not read. A suspended user
// of GitHub Enterprise Server stays listed as a member; the listing does
// not say it is suspended.
//
// A team is a Group keyed by the team's numeric ID, Name its name, and
// Members the IDs of its members as GET /orgs/{org}/teams/{slug}/members
// lists them: the members of its child teams included.
//
// With "saml", a member linked to a SAML single sign-on identity has the
// identity's NameID (the person's ID at the identity provider, often an
// email) as ExternalID: GitHub exposes it only through its GraphQL API,
// organization.samlIdentityProvider.externalIdentities. Without "saml", or
// for a member not linked, ExternalID is empty.
//
// # Capabilities
//
// A read goes through these listings in order, each paged with GitHub's
// page numbers (Link headers), 100 a page, but the first, a GraphQL
// connection paged by its cursor:
//
//	POST /graphql organization.samlIdentityProvider         (saml)
//	GET /orgs/{org}/members?filter=2fa_disabled&role=all    (two_factor)
//	GET /orgs/{org}/members?role=admin
//	GET /orgs/{org}/members?role=member
//	GET /orgs/{org}/outside_collaborators?filter=2fa_disabled (both settings)
//	GET /orgs/{org}/outside_collaborators?filter=all        (outside_collaborators)
//	GET /orgs/{org}/teams                                   (teams)
//	GET /orgs/{org}/teams/{team_slug}/members?role=all      (per team)
//
// The SAML identities and the 2FA listings come first, so that each
// account carries its NameID and its 2FA state when it is yielded; they are
// kept in memory for the read (user IDs and NameIDs). The GraphQL endpoint
// is https://api.github.com/graphql, or https://HOST/api/graphql beside
// GitHub Enterprise Server's https://HOST/api/v3/.
// A team is yielded once, on the page that completes its member list. A
// read costs one request per page of each listing and one per team (at
// least): the fewest GitHub's REST API allows for these fields, since the
// member listing carries neither role nor 2FA state and no endpoint lists
// the members of every team at once. An org of 2,100 members, 210 of them
// owners, 300 without 2FA, 150 outside collaborators and 4 teams of 250
// costs 41 requests (plus one per hundred SAML identities with "saml").
//
// Page numbers are positions in a list that can change while it is read:
// a user who joins while a read is under way can shift another onto a
// page already read (it is then missed until the next read) or read twice
// (the second is dropped). Cursors are "<listing>:<page>" and
// "tm:<page of teams>:<team>:<page>"; a cursor that needs what an earlier
// page gathered, given to a connector that did not read it, ends in
// resync.RestartRead.
//
// resync.HealthChecker: CheckHealth asks for the organization (GET
// /orgs/{org}), one request that checks the base URL, the credentials and
// the organization.
//
// No incremental reads: every read is a full read.
//
// # Errors
//
// Requests go through the connector kit's client (package connkit), which
// go-github uses as its transport: go-github builds the requests and
// decodes the pages, the kit authenticates, bounds the body, redacts
// credentials and classifies every failure, once. The errors say the
// connector, the organization, the request and GitHub's message:
// "github connector (org octo-org): GET https://api.github.com/orgs/octo-org/members?...: 401 ... Bad credentials".
//
// resync.Permanent (not retried): a bad setting (also wrapping
// resync.ErrInvalidRequest); 401 (a bad or revoked token, or an app JWT
// GitHub refuses when fetching the installation token), 403 without a
// rate-limit sign (a missing permission or scope, or the 2fa_disabled
// filter refused to a non-owner), 404 (an unknown organization) and any
// other 4xx but 408 and 429; a page that is not the JSON expected; a
// GraphQL error (FORBIDDEN for a token that may not read SAML identities,
// NOT_FOUND), which GraphQL answers with status 200, but RATE_LIMITED.
//
// Retried by the engine: network errors, 408 and 5xx. A canceled context
// returns ctx.Err().
//
// # Rate limits
//
// GitHub allows 5,000 requests an hour to a token (15,000 on Enterprise
// Cloud; an installation's limit grows with its repositories and users),
// counted per hour, and says so on every response: x-ratelimit-limit,
// x-ratelimit-remaining, x-ratelimit-used and x-ratelimit-reset (UTC epoch
// seconds) (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api).
//
//   - Primary limit: a 403 or 429 with x-ratelimit-remaining 0 is
//     resync.RetryAfter until x-ratelimit-reset, measured against the
//     response's Date header. Before that, on every successful page, once
//     less than a twentieth of the quota is left, Page.NotBefore shares the
//     time to the reset out over the requests left (and is the reset time
//     when none is left), so a long read slows down instead of being
//     refused.
//   - GraphQL counts points (5,000 an hour), not requests, sends the same
//     x-ratelimit-* fields and answers a spent quota with status 200 and
//     a RATE_LIMITED error: resync.RetryAfter until x-ratelimit-reset
//     (a minute without it). One page of identities costs one point.
//   - Secondary limits (too many requests at once or per minute): a 403 or
//     429 whose message names a secondary rate limit is resync.RetryAfter
//     for its Retry-After, or at least a minute without one, as GitHub asks.
//
// The engine waits the time asked before requesting the page again, or
// ends the read as throttled when the wait is longer than the read has
// left (GitHub can ask for up to an hour). go-github's own rate-limit
// tracking, which would refuse requests without asking GitHub, is turned
// off: nothing but the engine waits or retries, and it retries page by
// page.
package github
