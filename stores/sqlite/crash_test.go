package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/storage"
	"github.com/openresync/resync/stores/sqlite"
)

// crashRecords is the size of the read the crash child applies.
const crashRecords = 100_000

// crashSeed is how many of those records the file holds before the child
// runs (with other content, so the child's change set updates them).
const crashSeed = 10

func crashData() []resync.Record { return resynctest.Identities("u", crashRecords) }

// announcingStore prints a line on stdout when Apply begins, so the parent
// knows when to kill the process.
type announcingStore struct{ *sqlite.Store }

func (s announcingStore) Apply(ctx context.Context, cs *resync.ChangeSet) error {
	fmt.Printf("applying %d\n", len(cs.Changes))
	err := s.Store.Apply(ctx, cs)
	fmt.Printf("applied %v\n", err)
	return err
}

// TestCrashHelper is the child process of TestCrashRecovery: it resyncs the
// crash data through an engine on the file named by crashEnv and waits to
// be killed. It does nothing in a normal test run.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("runs only as the child of TestCrashRecovery")
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Config{})
	require.NoError(t, err)
	src, fakes := engineSetup(crashData())
	e, err := resync.New(ctx, resync.Config{
		Store: announcingStore{s}, Connections: src, Connectors: fakes.Factories("okta"),
		Authorizer: resynctest.AllowAll, LeaseTTL: 2 * time.Second,
	})
	require.NoError(t, err)
	run, err := e.ResyncPersonnel(ctx, engTenant, resync.Principal{ID: "admin"})
	require.NoError(t, err)
	fmt.Printf("run %s\n", run.ID())
	<-run.Done()
	fmt.Println("done")
	select {} // wait for the kill
}

// TestCrashRecovery kills a process in the middle of a 100k-record apply
// and checks that the file holds the state entirely before or entirely
// after it, that the dead process's run is marked interrupted when a new
// engine starts, and that the next resync completes the state.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process applying 100k records")
	}
	ctx := context.Background()
	s, path := open(t, sqlite.Config{})
	seed := resynctest.Identities("u", crashSeed)
	for _, r := range seed {
		r.(*resync.Identity).Name = "before"
	}
	require.NoError(t, s.Apply(ctx, addSet("seed", engTenant, engConn, 0, seed...)))
	require.NoError(t, s.Close())

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.v")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	lines := bufio.NewScanner(out)
	var runID string
	begun := false
	for !begun && lines.Scan() {
		line := lines.Text()
		if id, ok := strings.CutPrefix(line, "run "); ok {
			runID = id
		}
		if n, ok := strings.CutPrefix(line, "applying "); ok {
			require.Equal(t, fmt.Sprint(crashRecords), n, "the child's change set")
			begun = true
		}
	}
	require.True(t, begun, "the child ended before applying: %v", lines.Err())
	// Kill after a short random delay, while the apply is under way.
	time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(os.Kill))
	killed = true
	_ = cmd.Wait()
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	appliedBeforeKill := strings.Contains(rest.String(), "applied <nil>")

	// The child's instance lease (TTL 2s) is expired by this clock.
	later := time.Now().Add(time.Hour)
	s2 := reopen(t, path, sqlite.Config{Clock: resynctest.NewClock(later)})
	snap, version := snapshot(t, s2, engTenant, engConn)
	switch version {
	case 1:
		t.Logf("killed before the commit (child said %q)", strings.TrimSpace(rest.String()))
		require.False(t, appliedBeforeKill, "the child reported the apply done but the file does not have it")
		require.Len(t, snap, crashSeed, "state entirely before the apply")
		for _, r := range seed {
			assert.True(t, snap[entry{resync.KindIdentity, storage.KeyOf(r), resync.Fingerprint(r)}])
		}
	case 2:
		t.Logf("killed after the commit")
		require.Len(t, snap, crashRecords, "state entirely after the apply")
	default:
		t.Fatalf("snapshot at version %d with %d records: neither before nor after the apply", version, len(snap))
	}
	log, err := s2.Changes(ctx, resync.ChangeQuery{Tenant: engTenant})
	require.NoError(t, err)
	require.Len(t, log, crashSeed+int(version-1)*crashRecords, "change log matches the snapshot")

	require.NotEmpty(t, runID)
	run, err := s2.GetRun(ctx, engTenant, runID)
	require.NoError(t, err)
	require.Equal(t, resync.RunRunning, run.Status, "the child's run was left running")

	src, fakes := engineSetup(crashData())
	e, err := resync.New(ctx, resync.Config{Store: s2, Connections: src, Connectors: fakes.Factories("okta"),
		Authorizer: resynctest.AllowAll, Clock: resynctest.NewClock(later)})
	require.NoError(t, err)
	defer closeEngine(t, e)
	run, err = s2.GetRun(ctx, engTenant, runID)
	require.NoError(t, err)
	assert.Equal(t, resync.RunInterrupted, run.Status, "a new engine marks the dead process's run interrupted")
	c := connResult(t, run, engConn)
	assert.Equal(t, resync.ConnFailed, c.Status)

	next, err := e.ResyncPersonnel(ctx, engTenant, resync.Principal{ID: "admin"})
	require.NoError(t, err)
	info, err := next.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, resync.RunSucceeded, info.Status, "%v", info.Err())
	snap, _ = snapshot(t, s2, engTenant, engConn)
	require.Len(t, snap, crashRecords)
	for _, r := range crashData() {
		if !snap[entry{resync.KindIdentity, storage.KeyOf(r), resync.Fingerprint(r)}] {
			t.Fatalf("record %s missing or stale after the repairing resync", storage.KeyOf(r))
		}
	}
}
