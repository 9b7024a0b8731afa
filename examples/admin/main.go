// Command admin serves the resync admin page for the quickstart's sample
// organisation: its connections, "Resync personnel" and "Resync accounts"
// with a confirmation of what will and will not be touched, live progress
// and notices over the event stream, the resync history, held removals to
// approve or reject, a person's identities and accounts everywhere, and
// who holds what: the findings of package linking (offboarding gaps,
// orphaned accounts, accounts without MFA), each run's new findings, a
// person's access across systems, admins' linking decisions and the CSV
// export of every account with its person and situation.
//
// The sample organisation starts with an offboarding under way: Jane Doe
// left on 2026-11-30 (terminated in the HRIS export) while her AWS user is
// still active, so the first personnel resync opens an offboarding gap.
//
//	go run ./examples/admin [-addr 127.0.0.1:8080] [-db FILE] [-postgres URL]
//
// It prints the page's URL. The page is plain HTML, CSS and JavaScript
// embedded in the binary, with no external asset; everything it does goes
// through package resynchttp's API, mounted at /api/. Two users can sign
// in (a select at the top): Ada, the tenant's admin, and Bob, who may look
// but not act: his requests are refused by the engine's Authorizer.
//
// With -postgres (or RESYNC_ADMIN_POSTGRES_URL) naming a PostgreSQL
// database, the engine keeps its state there instead of in SQLite, its
// reads run as River jobs (package river) worked by this process, and
// River UI, which lists those jobs, is served at /riverui/.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/openresync/resync"
	"github.com/openresync/resync/connectors/file"
	"github.com/openresync/resync/examples/internal/sampleorg"
	"github.com/openresync/resync/linking"
	"github.com/openresync/resync/resynchttp"
	"github.com/openresync/resync/resynctest"
	"github.com/openresync/resync/stores/sqlite"
)

//go:embed web
var web embed.FS

// bob is a member of the tenant without admin rights.
var bob = resync.Principal{ID: "u-bob", Email: "bob.member@acme.example", Name: "Bob Member"}

// pageDelay slows each page read so that progress is visible.
const pageDelay = 150 * time.Millisecond

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen on `ADDR`")
	db := flag.String("db", filepath.Join(os.TempDir(), "resync-admin", "resync.db"), "the SQLite `FILE` the engine keeps its state in")
	pg := flag.String("postgres", os.Getenv("RESYNC_ADMIN_POSTGRES_URL"), "keep the state in the PostgreSQL database at `URL`, read on River, and serve River UI at /riverui/")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := serve(ctx, os.Stdout, *addr, *db, *pg); err != nil {
		fmt.Fprintln(os.Stderr, "admin:", err)
		stop()
		os.Exit(1)
	}
}

// app is the example's engine and handler.
type app struct {
	engine  *resync.Engine
	handler http.Handler
	dir     string
	close   func() error
}

// minReadInterval is the engine's Config.MinReadInterval: a demo clicks
// again within seconds; a platform keeps the default interval between
// two reads of a connection.
const minReadInterval = time.Second

// newApp writes the sample exports to dir and builds an engine on the
// SQLite file dbPath behind the admin page's handler.
func newApp(ctx context.Context, logw io.Writer, dir, dbPath string) (*app, error) {
	return openApp(ctx, logw, dir, dbPath, "")
}

