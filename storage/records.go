package storage

import (
	"context"

	"github.com/openresync/resync"
)

// RecordSearcher is the optional capability of a Store to find a tenant's
// records across its connections by person, kind and status, a page at a
// time, with indexes. Engine.Records and Engine.Person use it; on a Store
// without it they read every record of each connection the
// ConnectionSource lists and filter them in the engine (and cannot find
// records of deleted connections). memstore, stores/sqlite and
// stores/postgres implement it; resynctest.TestStore checks it.
type RecordSearcher interface {
	// SearchRecords returns at most q.Limit records of q.Tenant that
	// match q and sort after the position of after, in the order of
	// connection ID, kind (identity, account, group: KindIdentity,
	// KindAccount, KindGroup) and key, compared as bytes. A zero after
	// starts at the first record; otherwise only after.ConnectionID,
	// after.Kind and after.Key are set, and the record there may no
	// longer exist. Every record returned has its ConnectionID set.
	//
	// The engine guarantees q.Tenant is set, q.Limit is positive, a
	// non-zero Kind or Status is a known one, q.Email is folded by
	// FoldEmail, and q.ConnectionType and q.Cursor are zero (the engine
	// resolves them). The filters, each ignored when zero, combine with
	// AND:
	//   - ConnectionID: records of that connection only;
	//   - Kind: records of that kind;
	//   - Email, IdentityKey, Status: records whose IndexFields give
	//     that email, identity key or status (so no group matches them);
	//   - IncludeRemoved false: live records only.
	//
	// A store keeps each filter cheap with an index (or an equivalent
	// it documents), so that the cost of a page follows the records it
	// returns rather than the tenant's whole state, and reads a page
	// consistently (one transaction). Records applied between two calls
	// appear in later pages when they sort after the position.
	SearchRecords(ctx context.Context, q resync.RecordQuery, after resync.StoredRecord) ([]resync.StoredRecord, error)
}

// IndexFields returns what RecordSearcher filters a record by: its email
// folded by FoldEmail (an identity's Email, an account's OwnerEmail), its
// identity key (an identity's Key, an account's ExternalID: the owner's
// identity at their identity provider) and its lifecycle status. A group,
// or a nil record, has none; an empty email or key is none. A store
// extracts these when it applies a record and indexes them.
func IndexFields(r resync.Record) (email, identityKey string, status resync.LifecycleStatus) {
	switch r := r.(type) {
	case *resync.Identity:
		if r != nil {
			return FoldEmail(r.Email), r.Key, r.Status
		}
	case *resync.Account:
		if r != nil {
			return FoldEmail(r.OwnerEmail), r.ExternalID, r.Status
		}
	}
	return "", "", ""
}

// FoldEmail lowers the ASCII letters A to Z of an email address and
// leaves every other byte as it is, as SQL's lower() does in the C
// locale: emails are matched ignoring the case of ASCII letters.
func FoldEmail(s string) string {
	b := []byte(s)
	changed := false
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
			changed = true
		}
	}
	if !changed {
		return s
	}
	return string(b)
}
