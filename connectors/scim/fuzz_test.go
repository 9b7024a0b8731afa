package scim

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// rfcListResponse is the ListResponse of RFC 7644 §3.4.2 (the example
// after "Query Resources"), with the enterprise extension of RFC 7643
// §8.3 on one user.
const rfcListResponse = `{
  "schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
  "totalResults":2,
  "startIndex":1,
  "itemsPerPage":2,
  "Resources":[
    {"id":"2819c223-7f76-453a-919d-413861904646","userName":"bjensen","active":true,
     "emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}]},
    {"id":"c75ad752-64ae-4823-840d-ffa80929976c","userName":"jsmith","displayName":"Jim Smith",
     "schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
     "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","department":"Tour Operations",
       "manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d","$ref":"../Users/26118915-6090-4610-87e4-49d8ca9f808d","displayName":"John Smith"}}}
  ]
}`

// rfcGroups is a Groups ListResponse with the Group of RFC 7643 §8.4.
const rfcGroups = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[
  {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"e9e30dba-f08f-4109-8486-d5c6a331660a","displayName":"Tour Guides",
   "members":[{"value":"2819c223-7f76-453a-919d-413861904646","$ref":"https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646","display":"Babs Jensen"},
              {"value":"902c246b-6245-4190-8e05-00816be7344a","display":"Mandy Pepperidge"}]}]}`

// rfcError is the error response of RFC 7644 §3.12.
const rfcError = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"scimType":"mutability",
  "detail":"Attribute 'id' is readOnly","status":"400"}`

// TestDecodeRFCExamples decodes the RFC's own examples.
func TestDecodeRFCExamples(t *testing.T) {
	l, err := decodeList([]byte(rfcListResponse))
	if err != nil || l.total != 2 || len(l.resources) != 2 {
		t.Fatalf("decodeList = %+v, %v", l, err)
	}
	c := &connector{identities: true, readGroups: true}
	r, err := c.userRecord(l.resources[1])
	if err != nil {
		t.Fatal(err)
	}
	id := r.(*resync.Identity)
	if id.EmployeeID != "701984" || id.Department != "Tour Operations" || id.Manager != "26118915-6090-4610-87e4-49d8ca9f808d" || id.Name != "Jim Smith" {
		t.Errorf("enterprise extension: %+v", id)
	}
	r, _ = c.userRecord(l.resources[0])
	if id := r.(*resync.Identity); id.Email != "bjensen@example.com" || id.Status != resync.StatusActive {
		t.Errorf("core user: %+v", id)
	}
	l, err = decodeList([]byte(rfcGroups))
	if err != nil {
		t.Fatal(err)
	}
	g, err := groupRecord(l.resources[0])
	if err != nil || len(g.(*resync.Group).Members) != 2 || g.(*resync.Group).Name != "Tour Guides" {
		t.Fatalf("group: %+v, %v", g, err)
	}
	se := parseError(&connkit.HTTPError{Method: "GET", URL: "https://x/Users", StatusCode: 400, Body: rfcError})
	if se == nil || se.ScimType != "mutability" || se.Detail != "Attribute 'id' is readOnly" || se.Status != 400 {
		t.Fatalf("parseError = %+v", se)
	}
	if !strings.Contains(se.Error(), "400 mutability: Attribute 'id' is readOnly") {
		t.Errorf("message %q", se.Error())
	}
}

// FuzzDecode feeds arbitrary bodies to the ListResponse, resource and
// error decoders: they never panic; a body they accept yields records
// keyed by their resource's id, or rejections that name the kind; an
// error body they accept keeps the HTTP status.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{rfcListResponse, rfcGroups, rfcError, `{}`, `{"Resources":null}`,
		`{"totalResults":-1}`, `{"Resources":[{"id":7},{"id":"x","active":"False","emails":"no"}]}`,
		`{"Resources":[{"id":"x","members":[{"value":"a","type":"Group"},{"value":"a"},{"value":"a"}]}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":429}`, "\xff{"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		se := parseError(&connkit.HTTPError{StatusCode: http.StatusBadRequest, Body: string(body)})
		if se != nil && (se.Status != http.StatusBadRequest || se.Error() == "") {
			t.Fatalf("parseError status %d", se.Status)
		}
		l, err := decodeList(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, typ := range []*connector{{identities: true}, {identities: true, readGroups: true}, {}} {
			for _, r := range l.resources {
				rec, err := typ.userRecord(r)
				check(t, rec, err, r, typ.userKind())
				rec, err = groupRecord(r)
				check(t, rec, err, r, resync.KindGroup)
			}
		}
	})
}

func check(t *testing.T, rec resync.Record, err error, r resource, kind resync.RecordKind) {
	t.Helper()
	if err != nil {
		var re *resync.RecordError
		if !errors.As(err, &re) || re.Kind != kind || re.Key != r.id {
			t.Fatalf("rejection %v: want a RecordError of kind %s and key %q", err, kind, r.id)
		}
		return
	}
	if r.id == "" || !utf8.Valid(r.raw) {
		t.Fatalf("resource %q became a record", r.raw)
	}
	var k string
	switch x := rec.(type) {
	case *resync.Identity:
		k = x.Key
	case *resync.Account:
		k = x.Key
	case *resync.Group:
		k = x.Key
	}
	if k != r.id {
		t.Fatalf("record key %q, resource id %q", k, r.id)
	}
}
