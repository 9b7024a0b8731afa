package resynchttp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/resynchttp"
	"github.com/openresync/resync/resynctest"
)

// Mount the handler under a prefix; the host's Authenticate says which
// tenant and principal a request acts for.
func Example() {
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "okta", Tenant: "acme", Type: resync.IdP, Provider: "okta", Name: "Okta"})
	fakes := resynctest.NewFakes()
	fakes.Set("acme", "okta", resynctest.NewConnector(resynctest.Identities("u", 3), 10))
	admins := resynctest.Admins{"acme": {{ID: "ada", Email: "ada@acme.example"}}}
	engine, err := resync.New(context.Background(), resync.Config{Store: memstore.New(), Connections: src,
		Connectors: fakes.Factories("okta"), Authorizer: admins, Directory: admins})
	if err != nil {
		panic(err)
	}
	defer engine.Close(context.Background())

	h, err := resynchttp.New(engine, resynchttp.Config{
		Authenticate: func(r *http.Request) (string, resync.Principal, error) {
			return "acme", resync.Principal{ID: "ada", Email: "ada@acme.example"}, nil // the host's session
		},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/resync/", http.StripPrefix("/resync", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/resync/plan", "application/json", strings.NewReader(`{"Scope":{"Kind":"personnel"}}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	// Output:
	// 200 {"Tenant":"acme","Scope":{"Kind":"personnel","Types":["idp","hris","infrastructure","version_control","security_training"]},"Sync":[{"ID":"okta","Type":"idp","Provider":"okta","Name":"Okta"}],"Skip":[]}
}
