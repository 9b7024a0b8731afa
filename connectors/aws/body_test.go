package aws

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openresync/resync"
)

// lateBody fails reads once gone is set: a connection closed under a
// response body after Do returned, as net/http's write loop does when the
// SDK closes the request body early (aws-sdk-go-v2 issues 1825, 2737).
type lateBody struct {
	r    io.Reader
	gone *atomic.Bool
}

func (b lateBody) Read(p []byte) (int, error) {
	if b.gone.Load() {
		return 0, errors.New("read tcp: use of closed network connection")
	}
	return b.r.Read(p)
}
func (lateBody) Close() error { return nil }

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// TestBufferedClient: the body is read whole before Do returns, so a
// connection closed afterwards loses nothing; an oversized body is a
// permanent error.
func TestBufferedClient(t *testing.T) {
	var gone atomic.Bool
	body := strings.Repeat("x", 1<<20)
	inner := doFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: lateBody{strings.NewReader(body), &gone}}, nil
	})
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	for _, tc := range []struct {
		name string
		c    interface {
			Do(*http.Request) (*http.Response, error)
		}
		ok bool
	}{{"sdk client as it is", inner, false}, {"buffered", bufferedClient{inner, MaxBodyBytes}, true}} {
		gone.Store(false)
		resp, err := tc.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		gone.Store(true) // the SDK closes the request body; the connection goes
		b, err := io.ReadAll(resp.Body)
		if got := err == nil && string(b) == body; got != tc.ok {
			t.Errorf("%s: read whole %v, want %v (err %v)", tc.name, got, tc.ok, err)
		}
	}

	big := doFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: io.NopCloser(io.LimitReader(zeros{}, 1<<16+1))}, nil
	})
	if _, err := (bufferedClient{big, 1 << 16}).Do(req); !resync.IsPermanent(err) {
		t.Errorf("a body over the limit: %v, want a permanent error", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
