package resynchttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/openresync/resync"
)

// DefaultEventPoll is how often an event stream looks for new events when
// Config.EventPoll is 0: progress reaches a page at most twice a second.
const DefaultEventPoll = 500 * time.Millisecond

// heartbeat is how long a stream stays silent before it sends a comment,
// so that proxies keep it open and a vanished client is noticed.
const heartbeat = 15 * time.Second

// Event names of the stream, by notification kind.
var eventNames = map[resync.NotificationKind]string{
	resync.NotifyRunStarted:   "started",
	resync.NotifyRunCompleted: "completed",
	resync.NotifyChangesHeld:  "held",
	resync.NotifyHeldDecided:  "decided",
}

// events serves GET /events (the tenant's) and GET /runs/{id}/events (one
// run's) as Server-Sent Events.
func (h *Handler) events(c *call) error {
	ctx := c.r.Context()
	runID := c.r.PathValue("id")
	q := c.r.URL.Query()
	if err := onlyParams(q, "lastEventId"); err != nil {
		return err
	}
	// Where to start: after the last event the client saw (EventSource
	// sends Last-Event-ID when it reconnects), else after the newest.
	last := c.r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("lastEventId")
	}
	var after int64
	if last != "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return badParam("Last-Event-ID", last, "the id of an event of this stream")
		}
		after = n
	} else {
		// This call also checks that the principal may see the runs.
		head, err := h.engine.Notifications(ctx, c.tenant, c.by, -1, 1)
		if err != nil {
			return err
		}
		if len(head) > 0 {
			after = head[0].Seq
		}
	}
	if runID != "" {
		if _, err := h.engine.GetRun(ctx, c.tenant, runID, c.by); err != nil {
			return err
		}
	}

	rc := http.NewResponseController(c.w)
	hdr := c.w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("X-Accel-Buffering", "no")
	c.w.WriteHeader(http.StatusOK)
	s := &stream{w: c.w, rc: rc, sent: map[string]string{}}
	s.printf("retry: 2000\n\n")
	if err := s.flush(); err != nil {
		return nil // the client is gone
	}

	tick := time.NewTicker(h.cfg.EventPoll)
	defer tick.Stop()
	quiet := time.Now()
	for {
		// Lifecycle events: every in-product notification after the last
		// one sent, from the store's durable record, so none is lost to
		// a slow or reconnecting client.
		for {
			ns, err := h.engine.Notifications(ctx, c.tenant, c.by, after, 100)
			if err != nil {
				return s.end(err)
			}
			for _, n := range ns {
				after = n.Seq
				name, ok := eventNames[n.Kind]
				if !ok || n.Channel != resync.ChannelInApp || runID != "" && n.Run.ID != runID {
					continue
				}
				s.event(name, strconv.FormatInt(n.Seq, 10), n)
			}
			if len(ns) < 100 {
				break
			}
		}
		// Progress: the runs in progress whose state changed since the
		// last look. A client that reads slowly misses intermediate
		// states, never a final one (those come above).
		var running []resync.RunInfo
		if runID != "" {
			info, err := h.engine.GetRun(ctx, c.tenant, runID, c.by)
			if err != nil {
				return s.end(err)
			}
			if info.Status == resync.RunRunning {
				running = append(running, info)
			}
		} else {
			var err error
			running, err = h.engine.Runs(ctx, c.tenant, c.by, resync.RunQuery{Status: resync.RunRunning, Limit: 100})
			if err != nil {
				return s.end(err)
			}
		}
		for _, info := range running {
			s.progress(info)
		}
		if s.n > 0 {
			quiet = time.Now()
		} else if time.Since(quiet) >= heartbeat {
			s.printf(": keep-alive\n\n")
			quiet = time.Now()
		}
		if err := s.flush(); err != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// stream writes Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html).
type stream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	buf  bytes.Buffer
	n    int               // events written since the last flush
	sent map[string]string // run ID → the progress last sent
}

func (s *stream) printf(format string, args ...any) {
	fmt.Fprintf(&s.buf, format, args...)
}

// event writes one event; data is JSON on one line, as the format needs.
func (s *stream) event(name, id string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		return
	}
	if id != "" {
		s.printf("id: %s\n", id)
	}
	s.printf("event: %s\ndata: %s\n\n", name, b)
	s.n++
}

// progress writes a run's state if it changed since the last one sent.
func (s *stream) progress(info resync.RunInfo) {
	b, err := json.Marshal(info)
	if err != nil {
		return
	}
	if s.sent[info.ID] == string(b) {
		return
	}
	s.sent[info.ID] = string(b)
	s.printf("event: progress\ndata: %s\n\n", b)
	s.n++
}

func (s *stream) flush() error {
	s.n = 0
	if s.buf.Len() == 0 {
		return nil
	}
	_, err := s.w.Write(s.buf.Bytes())
	s.buf.Reset()
	if err == nil {
		err = s.rc.Flush()
	}
	return err
}

// end closes the stream after a failure: an error event the page can show
// (a closing engine asks the client to come back), never the error's text
// if it is not the engine's.
func (s *stream) end(err error) error {
	msg := "internal error"
	switch {
	case errors.Is(err, resync.ErrClosed):
		msg = "the engine is shutting down"
	case errors.Is(err, resync.ErrForbidden):
		msg = "forbidden"
	case errors.Is(err, resync.ErrNotFound), errors.Is(err, resync.ErrInvalidRequest):
		msg = err.Error()
	case errors.Is(err, context.Canceled):
		return nil // the client went away
	}
	s.event("error", "", map[string]string{"detail": msg})
	_ = s.flush()
	return nil
}
