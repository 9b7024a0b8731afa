package resync_test

import (
	"context"
	"fmt"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// A connection type is a stable name: a host reads it from its
// configuration or database as a string and checks it with Valid.
func ExampleConnectionType_Valid() {
	for _, s := range []string{"idp", "version_control", "Version Control", "crm"} {
		t := resync.ConnectionType(s)
		fmt.Printf("%q valid: %v\n", t, t.Valid())
	}
	// Output:
	// "idp" valid: true
	// "version_control" valid: true
	// "Version Control" valid: false
	// "crm" valid: false
}

func ExampleFingerprint() {
	a := &resync.Identity{
		Key: "00u1", Email: "ada@example.com", Status: resync.StatusActive,
		Groups:     []string{"admins", "engineering"},
		Attributes: map[string]string{"location": "London", "costCenter": "42"},
	}
	b := &resync.Identity{
		Key: "00u1", Email: "ada@example.com", Status: resync.StatusActive,
		Groups:     []string{"engineering", "admins"}, // order carries no meaning
		Attributes: map[string]string{"costCenter": "42", "location": "London"},
	}
	fmt.Println("same content:", resync.Fingerprint(a) == resync.Fingerprint(b))
	b.Status = resync.StatusSuspended
	fmt.Println("after suspension:", resync.Fingerprint(a) == resync.Fingerprint(b))
	// Output:
	// same content: true
	// after suspension: false
}

func ExampleEngine_ResyncPersonnel() {
	ctx := context.Background()
	src := resynctest.NewSource()
	src.Add(
		resync.Connection{ID: "okta", Tenant: "acme", Type: resync.IdP, Provider: "okta", Name: "Okta"},
		resync.Connection{ID: "gh", Tenant: "acme", Type: resync.VersionControl, Provider: "github", Name: "GitHub"},
		resync.Connection{ID: "kandji", Tenant: "acme", Type: resync.MDM, Provider: "kandji", Name: "Kandji"}, // not personnel
	)
	fakes := resynctest.NewFakes()
	fakes.Set("acme", "okta", resynctest.NewConnector([]resync.Record{
		&resync.Identity{Key: "00u1", Email: "ada@acme.example", Status: resync.StatusActive},
		&resync.Identity{Key: "00u2", Email: "alan@acme.example", Status: resync.StatusActive},
		&resync.Group{Key: "00g1", Name: "Engineering", Members: []string{"00u1", "00u2"}},
	}, 2))
	fakes.Set("acme", "gh", resynctest.NewConnector([]resync.Record{
		&resync.Account{Key: "101", Username: "ada", Status: resync.StatusActive},
		&resync.Account{Key: "", Username: "ghost", Status: resync.StatusActive}, // rejected: no key
	}, 0))

	engine, err := resync.New(ctx, resync.Config{
		Store:       memstore.New(),
		Connections: src,
		Connectors:  fakes.Factories("okta", "github", "kandji"),
		Authorizer:  resynctest.AllowAll,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer engine.Close(ctx)

	run, err := engine.ResyncPersonnel(ctx, "acme", resync.Principal{ID: "u1", Email: "admin@acme.example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	info, err := run.Wait(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("run:", info.Status)
	for _, c := range info.Connections {
		fmt.Printf("%s: %s read=%d added=%d rejected=%d\n", c.Name, c.Status, c.Read, c.Added, c.Rejected)
	}
	// Output:
	// run: succeeded
	// Okta: succeeded read=3 added=3 rejected=0
	// GitHub: succeeded read=2 added=1 rejected=1
}
