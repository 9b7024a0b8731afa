package resync_test

import (
	"context"
	"fmt"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// Is an offboarded person still active anywhere? One call finds every
// identity and account of the person, by email or identity key, in every
// connection, and says which still counts.
func ExampleEngine_Person() {
	ctx := context.Background()
	src := resynctest.NewSource()
	src.Add(
		resync.Connection{ID: "okta", Tenant: "acme", Type: resync.IdP, Provider: "okta"},
		resync.Connection{ID: "gh", Tenant: "acme", Type: resync.VersionControl, Provider: "github"},
		resync.Connection{ID: "aws", Tenant: "acme", Type: resync.Infrastructure, Provider: "aws"},
	)
	fakes := resynctest.NewFakes()
	fakes.Set("acme", "okta", resynctest.NewConnector([]resync.Record{
		&resync.Identity{Key: "00u7", Email: "Mallory@acme.example", Status: resync.StatusDeprovisioned},
	}, 0))
	fakes.Set("acme", "gh", resynctest.NewConnector([]resync.Record{
		&resync.Account{Key: "501", Username: "mal", OwnerEmail: "mallory@acme.example", Status: resync.StatusActive},
	}, 0))
	fakes.Set("acme", "aws", resynctest.NewConnector([]resync.Record{
		// Federated from the IdP: linked by the IdP user ID, not an email.
		&resync.Account{Key: "arn:aws:iam::1:user/mal", ExternalID: "00u7", Status: resync.StatusSuspended},
	}, 0))
	engine, err := resync.New(ctx, resync.Config{
		Store:       memstore.New(),
		Connections: src,
		Connectors:  fakes.Factories("okta", "github", "aws"),
		Authorizer:  resynctest.AllowAll,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer engine.Close(ctx)
	admin := resync.Principal{ID: "u1"}
	run, err := engine.ResyncPersonnel(ctx, "acme", admin)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := run.Wait(ctx); err != nil {
		fmt.Println(err)
		return
	}

	recs, err := engine.Person(ctx, "acme", admin, "MALLORY@acme.example")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range recs {
		fmt.Printf("%s %s %s active=%v\n", r.ConnectionID, r.Kind, r.Key, r.Active)
	}
	// Output:
	// aws account arn:aws:iam::1:user/mal active=false
	// gh account 501 active=true
	// okta identity 00u7 active=false
}
