package datadog_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/datadog"
)

// A connector reads the organization's users a page at a time, as the
// engine drives it. Here Datadog is a stand-in answering the users list.
func Example() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-RateLimit-Remaining", "99")
		fmt.Fprint(w, `{"data":[{"type":"users","id":"0e4a7f3c-2d2b-11ee-be56-0242ac120002",
			"attributes":{"email":"ada@example.com","handle":"ada@example.com","name":"Ada","status":"Active","mfa_enabled":true},
			"relationships":{"roles":{"data":[{"type":"roles","id":"r-admin"}]}}}],
			"included":[{"type":"roles","id":"r-admin","attributes":{"name":"Datadog Admin Role"}}],
			"meta":{"page":{"total_count":1}}}`)
	}))
	defer srv.Client().CloseIdleConnections()
	defer srv.Close()

	conn := resync.Connection{ID: "dd", Tenant: "t1", Type: resync.Observability, Provider: "datadog",
		Settings: map[string]string{"site": "datadoghq.eu", "api_key": "from the vault", "application_key": "from the vault"}}
	c, err := datadog.New(conn, datadog.Config{HTTPClient: srv.Client(), BaseURL: srv.URL + "/"})
	if err != nil {
		panic(err)
	}
	page, err := c.ReadPage(context.Background(), "")
	if err != nil {
		panic(err)
	}
	for _, r := range page.Records {
		a := r.(*resync.Account)
		fmt.Println(a.Key, a.OwnerEmail, a.Status, a.MFA, a.Roles)
	}
	fmt.Printf("next page: %q\n", page.Next)
	// Output:
	// 0e4a7f3c-2d2b-11ee-be56-0242ac120002 ada@example.com active enabled [Datadog Admin Role]
	// next page: ""
}
