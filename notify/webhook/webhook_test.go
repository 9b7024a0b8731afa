package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/notify/webhook"
	"github.com/openresync/resync/resynctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "s3cr3t-signing-key-0123456789"

// receiver is a real HTTP receiver that verifies every request it
// accepts and answers what its script says.
type receiver struct {
	srv    *httptest.Server
	secret string
	got    chan struct{} // one value per accepted delivery
	mu     sync.Mutex
	seen   map[string]int // Webhook-Id -> deliveries accepted
	bodies [][]byte
	errs   []error // verification failures
	n      int
}

// answer sets the headers of the n-th request's (0-based) response and
// returns its status and body.
type answer func(n int, w http.ResponseWriter, r *http.Request) (int, string)

func newReceiver(t *testing.T, script answer) *receiver {
	rc := &receiver{seen: map[string]int{}, secret: secret, got: make(chan struct{}, 1000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := rc.n
		rc.n++
		rc.mu.Unlock()
		code, text := http.StatusNoContent, ""
		if script != nil {
			code, text = script(n, w, r)
		}
		if code >= 200 && code < 300 {
			err := webhook.Verify(rc.secret, r.Header, body, time.Now())
			rc.mu.Lock()
			if err != nil {
				rc.errs = append(rc.errs, err)
				code = http.StatusUnauthorized
			} else {
				rc.seen[r.Header.Get(webhook.HeaderID)]++
				rc.bodies = append(rc.bodies, body)
				rc.got <- struct{}{}
			}
			rc.mu.Unlock()
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, text)
	}))
	t.Cleanup(func() {
		rc.srv.Client().CloseIdleConnections()
		rc.srv.Close()
		rc.mu.Lock()
		defer rc.mu.Unlock()
		assert.Empty(t, rc.errs, "the receiver rejected signatures")
	})
	return rc
}

func (rc *receiver) delivered() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.bodies)
}

func (rc *receiver) requests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.n
}

func newNotifier(t *testing.T, rc *receiver, cfg webhook.Config) *webhook.Notifier {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = rc.srv.URL + "/hooks/T0KEN-IN-PATH?token=T0KEN-IN-QUERY"
	}
	if cfg.Secret == "" {
		cfg.Secret = secret
	}
	cfg.Client = rc.srv.Client()
	w, err := webhook.New(cfg)
	require.NoError(t, err)
	return w
}

func completed() resync.Notification {
	n := resynctest.SampleNotifications("acme")[5] // personnel run completed, email
	n.ID = "run-7f3a/run_completed/email"
	return n
}

// noSecrets fails if err's message holds the signing secret or the
// tokens in the receiver URL's path and query.
func noSecrets(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	for _, s := range []string{secret, "T0KEN-IN-PATH", "T0KEN-IN-QUERY"} {
		assert.NotContains(t, err.Error(), s, "the error leaks a secret")
	}
}

func TestDeliverSignedPayload(t *testing.T) {
	var got http.Header
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) (int, string) {
		got = r.Header.Clone()
		return http.StatusOK, ""
	})
	w := newNotifier(t, rc, webhook.Config{})
	n := completed()
	n.Run.Findings = map[string]int{"offboarding_gap": 2, "orphaned": 1}
	require.NoError(t, w.Notify(t.Context(), n))
	require.Equal(t, 1, rc.delivered())
	assert.Contains(t, string(rc.bodies[0]), `"findings":{"offboarding_gap":2,"orphaned":1}`,
		"the payload carries the findings the run opened")

	assert.Equal(t, n.ID, got.Get(webhook.HeaderID), "the idempotency key is the notification's ID")
	assert.Equal(t, "application/json", got.Get("Content-Type"))
	ts, err := strconv.ParseInt(got.Get(webhook.HeaderTimestamp), 10, 64)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), time.Unix(ts, 0), time.Minute)
	assert.True(t, strings.HasPrefix(got.Get(webhook.HeaderSignature), "v1,"))

	var p webhook.Payload
	require.NoError(t, json.Unmarshal(rc.bodies[0], &p))
	assert.Equal(t, webhook.Version, p.Version)
	assert.Equal(t, n.ID, p.ID)
	assert.Equal(t, "run_completed", p.Type)
	assert.Equal(t, "acme", p.Tenant)
	assert.Equal(t, "partial", p.Run.Status)
	assert.Equal(t, "personnel", p.Run.Scope.Kind)
	require.Len(t, p.Run.Connections, 3)
	assert.Equal(t, webhook.Connection{
		ID: "conn-okta", Provider: "okta", Type: "idp", Name: "Okta (prod)", Status: "succeeded",
		Read: 4000, Added: 12, Updated: 40, Removed: 3, Unchanged: 3945,
		StartedAt: p.Run.Connections[0].StartedAt, FinishedAt: p.Run.Connections[0].FinishedAt,
	}, p.Run.Connections[0])
	assert.Contains(t, p.Run.Connections[1].Error, "401 Unauthorized")
	assert.Equal(t, map[string]int{"offboarding_gap": 2, "orphaned": 1}, p.Run.Findings)
	assert.NotContains(t, string(must(json.Marshal(webhook.NewPayload(completed())))), `"findings"`,
		"a run that opened nothing has no findings field")
	assert.Equal(t, []string{"zoe.obrien@example.com", "security@example.com"}, []string{p.Recipients[0].Email, p.Recipients[1].Email})

	// A redelivery sends the same body and key: receivers can drop it.
	require.NoError(t, w.Notify(t.Context(), n))
	require.Equal(t, 2, rc.delivered())
	assert.Equal(t, rc.bodies[0], rc.bodies[1])
	assert.Equal(t, 2, rc.seen[n.ID])
}

