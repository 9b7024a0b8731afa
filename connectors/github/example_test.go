package github_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/github"
)

// A connector reads an organization's members with their role and 2FA
// state, its outside collaborators and its teams, a page at a time, as the
// engine drives it. Here GitHub is a stand-in answering the documented
// listings (a GitHub Enterprise Server's /api/v3/ paths).
func Example() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("x-ratelimit-limit", "5000")
		w.Header().Set("x-ratelimit-remaining", "4999")
		q := r.URL.Query()
		switch r.URL.Path {
		case "/api/v3/orgs/octo-org/members":
			switch {
			case q.Get("filter") == "2fa_disabled":
				fmt.Fprint(w, `[{"login":"hubot","id":2,"type":"User"}]`)
			case q.Get("role") == "admin":
				fmt.Fprint(w, `[{"login":"octocat","id":1,"type":"User"}]`)
			default:
				fmt.Fprint(w, `[{"login":"hubot","id":2,"type":"User"}]`)
			}
		case "/api/v3/orgs/octo-org/outside_collaborators":
			fmt.Fprint(w, `[]`)
		case "/api/v3/orgs/octo-org/teams":
			fmt.Fprint(w, `[{"id":7,"slug":"justice-league","name":"Justice League"}]`)
		case "/api/v3/orgs/octo-org/teams/justice-league/members":
			fmt.Fprint(w, `[{"login":"octocat","id":1},{"login":"hubot","id":2}]`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	conn := resync.Connection{ID: "gh1", Tenant: "t1", Type: resync.VersionControl, Provider: "github",
		Settings: map[string]string{"org": "octo-org", "base_url": srv.URL + "/api/v3/", "token": "a secret from the host's vault"}}
	c, err := github.New(conn, github.Config{HTTPClient: srv.Client()})
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
				fmt.Println("account", r.Key, r.Username, r.Roles, "2fa", r.MFA)
			case *resync.Group:
				fmt.Println("team", r.Key, r.Name, r.Members)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	// Output:
	// account 1 octocat [admin] 2fa enabled
	// account 2 hubot [member] 2fa disabled
	// team 7 Justice League [1 2]
}
