package bamboohr_test

import (
	"context"
	"os"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/bamboohr"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynctest"
)

// A host wiring one BambooHR company from its environment, the API key
// kept in its secret store and named by reference. It needs a real
// company, so it only compiles here.
func Example() {
	ctx := context.Background()
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "bamboohr", Tenant: "acme", Type: resync.HRIS, Provider: "bamboohr",
		Settings: map[string]string{
			"company_domain": os.Getenv("BAMBOOHR_COMPANY_DOMAIN"),
			"api_key":        "secret:BAMBOOHR_API_KEY",
		}})
	e, err := resync.New(ctx, resync.Config{
		Store:       memstore.New(),
		Connections: src,
		Authorizer:  resynctest.AllowAll,
		// The host's secret store; here, the environment.
		Secrets: func(_ context.Context, ref string) (string, error) {
			if v, ok := os.LookupEnv(ref); ok {
				return v, nil
			}
			return "", resync.ErrNotFound
		},
		Connectors: map[string]resync.ConnectorFactory{"bamboohr": bamboohr.Factory},
	})
	if err != nil {
		panic(err)
	}
	defer e.Close(ctx)
	run, err := e.ResyncPersonnel(ctx, "acme", resync.Principal{ID: "admin"})
	if err != nil {
		panic(err)
	}
	_, _ = run.Wait(ctx)
}