func TestStatusClassification(t *testing.T) {
	date := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		answer    func(w http.ResponseWriter) (int, string)
		permanent bool
		delay     time.Duration // 0: none
		inError   string
	}{
		{"500", func(w http.ResponseWriter) (int, string) { return 500, "" }, false, 0, "500 Internal Server Error"},
		{"503 with Retry-After", func(w http.ResponseWriter) (int, string) { w.Header().Set("Retry-After", "120"); return 503, "" }, false, 2 * time.Minute, "503"},
		{"429 with Retry-After seconds", func(w http.ResponseWriter) (int, string) { w.Header().Set("Retry-After", "7"); return 429, "" }, false, 7 * time.Second, "429 Too Many Requests"},
		{"429 with Retry-After date", func(w http.ResponseWriter) (int, string) {
			w.Header().Set("Date", date.Format(http.TimeFormat))
			w.Header().Set("Retry-After", date.Add(90*time.Second).Format(http.TimeFormat))
			return 429, ""
		}, false, 90 * time.Second, "429"},
		{"429 without Retry-After", func(w http.ResponseWriter) (int, string) { return 429, "" }, false, 0, "429"},
		{"408", func(w http.ResponseWriter) (int, string) { return 408, "" }, false, 0, "408"},
		{"400", func(w http.ResponseWriter) (int, string) { return 400, `{"error":"unknown tenant"}` }, true, 0, `400 Bad Request: {"error":"unknown tenant"}`},
		{"401", func(w http.ResponseWriter) (int, string) { return 401, "" }, true, 0, "401"},
		{"410", func(w http.ResponseWriter) (int, string) { return 410, "" }, true, 0, "410"},
		{"302 not followed", func(w http.ResponseWriter) (int, string) { w.Header().Set("Location", "/elsewhere"); return 302, "" }, true, 0, "302"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var paths []string
			var mu sync.Mutex
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) (int, string) {
				mu.Lock()
				paths = append(paths, r.URL.Path)
				mu.Unlock()
				return tt.answer(w)
			})
			err := newNotifier(t, rc, webhook.Config{}).Notify(t.Context(), completed())
			noSecrets(t, err)
			assert.Equal(t, tt.permanent, resync.IsPermanent(err), "permanent: %v", err)
			d, ok := resync.RetryDelay(err)
			assert.Equal(t, tt.delay != 0, ok, "has a retry delay: %v", err)
			assert.Equal(t, tt.delay, d)
			assert.Contains(t, err.Error(), tt.inError)
			var se *webhook.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 0, rc.delivered())
			assert.Equal(t, []string{"/hooks/T0KEN-IN-PATH"}, paths, "one request, no redirect followed")
		})
	}
}

func TestSlowReceiverTimesOut(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) (int, string) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK, ""
	})
	defer close(release)
	w := newNotifier(t, rc, webhook.Config{Timeout: 50 * time.Millisecond})
	start := time.Now()
	err := w.Notify(t.Context(), completed())
	noSecrets(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Contains(t, err.Error(), "no response within 50ms")
	assert.False(t, resync.IsPermanent(err), "a slow receiver is retried")
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "the engine does not retry context errors")
}

