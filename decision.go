// This file is the decisions on held change sets: approve, reject, and
// supersession by a later read; recording them on the store and on the
// runs that held the sets, and telling the admins.

package resync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"unicode/utf8"
)

// maxDecisionReason bounds Decision.Reason, in bytes.
const maxDecisionReason = 2000

// deciderGate is the gate (see storeGate) in front of a Store's
// HeldDecider capability.
type deciderGate struct{ d heldDecider }

// decider returns the store's HeldDecider capability behind the gate, or
// nil if the store lacks it.
func (e *Engine) decider() *deciderGate {
	s := ungated(e.cfg.Store)
	if d, ok := s.(heldDecider); ok {
		return &deciderGate{d}
	}
	return nil
}

func validateDecision(d Decision) error {
	switch d.Kind {
	case ConnApplied, ConnRejected, ConnSuperseded:
	default:
		return invalidArg("decision: unknown kind %q", d.Kind)
	}
	if d.By.ID == "" && d.By.Email == "" {
		return invalidArg("decision: the decider needs an ID or an email")
	}
	if d.At.IsZero() {
		return invalidArg("decision: no time")
	}
	return checkReason(d.Reason)
}

// checkReason refuses a reason a store could not keep exactly.
func checkReason(r string) error {
	switch {
	case len(r) > maxDecisionReason:
		return invalidArg("decision: the reason has %d bytes, more than %d", len(r), maxDecisionReason)
	case !utf8.ValidString(r):
		return invalidArg("decision: the reason is not valid UTF-8")
	case strings.IndexByte(r, 0) >= 0:
		return invalidArg("decision: the reason contains a NUL byte")
	}
	return nil
}

func (g *deciderGate) DecideHeld(ctx context.Context, tenant, id string, d Decision) (HeldSummary, error) {
	if err := needTenantID("DecideHeld", "held change set ID", tenant, id); err != nil {
		return HeldSummary{}, err
	}
	if err := validateDecision(d); err != nil {
		return HeldSummary{}, err
	}
	what := fmt.Sprintf("deciding (%s) on held change set %q of tenant %q", d.Kind, id, tenant)
	if err := live(ctx, "%s", what); err != nil {
		return HeldSummary{}, err
	}
	h, err := g.d.DecideHeld(ctx, tenant, id, d)
	return h, wrap(err, "%s", what)
}

func (g *deciderGate) DecidedChangeSets(ctx context.Context, tenant string, limit int) ([]HeldSummary, error) {
	if err := needTenant("DecidedChangeSets", tenant); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, invalidArg("DecidedChangeSets: negative limit %d", limit)
	}
	if limit == 0 {
		limit = defaultRunLimit
	}
	what := fmt.Sprintf("decided change sets of tenant %q", tenant)
	if err := live(ctx, "%s", what); err != nil {
		return nil, err
	}
	list, err := g.d.DecidedChangeSets(ctx, tenant, limit)
	return list, wrap(err, "%s", what)
}

// decide carries out Approve (kind ConnApplied) and Reject (ConnRejected).
func (e *Engine) decide(ctx context.Context, tenant, heldID string, by Principal, kind ConnectionStatus, reason string) (HeldSummary, error) {
	if e.isClosed() {
		return HeldSummary{}, ErrClosed
	}
	if tenant == "" || heldID == "" {
		return HeldSummary{}, fmt.Errorf("%w: a decision needs a tenant and a held change set ID (got %q, %q)", ErrInvalidRequest, tenant, heldID)
	}
	if by.ID == "" && by.Email == "" {
		return HeldSummary{}, fmt.Errorf("%w: the decider needs an ID or an email", ErrInvalidRequest)
	}
	if by.System {
		return HeldSummary{}, fmt.Errorf("%w: the system principal does not decide on held change sets", ErrForbidden)
	}
	if err := checkReason(reason); err != nil {
		return HeldSummary{}, err
	}
	if err := e.authorize(ctx, tenant, by, ActionReviewHeld); err != nil {
		return HeldSummary{}, err
	}
	d := Decision{Kind: kind, By: by, At: e.cfg.Clock.Now(), Reason: reason}
	var sum HeldSummary
	if dec := e.decider(); dec != nil {
		var err error
		sum, err = e.decideHeld(ctx, dec, tenant, heldID, d)
		if errors.Is(err, ErrConflict) {
			cs, gerr := e.cfg.Store.GetHeld(ctx, tenant, heldID)
			if gerr != nil {
				// Decided already, by someone else or by a later read.
				return HeldSummary{}, err
			}
			// Still held, so the apply was refused: the snapshot moved on.
			return summarize(cs), e.supersedeStale(ctx, dec, cs)
		}
		if err != nil {
			return HeldSummary{}, err
		}
	} else {
		cs, err := e.cfg.Store.GetHeld(ctx, tenant, heldID)
		if err != nil {
			return HeldSummary{}, err
		}
		sum = summarize(cs)
		if kind == ConnApplied {
			err = e.cfg.Store.Apply(ctx, cs)
			if errors.Is(err, ErrConflict) {
				return sum, e.supersedeStale(ctx, nil, cs)
			}
		} else {
			err = e.cfg.Store.DiscardHeld(ctx, tenant, heldID)
		}
		if err != nil {
			return sum, err
		}
		sum.Decision = d
	}
	if kind == ConnApplied && e.cfg.AfterRun != nil {
		e.afterApproved(ctx, tenant, sum.RunID)
	}
	e.log.Info("held change set decided", "tenant", tenant, "held", heldID, "connection", sum.ConnectionID, "decision", kind,
		"by", by.label(), "reason", reason, "added", sum.Added, "updated", sum.Updated, "removed", sum.Removed)
	e.settle(ctx, sum)
	return sum, nil
}

