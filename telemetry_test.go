package resync_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/openresync/resync"
	"github.com/openresync/resync/resynctest"
)

// A span per run and per connection (retries as events on it), and the
// run, record and error metrics, once the host passes providers.
func TestTelemetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		spans := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		h := newHarness(t, func(c *resync.Config) { c.TracerProvider, c.MeterProvider = tp, mp })
		ok := h.conn("t1", "okta1", resync.IdP, "okta", resynctest.Identities("u", 30), 10)
		ok.AddFault(resynctest.Fault{Page: 1, Times: 2})
		h.conn("t1", "gh1", resync.VersionControl, "github", nil, 0).
			AddFault(resynctest.Fault{Page: 0, Err: resync.Permanent(assert.AnError)})

		info := h.personnel(alice)
		require.Equal(t, resync.RunPartial, info.Status)
		require.NoError(t, h.engine.Close(context.Background()))

		var run sdktrace.ReadOnlySpan
		conns := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range spans.Ended() {
			switch s.Name() {
			case "resync.run":
				run = s
			case "resync.connection":
				for _, a := range s.Attributes() {
					if a.Key == "resync.connection" {
						conns[a.Value.AsString()] = s
					}
				}
			}
		}
		require.NotNil(t, run)
		require.Len(t, conns, 2)
		for id, s := range conns {
			assert.Equal(t, run.SpanContext().SpanID(), s.Parent().SpanID(), "connection span %s is not a child of the run span", id)
		}
		var retries int
		for _, ev := range conns["okta1"].Events() {
			if ev.Name == "retry" {
				retries++
			}
		}
		assert.Equal(t, 2, retries, "each retried attempt is an event on the connection span")
		assert.Equal(t, "Error", conns["gh1"].Status().Code.String())

		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(context.Background(), &rm))
		sums := map[string]int64{}
		seen := map[string]bool{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				seen[m.Name] = true
				if s, ok := m.Data.(metricdata.Sum[int64]); ok {
					for _, dp := range s.DataPoints {
						sums[m.Name] += dp.Value
					}
				}
			}
		}
		assert.True(t, seen["resync.run.duration"])
		assert.Equal(t, int64(30), sums["resync.records.read"])
		assert.Equal(t, int64(30), sums["resync.records.changed"])
		assert.Equal(t, int64(1), sums["resync.errors"])
		assert.Equal(t, int64(0), sums["resync.runs.inflight"])
		require.NoError(t, tp.Shutdown(context.Background()))
		require.NoError(t, mp.Shutdown(context.Background()))
	})
}