func TestCallerContext(t *testing.T) {
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) (int, string) {
		<-r.Context().Done()
		return http.StatusOK, ""
	})
	w := newNotifier(t, rc, webhook.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, w.Notify(ctx, completed()), context.Canceled)
	assert.Equal(t, 0, rc.requests(), "nothing sent for a canceled context")

	ctx, cancel = context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	err := w.Notify(ctx, completed())
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the caller's own deadline is reported as such")
	noSecrets(t, err)
}

func TestReceiverDown(t *testing.T) {
	rc := newReceiver(t, nil)
	w := newNotifier(t, rc, webhook.Config{})
	rc.srv.Close()
	err := w.Notify(t.Context(), completed())
	noSecrets(t, err)
	assert.False(t, resync.IsPermanent(err), "a receiver that is down is retried: %v", err)
}

func TestChannels(t *testing.T) {
	rc := newReceiver(t, nil)
	w := newNotifier(t, rc, webhook.Config{Channels: []resync.Channel{resync.ChannelEmail}})
	for _, n := range resynctest.SampleNotifications("acme") {
		require.NoError(t, w.Notify(t.Context(), n))
	}
	assert.Equal(t, 4, rc.delivered(), "only the email notifications")
}

func TestVerify(t *testing.T) {
	var req *http.Request
	var body []byte
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) (int, string) {
		req = r
		return http.StatusOK, ""
	})
	require.NoError(t, newNotifier(t, rc, webhook.Config{}).Notify(t.Context(), completed()))
	body = rc.bodies[0]
	h := req.Header
	now := time.Now()
	require.NoError(t, webhook.Verify(secret, h, body, now))

	tampered := bytes.Replace(body, []byte(`"status":"partial"`), []byte(`"status":"succeeded"`), 1)
	require.NotEqual(t, body, tampered)
	withHeader := func(k, v string) http.Header {
		c := h.Clone()
		c.Set(k, v)
		return c
	}
	ts, _ := strconv.ParseInt(h.Get(webhook.HeaderTimestamp), 10, 64)
	for name, check := range map[string]func() error{
		"tampered body":    func() error { return webhook.Verify(secret, h, tampered, now) },
		"other secret":     func() error { return webhook.Verify(secret+"x", h, body, now) },
		"old timestamp":    func() error { return webhook.Verify(secret, h, body, now.Add(webhook.Tolerance+time.Minute)) },
		"future timestamp": func() error { return webhook.Verify(secret, h, body, now.Add(-webhook.Tolerance-time.Minute)) },
		"replayed, restamped": func() error {
			return webhook.Verify(secret, withHeader(webhook.HeaderTimestamp, strconv.FormatInt(ts+60, 10)), body, now)
		},
		"other id":     func() error { return webhook.Verify(secret, withHeader(webhook.HeaderID, "run-1/x"), body, now) },
		"no signature": func() error { return webhook.Verify(secret, withHeader(webhook.HeaderSignature, ""), body, now) },
		"unknown version": func() error {
			return webhook.Verify(secret, withHeader(webhook.HeaderSignature, "v2,"+h.Get(webhook.HeaderSignature)[3:]), body, now)
		},
		"malformed timestamp": func() error {
			return webhook.Verify(secret, withHeader(webhook.HeaderTimestamp, "yesterday"), body, now)
		},
		"signature not base64": func() error { return webhook.Verify(secret, withHeader(webhook.HeaderSignature, "v1,!!!"), body, now) },
	} {
		err := check()
		assert.Error(t, err, name)
		if err != nil {
			assert.NotContains(t, err.Error(), h.Get(webhook.HeaderSignature)[3:], "%s: the error repeats the signature", name)
		}
	}
	// One valid signature among several (a secret being rotated) is enough.
	require.NoError(t, webhook.Verify(secret, withHeader(webhook.HeaderSignature, "v1,c29tZXRoaW5nIGVsc2U= "+h.Get(webhook.HeaderSignature)), body, now))
}

