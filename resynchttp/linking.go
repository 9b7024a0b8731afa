package resynchttp

import (
	"net/http"
	"strconv"

	"github.com/openresync/resync"
	"github.com/openresync/resync/linking"
)

// The routes of Config.Linker: who holds what, the findings, and the
// admins' linking decisions. Without a Linker they answer 404.

func (h *Handler) linkRoutes() {
	h.handle("GET /people/{person}/access", h.withLinker(h.access))
	h.handle("GET /links", h.withLinker(h.links))
	h.handle("GET /findings", h.withLinker(h.findings))
	h.handle("GET /decisions", h.withLinker(h.decisions))
	h.handle("POST /decisions", h.withLinker(h.decideLink))
	h.handle("GET /accounts.csv", h.withLinker(h.accountsCSV))
}

func (h *Handler) withLinker(fn func(c *call) error) func(c *call) error {
	return func(c *call) error {
		if h.cfg.Linker == nil {
			return &problem{status: http.StatusNotFound, title: "no such route", detail: "linking is not configured"}
		}
		return fn(c)
	}
}

func (h *Handler) access(c *call) error {
	a, err := h.cfg.Linker.Access(c.r.Context(), c.tenant, c.by, c.r.PathValue("person"))
	if err != nil {
		return err
	}
	a.Person.Identities = hideSettings(a.Person.Identities)
	for i := range a.Accounts {
		a.Accounts[i].Account = hideSettings([]resync.StoredRecord{a.Accounts[i].Account})[0]
	}
	return writeJSON(c.w, http.StatusOK, a)
}

// linksView is a page of links and the cursor of the next one.
type linksView struct {
	Links []linking.Link
	// Next is the cursor of the next page; "" on the last.
	Next string `json:",omitempty"`
}

func (h *Handler) links(c *call) error {
	q := c.r.URL.Query()
	if err := onlyParams(q, "connection", "situation", "person", "cursor", "limit"); err != nil {
		return err
	}
	lq := linking.LinkQuery{ConnectionID: q.Get("connection"), Situation: linking.Situation(q.Get("situation")),
		PersonID: q.Get("person"), Cursor: q.Get("cursor")}
	var err error
	if lq.Limit, err = intParam(q, "limit", 0, 1000); err != nil {
		return err
	}
	links, next, err := h.cfg.Linker.Links(c.r.Context(), c.tenant, c.by, lq)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, linksView{Links: nonNil(links), Next: next})
}

// findingsView is a page of findings and the "after" of the next one.
type findingsView struct {
	Findings []linking.Finding
	// Next is the "after" of the next page; 0 when this page was not full.
	Next int64 `json:",omitempty"`
}

func (h *Handler) findings(c *call) error {
	q := c.r.URL.Query()
	if err := onlyParams(q, "kind", "connection", "account", "person", "open", "run", "since", "until", "after", "limit"); err != nil {
		return err
	}
	fq := linking.FindingQuery{Kind: linking.FindingKind(q.Get("kind")), ConnectionID: q.Get("connection"),
		AccountKey: q.Get("account"), PersonID: q.Get("person"), OpenedRun: q.Get("run")}
	var err error
	if fq.OpenOnly, err = boolParam(q, "open"); err != nil {
		return err
	}
	if fq.Since, err = timeParam(q, "since"); err != nil {
		return err
	}
	if fq.Until, err = timeParam(q, "until"); err != nil {
		return err
	}
	if fq.AfterSeq, err = seqParam(q.Get("after")); err != nil {
		return err
	}
	if fq.Limit, err = intParam(q, "limit", 0, 1000); err != nil {
		return err
	}
	fs, err := h.cfg.Linker.Findings(c.r.Context(), c.tenant, c.by, fq)
	if err != nil {
		return err
	}
	v := findingsView{Findings: nonNil(fs)}
	if len(fs) > 0 && len(fs) == pageLimit(fq.Limit) {
		v.Next = fs[len(fs)-1].Seq
	}
	return writeJSON(c.w, http.StatusOK, v)
}

// pageLimit is the size of a full page for a query's limit: 0 means the
// engine's default page of 100.
func pageLimit(limit int) int {
	if limit == 0 {
		return 100
	}
	return limit
}

func seqParam(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badParam("after", v, "a sequence number")
	}
	return n, nil
}

func (h *Handler) decisions(c *call) error {
	q := c.r.URL.Query()
	if err := onlyParams(q, "connection", "account", "current", "after", "limit"); err != nil {
		return err
	}
	dq := linking.DecisionQuery{ConnectionID: q.Get("connection"), AccountKey: q.Get("account")}
	var err error
	if dq.Current, err = boolParam(q, "current"); err != nil {
		return err
	}
	if dq.AfterSeq, err = seqParam(q.Get("after")); err != nil {
		return err
	}
	if dq.Limit, err = intParam(q, "limit", 0, 1000); err != nil {
		return err
	}
	ds, err := h.cfg.Linker.Decisions(c.r.Context(), c.tenant, c.by, dq)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, nonNil(ds))
}

// decisionRequest is the body of POST /decisions.
type decisionRequest struct {
	ConnectionID string
	AccountKey   string
	Kind         linking.DecisionKind
	Person       string
	Reason       string
}

func (h *Handler) decideLink(c *call) error {
	var body decisionRequest
	if err := h.decode(c, &body); err != nil {
		return err
	}
	d, err := h.cfg.Linker.Decide(c.r.Context(), c.tenant, c.by, linking.Decision{ConnectionID: body.ConnectionID,
		AccountKey: body.AccountKey, Kind: body.Kind, Person: body.Person, Reason: body.Reason})
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, d)
}

func (h *Handler) accountsCSV(c *call) error {
	c.w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	c.w.Header().Set("Content-Disposition", `attachment; filename="accounts.csv"`)
	return h.cfg.Linker.WriteCSV(c.r.Context(), c.tenant, c.by, c.w)
}
