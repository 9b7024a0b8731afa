package resync

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// defaultRunLimit is the number of runs ListRuns returns when
// RunQuery.Limit is zero.
const defaultRunLimit = 100

// storeGate is what the engine calls instead of the configured Store: it
// does once, above every store, what each would otherwise repeat (as
// gocloud.dev/blob's Bucket does above its drivers). Before a call it
// checks the context and the arguments (a malformed call wraps
// ErrInvalidRequest and never reaches the store) and fills query
// defaults; after it, it adds the context (tenant, run, connection, held
// change set) to the store's bare error. Package storage states this
// split for store authors.
type storeGate struct{ s store }

var _ store = storeGate{}

// ungated returns the Store behind the gate: where the engine looks for a
// store's optional capabilities, which the gate does not have.
func ungated(s Store) Store {
	if g, ok := s.(storeGate); ok {
		return g.s
	}
	return s
}

func invalidArg(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// wrap adds what was being done to a store's error.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("resync: store: %s: %w", fmt.Sprintf(format, args...), err)
}

// live reports a context that ended before the call.
func live(ctx context.Context, format string, args ...any) error {
	if err := ctx.Err(); err != nil {
		return wrap(err, format, args...)
	}
	return nil
}

// validateRun checks what a store needs of a run: a tenant and an ID.
func validateRun(r RunInfo) error {
	if r.Tenant == "" || r.ID == "" {
		return invalidArg("run needs a tenant and an ID (got %q, %q)", r.Tenant, r.ID)
	}
	return nil
}

func needTenant(op, tenant string) error {
	if tenant == "" {
		return invalidArg("%s needs a tenant", op)
	}
	return nil
}

func needTenantID(op, what, tenant, id string) error {
	if tenant == "" || id == "" {
		return invalidArg("%s needs a tenant and a %s (got %q, %q)", op, what, tenant, id)
	}
	return nil
}

// validateChangeSet checks the shape a store relies on before it applies
// or holds a change set: IDs set, known ops and kinds, a record with
// matching kind and key on every add, update and refresh, no kind+key
// twice.
func validateChangeSet(cs *ChangeSet) error {
	bad := func(format string, args ...any) error {
		return invalidArg("change set: %s", fmt.Sprintf(format, args...))
	}
	if cs == nil {
		return bad("nil")
	}
	if cs.ID == "" || cs.Tenant == "" || cs.ConnectionID == "" {
		return bad("ID, Tenant and ConnectionID are required (got %q, %q, %q)", cs.ID, cs.Tenant, cs.ConnectionID)
	}
	if cs.BaseVersion < 0 {
		return bad("negative base version %d", cs.BaseVersion)
	}
	seen := make(map[recKey]struct{}, len(cs.Changes))
	for i, c := range cs.Changes {
		if c.Kind.index() == 0 {
			return bad("change %d: unknown kind %q", i, c.Kind)
		}
		if c.Key == "" {
			return bad("change %d: empty key", i)
		}
		k := recKey{c.Kind, c.Key}
		if _, dup := seen[k]; dup {
			return bad("change %d: %s %q appears twice", i, c.Kind, c.Key)
		}
		seen[k] = struct{}{}
		switch c.Op {
		case OpAdd, OpUpdate, OpRefresh:
			if c.Record == nil || isNilRecord(c.Record) {
				return bad("change %d: %s of %s %q has no record", i, c.Op, c.Kind, c.Key)
			}
			if c.Record.recordKind() != c.Kind || c.Record.recordKey() != c.Key {
				return bad("change %d: record is %s %q, change says %s %q", i, c.Record.recordKind(), c.Record.recordKey(), c.Kind, c.Key)
			}
		case OpRemove:
		default:
			return bad("change %d: unknown op %q", i, c.Op)
		}
	}
	return nil
}

