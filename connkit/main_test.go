package connkit_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// The tests that talk to a server do not run in parallel: closing an
// httptest.Server closes the idle connections of http.DefaultTransport,
// which breaks a request another test is making through it.
//
// TestMain checks that no goroutine outlives the tests: engines closed,
// servers closed, and (once the idle connections of the default client
// the examples use are closed) no request left behind.
func TestMain(m *testing.M) {
	code := m.Run()
	http.DefaultClient.CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
