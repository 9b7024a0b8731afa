// Package pgserver starts a PostgreSQL server of a test's own, for tests
// that stop or restart the server: the server from .ci/postgres.sh is
// shared by every test package running in parallel, and must stay up.
package pgserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Server is a PostgreSQL server started for one test.
type Server struct {
	// URL is the connection URL of its database.
	URL  string
	ctl  string // pg_ctl
	data string // the data directory
}

// Private starts a server of the test's own with .ci/postgres.sh, stopped
// and deleted when the test ends. Without the shared server's environment
// (RESYNC_PG_CTL, set by eval "$(bash .ci/postgres.sh)") the test is
// skipped, or fails when RESYNC_REQUIRE_INTEGRATION=1.
func Private(t testing.TB) *Server {
	t.Helper()
	if os.Getenv("RESYNC_PG_CTL") == "" {
		msg := "RESYNC_PG_CTL is not set (eval \"$(bash .ci/postgres.sh)\" sets it): cannot run a server of the test's own to restart"
		if os.Getenv("RESYNC_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg + " (RESYNC_REQUIRE_INTEGRATION=1)")
		}
		t.Skip(msg)
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("pgserver: cannot locate .ci/postgres.sh")
	}
	script := filepath.Join(filepath.Dir(file), "..", "..", ".ci", "postgres.sh")
	env := append(os.Environ(), "RESYNC_PG_STATE="+filepath.Join(t.TempDir(), "pg.env"), "RESYNC_PG_PORT=")
	cmd := exec.Command("bash", script)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pgserver: starting a private server: %v: %s", err, out)
	}
	t.Cleanup(func() {
		stop := exec.Command("bash", script, "stop")
		stop.Env = env
		_ = stop.Run()
	})
	vars := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			vars[k] = v
		}
	}
	s := &Server{URL: vars["RESYNC_POSTGRES_URL"], ctl: vars["RESYNC_PG_CTL"], data: vars["RESYNC_PGDATA"]}
	if s.URL == "" || s.ctl == "" || s.data == "" {
		t.Fatalf("pgserver: .ci/postgres.sh printed no server: %s", out)
	}
	return s
}

// Stop stops the server (fast shutdown: sessions are disconnected).
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.pgCtl(t, "-D", s.data, "-m", "fast", "-w", "stop")
}

// Start starts the stopped server again, with the settings it had.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.pgCtl(t, "-D", s.data, "-l", filepath.Join(filepath.Dir(s.data), "server.log"), "-w", "start")
}

func (s *Server) pgCtl(t testing.TB, args ...string) {
	t.Helper()
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", s.ctl}, args...)...)
	} else {
		cmd = exec.Command(s.ctl, args...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl %v: %v: %s", args, err, out)
	}
}
