package resynchttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
)

// DefaultMaxBodyBytes bounds a request body when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 64 << 10

// Config configures a Handler.
type Config struct {
	// Authenticate returns the tenant and the principal a request acts
	// for, from the host's session or token: the handler never decides
	// who a caller is. An error answers 401 Unauthorized, its text not
	// shown to the caller. Required.
	//
	// The engine's Authorizer still decides what the principal may do:
	// Authenticate says who, the Authorizer says whether.
	Authenticate func(r *http.Request) (tenant string, by resync.Principal, err error)
	// TrustedOrigins are origins ("https://admin.example.com") allowed to
	// make state-changing requests cross-origin, such as a front end served
	// from another host than the API. Same-origin requests are always
	// allowed.
	TrustedOrigins []string
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives one line per request answered with a server error
	// (5xx), with the error. Nil discards them.
	Logger *slog.Logger
	// Linker, if set, serves who holds what: a person's access across
	// every system, links, findings, linking decisions and the accounts
	// CSV for auditors (package linking).
	Linker *linking.Linker
	// EventPoll is how often an event stream looks for new events; 0
	// means DefaultEventPoll. Each open stream asks the engine for new
	// notifications and for the runs in progress this often.
	EventPoll time.Duration
}

// Handler serves the admin API of one Engine. Create it with New and mount it
// under a prefix with http.StripPrefix:
//
//	h, err := resynchttp.New(engine, resynchttp.Config{Authenticate: session})
//	mux.Handle("/resync/", http.StripPrefix("/resync", h))
type Handler struct {
	engine *resync.Engine
	cfg    Config
	mux    *http.ServeMux
	root   http.Handler
}

var _ http.Handler = (*Handler)(nil)

// New returns the Handler of engine. It fails if cfg.Authenticate is nil or
// a trusted origin is not an origin.
func New(engine *resync.Engine, cfg Config) (*Handler, error) {
	if engine == nil {
		return nil, fmt.Errorf("%w: resynchttp.New: nil Engine", resync.ErrInvalidRequest)
	}
	if cfg.Authenticate == nil {
		return nil, fmt.Errorf("%w: resynchttp.New: Config.Authenticate is required", resync.ErrInvalidRequest)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.EventPoll <= 0 {
		cfg.EventPoll = DefaultEventPoll
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range cfg.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("%w: resynchttp.New: Config.TrustedOrigins: %w", resync.ErrInvalidRequest, err)
		}
	}
	h := &Handler{engine: engine, cfg: cfg, mux: http.NewServeMux()}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusForbidden, "cross-origin request refused",
			"state-changing requests must come from the same origin or a trusted one")
	}))
	h.routes()
	h.root = cop.Handler(http.HandlerFunc(h.route))
	return h, nil
}

// ServeHTTP serves the API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	h.root.ServeHTTP(w, r)
}

// call is an authenticated request, with the tenant and principal it acts
// for.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	tenant string
	by     resync.Principal
}

