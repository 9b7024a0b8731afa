// Package linking links a tenant's accounts to its people: for each
// person, which accounts they hold in each system, which accounts belong
// to nobody, and which belong to someone who has left.
//
// # Setup
//
// A Linker works beside an Engine, on the same Store (which must
// implement storage.LinkStore: memstore, stores/sqlite and
// stores/postgres do), ConnectionSource and Authorizer. The engine calls
// it after each run:
//
//	lk, err := linking.New(linking.Config{Store: store, Connections: src, Authorizer: authz})
//	...
//	engine, err := resync.New(ctx, resync.Config{Store: store, Connections: src, Authorizer: authz,
//		Connectors: connectors, AfterRun: lk.AfterRun})
//
// # People
//
// A person is the join of the identities of the tenant's IdP and HRIS
// connections that share a work email (compared by NormalizeEmail, with
// Config.DomainAliases) or an employee ID; identities removed from their
// connection stay in the join as deprovisioned, so that an IdP user
// deleted at offboarding still has their accounts. Where the sources
// disagree, the HRIS decides employment (the record of the latest
// employment: an active one first, then the latest start date, so a
// rehire's new record wins over the old one) and the IdP decides login.
// A person is offboarded when the HRIS says they are terminated or past
// the end of their last day, or when the IdP says they are deprovisioned.
// A person's ID is the reference (IdentityRef) of their first identity,
// HRIS before IdP.
//
// # Rules
//
// Every account of every other connection (security training included)
// is linked by the first of these that decides:
//
//  1. an admin's decision (Decide), which no resync changes;
//  2. the connection's rules (Config.Rules; DefaultRules otherwise), in
//     order: RuleExternalID (the provider's own reference to the owner at
//     the IdP), RuleEmployeeID, RuleEmail (case, "+tag" and domain
//     aliases ignored), RuleUsername. The first rule that finds anyone
//     decides: one person links the account; two or more make it
//     Ambiguous, listed with its candidates and never guessed.
//
// # Situations
//
// Each account has a Situation: Linked, Unlinked (an orphaned account),
// Ambiguous, OffboardingGap (active, and its person is offboarded) or
// ServiceAccount (the provider's resync.AccountTypeService,
// Config.ServiceAccount, or an admin's DecideService): listed, never a gap
// or an orphan. Links lists them, by situation, person or connection,
// a page at a time; Access gives one person's accounts everywhere;
// WriteCSV exports them for auditors.
//
// # Findings
//
// A correlation opens a Finding for each active account that is an
// offboarding gap, an orphan, without MFA (where the provider reports
// it) or unused for Config.UnusedAfter (where the provider reports a last
// login or credential use), and closes the findings it no longer sees.
// A finding keeps when and in which run it was opened, last confirmed
// and closed; closed findings stay, so Findings answers "when did we
// learn that Jane still had AWS access, and when was it removed" with one
// query. Config.OnFinding hears each finding opened or closed.
//
// # Completion notices
//
// A run is correlated before its final state is stored and its
// completion notified, and AfterRun counts the findings the correlation
// opened on the run, by kind: resync.RunInfo.Findings
// ({"offboarding_gap": 2, "orphaned": 1}). The run's completion
// notification carries it, so a notice can say "2 new offboarding gaps":
// notify/email's completion message says so (in the subject too) and
// links each kind to email.Config.FindingsLink's address; notify/webhook's
// payload has it as run.findings; resynchttp's GET /runs/{id} returns it
// with the run. The findings themselves are listed by the run that opened
// them:
//
//	gaps, err := lk.Findings(ctx, msg.Tenant, by, linking.FindingQuery{
//		OpenedRun: msg.Run.ID, Kind: linking.FindingOffboardingGap})
//
// (resynchttp: GET /findings?kind=offboarding_gap&run=ID). An approved
// held change set adds what its correlation opened to the stored run that
// held it.
//
// # When correlation runs
//
// Once a run's reads have all ended (resync.Config.AfterRun), the
// Linker reads what the run applied from the change log. If an identity
// of an IdP or HRIS connection changed, every account of the tenant is
// correlated again against the people, built again from the stored
// identities. Otherwise only the accounts the run added, changed or
// removed are (only their stored links are read), and the other open
// findings of each connection the run read are confirmed by that read.
// Correlating once per run, not once per
// connection, keeps a run whose IdP and accounts change together from
// showing the state between the two. An approved held change set is
// correlated when it is applied. The people are cached per tenant in the
// Linker between runs (a new Linker builds them on its first run).
// A connection's changed links and findings are stored a bounded number
// at a time, each write atomic, so that correlating a connection of any
// size holds about the same memory; one such write is stored while the
// next is evaluated, and two connections are correlated at once
// (Config.Rules and Config.ServiceAccount may be called concurrently;
// Config.OnFinding is not). A correlation that fails part way has
// stored part of what it found; the Linker then correlates every account
// of the tenant at its next run (or Correlate), which stores the rest.
// Correlate correlates the whole tenant again, for what time alone
// changes (an end date passing, an account becoming unused): call it
// daily, or after a scheduled run. Correlations of one tenant are
// serialized within a Linker; engines in several processes each
// correlate the runs they carry out.
//
// # Decisions
//
// Decide records an admin's decision on an account (DecideLink,
// DecideUnlink, DecideService, DecideClear) with who, when and a required
// reason, and correlates the account at once. Decisions are a log
// (Decisions lists it): the latest decides, and only another admin
// decision undoes it.
//
// # Erasure and retention
//
// resync.Engine.Erase erases a person's records; with a Store that keeps
// links (storage.LinkStore and storage.Eraser: the three shipped), it
// removes in the same transaction what the links, findings and decisions
// hold about the erased records. Links are deleted: those of the erased
// accounts, those linked to an erased identity (their person) and those
// ambiguous between it and others. Findings and decisions are kept for
// the audit trail, redacted: an erased account's key becomes
// storage.Redacted, the person and a finding's detail are cleared, a
// decision's reason becomes storage.Redacted; kind, connection, when a
// finding was opened, confirmed and closed, and who decided when, stay.
// Open findings about the erased are closed by the erasure (ClosedRun is
// its ID). The Linker notices an erasure of identities in the change log
// (its OpErase entries) the next time it reads the tenant's people: it
// forgets the people it cached, and its next correlation covers every
// account, so the accounts that were linked to the erased person are
// linked again to whoever is left. An admin's link to the erased person
// names no one after the erasure: the account is Unlinked (RuleManual)
// until an admin decides again.
//
// resync.Engine.Prune deletes, beside old runs and change-log entries,
// the findings closed more than resync.Config.Retention ago. Open
// findings, links and decisions stay.
//
// # Authorization
//
// Decide and Correlate need resync.ActionLinkAccounts; every read needs
// resync.ActionViewRecords. Every call takes the tenant and the
// principal, and the listings take a query struct with a cursor (Links)
// or a sequence to continue after (Findings, Decisions).
package linking
