package aws_test

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openresync/resync/resynctest"
)

// fakeAWS is a local server speaking the wire protocols of the three AWS
// APIs the connector calls, reached through the SDK's BaseEndpoint:
//
//   - IAM, the AWS query protocol: a form-encoded POST with Action=... and
//     Version=2010-05-08, XML results, <ErrorResponse><Error><Code> errors.
//     GenerateCredentialReport
//     (https://docs.aws.amazon.com/IAM/latest/APIReference/API_GenerateCredentialReport.html),
//     GetCredentialReport
//     (https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetCredentialReport.html;
//     report format: https://docs.aws.amazon.com/IAM/latest/UserGuide/credential-reports.html),
//     GetAccountAuthorizationDetails with Filter.member.N, MaxItems, Marker
//     and IsTruncated
//     (https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountAuthorizationDetails.html),
//     ListGroups for the health check
//     (https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListGroups.html);
//     errors as in https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html.
//   - STS AssumeRole, the same query protocol with Version=2011-06-15
//     (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).
//   - The identity store, the AWS JSON 1.1 protocol: POST / with
//     X-Amz-Target: AWSIdentityStore.<Operation>, JSON bodies, errors with
//     "__type" and x-amzn-ErrorType. ListUsers
//     (https://docs.aws.amazon.com/singlesignon/latest/IdentityStoreAPIReference/API_ListUsers.html),
//     ListGroups (.../API_ListGroups.html), ListGroupMemberships
//     (.../API_ListGroupMemberships.html), NextToken paging, MaxResults up
//     to 100; ThrottlingException is a 429 with Retry-After
//     (.../CommonErrors.html).
//
// Requests are authenticated by the access key ID in the SigV4
// Authorization header: an unknown one gets InvalidClientTokenId (IAM,
// STS) or UnrecognizedClientException (identity store).
type fakeAWS struct {
	srv *httptest.Server

	mu       sync.Mutex
	keys     map[string]bool // accepted access key IDs
	users    []*fakeUser
	groups   []*fakeGroup
	idUsers  []*fakeIDUser
	idGroups []*fakeIDGroup

	reportPolls  int // GetCredentialReport answers ReportInProgress this many times after a generation
	reportState  string
	reportPolled int

	faults    []fault
	requests  int
	perKey    map[string]int // requests per operation and page token
	assumed   []url.Values   // AssumeRole requests
	maxIAM    int            // the server's own cap on MaxItems
	nextUser  int            // the next IAM user's number
	chunked   bool           // send bodies chunked, without Content-Length
	signedKey []string       // access key IDs seen, in order
}

type fakeUser struct {
	ID, Name, Path  string
	Groups          []string
	Policies        []string // attached managed policy names
	Inline          []string
	Email           string
	Password        bool
	PasswordUsed    time.Time
	MFA             bool
	Key1, Key2      bool
	Key1Used        time.Time
	InReport        bool
	ReportLineExtra string // appended to the report line (to break it)
}

type fakeGroup struct {
	ID, Name string
	Policies []string
	Inline   []string
}

type fakeIDUser struct {
	ID, UserName, Display, Email, Status, EmployeeNumber, Department string
}

type fakeIDGroup struct {
	ID, Name string
	Members  []string
}

// fault makes the next Times requests whose key starts with Key fail.
type fault struct {
	key    string
	times  int
	status int
	code   string
	header http.Header
}

const (
	testAccount = "123456789012"
	testKeyID   = "AKIAIOSFODNN7EXAMPLE"
	testSecret  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	assumedKey  = "ASIAASSUMEDEXAMPLE01"
	storeID     = "d-1234567890"
)

func newFakeAWS(t testing.TB) *fakeAWS {
	f := startFakeAWS()
	t.Cleanup(f.close)
	return f
}

