package entra_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/entra"
)

// A connector gets a token with the app's client credentials, then reads
// the MFA registration report, the users, and the groups with their
// transitive members, a page at a time, as the engine drives it. Here
// the token endpoint and Graph are a stand-in on one local server.
func Example() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/contoso.onmicrosoft.com/oauth2/v2.0/token":
			fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAi"}`)
		case "/v1.0/reports/authenticationMethods/userRegistrationDetails":
			fmt.Fprint(w, `{"value":[{"id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd","isMfaRegistered":true,"isMfaCapable":true}]}`)
		case "/v1.0/users":
			fmt.Fprint(w, `{"value":[{"id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd","accountEnabled":false,
				"displayName":"Adele Vance","mail":"AdeleV@contoso.com","userPrincipalName":"AdeleV@contoso.com",
				"signInActivity":{"lastSignInDateTime":"2026-11-30T09:12:00Z"}}]}`)
		case "/v1.0/directory/deletedItems/microsoft.graph.user":
			fmt.Fprint(w, `{"value":[]}`)
		case "/v1.0/groups":
			fmt.Fprint(w, `{"value":[{"id":"02bd9fd6-8f93-4758-87c3-1fb73740a315","displayName":"HR Taskforce"}]}`)
		case "/v1.0/groups/02bd9fd6-8f93-4758-87c3-1fb73740a315/transitiveMembers":
			fmt.Fprint(w, `{"value":[{"@odata.type":"#microsoft.graph.user","id":"87d349ed-44d7-43e1-9a83-5f2406dee5bd"}]}`)
		}
	}))
	defer srv.Close()

	conn := resync.Connection{ID: "entra1", Tenant: "t1", Type: resync.IdP, Provider: "entra",
		Settings: map[string]string{"tenant_id": "contoso.onmicrosoft.com",
			"client_id": "6731de76-14a6-49ae-97bc-6eba6914391e", "client_secret": "a secret from the host's vault",
			"authority": srv.URL, "graph_url": srv.URL}} // the stand-in; leave both out for the global cloud
	c, err := entra.New(conn, entra.Config{HTTPClient: srv.Client()})
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
				fmt.Println("identity", r.Key, r.Email, r.Status, "mfa", r.MFA, r.LastLogin.Format("2006-01-02"))
			case *resync.Group:
				fmt.Println("group", r.Name, r.Members)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	// Output:
	// identity 87d349ed-44d7-43e1-9a83-5f2406dee5bd AdeleV@contoso.com suspended mfa enabled 2026-11-30
	// group HR Taskforce [87d349ed-44d7-43e1-9a83-5f2406dee5bd]
}