// afterApproved calls Config.AfterRun with the run that held an approved
// change set, and keeps the Findings it set on the run: on the live run
// (stored with its final state) or, when the run is over, on the stored
// run.
func (e *Engine) afterApproved(ctx context.Context, tenant, runID string) {
	info, err := e.cfg.Store.GetRun(ctx, tenant, runID)
	if err != nil {
		e.log.Warn("after run: reading the run that held the change set", "tenant", tenant, "run", runID, "err", err)
		return
	}
	e.mu.Lock()
	if r := e.runs[runID]; r != nil && r.tenant == tenant {
		info.Findings = maps.Clone(r.info.Findings)
	}
	e.mu.Unlock()
	before := info.Findings
	found := e.afterRun(ctx, info)
	if maps.Equal(found, before) {
		return
	}
	e.mu.Lock()
	if r := e.runs[runID]; r != nil && r.tenant == tenant {
		r.info.Findings = found
		e.mu.Unlock()
		e.persist(r)
		return
	}
	e.mu.Unlock()
	// The run is over: store the counts on it as it is now.
	cur, err := e.cfg.Store.GetRun(ctx, tenant, runID)
	if err == nil {
		cur.Findings = found
		err = e.cfg.Store.UpdateRun(ctx, cur)
	}
	if err != nil {
		e.log.Warn("after run: recording findings on the run that held the change set", "tenant", tenant, "run", runID, "err", err)
	}
}

// supersedeStale resolves a held change set whose connection changed after
// it was held: it can no longer be applied, so it is superseded (with a
// HeldDecider) or discarded, and ErrConflict returned.
func (e *Engine) supersedeStale(ctx context.Context, dec *deciderGate, cs *ChangeSet) error {
	d := Decision{Kind: ConnSuperseded, By: SystemPrincipal, At: e.cfg.Clock.Now(),
		Reason: "the connection changed after the change set was held"}
	sum := summarize(cs)
	var err error
	if dec != nil {
		sum, err = e.decideHeld(ctx, dec, cs.Tenant, cs.ID, d)
	} else {
		err = e.cfg.Store.DiscardHeld(ctx, cs.Tenant, cs.ID)
		sum.Decision = d
	}
	switch {
	case err == nil:
		e.settle(ctx, sum)
	case !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict):
		return err
	}
	return fmt.Errorf("%w: connection %q changed after change set %q was held; it was superseded, resync again", ErrConflict, cs.ConnectionID, cs.ID)
}

// heldOf lists the held change sets of t's connection. A read lists them
// when it loads the snapshot: only reads hold change sets, and the read
// lease keeps other reads of the connection out until this one ends.
func (e *Engine) heldOf(ctx context.Context, t *read) ([]HeldSummary, error) {
	list, err := e.cfg.Store.HeldChangeSets(ctx, t.conn.Tenant)
	if err != nil {
		return nil, fmt.Errorf("listing held change sets: %w", err)
	}
	var out []HeldSummary
	for _, h := range list {
		if h.ConnectionID == t.conn.ID {
			out = append(out, h)
		}
	}
	return out, nil
}