func (h *Handler) handle(pattern string, fn func(c *call) error) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		tenant, by, err := h.cfg.Authenticate(r)
		if err != nil || tenant == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="resync"`)
			writeProblem(w, http.StatusUnauthorized, "not authenticated", "")
			return
		}
		if err := fn(&call{w: w, r: r, tenant: tenant, by: by}); err != nil {
			h.fail(w, r, err)
		}
	})
}

// routes registers every route, relative to where the handler is mounted.
func (h *Handler) routes() {
	h.handle("POST /plan", h.plan)
	h.handle("POST /runs", h.start)
	h.handle("GET /runs", h.runs)
	h.handle("GET /runs/{id}", h.run)
	h.handle("POST /runs/{id}/cancel", h.cancel)
	h.handle("GET /held", h.held)
	h.handle("GET /held/decided", h.decided)
	h.handle("POST /held/{id}/approve", h.decide(true))
	h.handle("POST /held/{id}/reject", h.decide(false))
	h.handle("POST /connections/{id}/check", h.check)
	h.handle("GET /records", h.records)
	h.handle("GET /people/{person}", h.person)
	h.handle("GET /changes", h.changes)
	h.handle("GET /events", h.events)
	h.handle("GET /runs/{id}/events", h.events)
	h.linkRoutes()
}

// route answers a request no route takes with a problem: 405 with Allow
// when the path takes other methods, else 404.
func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern != "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeProblem(w, http.StatusMethodNotAllowed, "method not allowed", r.Method+" "+r.URL.Path+": use "+strings.Join(allow, " or "))
		return
	}
	writeProblem(w, http.StatusNotFound, "no such route", r.Method+" "+r.URL.Path)
}

// planBody is the body of POST /plan and POST /runs.
type planBody struct {
	Scope resync.Scope
}

// planView is a Plan without the connections' settings, which hold
// references to secrets the caller has no use for.
type planView struct {
	Tenant string
	Scope  resync.Scope
	Sync   []connectionView
	Skip   []skippedView
}

type connectionView struct {
	ID       string
	Type     resync.ConnectionType
	Provider string
	Name     string `json:",omitempty"`
	Disabled bool   `json:",omitempty"`
}

type skippedView struct {
	Connection connectionView
	Reason     string
}

func viewOf(c resync.Connection) connectionView {
	return connectionView{ID: c.ID, Type: c.Type, Provider: c.Provider, Name: c.Name, Disabled: c.Disabled}
}

func (h *Handler) plan(c *call) error {
	var body planBody
	if err := h.decode(c, &body); err != nil {
		return err
	}
	p, err := h.engine.Plan(c.r.Context(), resync.Request{Tenant: c.tenant, Initiator: c.by, Scope: body.Scope})
	if err != nil {
		return err
	}
	v := planView{Tenant: p.Tenant, Scope: p.Scope, Sync: make([]connectionView, 0, len(p.Sync)), Skip: make([]skippedView, 0, len(p.Skip))}
	for _, s := range p.Sync {
		v.Sync = append(v.Sync, viewOf(s))
	}
	for _, s := range p.Skip {
		v.Skip = append(v.Skip, skippedView{Connection: viewOf(s.Connection), Reason: s.Reason})
	}
	return writeJSON(c.w, http.StatusOK, v)
}

func (h *Handler) start(c *call) error {
	var body planBody
	if err := h.decode(c, &body); err != nil {
		return err
	}
	run, err := h.engine.Start(c.r.Context(), resync.Request{Tenant: c.tenant, Initiator: c.by, Scope: body.Scope})
	if err != nil {
		return err
	}
	info := run.Info()
	c.w.Header().Set("Location", "runs/"+url.PathEscape(info.ID))
	return writeJSON(c.w, http.StatusAccepted, info)
}

func (h *Handler) runs(c *call) error {
	q := c.r.URL.Query()
	rq := resync.RunQuery{Trigger: resync.Trigger(q.Get("trigger")), Status: resync.RunStatus(q.Get("status"))}
	var err error
	if rq.Limit, err = intParam(q, "limit", 0, 1000); err != nil {
		return err
	}
	if err := onlyParams(q, "trigger", "status", "limit"); err != nil {
		return err
	}
	runs, err := h.engine.Runs(c.r.Context(), c.tenant, c.by, rq)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, nonNil(runs))
}

func (h *Handler) run(c *call) error {
	info, err := h.engine.GetRun(c.r.Context(), c.tenant, c.r.PathValue("id"), c.by)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, info)
}

func (h *Handler) cancel(c *call) error {
	if err := h.noBody(c); err != nil {
		return err
	}
	if err := h.engine.Cancel(c.r.Context(), c.tenant, c.r.PathValue("id"), c.by); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) held(c *call) error {
	held, err := h.engine.HeldChangeSets(c.r.Context(), c.tenant, c.by)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, nonNil(held))
}

func (h *Handler) decided(c *call) error {
	q := c.r.URL.Query()
	limit, err := intParam(q, "limit", 0, 1000)
	if err != nil {
		return err
	}
	if err := onlyParams(q, "limit"); err != nil {
		return err
	}
	sets, err := h.engine.DecidedChangeSets(c.r.Context(), c.tenant, c.by, limit)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, nonNil(sets))
}

// decisionBody is the body of approve and reject: an optional reason.
type decisionBody struct {
	Reason string
}

func (h *Handler) decide(approve bool) func(c *call) error {
	return func(c *call) error {
		var body decisionBody
		if err := h.decodeOptional(c, &body); err != nil {
			return err
		}
		decide := h.engine.Reject
		if approve {
			decide = h.engine.Approve
		}
		sum, err := decide(c.r.Context(), c.tenant, c.r.PathValue("id"), c.by, body.Reason)
		if err != nil {
			return err
		}
		return writeJSON(c.w, http.StatusOK, sum)
	}
}

func (h *Handler) check(c *call) error {
	if err := h.noBody(c); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), time.Minute)
	defer cancel()
	err := h.engine.CheckConnection(ctx, c.tenant, c.r.PathValue("id"), c.by)
	var ce *resync.ConnectionError
	switch {
	case err == nil:
		return writeJSON(c.w, http.StatusOK, checkView{OK: true})
	case errors.As(err, &ce):
		// The connection answered, badly (or its settings are wrong):
		// that is the check's result, not the request's failure.
		return writeJSON(c.w, http.StatusOK, checkView{OK: false, Error: err.Error(), Permanent: resync.IsPermanent(err)})
	}
	return err
}

type checkView struct {
	OK bool
	// Error is why the connection failed its check.
	Error string `json:",omitempty"`
	// Permanent is true when retrying will not help (bad credentials).
	Permanent bool `json:",omitempty"`
}

// recordsView is a page of records and the cursor of the next one.
type recordsView struct {
	Records []resync.StoredRecord
	// Next is the cursor of the next page; "" on the last.
	Next string `json:",omitempty"`
}

func (h *Handler) records(c *call) error {
	q := c.r.URL.Query()
	if err := onlyParams(q, "connection", "type", "kind", "email", "identity", "status", "removed", "cursor", "limit"); err != nil {
		return err
	}
	rq := resync.RecordQuery{
		ConnectionID:   q.Get("connection"),
		ConnectionType: resync.ConnectionType(q.Get("type")),
		Kind:           resync.RecordKind(q.Get("kind")),
		Email:          q.Get("email"),
		IdentityKey:    q.Get("identity"),
		Status:         resync.LifecycleStatus(q.Get("status")),
		Cursor:         q.Get("cursor"),
	}
	var err error
	if rq.IncludeRemoved, err = boolParam(q, "removed"); err != nil {
		return err
	}
	if rq.Limit, err = intParam(q, "limit", 0, 1000); err != nil {
		return err
	}
	recs, next, err := h.engine.Records(c.r.Context(), c.tenant, c.by, rq)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, recordsView{Records: nonNil(hideSettings(recs)), Next: next})
}

func (h *Handler) person(c *call) error {
	recs, err := h.engine.Person(c.r.Context(), c.tenant, c.by, c.r.PathValue("person"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, nonNil(hideSettings(recs)))
}

// hideSettings drops the connections' settings from records, as their
// connection's references to secrets are of no use to the caller.
func hideSettings(recs []resync.StoredRecord) []resync.StoredRecord {
	for i := range recs {
		if c := recs[i].Connection; c != nil && c.Settings != nil {
			cp := *c
			cp.Settings = nil
			recs[i].Connection = &cp
		}
	}
	return recs
}

// changesView is a page of change-log entries and the cursor of the next.
type changesView struct {
	Entries []resync.ChangeLogEntry
	// Next is the "after" of the next page; 0 when this page was not full.
	Next int64 `json:",omitempty"`
}

func (h *Handler) changes(c *call) error {
	q := c.r.URL.Query()
	if err := onlyParams(q, "connection", "run", "key", "kind", "op", "since", "until", "after", "limit"); err != nil {
		return err
	}
	cq := resync.ChangeQuery{ConnectionID: q.Get("connection"), RunID: q.Get("run"), Key: q.Get("key"),
		Kind: resync.RecordKind(q.Get("kind")), Op: resync.ChangeOp(q.Get("op"))}
	var err error
	if cq.Since, err = timeParam(q, "since"); err != nil {
		return err
	}
	if cq.Until, err = timeParam(q, "until"); err != nil {
		return err
	}
	if cq.AfterSeq, err = seqParam(q.Get("after")); err != nil {
		return err
	}
	if cq.Limit, err = intParam(q, "limit", 0, 1000); err != nil {
		return err
	}
	entries, err := h.engine.Changes(c.r.Context(), c.tenant, c.by, cq)
	if err != nil {
		return err
	}
	v := changesView{Entries: nonNil(entries)}
	if len(entries) > 0 && len(entries) == pageLimit(cq.Limit) {
		v.Next = entries[len(entries)-1].Seq
	}
	return writeJSON(c.w, http.StatusOK, v)
}

// decode reads a required JSON body into v, strictly: one JSON object, no
// unknown field, at most MaxBodyBytes.
func (h *Handler) decode(c *call, v any) error {
	if err := jsonContent(c.r); err != nil {
		return err
	}
	return h.decodeBody(c, v, false)
}

// decodeOptional is decode for a body that may be empty.
func (h *Handler) decodeOptional(c *call, v any) error {
	if c.r.ContentLength == 0 && c.r.Header.Get("Content-Type") == "" {
		return nil
	}
	if err := jsonContent(c.r); err != nil {
		return err
	}
	return h.decodeBody(c, v, true)
}

// noBody refuses a body on a request that takes none.
func (h *Handler) noBody(c *call) error {
	n, err := io.Copy(io.Discard, io.LimitReader(c.r.Body, 1))
	if err != nil {
		return &problem{status: http.StatusBadRequest, title: "unreadable body"}
	}
	if n > 0 {
		return &problem{status: http.StatusBadRequest, title: "unexpected body", detail: "this request takes no body"}
	}
	return nil
}

func (h *Handler) decodeBody(c *call, v any, emptyOK bool) error {
	body := http.MaxBytesReader(c.w, c.r.Body, h.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return &problem{status: http.StatusRequestEntityTooLarge, title: "body too large",
				detail: fmt.Sprintf("at most %d bytes", h.cfg.MaxBodyBytes)}
		case errors.Is(err, io.EOF) && emptyOK:
			return nil
		case errors.Is(err, io.EOF):
			return &problem{status: http.StatusBadRequest, title: "missing body", detail: "a JSON object is required"}
		}
		return &problem{status: http.StatusBadRequest, title: "malformed JSON body", detail: jsonDetail(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &problem{status: http.StatusBadRequest, title: "malformed JSON body", detail: "one JSON object expected, found more"}
	}
	return nil
}

// jsonDetail says what is wrong with a body without echoing it.
func jsonDetail(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q: want %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "not a JSON object of the expected shape"
}

func jsonContent(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &problem{status: http.StatusUnsupportedMediaType, title: "unsupported media type",
			detail: "send the body as application/json"}
	}
	return nil
}

func onlyParams(q url.Values, names ...string) error {
	for k := range q {
		known := false
		for _, n := range names {
			if k == n {
				known = true
				break
			}
		}
		if !known {
			return &problem{status: http.StatusBadRequest, title: "unknown query parameter",
				detail: fmt.Sprintf("%q is not one of %s", k, strings.Join(names, ", "))}
		}
	}
	return nil
}

func intParam(q url.Values, name string, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badParam(name, v, fmt.Sprintf("a whole number from %d to %d", lo, hi))
	}
	return n, nil
}

func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badParam(name, v, "true or false")
	}
	return b, nil
}

func timeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badParam(name, v, "an RFC 3339 time (2026-12-01T09:00:00Z)")
	}
	return t, nil
}

func badParam(name, value, want string) error {
	if len(value) > 64 {
		value = value[:64] + "…"
	}
	return &problem{status: http.StatusBadRequest, title: "bad query parameter",
		detail: fmt.Sprintf("%s=%q: want %s", name, value, want)}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}