func TestStandardWebhooksSecret(t *testing.T) {
	// A "whsec_" secret signs with its decoded bytes: the same signature
	// as the raw key.
	raw := "0123456789abcdef0123"
	whsec := "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM="
	var h http.Header
	var body []byte
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) (int, string) {
		h = r.Header.Clone()
		return 299, ""
	})
	rc.secret = raw
	w := newNotifier(t, rc, webhook.Config{Secret: whsec})
	require.NoError(t, w.Notify(t.Context(), completed()))
	require.Equal(t, 1, rc.delivered())
	body, _ = json.Marshal(webhook.NewPayload(completed()))
	require.NoError(t, webhook.Verify(raw, h, body, time.Now()))
	require.NoError(t, webhook.Verify(whsec, h, body, time.Now()))
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]webhook.Config{
		"no URL":          {Secret: secret},
		"relative URL":    {URL: "/hooks", Secret: secret},
		"ftp URL":         {URL: "ftp://example.com/x", Secret: secret},
		"no secret":       {URL: "https://example.com/x"},
		"short secret":    {URL: "https://example.com/x", Secret: "short-secret"},
		"bad whsec":       {URL: "https://example.com/x", Secret: "whsec_!!" + secret},
		"short whsec key": {URL: "https://example.com/x", Secret: "whsec_c2hvcnQ="},
	} {
		_, err := webhook.New(cfg)
		require.ErrorIs(t, err, resync.ErrInvalidRequest, name)
		assert.NotContains(t, err.Error(), secret, name)
	}
}

func TestSecretNotPrinted(t *testing.T) {
	cfg := webhook.Config{URL: "https://hooks.example.com/x", Secret: secret, Timeout: time.Second}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("configured", "webhook", cfg)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("configured", "webhook", cfg)
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), text.String(), js.String()} {
		assert.NotContains(t, out, secret)
		assert.Contains(t, out, "hooks.example.com")
	}
}

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	rcs := map[*testing.T]*receiver{}
	resynctest.TestNotifier(t, func(t *testing.T) resync.Notifier {
		rc := newReceiver(t, nil)
		mu.Lock()
		rcs[t] = rc
		mu.Unlock()
		return newNotifier(t, rc, webhook.Config{})
	}, resynctest.NotifierOptions{Delivered: func(t *testing.T) int {
		mu.Lock()
		defer mu.Unlock()
		return rcs[t].delivered()
	}})
}

// TestEngineRetries delivers through the engine: a receiver that fails
// with 500, then throttles with Retry-After, then accepts gets the
// completion notification once, after the advertised wait.
func TestEngineRetries(t *testing.T) {
	var throttledAt atomic.Int64
	var acceptedAt atomic.Int64
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) (int, string) {
		var p webhook.Payload
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &p)
		switch n {
		case 0:
			return http.StatusInternalServerError, ""
		case 1:
			throttledAt.Store(time.Now().UnixNano())
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests, ""
		}
		acceptedAt.CompareAndSwap(0, time.Now().UnixNano())
		return http.StatusOK, ""
	})
	hooks := newNotifier(t, rc, webhook.Config{Channels: []resync.Channel{resync.ChannelEmail}})
	admin := resync.Principal{ID: "u1", Email: "admin@acme.example", Name: "Ada"}
	src := resynctest.NewSource()
	src.Add(resync.Connection{ID: "okta", Tenant: "acme", Type: resync.IdP, Provider: "okta"})
	fakes := resynctest.NewFakes()
	fakes.Set("acme", "okta", resynctest.NewConnector([]resync.Record{&resync.Identity{Key: "1", Email: "a@acme.example", Status: resync.StatusActive}}, 0))
	ctx := t.Context()
	eng, err := resync.New(ctx, resync.Config{
		Store: memstore.New(), Connections: src, Connectors: fakes.Factories("okta"),
		Authorizer: resynctest.AllowAll, Directory: resynctest.Admins{"acme": {admin}},
		Notifier: hooks,
		Retry:    resync.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 10 * time.Millisecond},
	})
	require.NoError(t, err)
	defer func() { require.NoError(t, eng.Close(context.WithoutCancel(ctx))) }()
	run, err := eng.ResyncPersonnel(ctx, "acme", admin)
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.NoError(t, err)
	deadline := time.Now().Add(30 * time.Second)
	select {
	case <-rc.got:
	case <-time.After(time.Until(deadline)):
		t.Fatal("no delivery within 30s")
	}
	require.Equal(t, 1, rc.delivered(), "delivered once after the retries")
	assert.Equal(t, 3, rc.requests(), "500, 429, then 200")
	assert.GreaterOrEqual(t, time.Duration(acceptedAt.Load()-throttledAt.Load()), time.Second, "the retry waited for Retry-After")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
