package resynchttp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
)

// sse is one Server-Sent Event as a client reads it.
type sse struct {
	id, name, data string
}

// subscribe opens an event stream as who, with lastID as Last-Event-ID
// (when not ""), and returns its events and a function that closes it.
func (e *env) subscribe(t *testing.T, who, path, lastID string) (<-chan sse, *http.Response, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/resync"+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+who)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	ch := make(chan sse, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ch <- ev
				}
				ev = sse{}
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	stop := func() {
		cancel()
		resp.Body.Close()
		<-done
	}
	t.Cleanup(stop)
	return ch, resp, stop
}

// next returns the next event named name, skipping others, or fails.
func next(t *testing.T, ch <-chan sse, name string) sse {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			require.True(t, ok, "the stream ended before a %q event", name)
			if ev.name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event within 10s", name)
		}
	}
}

// The stream carries a run's started, progress and completed events; a
// client that reconnects with Last-Event-ID gets what it missed, from the
// durable notifications, and nothing twice.
func TestEventStream(t *testing.T) {
	e := newEnv(t)
	okta := e.fakes.Get("t1", "okta")
	okta.Block()
	t.Cleanup(okta.Unblock)
	ch, resp, stop := e.subscribe(t, "alice", "/events", "")
	require.Equal(t, 200, resp.StatusCode, resp.Header)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	var run resync.RunInfo
	status, raw := e.do(t, "alice", "POST", "/runs", `{"Scope":{"Kind":"personnel"}}`, &run)
	require.Equal(t, http.StatusAccepted, status, raw)
	started := next(t, ch, "started")
	require.NotEmpty(t, started.id)
	var n resync.Notification
	require.NoError(t, json.Unmarshal([]byte(started.data), &n))
	assert.Equal(t, resync.NotifyRunStarted, n.Kind)
	assert.Equal(t, run.ID, n.Run.ID)
	assert.Equal(t, "alice", n.Recipients[0].ID, "the notice is alice's")

	progress := next(t, ch, "progress")
	var info resync.RunInfo
	require.NoError(t, json.Unmarshal([]byte(progress.data), &info))
	assert.Equal(t, run.ID, info.ID)
	assert.Equal(t, resync.RunRunning, info.Status)

	// The client goes away; the run completes meanwhile.
	stop()
	okta.Unblock()
	e.wait(t, "alice", run.ID)

	ch2, resp2, _ := e.subscribe(t, "alice", "/events", started.id)
	require.Equal(t, 200, resp2.StatusCode)
	completed := next(t, ch2, "completed")
	require.NoError(t, json.Unmarshal([]byte(completed.data), &n))
	assert.Equal(t, resync.NotifyRunCompleted, n.Kind)
	assert.Equal(t, resync.RunSucceeded, n.Run.Status)
	assert.Greater(t, completed.id, started.id)
	select {
	case ev := <-ch2:
		assert.NotEqual(t, "started", ev.name, "resumed after the started event: not sent again")
	case <-time.After(700 * time.Millisecond):
	}
}

// One run's stream carries that run's events only.
func TestRunEventStream(t *testing.T) {
	e := newEnv(t)
	e.fakes.Get("t1", "aws-prod").Block()
	t.Cleanup(e.fakes.Get("t1", "aws-prod").Unblock)
	var first resync.RunInfo
	status, raw := e.do(t, "alice", "POST", "/runs", `{"Scope":{"Kind":"accounts","Types":["infrastructure"],"ConnectionIDs":["aws-prod"]}}`, &first)
	require.Equal(t, http.StatusAccepted, status, raw)
	ch, resp, _ := e.subscribe(t, "alice", "/runs/"+first.ID+"/events", "")
	require.Equal(t, 200, resp.StatusCode)
	var other resync.RunInfo
	status, raw = e.do(t, "alice", "POST", "/runs", `{"Scope":{"Kind":"accounts","Types":["infrastructure"],"ConnectionIDs":["aws-dev"]}}`, &other)
	require.Equal(t, http.StatusAccepted, status, raw)
	e.wait(t, "alice", other.ID)
	e.fakes.Get("t1", "aws-prod").Unblock()
	completed := next(t, ch, "completed")
	var n resync.Notification
	require.NoError(t, json.Unmarshal([]byte(completed.data), &n))
	assert.Equal(t, first.ID, n.Run.ID, "only the run's own events")
}

// A principal without rights, and another tenant's run, get no stream.
func TestEventStreamRefused(t *testing.T) {
	e := newEnv(t)
	var run resync.RunInfo
	status, raw := e.do(t, "alice", "POST", "/runs", `{"Scope":{"Kind":"personnel"}}`, &run)
	require.Equal(t, http.StatusAccepted, status, raw)
	for _, tc := range []struct {
		who, path string
		status    int
	}{
		{"bob", "/events", http.StatusForbidden},
		{"", "/events", http.StatusUnauthorized},
		{"carol", "/runs/" + run.ID + "/events", http.StatusNotFound},
		{"alice", "/events?since=yesterday", http.StatusBadRequest},
	} {
		status, raw := e.do(t, tc.who, "GET", tc.path, "", nil)
		assert.Equal(t, tc.status, status, "%s %s: %s", tc.who, tc.path, raw)
	}
	_, resp, _ := e.subscribe(t, "alice", "/events", "not-a-number")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

// A client that never reads its stream does not slow runs.
func TestStalledSubscriber(t *testing.T) {
	e := newEnv(t)
	req, err := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+"/resync/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer alice")
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close() // never read
	for range 5 {
		var run resync.RunInfo
		status, raw := e.do(t, "alice", "POST", "/runs", `{"Scope":{"Kind":"personnel"}}`, &run)
		require.Equal(t, http.StatusAccepted, status, raw)
		info := e.wait(t, "alice", run.ID)
		require.Equal(t, resync.RunSucceeded, info.Status)
	}
}
