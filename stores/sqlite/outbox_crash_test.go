package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/stores/sqlite"
)

// outboxCrashEnv, when set, names the database file of the outbox crash
// child.
const outboxCrashEnv = "RESYNC_SQLITE_OUTBOX_CRASH_DB"

var outboxAdmins = resynctest.Admins{engTenant: {{ID: "admin", Email: "admin@example.com"}, {ID: "ops", Email: "ops@example.com"}}}

// stallingNotifier is the crash child's Notifier: it delivers "started"
// notices (telling its parent) and hangs on every other notification, so
// the process dies with the run's completion stored and not delivered.
type stallingNotifier struct{}

func (stallingNotifier) Notify(ctx context.Context, n resync.Notification) error {
	if n.Kind == resync.NotifyRunStarted {
		fmt.Printf("delivered %s\n", n.ID)
		return nil
	}
	fmt.Printf("stalled %s\n", n.ID)
	select {} // until the kill
}

// TestOutboxCrashHelper is the child process of TestOutboxCrash; it does
// nothing in a normal test run.
func TestOutboxCrashHelper(t *testing.T) {
	path := os.Getenv(outboxCrashEnv)
	if path == "" {
		t.Skip("runs only as the child of TestOutboxCrash")
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Config{})
	require.NoError(t, err)
	src, fakes := engineSetup(resynctest.Identities("u", 20))
	e, err := resync.New(ctx, resync.Config{
		Store: s, Connections: src, Connectors: fakes.Factories("okta"), Authorizer: resynctest.AllowAll,
		Directory: outboxAdmins, Notifier: stallingNotifier{}, LeaseTTL: time.Second,
	})
	require.NoError(t, err)
	run, err := e.ResyncPersonnel(ctx, engTenant, resync.Principal{ID: "admin", Email: "admin@example.com"})
	require.NoError(t, err)
	fmt.Printf("run %s\n", run.ID())
	<-run.Done()
	fmt.Println("done")
	select {} // until the kill
}

// receiver is a notification receiver that honours Notification.ID: it
// keeps the first delivery of each ID and counts the others.
type receiver struct {
	mu    sync.Mutex
	got   map[string]resync.Notification
	dups  map[string]int
	ready chan struct{} // closed when want IDs are received
	want  int
}

func newReceiver(want int) *receiver {
	return &receiver{got: map[string]resync.Notification{}, dups: map[string]int{}, ready: make(chan struct{}), want: want}
}

func (r *receiver) Notify(ctx context.Context, n resync.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.got[n.ID]; ok {
		r.dups[n.ID]++
		return nil
	}
	r.got[n.ID] = n
	if len(r.got) == r.want {
		close(r.ready)
	}
	return nil
}

// TestOutboxCrash kills a process (kill -9) after its run completed and
// before the completion's notifications were delivered, then starts an
// engine on the file: every notification of the run is delivered, and
// none twice.
func TestOutboxCrash(t *testing.T) {
	ctx := context.Background()
	s, path := open(t, sqlite.Config{})
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), outboxCrashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	recv := newReceiver(3) // started in-product; completed in-product and by email
	var runID string
	done, stalled := false, false
	sc := bufio.NewScanner(out)
	for !done || !stalled {
		require.True(t, sc.Scan(), "the child ended before its run's completion was stored: %v", sc.Err())
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "run "):
			runID = strings.TrimPrefix(line, "run ")
		case strings.HasPrefix(line, "delivered "):
			// The child's deliveries reached the same receiver.
			require.NoError(t, recv.Notify(ctx, resync.Notification{ID: strings.TrimPrefix(line, "delivered "), Kind: resync.NotifyRunStarted}))
		case line == "done":
			done = true
		case strings.HasPrefix(line, "stalled "):
			stalled = true
		}
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.NotEmpty(t, runID)
	stored, err := s.GetRun(ctx, engTenant, runID)
	require.NoError(t, err)
	require.Equal(t, resync.RunSucceeded, stored.Status, "the run completed before the kill")
	require.Len(t, recv.got, 1, "only the started notice was delivered before the kill")

	// A new engine delivers the rest once the dead process's claim (two
	// of its 1s LeaseTTL) has expired.
	src, fakes := engineSetup(resynctest.Identities("u", 20))
	e, err := resync.New(ctx, resync.Config{
		Store: s, Connections: src, Connectors: fakes.Factories("okta"), Authorizer: resynctest.AllowAll,
		Directory: outboxAdmins, Notifier: recv, LeaseTTL: time.Second, LeasePoll: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	defer closeEngine(t, e)
	select {
	case <-recv.ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("after the restart the receiver has %d of 3 notifications", len(recv.got))
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	kinds := map[string]bool{}
	for id, n := range recv.got {
		assert.True(t, strings.HasPrefix(id, runID+"/"), "notification %q is about run %s", id, runID)
		if n.Kind != resync.NotifyRunStarted {
			assert.Equal(t, runID, n.Run.ID)
			assert.Equal(t, resync.RunSucceeded, n.Run.Status, "the completion carries the run's final state")
			assert.GreaterOrEqual(t, n.Attempt, 2, "claimed once by the dead process, again after the restart")
		}
		kinds[string(n.Kind)+"/"+string(n.Channel)] = true
	}
	assert.True(t, kinds["run_completed/in_app"] && kinds["run_completed/email"], "got %v", kinds)
	assert.Empty(t, recv.dups, "no notification delivered twice")
}
