package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"riverqueue.com/riverui"

	"github.com/openresync/resync"
	"github.com/openresync/resync/river"
	"github.com/openresync/resync/stores/postgres"
)

// onRiver is the example's PostgreSQL mode: the store on PostgreSQL, the
// reads River jobs worked in this process, and River UI, which shows
// those jobs, mounted at /riverui/.
type onRiver struct {
	store *postgres.Store
	x     *river.Executor
	ui    *riverui.Handler
}

// openRiver opens the store at url and a River executor on it with a few
// workers. Call start with the engine built on them.
func openRiver(ctx context.Context, url string) (*onRiver, error) {
	store, err := postgres.Open(ctx, url, postgres.Config{})
	if err != nil {
		return nil, fmt.Errorf("opening the store on PostgreSQL: %w", err)
	}
	x, err := river.New(ctx, river.Config{Store: store, Workers: 4, MinReadInterval: minReadInterval})
	if err != nil {
		store.Close()
		return nil, err
	}
	return &onRiver{store: store, x: x}, nil
}

// start works the read jobs with engine and starts River UI's handler.
func (o *onRiver) start(ctx context.Context, engine *resync.Engine, logw io.Writer) error {
	if err := o.x.Start(ctx, engine); err != nil {
		return err
	}
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(o.x.Client(), nil),
		Logger:    slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Prefix:    "/riverui",
	})
	if err != nil {
		return fmt.Errorf("river UI: %w", err)
	}
	if err := ui.Start(ctx); err != nil {
		return fmt.Errorf("starting river UI: %w", err)
	}
	o.ui = ui
	return nil
}

// mount serves River UI at /riverui/. It is River's own page, with its
// own scripts and styles: the admin page's security headers are not
// applied to it.
func (o *onRiver) mount(mux *http.ServeMux) { mux.Handle("/riverui/", o.ui) }

// stop stops the workers (reads under way get until ctx ends).
func (o *onRiver) stop(ctx context.Context) error { return o.x.Stop(ctx) }