func startFakeAWS() *fakeAWS {
	f := &fakeAWS{keys: map[string]bool{testKeyID: true}, perKey: map[string]int{}, maxIAM: 1000}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

func (f *fakeAWS) close() {
	f.srv.Client().CloseIdleConnections()
	f.srv.Close()
}

func (f *fakeAWS) URL() string { return f.srv.URL }

// Requests counts every request served.
func (f *fakeAWS) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// RequestsFor counts the requests for one operation and page token.
func (f *fakeAWS) RequestsFor(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.perKey[key]
}

// Fail is resynctest.ConnectorOptions.Fail: the next requests fail as
// fault says, in the protocol's error shape.
func (f *fakeAWS) Fail(pf resynctest.ProviderFault) {
	code := map[int]string{401: "InvalidClientTokenId", 403: "AccessDenied", 429: "Throttling",
		500: "InternalFailure", 503: "ServiceUnavailable"}[pf.Status]
	f.failOn("", max(pf.Times, 1), pf.Status, code, pf.Header)
}

func (f *fakeAWS) failOn(key string, times, status int, code string, h http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fault{key: key, times: times, status: status, code: code, header: h})
}

// credentialRE reads the SigV4 credential scope: key ID, date, region,
// service.
var credentialRE = regexp.MustCompile(`Credential=([A-Z0-9]+)/\d{8}/([a-z0-9-]+)/([a-z]+)/aws4_request`)

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	var form url.Values
	var op, key string
	var req map[string]any
	if target != "" {
		if r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
			http.Error(w, "bad content type", http.StatusBadRequest)
			return
		}
		op = strings.TrimPrefix(target, "AWSIdentityStore.")
		if err := json.Unmarshal(body, &req); err != nil {
			writeJSONError(w, 400, "SerializationException", err.Error(), nil)
			return
		}
		tok, _ := req["NextToken"].(string)
		key = op + ":" + tok
		if g, ok := req["GroupId"].(string); ok {
			key = op + ":" + g + ":" + tok
		}
	} else {
		var err error
		form, err = url.ParseQuery(string(body))
		if err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		op = form.Get("Action")
		key = op + ":" + form.Get("Filter.member.1") + ":" + form.Get("Marker")
	}
	m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization"))

	f.mu.Lock()
	f.requests++
	f.perKey[key]++
	var flt *fault
	for i := range f.faults {
		if f.faults[i].times > 0 && strings.HasPrefix(key, f.faults[i].key) {
			f.faults[i].times--
			flt = &f.faults[i]
			break
		}
	}
	service := "iam"
	switch {
	case target != "":
		service = "identitystore"
	case op == "AssumeRole":
		service = "sts"
	}
	okKey := m != nil && f.keys[m[1]] && m[3] == service
	if m != nil {
		f.signedKey = append(f.signedKey, m[1])
	}
	f.mu.Unlock()

	errorOut := func(status int, code, msg string, h http.Header) {
		if target != "" {
			writeJSONError(w, status, code, msg, h)
		} else {
			writeXMLError(w, status, code, msg, h)
		}
	}
	if flt != nil {
		code := flt.code
		if target != "" {
			code = map[string]string{"Throttling": "ThrottlingException", "InternalFailure": "InternalServerException",
				"InvalidClientTokenId": "UnrecognizedClientException", "AccessDenied": "AccessDeniedException"}[code]
		}
		errorOut(flt.status, code, "injected fault", flt.header)
		return
	}
	if !okKey {
		if target != "" {
			errorOut(400, "UnrecognizedClientException", "The security token included in the request is invalid.", nil)
		} else {
			errorOut(403, "InvalidClientTokenId", "The security token included in the request is invalid.", nil)
		}
		return
	}
	switch {
	case target != "":
		if req["IdentityStoreId"] != storeID {
			errorOut(400, "ValidationException", "unknown IdentityStoreId", nil)
			return
		}
		f.serveIdentityStore(w, op, req)
	case op == "AssumeRole":
		f.assumeRole(w, form)
	default:
		if form.Get("Version") != "2010-05-08" {
			errorOut(400, "InvalidAction", "bad version", nil)
			return
		}
		f.serveIAM(w, op, form)
	}
}

