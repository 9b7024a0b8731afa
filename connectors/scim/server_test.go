package scim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	elimity "github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/stretchr/testify/require"
)

// testToken is the bearer token the test server accepts.
const testToken = "scim-secret-token-7f3a9c"

// store is an in-memory resource handler for the elimity SCIM server: the
// server owns the wire format (ListResponse, errors, paging parameters);
// the store keeps resources in creation order, as a provider's list.
type store struct {
	prefix string
	mu     sync.Mutex
	n      int
	order  []string
	res    map[string]elimity.Resource
	// beforeList, if set, runs before each GET of the list (with the
	// request's startIndex), outside the lock: a test changes the list
	// there, between pages.
	beforeList func(startIndex int)
}

func newStore(prefix string) *store {
	return &store{prefix: prefix, res: map[string]elimity.Resource{}}
}

func (s *store) Create(_ *http.Request, attrs elimity.ResourceAttributes) (elimity.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	r := elimity.Resource{ID: fmt.Sprintf("%s-%06d", s.prefix, s.n), Attributes: attrs}
	if ext, ok := attrs["externalId"].(string); ok {
		r.ExternalID = optional.NewString(ext)
		delete(attrs, "externalId")
	}
	s.order = append(s.order, r.ID)
	s.res[r.ID] = r
	return r, nil
}

func (s *store) Get(_ *http.Request, id string) (elimity.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.res[id]
	if !ok {
		return elimity.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return r, nil
}

func (s *store) GetAll(r *http.Request, p elimity.ListRequestParams) (elimity.Page, error) {
	if s.beforeList != nil {
		s.beforeList(p.StartIndex)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []elimity.Resource
	for _, id := range s.order {
		res := s.res[id]
		if p.FilterValidator != nil {
			attrs := map[string]any{"id": res.ID}
			for k, v := range res.Attributes {
				attrs[k] = v
			}
			if p.FilterValidator.PassesFilter(attrs) != nil {
				continue
			}
		}
		all = append(all, res)
	}
	page := elimity.Page{TotalResults: len(all), Resources: []elimity.Resource{}}
	if from := p.StartIndex - 1; from < len(all) {
		page.Resources = all[from:min(from+p.Count, len(all))]
	}
	return page, nil
}

func (s *store) Replace(r *http.Request, id string, attrs elimity.ResourceAttributes) (elimity.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.res[id]
	if !ok {
		return elimity.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	old.Attributes = attrs
	s.res[id] = old
	return old, nil
}

func (s *store) Delete(_ *http.Request, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.res[id]; !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	delete(s.res, id)
	s.order = slices.DeleteFunc(s.order, func(x string) bool { return x == id })
	return nil
}

func (s *store) Patch(*http.Request, string, []elimity.PatchOperation) (elimity.Resource, error) {
	return elimity.Resource{}, scimerrors.ScimError{Status: http.StatusNotImplemented}
}

// ids returns the resources' ids in list order.
func (s *store) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}

// scimServer is a SCIM 2.0 service provider on loopback (TLS), built with
// github.com/elimity-com/scim, behind a bearer-token check and a hook that
// can answer a request instead of the server.
type scimServer struct {
	*httptest.Server
	users, groups *store
	requests      atomic.Int64
	// intercept, if set, may answer a request (returning true) before the
	// token check and the SCIM server.
	intercept atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
}

func newSCIMServer(t testing.TB, maxResults int) *scimServer {
	t.Helper()
	s := &scimServer{users: newStore("u"), groups: newStore("g")}
	srv, err := elimity.NewServer(&elimity.ServerArgs{
		ServiceProviderConfig: &elimity.ServiceProviderConfig{MaxResults: maxResults, SupportFiltering: true},
		ResourceTypes: []elimity.ResourceType{
			{
				ID: optional.NewString("User"), Name: "User", Endpoint: "/Users",
				Schema:           schema.CoreUserSchema(),
				SchemaExtensions: []elimity.SchemaExtension{{Schema: schema.ExtensionEnterpriseUser()}},
				Handler:          s.users,
			},
			{
				ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups",
				Schema:  schema.CoreGroupSchema(),
				Handler: s.groups,
			},
		},
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/scim/", http.StripPrefix("/scim", srv))
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if f := s.intercept.Load(); f != nil && (*f)(w, r) {
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			writeSCIMError(w, scimerrors.ScimError{Status: http.StatusUnauthorized, Detail: "Authorization failure. The authorization header is invalid or missing."})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// writeSCIMError writes a SCIM error message as the library marshals it
// (RFC 7644 §3.12).
func writeSCIMError(w http.ResponseWriter, e scimerrors.ScimError) {
	raw, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(raw)
}

// setIntercept installs f (nil removes it).
func (s *scimServer) setIntercept(f func(w http.ResponseWriter, r *http.Request) bool) {
	if f == nil {
		s.intercept.Store(nil)
		return
	}
	s.intercept.Store(&f)
}

// post creates a resource through the server's own API and returns its id.
func (s *scimServer) post(t testing.TB, endpoint string, body map[string]any) string {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.URL+"/scim/v2/"+endpoint, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "POST %s", endpoint)
	return out.ID
}

// addUser creates a user named n (user-n, n@acme.example).
func (s *scimServer) addUser(t testing.TB, n int, active bool) string {
	return s.post(t, "Users", map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "user-" + strconv.Itoa(n),
		"active":   active,
		"emails":   []map[string]any{{"value": fmt.Sprintf("u%d@acme.example", n), "type": "work", "primary": true}},
	})
}

// addGroup creates a group with the given member ids.
func (s *scimServer) addGroup(t testing.TB, name string, members ...string) string {
	ms := []map[string]any{}
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	return s.post(t, "Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": name,
		"members":     ms,
	})
}

// baseURL is the SCIM base URL the connector is given.
func (s *scimServer) baseURL() string { return s.URL + "/scim/v2" }
