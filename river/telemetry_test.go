package river_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

// A read on River is in the trace of the request that submitted its run:
// the insert of the jobs and each job's work span (River's OpenTelemetry
// middleware) carry the request's trace ID, and the engine's span of the
// read is a child of the job's span.
func TestReadJoinsTheRunsTrace(t *testing.T) {
	db := freshDB(t)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	w := newNode(t, db, nodeOpts{workers: 2, traces: tp, conns: func(n *node) {
		n.conn("okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		n.conn("gh1", resync.VersionControl, "github", resynctest.Identities("g", 20), 10)
	}})
	ctx, req := tp.Tracer("test").Start(context.Background(), "request")
	r, err := w.e.ResyncPersonnel(ctx, "t1", alice)
	req.End()
	require.NoError(t, err)
	require.Equal(t, resync.RunSucceeded, wait(t, r).Status)
	trace := req.SpanContext().TraceID()

	byName := func(name string) []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range sr.Ended() {
			if s.Name() == name {
				out = append(out, s)
			}
		}
		return out
	}
	// A job's span ends after its run does (River marks it completed).
	eventually(t, "both jobs' spans", func() bool { return len(byName("river.work/resync_read")) == 2 })
	inserts := byName("river.insert_many")
	require.Len(t, inserts, 1)
	require.Equal(t, trace, inserts[0].SpanContext().TraceID(), "the jobs inserted in the request's trace")
	jobs := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range byName("river.work/resync_read") {
		require.Equal(t, trace, s.SpanContext().TraceID(), "the job worked in the request's trace")
		require.Equal(t, inserts[0].SpanContext().SpanID(), s.Parent().SpanID(), "the job's span a child of its insert's")
		jobs[s.SpanContext().SpanID().String()] = s
	}
	reads := byName("resync.connection")
	require.Len(t, reads, 2)
	for _, s := range reads {
		require.Equal(t, trace, s.SpanContext().TraceID(), "the read in the request's trace")
		job, ok := jobs[s.Parent().SpanID().String()]
		require.True(t, ok, "the read's span %s is a child of a job's span", s.Name())
		var conn string
		for _, a := range s.Attributes() {
			if a.Key == "resync.connection" {
				conn = a.Value.AsString()
			}
		}
		require.True(t, strings.HasPrefix(conn, "okta1") || strings.HasPrefix(conn, "gh1"), conn)
		require.NotEqual(t, job.SpanContext().SpanID(), s.SpanContext().SpanID())
	}
}
