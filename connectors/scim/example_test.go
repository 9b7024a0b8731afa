package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/scim"
)

// A connector reads a service provider's users, then its groups, a page at
// a time, as the engine drives it. Here the provider is a stand-in
// answering RFC 7644 §3.4.2's ListResponse.
func Example() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		switch r.URL.Path {
		case "/scim/v2/Users":
			fmt.Fprint(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[
				{"id":"2819c223","userName":"bjensen","displayName":"Babs Jensen","active":true,
				 "emails":[{"value":"bjensen@example.com","primary":true}],
				 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984"}}]}`)
		case "/scim/v2/Groups":
			fmt.Fprint(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[
				{"id":"e9e30dba","displayName":"Tour Guides","members":[{"value":"2819c223"}]}]}`)
		}
	}))
	defer srv.Close()

	conn := resync.Connection{ID: "scim1", Tenant: "t1", Type: resync.IdP, Provider: "scim",
		Settings: map[string]string{"url": srv.URL + "/scim/v2", "token": "a secret from the host's vault"}}
	c, err := scim.New(conn, scim.Config{HTTPClient: srv.Client()})
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
				fmt.Println("identity", r.Key, r.Email, r.EmployeeID, r.Status)
			case *resync.Group:
				fmt.Println("group", r.Key, r.Name, r.Members)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	// Output:
	// identity 2819c223 bjensen@example.com 701984 active
	// group e9e30dba Tour Guides [2819c223]
}