// openApp is newApp, on PostgreSQL and River when pgURL is not empty.
func openApp(ctx context.Context, logw io.Writer, dir, dbPath, pgURL string) (*app, error) {
	if err := sampleorg.Write(dir); err != nil {
		return nil, err
	}
	if err := offboardJane(dir); err != nil {
		return nil, err
	}
	var store resync.Store
	var rv *onRiver
	var executor resync.Executor
	if pgURL != "" {
		var err error
		if rv, err = openRiver(ctx, pgURL); err != nil {
			return nil, err
		}
		store, executor = rv.store, rv.x
	} else {
		if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
			return nil, err
		}
		s, err := sqlite.Open(ctx, dbPath, sqlite.Config{})
		if err != nil {
			return nil, fmt.Errorf("opening the store %s: %w", dbPath, err)
		}
		store = s
	}
	closeStore := func() error {
		if rv != nil {
			rv.store.Close()
			return nil
		}
		return store.(*sqlite.Store).Close()
	}
	source := resynctest.NewSource()
	source.Add(sampleorg.Connections(dir, "2")...)
	admins := resynctest.Admins{sampleorg.Tenant: {sampleorg.Admin}}
	slow := sampleorg.WithLatency(file.Factory, pageDelay)
	// The linker links AWS users to the people of the HRIS and the IdP
	// after every run, keeps the findings and records admins' decisions.
	// (UnusedAfter is off: the sample's last logins are fixed dates.)
	lk, err := linking.New(linking.Config{Store: store, Connections: source, Authorizer: admins, UnusedAfter: -1})
	if err != nil {
		return nil, errors.Join(err, closeStore())
	}
	engine, err := resync.New(ctx, resync.Config{
		Store:       store,
		Connections: source,
		Connectors:  map[string]resync.ConnectorFactory{"bamboohr": slow, "okta": slow, "aws": slow},
		Authorizer:  admins,
		Directory:   admins,
		// In-product notices reach the page over the event stream, from
		// the engine's durable record of notifications; a platform would
		// send the emails here (notify/email). The example prints them.
		Notifier:        printNotifier{w: logw},
		MinReadInterval: minReadInterval,
		Executor:        executor,
		AfterRun:        lk.AfterRun,
	})
	if err != nil {
		return nil, errors.Join(err, closeStore())
	}
	// The workers stop first (reads under way get 5 seconds), then the
	// engine, then the store.
	closeAll := func() error {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		if rv != nil {
			err = rv.stop(cctx)
		}
		return errors.Join(err, engine.Close(cctx), closeStore())
	}
	if rv != nil {
		if err := rv.start(ctx, engine, logw); err != nil {
			return nil, errors.Join(err, closeAll())
		}
	}
	api, err := resynchttp.New(engine, resynchttp.Config{Authenticate: authenticate, Linker: lk})
	if err != nil {
		return nil, errors.Join(err, closeAll())
	}
	static, err := fs.Sub(web, "web")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", api))
	mux.Handle("/", http.FileServerFS(static))
	var handler http.Handler = securityHeaders(mux)
	if rv != nil {
		outer := http.NewServeMux()
		rv.mount(outer)
		outer.Handle("/", handler)
		handler = outer
	}
	return &app{engine: engine, handler: handler, dir: dir, close: closeAll}, nil
}

// authenticate is the example's sign-in: a cookie naming Ada or Bob. A
// platform reads its own session here.
func authenticate(r *http.Request) (string, resync.Principal, error) {
	id := "u-ada"
	if c, err := r.Cookie("resync_user"); err == nil {
		id = c.Value
	}
	switch id {
	case sampleorg.Admin.ID:
		return sampleorg.Tenant, sampleorg.Admin, nil
	case bob.ID:
		return sampleorg.Tenant, bob, nil
	}
	return "", resync.Principal{}, errors.New("unknown user")
}

// securityHeaders forbids framing and any asset from elsewhere.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

func serve(ctx context.Context, w io.Writer, addr, dbPath, pgURL string) (err error) {
	dir, err := os.MkdirTemp("", "resync-admin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a, err := openApp(ctx, w, dir, dbPath, pgURL)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, a.close()) }()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	where := dbPath
	if pgURL != "" {
		where = "PostgreSQL; River UI at http://" + ln.Addr().String() + "/riverui/"
	}
	fmt.Fprintf(w, "resync admin page: http://%s/ (state in %s; Ctrl-C stops)\n", ln.Addr(), where)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// printNotifier prints each email the engine would send.
type printNotifier struct{ w io.Writer }

func (p printNotifier) Notify(_ context.Context, n resync.Notification) error {
	if n.Channel != resync.ChannelEmail {
		return nil // in-product notices: the page reads them from the event stream
	}
	to := make([]string, len(n.Recipients))
	for i, r := range n.Recipients {
		to[i] = r.Email
	}
	fmt.Fprintf(p.w, "email %s about run %s to %v\n", n.Kind, n.Run.ID, to)
	return nil
}
