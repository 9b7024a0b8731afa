package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openresync/resync"
)

// loadResult is what a load run measured.
type loadResult struct {
	starts, polls, events, errors int64
	runs                          int
	heapBefore, heapAfter         uint64
	firstErr                      string
}

// load runs clients concurrent admins against one engine on SQLite for
// d: each keeps an event stream open and, in a loop, starts a personnel
// resync and polls it until it ends. It returns what it counted and the
// live heap before and after.
func load(tb testing.TB, clients int, d time.Duration) loadResult {
	tb.Helper()
	a, err := newApp(context.Background(), io.Discard, tb.TempDir(), filepath.Join(tb.TempDir(), "resync.db"))
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(a.handler)
	defer func() {
		srv.Close()
		if err := a.close(); err != nil {
			tb.Error(err)
		}
	}()
	tr := &http.Transport{MaxIdleConnsPerHost: clients * 2}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var res loadResult
	var errMu sync.Mutex
	fail := func(format string, args ...any) {
		if atomic.AddInt64(&res.errors, 1) == 1 {
			errMu.Lock()
			res.firstErr = fmt.Sprintf(format, args...)
			errMu.Unlock()
		}
	}
	call := func(ctx context.Context, method, path, body string, out any) bool {
		req, err := http.NewRequestWithContext(ctx, method, srv.URL+"/api"+path, strings.NewReader(body))
		if err != nil {
			fail("%v", err)
			return false
		}
		req.AddCookie(&http.Cookie{Name: "resync_user", Value: "u-ada"})
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				fail("%s %s: %v", method, path, err)
			}
			return false
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			fail("%s %s: %d %s", method, path, resp.StatusCode, raw)
			return false
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				fail("%s %s: %v", method, path, err)
				return false
			}
		}
		return true
	}

	quiesce := func() uint64 {
		// Idle keep-alive connections hold buffers on both sides: close
		// them, so that what is measured is the engine's and the
		// handler's, not the connection pool's.
		tr.CloseIdleConnections()
		srv.CloseClientConnections()
		n := runtime.NumGoroutine()
		for range 50 {
			time.Sleep(10 * time.Millisecond)
			if m := runtime.NumGoroutine(); m == n {
				break
			} else {
				n = m
			}
		}
		return liveHeap()
	}

	// A first, shorter round of the same load brings pools and caches
	// (connections, statements, buffers) to their working size; the live
	// heap is measured after it and after the main round, so that growth
	// means memory kept per request.
	round := func(d time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		var wg sync.WaitGroup
		for range clients {
			wg.Add(2)
			go func() { // the event stream
				defer wg.Done()
				req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events", nil)
				req.AddCookie(&http.Cookie{Name: "resync_user", Value: "u-ada"})
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						fail("events: %v", err)
					}
					return
				}
				defer resp.Body.Close()
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "event: ") {
						atomic.AddInt64(&res.events, 1)
					}
				}
			}()
			go func() { // start, then poll until the run ends
				defer wg.Done()
				for ctx.Err() == nil {
					var run resync.RunInfo
					if !call(ctx, "POST", "/runs", `{"Scope":{"Kind":"personnel"}}`, &run) {
						continue
					}
					atomic.AddInt64(&res.starts, 1)
					for ctx.Err() == nil && run.FinishedAt.IsZero() {
						select {
						case <-ctx.Done():
						case <-time.After(100 * time.Millisecond):
						}
						if call(ctx, "GET", "/runs/"+run.ID, "", &run) {
							atomic.AddInt64(&res.polls, 1)
						}
					}
				}
			}()
		}
		wg.Wait()
	}
	round(max(d/5, time.Second))
	res.heapBefore = quiesce()
	res.starts, res.polls, res.events = 0, 0, 0
	round(d)

	// Runs are deduplicated: one personnel run of the tenant at a time,
	// every start served by it.
	var runs []resync.RunInfo
	bg := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs = nil
		call(bg, "GET", "/runs?limit=1000", "", &runs)
		done := true
		for _, r := range runs {
			done = done && !r.FinishedAt.IsZero()
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].CreatedAt.Before(runs[j].CreatedAt) })
	for i := 1; i < len(runs); i++ {
		if runs[i].CreatedAt.Before(runs[i-1].FinishedAt) {
			fail("runs %s and %s overlap: identical requests were not deduplicated", runs[i-1].ID, runs[i].ID)
		}
	}
	res.runs = len(runs)
	res.heapAfter = quiesce()

	return res
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func (r loadResult) check(tb testing.TB) {
	tb.Helper()
	tb.Logf("%d starts served by %d runs, %d polls, %d events; live heap %d KiB before, %d KiB after (%.2fx)",
		r.starts, r.runs, r.polls, r.events, r.heapBefore>>10, r.heapAfter>>10, float64(r.heapAfter)/float64(r.heapBefore))
	if r.errors > 0 {
		tb.Errorf("%d errors, the first: %s", r.errors, r.firstErr)
	}
	if r.starts == 0 || r.events == 0 {
		tb.Errorf("nothing happened: %d starts, %d events", r.starts, r.events)
	}
	if float64(r.heapAfter) > 1.10*float64(r.heapBefore) {
		tb.Errorf("live heap grew from %d to %d bytes (more than 10%%)", r.heapBefore, r.heapAfter)
	}
}

// TestLoadShort is the short form of BenchmarkLoad that CI runs.
func TestLoadShort(t *testing.T) {
	load(t, 20, 3*time.Second).check(t)
}

// BenchmarkLoad: 200 concurrent admins starting, polling and streaming for
// 30 s against one engine on SQLite. Run with -benchtime 1x (make load).
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		load(b, 200, 30*time.Second).check(b)
	}
}
