// Package ldap is a resync connector for LDAP directories: OpenLDAP and
// other directories of inetOrgPerson users, and Active Directory. It reads
// the directory's users as identities and its groups with their members,
// a page at a time with the Simple Paged Results control (RFC 2696).
//
// It is a module of its own (github.com/openresync/resync/connectors/ldap,
// built on github.com/go-ldap/ldap/v3), so that hosts that do not use it
// do not get go-ldap; it needs Go 1.26. Register it for the providers
// whose connections are directories:
//
//	resync.Config{Connectors: map[string]resync.ConnectorFactory{"ldap": ldap.Factory, "ad": ldap.Factory}}
//
// # Configuration
//
// Connection.Settings:
//
//   - "url" (required): ldap://host[:port] (default port 389) or
//     ldaps://host[:port] (TLS from the start, default port 636). No path,
//     query or credentials.
//   - "start_tls" (optional): "true" upgrades an ldap:// connection with
//     StartTLS before binding. The server's certificate is always verified,
//     against the system's roots or "tls_ca_file" (a PEM file), for the
//     URL's host name or IP address.
//   - "bind_dn" and "bind_password": a simple bind; both empty binds
//     anonymously. The password may be a secret reference
//     ("secret:<ref>"), which Factory resolves with resync.Secret through
//     the engine's Config.Secrets. It is never logged, and no error of this
//     package contains it.
//   - "preset" (optional): "openldap" (the default) or "ad" (Active
//     Directory); it sets the filters and the attribute mapping below.
//   - "base_dn", or "user_base_dn" and "group_base_dn": where users and
//     groups are searched (whole subtree). "groups": "false" reads no groups.
//   - "user_filter", "group_filter" (optional): RFC 4515 filters in
//     parentheses, replacing the preset's: openldap
//     (objectClass=inetOrgPerson) and
//     (|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)); ad
//     (&(objectCategory=person)(objectClass=user)) and (objectClass=group).
//     A filter that does not parse is refused by New.
//   - "page_size" (optional): entries per page, 1 to 100000, default 500
//     (Active Directory's MaxPageSize is 1000 by default).
//   - "nested_groups" (optional, ad only): "true" makes each group's members
//     every user in it directly or through nested groups, found with
//     LDAP_MATCHING_RULE_IN_CHAIN (one paged search per group, on a
//     connection of its own).
//   - "attr.key", "attr.email", "attr.name", "attr.employee_id",
//     "attr.department", "attr.title", "attr.manager", "attr.group_key",
//     "attr.group_name", "attr.member": attribute names replacing the
//     preset's (an empty value leaves the field out, except for the key
//     and member attributes). "attributes": a comma-separated list of
//     further attributes copied into Attributes, replacing the preset's.
//   - "status_attribute" and "status_values": read the status from an
//     attribute, as "value:status" pairs ("disabled:suspended,
//     terminated:deprovisioned"; values matched ignoring case, others mean
//     active), instead of the preset's rule.
//
// Unknown settings are refused, so that a misspelt one is not ignored. New
// validates the settings without contacting the server.
//
// # Records
//
// Each user entry is an Identity, each group entry a Group; users come
// first, then groups.
//
// openldap preset: Key is entryUUID (immutable, unlike a DN, which changes
// when an entry is renamed or moved); Email mail; Name displayName, else
// cn; EmployeeID employeeNumber; Department departmentNumber; Title title.
// An entry with pwdAccountLockedTime (the password policy overlay's lock)
// is suspended, else active. Group Key entryUUID, Name cn, members from
// member (groupOfNames) or, with "attr.member" set to uniqueMember, from
// uniqueMember (groupOfUniqueNames).
//
// ad preset: Key is objectGUID as Active Directory writes it
// (12345678-90ab-cdef-1234-567890abcdef); Email mail; Name displayName,
// else cn; EmployeeID employeeID; Department department; Title title;
// LastLogin lastLogonTimestamp (replicated, so up to about two weeks old).
// Status: suspended when userAccountControl has the ACCOUNTDISABLE bit
// (2); deprovisioned when accountExpires has passed (EndDate is
// accountExpires); else active. Groups are keyed by objectGUID, named by
// cn, with members from member.
//
// Attributes keep the entry's DN ("dn", so that a move between OUs shows
// as an update), the manager's DN ("manager"), the original of the status
// (pwdAccountLockedTime, userAccountControl, accountExpires, or the
// status attribute) and the preset's extra attributes: uid, givenName, sn
// (openldap); sAMAccountName, userPrincipalName, givenName, sn (ad).
// Multi-valued ones are joined with "; ". whenChanged is not kept: Active
// Directory moves it when it replicates lastLogonTimestamp, so it would
// make an update of nearly every user every two weeks.
//
// Memberships are on the group side: Group.Members holds the keys of the
// users of this read whose DN the group lists (DNs are compared ignoring
// case and spacing). Members that are not users of this read (nested
// groups without "nested_groups", entries outside the user base or
// filter) are left out. Identity.Groups stays empty.
//
// An entry that cannot be mapped (no key attribute, an objectGUID that is
// not 16 bytes, a userAccountControl or accountExpires that is not a
// number) is reported in Page.Rejected with its DN and the reason; the
// engine counts it and stores nothing from it.
//
// # Capabilities
//
// Paging: each ReadPage is one paged search request; the cursor carries
// the server's paging cookie. A cookie lives in the connection that
// issued it, which the Connector keeps open between pages. Reading an
// earlier cursor again (which the engine does not do, but the connector
// contract allows) pages again from the first page on the same
// connection, checking that every page before it holds the same entries
// as when first read. When a cursor cannot be resumed (the connection
// dropped, the server restarted, the server no longer knows the cookie:
// OpenLDAP's protocolError "paged results cookie is invalid", Active
// Directory's operationsError or unwillingToPerform for an expired one; or
// the pages before an earlier cursor changed), ReadPage returns a
// resync.RestartRead error: the engine discards the pages read and reads
// again from the first page, with a new Connector. The Connector keeps the
// DN and key of every user read (to resolve group members) and a checksum
// per page, not the records.
//
// resync.HealthChecker: CheckHealth connects, binds and reads the user
// base DN's entry.
//
// io.Closer: Close closes the connections. Referrals and search
// continuation references are ignored.
//
// # Errors
//
// resync.Permanent (not retried): bad settings (also wrapping
// resync.ErrInvalidRequest); invalid credentials (49), inappropriate
// authentication (48), insufficient access (50), strong authentication or
// confidentiality required (8, 13); a base DN that does not exist (32) or
// does not parse (34); a filter or attribute the server refuses; an
// untrusted or mismatched TLS certificate; a size limit (below).
//
// Retried by the engine (returned as they are): busy (51), unavailable
// (52), time limit exceeded (3), admin limit exceeded (11), other (80),
// timeouts, refused or reset connections. A connection lost in the middle
// of a read restarts it (see Capabilities).
//
// Errors name the connection, the server's host and port, the page and,
// for bind errors, the bind DN; never the password.
//
// # Rate limits
//
// LDAP servers limit searches rather than requests. Paging keeps each
// response to page_size entries, under Active Directory's MaxPageSize and
// OpenLDAP's per-page limits. A size limit on the whole paged search
// (OpenLDAP's size.prtotal, which defaults to the size limit, 500 unless
// the bind DN has its own limits; Active Directory's MaxResultSetSize)
// ends the read with a permanent error wrapping ErrSizeLimit, never with a
// read that looks complete: raise the bind DN's limit or narrow the
// filter. Time limits are retried. A read is one paged search of users and
// one of groups (plus one per group with "nested_groups").
package ldap
