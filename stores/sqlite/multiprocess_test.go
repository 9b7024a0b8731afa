package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/stores/sqlite"
)

// openEnv, when set, names the file TestOpenHelper opens; openConnEnv
// names the connection it applies to.
const (
	openEnv     = "RESYNC_SQLITE_OPEN_DB"
	openConnEnv = "RESYNC_SQLITE_OPEN_CONN"
)

// TestOpenHelper is a child process of TestProcessesOpenAtOnce: it opens
// the file, which may be new, and applies 500 records to its connection.
func TestOpenHelper(t *testing.T) {
	path := os.Getenv(openEnv)
	if path == "" {
		t.Skip("runs only as a child of TestProcessesOpenAtOnce")
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Config{})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	conn := os.Getenv(openConnEnv)
	var recs []resync.Record
	for i := range 500 {
		recs = append(recs, identity(fmt.Sprintf("%s-%d", conn, i), conn))
	}
	require.NoError(t, s.Apply(ctx, addSet("cs-"+conn, "t", conn, 0, recs...)))
	ok, err := s.AcquireLease(ctx, "shared", conn, 1<<40)
	require.NoError(t, err)
	fmt.Printf("lease %v\n", ok)
}

// Processes that open a new file at the same moment take turns migrating
// it, and their writes all land.
func TestProcessesOpenAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	const procs = 4
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestOpenHelper$")
			cmd.Env = append(os.Environ(), openEnv+"="+path, fmt.Sprintf("%s=c%d", openConnEnv, i))
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	leases := 0
	for i := range procs {
		require.NoError(t, errs[i], "process %d:\n%s", i, outs[i])
		assert.Regexp(t, `lease (true|false)`, string(outs[i]))
		if strings.Contains(string(outs[i]), "lease true") {
			leases++
		}
	}
	assert.Equal(t, 1, leases, "exactly one process holds the shared lease")
	assert.Equal(t, sqlite.SchemaVersion(), schemaRows(t, path), "migrations applied once")
	s := reopen(t, path, sqlite.Config{})
	for i := range procs {
		snap, v := snapshot(t, s, "t", fmt.Sprintf("c%d", i))
		assert.Equal(t, int64(1), v)
		assert.Len(t, snap, 500)
	}
}
