package linking_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// An offboarded person who still has an AWS user: the run that sees it
// opens an offboarding gap.
func Example() {
	ctx := context.Background()
	src := resynctest.NewSource()
	src.Add(
		resync.Connection{ID: "okta", Tenant: "acme", Type: resync.IdP, Provider: "okta", Name: "Okta"},
		resync.Connection{ID: "aws", Tenant: "acme", Type: resync.Infrastructure, Provider: "aws", Name: "AWS prod"},
	)
	fakes := resynctest.NewFakes()
	fakes.Set("acme", "okta", resynctest.NewConnector([]resync.Record{
		&resync.Identity{Key: "00u1", Email: "jane@acme.example", Status: resync.StatusDeprovisioned},
		&resync.Identity{Key: "00u2", Email: "joe@acme.example", Status: resync.StatusActive},
	}, 0))
	fakes.Set("acme", "aws", resynctest.NewConnector([]resync.Record{
		&resync.Account{Key: "AIDA1", Username: "jane", OwnerEmail: "Jane@ACME.example", Status: resync.StatusActive},
		&resync.Account{Key: "AIDA2", Username: "joe", ExternalID: "00u2", Status: resync.StatusActive},
		&resync.Account{Key: "AIDA3", Username: "deploy", Type: resync.AccountTypeService, Status: resync.StatusActive},
		&resync.Account{Key: "AIDA4", Username: "temp", Status: resync.StatusActive},
	}, 0))
	store := memstore.New()
	lk, err := linking.New(linking.Config{Store: store, Connections: src, Authorizer: resynctest.AllowAll})
	if err != nil {
		fmt.Println(err)
		return
	}
	engine, err := resync.New(ctx, resync.Config{
		Store: store, Connections: src, Connectors: fakes.Factories("okta", "aws"),
		Authorizer: resynctest.AllowAll, AfterRun: lk.AfterRun,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer engine.Close(ctx)
	admin := resync.Principal{ID: "u1", Email: "admin@acme.example"}
	run, err := engine.ResyncPersonnel(ctx, "acme", admin)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := run.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}
	links, _, err := lk.Links(ctx, "acme", admin, linking.LinkQuery{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range links {
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%s %s: %s %s %s", k.ConnectionID, k.AccountKey, k.Situation, k.PersonID, k.Rule)))
	}
	findings, err := lk.Findings(ctx, "acme", admin, linking.FindingQuery{OpenOnly: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range findings {
		fmt.Printf("finding: %s %s (%s)\n", f.Kind, f.AccountKey, f.Detail)
	}
	// Output:
	// aws AIDA1: offboarding_gap okta:00u1 email
	// aws AIDA2: linked okta:00u2 external_id
	// aws AIDA3: service_account
	// aws AIDA4: unlinked
	// finding: offboarding_gap AIDA1 (okta:00u1 deprovisioned at the identity provider)
	// finding: orphaned AIDA4 (no person matches)
}
