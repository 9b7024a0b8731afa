package gitlab_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/gitlab"
)

// A connector reads a group's members with their access level, and the
// group, a page at a time, as the engine drives it. Here GitLab is a
// stand-in answering the documented endpoints.
func Example() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("RateLimit-Limit", "2000")
		w.Header().Set("RateLimit-Remaining", "1999")
		switch r.URL.EscapedPath() {
		case "/api/v4/groups/acme%2Fplatform":
			fmt.Fprint(w, `{"id":4242,"name":"Platform","full_path":"acme/platform"}`)
		case "/api/v4/groups/4242/members/all":
			fmt.Fprint(w, `[{"id":1,"username":"raymond_smith","name":"Raymond Smith","state":"active","access_level":50},
				{"id":2,"username":"john_doe","name":"John Doe","state":"blocked","access_level":30,
				 "group_saml_identity":{"extern_uid":"jdoe@acme.example","provider":"group_saml","saml_provider_id":10}}]`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	conn := resync.Connection{ID: "gl1", Tenant: "t1", Type: resync.VersionControl, Provider: "gitlab",
		Settings: map[string]string{"base_url": srv.URL + "/api/v4/", "group": "acme/platform", "token": "a secret from the host's vault"}}
	c, err := gitlab.New(conn, gitlab.Config{HTTPClient: srv.Client()})
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
			case *resync.Account:
				fmt.Printf("account %s %s %v %s %q\n", r.Key, r.Username, r.Roles, r.Status, r.ExternalID)
			case *resync.Group:
				fmt.Println("group", r.Key, r.Name, r.Members)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	// Output:
	// account 1 raymond_smith [owner] active ""
	// account 2 john_doe [developer] suspended "jdoe@acme.example"
	// group 4242 acme/platform [1 2]
}