// supersedeHeld resolves the held change sets prior of t's connection
// other than keep: t read the connection completely, so they no longer say
// what the provider holds. With a HeldDecider they are recorded as
// superseded, else discarded; one decided meanwhile is left alone. It
// returns the summaries, with their decisions, for settle once the read is
// over.
func (e *Engine) supersedeHeld(ctx context.Context, t *read, prior []HeldSummary, keep string) ([]HeldSummary, error) {
	dec := e.decider()
	var out []HeldSummary
	var err error
	for _, h := range prior {
		if h.ID == keep {
			continue
		}
		d := Decision{Kind: ConnSuperseded, By: SystemPrincipal, At: e.cfg.Clock.Now(),
			Reason: fmt.Sprintf("replaced by the complete read of run %s", t.owner.id)}
		if dec != nil {
			h, err = e.decideHeld(ctx, dec, h.Tenant, h.ID, d)
		} else {
			err = e.cfg.Store.DiscardHeld(ctx, h.Tenant, h.ID)
			h.Decision = d
		}
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
			continue // someone decided first
		}
		if err != nil {
			return out, fmt.Errorf("superseding held change set %q: %w", h.ID, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// settleResult moves a connection result that holds h to h's decision.
func settleResult(c *ConnectionResult, h HeldSummary) bool {
	if c.HeldID != h.ID || c.Status != ConnHeld {
		return false
	}
	d := h.Decision
	c.Status, c.Decision = d.Kind, d
	switch d.Kind {
	case ConnApplied:
		c.Error = ""
	case ConnRejected:
		c.Error = "held change set rejected by " + d.By.label()
	case ConnSuperseded:
		c.Error = "held change set superseded"
	}
	if d.Reason != "" && c.Error != "" {
		c.Error += ": " + d.Reason
	}
	return true
}

// settleRun records h's decision on run info and recomputes its status.
func settleRun(ri *RunInfo, h HeldSummary) bool {
	if ri.Tenant != h.Tenant {
		return false
	}
	changed := false
	for i := range ri.Connections {
		if settleResult(&ri.Connections[i], h) {
			changed = true
		}
	}
	if changed && ri.Status.Final() && ri.Status != RunCanceled && ri.Status != RunInterrupted {
		ri.Status = finalStatus(ri.Connections, false)
	}
	return changed
}

// settle records the decision on h on every run that holds it — runs this
// engine is carrying out, in memory (with the results of reads not yet
// handed to them); the others in the store: the run that held it and the
// tenant's latest partial runs, which include any that shared its read —
// and notifies the admins. Failures are logged: the decision stands.
func (e *Engine) settle(ctx context.Context, h HeldSummary) {
	ctx = context.WithoutCancel(ctx)
	e.mu.Lock()
	live := map[string]*Run{}
	var changed []*Run
	for id, r := range e.runs {
		if r.tenant != h.Tenant {
			continue
		}
		live[id] = r
		for _, s := range r.slots {
			if s.ticket != nil {
				settleResult(&s.ticket.result, h)
			}
		}
		if settleRun(&r.info, h) {
			changed = append(changed, r)
		}
	}
	for _, q := range e.queues {
		for _, t := range []*read{q.cur, q.next} {
			if t != nil && t.held != nil && t.held.ID == h.ID && t.conn.Tenant == h.Tenant {
				d := h.Decision
				t.decision = &d
			}
		}
	}
	e.mu.Unlock()
	for _, r := range changed {
		e.persist(r)
	}

	var stored []RunInfo
	if h.RunID != "" && live[h.RunID] == nil {
		ri, err := e.cfg.Store.GetRun(ctx, h.Tenant, h.RunID)
		if err == nil {
			stored = append(stored, ri)
		} else if !errors.Is(err, ErrNotFound) {
			e.log.Warn("reading the run of a decided change set", "tenant", h.Tenant, "run", h.RunID, "err", err)
		}
	}
	partial, err := e.cfg.Store.ListRuns(ctx, RunQuery{Tenant: h.Tenant, Status: RunPartial})
	if err != nil {
		e.log.Warn("listing runs that may hold a decided change set", "tenant", h.Tenant, "err", err)
	}
	for _, ri := range partial {
		if ri.ID != h.RunID && live[ri.ID] == nil {
			stored = append(stored, ri)
		}
	}
	owner := RunInfo{ID: h.RunID, Tenant: h.Tenant}
	for _, ri := range stored {
		if settleRun(&ri, h) {
			if err := e.cfg.Store.UpdateRun(ctx, ri); err != nil {
				e.log.Warn("recording a decision on a run", "tenant", h.Tenant, "run", ri.ID, "err", err)
			}
		}
		if ri.ID == h.RunID {
			owner = ri
		}
	}

	if e.cfg.Notifier == nil || e.ob != nil {
		return // with an outbox, the notifications were stored with the decision
	}
	if r := live[h.RunID]; r != nil {
		e.deliver(r, NotifyHeldDecided, r.Info(), &h)
		return
	}
	// The run is over: deliver on its behalf and store any delivery
	// failure on it.
	r := &Run{e: e, id: owner.ID, tenant: h.Tenant, ctx: ctx, info: owner}
	n := len(owner.NotifyErrors)
	e.deliver(r, NotifyHeldDecided, owner, &h)
	e.mu.Lock()
	info := r.info
	e.mu.Unlock()
	if len(info.NotifyErrors) > n && info.Status != "" {
		if err := e.cfg.Store.UpdateRun(ctx, info); err != nil {
			e.log.Warn("recording a notification failure on a run", "tenant", h.Tenant, "run", info.ID, "err", err)
		}
	}
}