func (g storeGate) CreateRun(ctx context.Context, r RunInfo) error {
	if err := validateRun(r); err != nil {
		return err
	}
	what := fmt.Sprintf("creating run %q of tenant %q", r.ID, r.Tenant)
	if err := live(ctx, "%s", what); err != nil {
		return err
	}
	return wrap(g.s.CreateRun(ctx, r), "%s", what)
}

func (g storeGate) UpdateRun(ctx context.Context, r RunInfo) error {
	if err := validateRun(r); err != nil {
		return err
	}
	what := fmt.Sprintf("updating run %q of tenant %q", r.ID, r.Tenant)
	if err := live(ctx, "%s", what); err != nil {
		return err
	}
	return wrap(g.s.UpdateRun(ctx, r), "%s", what)
}

func (g storeGate) GetRun(ctx context.Context, tenant, id string) (RunInfo, error) {
	if err := needTenantID("GetRun", "run ID", tenant, id); err != nil {
		return RunInfo{}, err
	}
	what := fmt.Sprintf("run %q of tenant %q", id, tenant)
	if err := live(ctx, "%s", what); err != nil {
		return RunInfo{}, err
	}
	r, err := g.s.GetRun(ctx, tenant, id)
	return r, wrap(err, "%s", what)
}

func (g storeGate) ListRuns(ctx context.Context, q RunQuery) ([]RunInfo, error) {
	if err := needTenant("ListRuns", q.Tenant); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		q.Limit = defaultRunLimit
	}
	what := fmt.Sprintf("listing runs of tenant %q", q.Tenant)
	if err := live(ctx, "%s", what); err != nil {
		return nil, err
	}
	runs, err := g.s.ListRuns(ctx, q)
	return runs, wrap(err, "%s", what)
}

func (g storeGate) LiveRuns(ctx context.Context) ([]RunInfo, error) {
	if err := live(ctx, "listing live runs"); err != nil {
		return nil, err
	}
	runs, err := g.s.LiveRuns(ctx)
	return runs, wrap(err, "listing live runs")
}

func (g storeGate) Snapshot(ctx context.Context, tenant, connectionID string, fn func(kind RecordKind, key string, fingerprint, volatile uint64) error) (int64, error) {
	if err := needTenantID("Snapshot", "connection", tenant, connectionID); err != nil {
		return 0, err
	}
	what := fmt.Sprintf("snapshot of connection %q of tenant %q", connectionID, tenant)
	if err := live(ctx, "%s", what); err != nil {
		return 0, err
	}
	v, err := g.s.Snapshot(ctx, tenant, connectionID, fn)
	return v, wrap(err, "%s", what)
}

func (g storeGate) Apply(ctx context.Context, cs *ChangeSet) error {
	if err := validateChangeSet(cs); err != nil {
		return err
	}
	what := fmt.Sprintf("applying change set %q to connection %q of tenant %q", cs.ID, cs.ConnectionID, cs.Tenant)
	if err := live(ctx, "%s", what); err != nil {
		return err
	}
	return wrap(g.s.Apply(ctx, cs), "%s", what)
}

// applyDiffed applies a change set built by the engine's diff, which
// already guarantees what validateChangeSet checks (one change per kind
// and key, each matching its record): checking it again would cost a map
// of every key on a first sync.
func (g storeGate) applyDiffed(ctx context.Context, cs *ChangeSet) error {
	what := fmt.Sprintf("applying change set %q to connection %q of tenant %q", cs.ID, cs.ConnectionID, cs.Tenant)
	if err := live(ctx, "%s", what); err != nil {
		return err
	}
	return wrap(g.s.Apply(ctx, cs), "%s", what)
}

func (g storeGate) Records(ctx context.Context, q RecordQuery) ([]StoredRecord, error) {
	if err := needTenantID("Records", "connection", q.Tenant, q.ConnectionID); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("records of connection %q of tenant %q", q.ConnectionID, q.Tenant)
	if err := live(ctx, "%s", what); err != nil {
		return nil, err
	}
	recs, err := g.s.Records(ctx, q)
	for i := range recs {
		recs[i].ConnectionID = q.ConnectionID
	}
	return recs, wrap(err, "%s", what)
}

