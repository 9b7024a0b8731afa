// Package scim is a resync connector for SCIM 2.0 service providers
// (RFC 7643, RFC 7644): it reads the Users and Groups of any provider that
// speaks SCIM, an identity provider's SCIM API or an application's.
//
// Register it for the providers whose connections speak SCIM:
//
//	resync.Config{
//		Connectors: map[string]resync.ConnectorFactory{
//			"scim": scim.NewFactory(scim.Config{Logger: logger}),
//		},
//	}
//
// # Configuration
//
// Connection.Settings:
//
//   - "url" (required): the service provider's base URL, https only,
//     without credentials or a query (https://example.com/scim/v2). The
//     connector reads url/Users and url/Groups.
//   - "token": sent as "Authorization: Bearer <token>". Or "username"
//     and "password": sent as HTTP basic authentication. One of the two is
//     required. Each may be a secret reference ("secret:<ref>"), which
//     the factory resolves with resync.Secret through the engine's
//     Config.Secrets, as every connector does.
//     Credentials never appear in an error or a log line (a response body
//     that echoes one has it redacted), and are sent only to the URL's
//     host.
//   - "filter" (optional): a SCIM filter (RFC 7644 §3.4.2.2) sent with
//     every request for users, as written: `active eq true`,
//     `userType eq "Employee"`. A filter the provider refuses fails the
//     read with its error (400 invalidFilter).
//   - "groups" (optional): "true" (the default) reads /Groups after the
//     users; "false" reads users only, for a provider without groups, and
//     then takes each identity's groups from the user's groups attribute.
//   - "group_filter" (optional): a SCIM filter for the groups.
//   - "page_size" (optional): the count of users asked for per request,
//     2 to 1000, default 100. "group_page_size": the same for groups,
//     default 20 (each group carries its member list).
//
// Any other setting is an error, so that a misspelled one is not silently
// ignored. New checks the settings without asking the provider.
//
// # Records
//
// The kinds follow the connection's type: an IdP (or HRIS) connection's
// users are Identity records; any other type's (an application that
// provisions accounts over SCIM) are Account records. Groups are Group
// records in both.
//
// Every record is keyed by the resource's SCIM id, which RFC 7643 §3.1
// makes immutable and unique (userName and emails can change). From a
// User (RFC 7643 §4.1):
//
//	SCIM attribute            Identity       Account
//	id                        Key            Key
//	externalId                ExternalID     ExternalID
//	userName                  Attributes     Username
//	displayName, else name    Name           DisplayName
//	  (formatted, else givenName familyName)
//	emails                    Email          OwnerEmail
//	active                    Status         Status
//	title                     Title          Attributes["title"]
//	enterprise employeeNumber EmployeeID     EmployeeID
//	enterprise manager.value  Manager        Attributes["manager"]
//	enterprise department     Department     Attributes["department"]
//
// The email is the one marked primary, else the first of type work, else
// the first. active false is StatusSuspended, true or absent (the
// attribute is optional) StatusActive; the value sent is kept in
// Attributes["active"]. The enterprise extension is read from its schema
// URN (urn:ietf:params:scim:schemas:extension:enterprise:2.0:User, RFC
// 7643 §4.3); its manager is the manager's SCIM id, so it is the
// manager's key. userName, userType, nickName, name.givenName,
// name.familyName (and name.formatted when it differs from the display
// name), manager.displayName, costCenter, organization and division are
// kept in Attributes under those names. Attribute names are matched
// without regard to case, as RFC 7643 §2.1 asks; unknown attributes and
// extensions are ignored.
//
// A Group (RFC 7643 §4.2) has its displayName as Name and its members'
// values (user ids, so the members' keys) as Members. Nested groups
// (members of type "Group") are left out. The group's members are the
// authoritative side of a membership: while groups are read, users are
// asked for with excludedAttributes=groups, which spares providers that
// compute it the cost, and Identity.Groups stays empty.
//
// A resource that cannot become a record (no id, a value of the wrong
// type, not UTF-8) does not stop the read: it is reported in
// Page.Rejected as a *resync.RecordError naming the endpoint and the id
// (or the position, without one), so a resource with an id keeps its
// stored version.
//
// # Capabilities
//
// Paging: index-based, RFC 7644 §3.4.2.4's 1-based startIndex and count,
// users first, then groups; cursors are "u:<startIndex>" and
// "g:<startIndex>". A SCIM list is not a snapshot: a user deleted while a
// read is under way moves every later user one place back, and one added
// moves them forward. The read asks each page to overlap the last by one
// percent of its size (at least one resource) and drops what an earlier
// page returned, and steps back when the list shifted further than that
// (connkit.StartIndex), so a user present for the whole read is read
// exactly once whatever is added or removed around it. A provider that
// returns fewer resources than asked while totalResults says more follow
// (it caps count at its own maximum) is asked for the rest on the next
// page; without totalResults (which RFC 7644 requires), a short answer is
// followed by one more request, and only an empty answer ends the list. Page.Total is totalResults (users, then
// users plus groups), for progress.
//
// resync.HealthChecker: CheckHealth asks for one user, with the filter.
//
// No incremental reads: every read is a full read.
//
// # Errors
//
// A SCIM error response (RFC 7644 §3.12: the
// urn:ietf:params:scim:api:messages:2.0:Error schema) becomes an *Error
// with its status, scimType and detail, and its message says them:
// "scim: GET https://example.com/scim/v2/Users?...: 400 invalidFilter:
// The specified filter syntax was invalid". It unwraps to the kit's
// *connkit.HTTPError.
//
// resync.Permanent (the engine does not retry them): a bad setting (also
// wrapping resync.ErrInvalidRequest); 401 and 403 (a rejected token, a
// missing scope; a 403 with Retry-After or a spent quota is throttling,
// as below), 400 (a filter refused), 404 (a wrong URL, or a provider
// without /Groups: set "groups" to "false") and any other 4xx but 408 and
// 429; a response that is not a ListResponse, or whose startIndex is not
// the one asked for (a provider that ignores it would repeat its first
// page; both wrap ErrMalformed); a body over the kit's size limit.
//
// Retried by the engine: network errors, 408 and 5xx. A canceled context
// returns ctx.Err().
//
// # Rate limits
//
// A 429, or a 503, with a Retry-After (seconds or an HTTP date, measured
// against the response's Date header) is returned as resync.RetryAfter
// with that wait, at most a day: the engine waits at least that long
// before asking for the page again, or ends the read as throttled when the
// wait is longer than the read has left. Without Retry-After a 429 is
// retried with the engine's backoff. Rate-limit fields on successful
// responses (X-RateLimit-*, the IETF RateLimit fields) set
// Page.NotBefore, so a read that keeps within the advertised limit is not
// refused. Requests go through the connector kit's client (package
// connkit), which never retries by itself and logs one Debug line per
// request to Config.Logger, credentials redacted. A read costs one
// request per page, plus about one percent for the overlap, plus one per
// shift larger than the overlap.
package scim
