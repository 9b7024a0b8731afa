package resynchttp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/openresync/resync"
)

// Problem is the body of every error response: an RFC 9457 problem
// detail, served as application/problem+json.
type Problem struct {
	// Type is "about:blank": the status says what kind of problem it is.
	Type string `json:"type"`
	// Title is a short, stable summary of the problem ("forbidden").
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence; it never holds a stack trace, a
	// credential or another tenant's data.
	Detail string `json:"detail,omitempty"`
}

// problem is an error that answers with a given status.
type problem struct {
	status        int
	title, detail string
}

func (p *problem) Error() string { return p.title + ": " + p.detail }

func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Type: "about:blank", Title: title, Status: status, Detail: detail})
}

// fail answers err as a problem: the engine's sentinel errors map to their
// statuses, with the engine's message (which names the tenant's own ids
// only) as the detail; anything else is a 500 whose detail says nothing,
// logged with the error.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var p *problem
	switch {
	case errors.As(err, &p):
		writeProblem(w, p.status, p.title, p.detail)
	case errors.Is(err, resync.ErrForbidden):
		writeProblem(w, http.StatusForbidden, "forbidden", "the principal may not do this in this tenant")
	case errors.Is(err, resync.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "not found", err.Error())
	case errors.Is(err, resync.ErrConflict):
		writeProblem(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, resync.ErrInvalidRequest), errors.Is(err, resync.ErrNoConnections):
		writeProblem(w, http.StatusUnprocessableEntity, "invalid request", err.Error())
	case errors.Is(err, resync.ErrClosed):
		writeProblem(w, http.StatusServiceUnavailable, "shutting down", "the engine is closed; try again")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
	default:
		h.cfg.Logger.Error("resynchttp: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal error", "")
	}
}