func writeXMLError(w http.ResponseWriter, status int, code, msg string, h http.Header) {
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>4c5a0b6e-0000-0000-0000-000000000000</RequestId></ErrorResponse>`,
		typ, code, xmlEscape(msg))
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string, h http.Header) {
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-ErrorType", code)
	w.WriteHeader(status)
	body := map[string]any{"__type": "com.amazonaws.identitystore#" + code, "Message": msg}
	if code == "ThrottlingException" {
		if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil {
			body["RetryAfterSeconds"] = s
		}
	}
	_ = json.NewEncoder(w).Encode(body)
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (f *fakeAWS) writeXML(w http.ResponseWriter, op, ns, result string) {
	body := fmt.Sprintf(`<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata></%sResponse>`,
		op, ns, op, result, op, op)
	writeBody(w, "text/xml", []byte(body), f.chunked)
}

const iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"

func (f *fakeAWS) assumeRole(w http.ResponseWriter, form url.Values) {
	f.mu.Lock()
	f.assumed = append(f.assumed, form)
	f.keys[assumedKey] = true
	f.mu.Unlock()
	if form.Get("ExternalId") != "ext-42" {
		writeXMLError(w, 403, "AccessDenied", "User is not authorized to perform: sts:AssumeRole", nil)
		return
	}
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	f.writeXML(w, "AssumeRole", "https://sts.amazonaws.com/doc/2011-06-15/", `<Credentials><AccessKeyId>`+assumedKey+`</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-session-token</SessionToken><Expiration>`+exp+`</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::`+testAccount+`:assumed-role/resync-reader/`+xmlEscape(form.Get("RoleSessionName"))+`</Arn><AssumedRoleId>AROA3XFRBF535PLBIFPI4:resync</AssumedRoleId></AssumedRoleUser>`)
}

func marker(prefix string, off int) string {
	return base64.StdEncoding.EncodeToString([]byte(prefix + ":" + strconv.Itoa(off)))
}

func parseMarker(prefix, m string) (int, bool) {
	if m == "" {
		return 0, true
	}
	b, err := base64.StdEncoding.DecodeString(m)
	if err != nil || !strings.HasPrefix(string(b), prefix+":") {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), prefix+":"))
	return n, err == nil
}

func (f *fakeAWS) userARN(u *fakeUser) string {
	return "arn:aws:iam::" + testAccount + ":user" + u.Path + u.Name
}

func (f *fakeAWS) serveIAM(w http.ResponseWriter, op string, form url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch op {
	case "GenerateCredentialReport":
		state := "COMPLETE"
		if f.reportPolls > 0 {
			state = "STARTED"
			f.reportState, f.reportPolled = "INPROGRESS", 0
		} else {
			f.reportState = "COMPLETE"
		}
		f.writeXML(w, op, iamNS, `<State>`+state+`</State><Description>No report exists. Starting a new report generation task</Description>`)
	case "GetCredentialReport":
		switch f.reportState {
		case "":
			writeXMLError(w, 410, "ReportNotPresent", "Credential report not present", nil)
			return
		case "INPROGRESS":
			f.reportPolled++
			if f.reportPolled <= f.reportPolls {
				writeXMLError(w, 404, "ReportInProgress", "Credential report is being generated", nil)
				return
			}
			f.reportState = "COMPLETE"
		}
		content := base64.StdEncoding.EncodeToString([]byte(f.report()))
		f.writeXML(w, op, iamNS, `<Content>`+content+`</Content><ReportFormat>text/csv</ReportFormat><GeneratedTime>2026-12-03T10:00:00Z</GeneratedTime>`)
	case "GetAccountAuthorizationDetails":
		filter := form.Get("Filter.member.1")
		size, err := strconv.Atoi(form.Get("MaxItems"))
		if err != nil || size < 1 || size > 1000 {
			writeXMLError(w, 400, "ValidationError", "MaxItems must be between 1 and 1000", nil)
			return
		}
		size = min(size, f.maxIAM)
		off, ok := parseMarker(filter, form.Get("Marker"))
		if !ok {
			writeXMLError(w, 400, "ValidationError", "Invalid Marker", nil)
			return
		}
		var b strings.Builder
		n := 0
		switch filter {
		case "User":
			n = len(f.users)
			b.WriteString("<UserDetailList>")
			for _, u := range f.users[min(off, n):min(off+size, n)] {
				fmt.Fprintf(&b, `<member><Path>%s</Path><UserName>%s</UserName><UserId>%s</UserId><Arn>%s</Arn><CreateDate>2024-01-02T03:04:05Z</CreateDate>`,
					u.Path, u.Name, u.ID, f.userARN(u))
				b.WriteString("<GroupList>")
				for _, g := range u.Groups {
					b.WriteString("<member>" + g + "</member>")
				}
				b.WriteString("</GroupList><AttachedManagedPolicies>")
				for _, p := range u.Policies {
					fmt.Fprintf(&b, `<member><PolicyName>%s</PolicyName><PolicyArn>arn:aws:iam::aws:policy/%s</PolicyArn></member>`, p, p)
				}
				b.WriteString("</AttachedManagedPolicies><UserPolicyList>")
				for _, p := range u.Inline {
					fmt.Fprintf(&b, `<member><PolicyName>%s</PolicyName><PolicyDocument>%%7B%%22Version%%22%%3A%%222012-10-17%%22%%7D</PolicyDocument></member>`, p)
				}
				b.WriteString("</UserPolicyList>")
				if u.Email != "" {
					fmt.Fprintf(&b, `<Tags><member><Key>email</Key><Value>%s</Value></member></Tags>`, u.Email)
				}
				b.WriteString("</member>")
			}
			b.WriteString("</UserDetailList><GroupDetailList/>")
		case "Group":
			n = len(f.groups)
			b.WriteString("<UserDetailList/><GroupDetailList>")
			for _, g := range f.groups[min(off, n):min(off+size, n)] {
				fmt.Fprintf(&b, `<member><Path>/</Path><GroupName>%s</GroupName><GroupId>%s</GroupId><Arn>arn:aws:iam::%s:group/%s</Arn><CreateDate>2024-01-02T03:04:05Z</CreateDate><AttachedManagedPolicies>`,
					g.Name, g.ID, testAccount, g.Name)
				for _, p := range g.Policies {
					fmt.Fprintf(&b, `<member><PolicyName>%s</PolicyName><PolicyArn>arn:aws:iam::aws:policy/%s</PolicyArn></member>`, p, p)
				}
				b.WriteString("</AttachedManagedPolicies><GroupPolicyList>")
				for _, p := range g.Inline {
					fmt.Fprintf(&b, `<member><PolicyName>%s</PolicyName><PolicyDocument>%%7B%%7D</PolicyDocument></member>`, p)
				}
				b.WriteString("</GroupPolicyList></member>")
			}
			b.WriteString("</GroupDetailList>")
		default:
			writeXMLError(w, 400, "ValidationError", "unsupported filter in this fixture", nil)
			return
		}
		b.WriteString("<RoleDetailList/><Policies/>")
		if off+size < n {
			fmt.Fprintf(&b, `<IsTruncated>true</IsTruncated><Marker>%s</Marker>`, marker(filter, off+size))
		} else {
			b.WriteString(`<IsTruncated>false</IsTruncated>`)
		}
		f.writeXML(w, op, iamNS, b.String())
	case "ListGroups":
		f.writeXML(w, op, iamNS, `<Groups/><IsTruncated>false</IsTruncated>`)
	default:
		writeXMLError(w, 400, "InvalidAction", "unknown action "+op, nil)
	}
}

// report renders the credential report's CSV, the root user first.
func (f *fakeAWS) report() string {
	var b strings.Builder
	b.WriteString("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n")
	b.WriteString("<root_account>,arn:aws:iam::" + testAccount + ":root,2020-01-01T00:00:00+00:00,not_supported,2026-11-30T08:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n")
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "N/A"
		}
		return t.UTC().Format("2006-01-02T15:04:05+00:00")
	}
	for _, u := range f.users {
		if !u.InReport {
			continue
		}
		used := "no_information"
		if u.Password {
			used = ts(u.PasswordUsed)
		}
		k1used, k1region, k1service := "N/A", "N/A", "N/A"
		if !u.Key1Used.IsZero() {
			k1used, k1region, k1service = ts(u.Key1Used), "us-east-1", "s3"
		}
		fmt.Fprintf(&b, "%s,%s,2024-01-02T03:04:05+00:00,%t,%s,%s,N/A,%t,%t,%s,%s,%s,%s,%t,N/A,N/A,N/A,N/A,false,N/A,false,N/A%s\n",
			u.Name, f.userARN(u), u.Password, used, map[bool]string{true: "2025-06-01T00:00:00+00:00", false: "N/A"}[u.Password],
			u.MFA, u.Key1, map[bool]string{true: "2025-01-01T00:00:00+00:00", false: "N/A"}[u.Key1], k1used, k1region, k1service, u.Key2,
			u.ReportLineExtra)
	}
	return b.String()
}

func (f *fakeAWS) serveIdentityStore(w http.ResponseWriter, op string, req map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	size := 100
	if v, ok := req["MaxResults"].(float64); ok {
		if v < 1 || v > 100 {
			writeJSONError(w, 400, "ValidationException", "MaxResults must be between 1 and 100", nil)
			return
		}
		size = int(v)
	}
	tok, _ := req["NextToken"].(string)
	page := func(prefix string, n int) (lo, hi int, next string, ok bool) {
		off, ok := parseMarker(prefix, tok)
		if !ok {
			return 0, 0, "", false
		}
		lo, hi = min(off, n), min(off+size, n)
		if hi < n {
			next = marker(prefix, hi)
		}
		return lo, hi, next, true
	}
	out := map[string]any{}
	switch op {
	case "ListUsers":
		if ext, ok := req["Extensions"].([]any); ok && !slices.Equal(ext, []any{"aws:identitystore:enterprise"}) {
			writeJSONError(w, 400, "ValidationException", "unexpected Extensions", nil)
			return
		}
		lo, hi, next, ok := page("users", len(f.idUsers))
		if !ok {
			writeJSONError(w, 400, "ValidationException", "invalid NextToken", nil)
			return
		}
		users := []any{}
		for _, u := range f.idUsers[lo:hi] {
			m := map[string]any{"UserId": u.ID, "IdentityStoreId": storeID, "UserName": u.UserName,
				"DisplayName": u.Display, "Name": map[string]any{"GivenName": "Given", "FamilyName": u.UserName},
				"Emails":      []any{map[string]any{"Value": u.Email, "Type": "work", "Primary": true}},
				"ExternalIds": []any{map[string]any{"Issuer": "https://idp.example.com", "Id": "ext-" + u.ID}},
				"UserStatus":  u.Status}
			if u.EmployeeNumber != "" {
				m["Extensions"] = map[string]any{"aws:identitystore:enterprise": map[string]any{
					"employeeNumber": u.EmployeeNumber, "department": u.Department}}
			}
			users = append(users, m)
		}
		out["Users"] = users
		if next != "" {
			out["NextToken"] = next
		}
	case "ListGroups":
		lo, hi, next, ok := page("groups", len(f.idGroups))
		if !ok {
			writeJSONError(w, 400, "ValidationException", "invalid NextToken", nil)
			return
		}
		groups := []any{}
		for _, g := range f.idGroups[lo:hi] {
			groups = append(groups, map[string]any{"GroupId": g.ID, "DisplayName": g.Name, "IdentityStoreId": storeID})
		}
		out["Groups"] = groups
		if next != "" {
			out["NextToken"] = next
		}
	case "ListGroupMemberships":
		gid, _ := req["GroupId"].(string)
		var g *fakeIDGroup
		for _, x := range f.idGroups {
			if x.ID == gid {
				g = x
			}
		}
		if g == nil {
			writeJSONError(w, 404, "ResourceNotFoundException", "group not found", nil)
			return
		}
		lo, hi, next, ok := page("members-"+gid, len(g.Members))
		if !ok {
			writeJSONError(w, 400, "ValidationException", "invalid NextToken", nil)
			return
		}
		ms := []any{}
		for i, m := range g.Members[lo:hi] {
			ms = append(ms, map[string]any{"IdentityStoreId": storeID, "MembershipId": fmt.Sprintf("%s-m%d", gid, lo+i),
				"GroupId": gid, "MemberId": map[string]any{"UserId": m}})
		}
		out["GroupMemberships"] = ms
		if next != "" {
			out["NextToken"] = next
		}
	default:
		writeJSONError(w, 400, "UnknownOperationException", op, nil)
		return
	}
	b, _ := json.Marshal(out)
	writeBody(w, "application/x-amz-json-1.1", b, f.chunked)
}

// writeBody sends a body with its Content-Length, or chunked (a large one
// then spans more reads, which TestLargePages needs).
func writeBody(w http.ResponseWriter, contentType string, b []byte, chunked bool) {
	w.Header().Set("Content-Type", contentType)
	if !chunked {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	}
	_, _ = w.Write(b)
}

// addUsers adds n IAM users named prefix-i, every third in group g0..,
// each with a console password and MFA when i is even.
func (f *fakeAWS) addUsers(prefix string, n int, groups int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for g := len(f.groups); g < groups; g++ {
		f.groups = append(f.groups, &fakeGroup{ID: fmt.Sprintf("AGPA%016d", g), Name: fmt.Sprintf("g%d", g),
			Policies: []string{fmt.Sprintf("Policy%d", g)}, Inline: []string{"extra"}})
	}
	start := f.nextUser
	f.nextUser += n
	for i := start; i < start+n; i++ {
		u := &fakeUser{ID: fmt.Sprintf("AIDA%016d", i), Name: fmt.Sprintf("%s-%d", prefix, i), Path: "/",
			Password: i%2 == 0, MFA: i%2 == 0, Key1: i%3 != 0, InReport: true,
			Email: fmt.Sprintf("%s-%d@example.com", prefix, i)}
		if u.Password {
			u.PasswordUsed = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
		}
		if u.Key1 {
			u.Key1Used = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		}
		if groups > 0 && i%3 == 0 {
			u.Groups = []string{fmt.Sprintf("g%d", i%groups)}
		}
		if i%5 == 0 {
			u.Policies = []string{"ReadOnlyAccess"}
		}
		f.users = append(f.users, u)
	}
}

func (f *fakeAWS) addIDUsers(n, groups, members int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range n {
		f.idUsers = append(f.idUsers, &fakeIDUser{ID: fmt.Sprintf("9067%04d-1234-5678-9abc-def012345678", i),
			UserName: fmt.Sprintf("user%d", i), Display: fmt.Sprintf("User %d", i), Email: fmt.Sprintf("user%d@example.com", i),
			Status: "ENABLED", EmployeeNumber: strconv.Itoa(1000 + i), Department: "Engineering"})
	}
	for g := range groups {
		grp := &fakeIDGroup{ID: fmt.Sprintf("a1b2c3d4e5-%08d-aaaa-bbbb-cccc-000000000000", g), Name: fmt.Sprintf("team%d", g)}
		for m := range min(members, n) {
			grp.Members = append(grp.Members, f.idUsers[(g+m)%n].ID)
		}
		f.idGroups = append(f.idGroups, grp)
	}
}
