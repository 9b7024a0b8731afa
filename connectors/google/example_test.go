package google_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/google"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// A Google Workspace connection: the service account's JSON key stays in
// the host's secret store and the settings name it; the subject is the
// admin the service account acts for. It needs real credentials, so it
// is compiled, not run.
func Example() {
	ctx := context.Background()
	src := resynctest.NewSource() // the host's own ConnectionSource in production
	src.Add(resync.Connection{ID: "gws", Tenant: "acme", Type: resync.IdP, Provider: "google",
		Settings: map[string]string{
			"credentials_json": "secret:vault/acme/google-sa-key",
			"subject":          "it-admin@acme.example",
		}})
	e, err := resync.New(ctx, resync.Config{
		Store:       memstore.New(),
		Connections: src,
		Authorizer:  resynctest.AllowAll,
		Secrets: func(ctx context.Context, ref string) (string, error) {
			b, err := os.ReadFile(os.Getenv("GOOGLE_SA_KEY_FILE")) // a vault lookup in production
			return string(b), err
		},
		Connectors: map[string]resync.ConnectorFactory{"google": google.NewFactory(google.Config{})},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close(ctx)
	run, err := e.ResyncPersonnel(ctx, "acme", resync.Principal{ID: "admin"})
	if err != nil {
		log.Fatal(err)
	}
	info, err := run.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range info.Connections {
		fmt.Println(c.ConnectionID, c.Status, c.Added, c.Updated, c.Removed)
	}
}
