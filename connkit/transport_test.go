package connkit_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connkit"
)

// A library's http.Client over Client.Transport gets the kit's body and
// credentials on a 2xx, and the kit's classified error otherwise.
func TestTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/slow-down" {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = io.WriteString(w, `[1,2,3]`)
	}))
	defer srv.Close()
	kit := &connkit.Client{BaseURL: srv.URL + "/", Auth: connkit.Bearer("tok"), HTTPClient: srv.Client()}
	hc := &http.Client{Transport: kit.Transport()}

	resp, err := hc.Get(srv.URL + "/users")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, `[1,2,3]`, string(body))

	_, err = hc.Get(srv.URL + "/slow-down")
	require.Error(t, err)
	d, ok := resync.RetryDelay(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, 7*time.Second, d)

	_, err = (&http.Client{Transport: (&connkit.Client{BaseURL: srv.URL + "/", HTTPClient: srv.Client()}).Transport()}).Get(srv.URL + "/users")
	assert.True(t, resync.IsPermanent(err), "a 401 is permanent: %v", err)
}
