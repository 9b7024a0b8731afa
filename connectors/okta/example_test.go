package okta_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/okta"
)

// A connector reads an org's users, then its groups and their members, a
// page at a time, as the engine drives it. Here the org is a stand-in
// answering as Okta's List Users and List Groups do.
func Example() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Rate-Limit-Limit", "600")
		w.Header().Set("X-Rate-Limit-Remaining", "599")
		switch r.URL.Path {
		case "/api/v1/users":
			fmt.Fprint(w, `[{"id":"00ub0oNGTSWTBKOLGLNR","status":"DEPROVISIONED",
				"profile":{"login":"isaac.brock@example.com","email":"isaac.brock@example.com","firstName":"Isaac","lastName":"Brock"}},
				{"id":"00ub0oNGTSWTBKOLGLNS","status":"LOCKED_OUT",
				"profile":{"login":"eric.judy@example.com","email":"eric.judy@example.com","firstName":"Eric","lastName":"Judy"}}]`)
		case "/api/v1/groups":
			fmt.Fprint(w, `[{"id":"00g1emaKYZTWRYYRRTSK","type":"OKTA_GROUP","profile":{"name":"West Coast Users"}}]`)
		case "/api/v1/groups/00g1emaKYZTWRYYRRTSK/users":
			fmt.Fprint(w, `[{"id":"00ub0oNGTSWTBKOLGLNS","status":"LOCKED_OUT"}]`)
		}
	}))
	defer srv.Close()

	conn := resync.Connection{ID: "okta1", Tenant: "t1", Type: resync.IdP, Provider: "okta",
		Settings: map[string]string{"url": srv.URL, "token": "an API token from the host's vault"}}
	c, err := okta.New(conn, okta.Config{HTTPClient: srv.Client()})
	if err != nil {
		panic(err)
	}
	for cursor := ""; ; {
		page, err := c.ReadPage(context.Background(), cursor)
		if err != nil {
			panic(err)
		}
		for _, r := range page.Records {
			switch r := r.(type) {
			case *resync.Identity:
				fmt.Println("identity", r.Key, r.Email, r.Status, r.Attributes["status"])
			case *resync.Group:
				fmt.Println("group", r.Key, r.Name, r.Members)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	// Output:
	// identity 00ub0oNGTSWTBKOLGLNR isaac.brock@example.com deprovisioned DEPROVISIONED
	// identity 00ub0oNGTSWTBKOLGLNS eric.judy@example.com active LOCKED_OUT
	// group 00g1emaKYZTWRYYRRTSK West Coast Users [00ub0oNGTSWTBKOLGLNS]
}