func (g storeGate) Changes(ctx context.Context, q ChangeQuery) ([]ChangeLogEntry, error) {
	if err := needTenant("Changes", q.Tenant); err != nil {
		return nil, err
	}
	if err := validateChangeQuery(q); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("change log of tenant %q", q.Tenant)
	if err := live(ctx, "%s", what); err != nil {
		return nil, err
	}
	log, err := g.s.Changes(ctx, q)
	return log, wrap(err, "%s", what)
}

// validateChangeQuery refuses filters no entry can match because they are
// malformed: an unknown kind or op, a negative limit, an empty time range.
func validateChangeQuery(q ChangeQuery) error {
	switch {
	case q.Limit < 0:
		return invalidArg("Changes: negative limit %d", q.Limit)
	case q.Kind != "" && q.Kind.index() == 0:
		return invalidArg("Changes: unknown kind %q", q.Kind)
	case q.Op != "" && !slices.Contains([]ChangeOp{OpAdd, OpUpdate, OpRemove, OpRefresh, OpErase}, q.Op):
		return invalidArg("Changes: unknown op %q", q.Op)
	case !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until):
		return invalidArg("Changes: Since %s is not before Until %s", q.Since, q.Until)
	}
	return nil
}

func (g storeGate) Hold(ctx context.Context, cs *ChangeSet) error {
	if err := validateChangeSet(cs); err != nil {
		return err
	}
	what := fmt.Sprintf("holding change set %q of connection %q of tenant %q", cs.ID, cs.ConnectionID, cs.Tenant)
	if err := live(ctx, "%s", what); err != nil {
		return err
	}
	return wrap(g.s.Hold(ctx, cs), "%s", what)
}

func (g storeGate) HeldChangeSets(ctx context.Context, tenant string) ([]HeldSummary, error) {
	if err := needTenant("HeldChangeSets", tenant); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("held change sets of tenant %q", tenant)
	if err := live(ctx, "%s", what); err != nil {
		return nil, err
	}
	list, err := g.s.HeldChangeSets(ctx, tenant)
	return list, wrap(err, "%s", what)
}

func (g storeGate) GetHeld(ctx context.Context, tenant, id string) (*ChangeSet, error) {
	if err := needTenantID("GetHeld", "held change set ID", tenant, id); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("held change set %q of tenant %q", id, tenant)
	if err := live(ctx, "%s", what); err != nil {
		return nil, err
	}
	cs, err := g.s.GetHeld(ctx, tenant, id)
	return cs, wrap(err, "%s", what)
}

func (g storeGate) DiscardHeld(ctx context.Context, tenant, id string) error {
	if err := needTenantID("DiscardHeld", "held change set ID", tenant, id); err != nil {
		return err
	}
	what := fmt.Sprintf("discarding held change set %q of tenant %q", id, tenant)
	if err := live(ctx, "%s", what); err != nil {
		return err
	}
	return wrap(g.s.DiscardHeld(ctx, tenant, id), "%s", what)
}

func (g storeGate) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if name == "" || owner == "" || ttl <= 0 {
		return false, invalidArg("lease needs a name, an owner and a positive TTL (got %q, %q, %s)", name, owner, ttl)
	}
	what := fmt.Sprintf("taking lease %s for %q", name, owner)
	if err := live(ctx, "%s", what); err != nil {
		return false, err
	}
	// The store's error names the lease already, and callers add why they
	// wanted it: no third mention here.
	return g.s.AcquireLease(ctx, name, owner, ttl)
}

func (g storeGate) ReleaseLease(ctx context.Context, name, owner string) error {
	if name == "" || owner == "" {
		return invalidArg("lease needs a name and an owner (got %q, %q)", name, owner)
	}
	what := fmt.Sprintf("releasing lease %s of %q", name, owner)
	if err := live(ctx, "%s", what); err != nil {
		return err
	}
	return wrap(g.s.ReleaseLease(ctx, name, owner), "%s", what)
}
