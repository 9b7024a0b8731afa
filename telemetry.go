package resync

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

const instrumentationName = "github.com/openresync/resync"

// telemetry holds the engine's tracer and instruments. With no providers
// configured they are OpenTelemetry's noop implementations and cost nothing.
type telemetry struct {
	tracer      trace.Tracer
	runDuration metric.Float64Histogram
	recordsRead metric.Int64Counter
	changed     metric.Int64Counter
	errors      metric.Int64Counter
	inflight    metric.Int64UpDownCounter
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider) (*telemetry, error) {
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	m := mp.Meter(instrumentationName)
	t := &telemetry{tracer: tp.Tracer(instrumentationName)}
	var err error
	if t.runDuration, err = m.Float64Histogram("resync.run.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of resync runs, by trigger, scope and final status.")); err != nil {
		return nil, err
	}
	if t.recordsRead, err = m.Int64Counter("resync.records.read", metric.WithUnit("{record}"),
		metric.WithDescription("Records read from connectors.")); err != nil {
		return nil, err
	}
	if t.changed, err = m.Int64Counter("resync.records.changed", metric.WithUnit("{record}"),
		metric.WithDescription("Records added, updated or removed by applied change sets, by op.")); err != nil {
		return nil, err
	}
	if t.errors, err = m.Int64Counter("resync.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Connection reads that failed, were held or were canceled, by provider and status.")); err != nil {
		return nil, err
	}
	if t.inflight, err = m.Int64UpDownCounter("resync.runs.inflight", metric.WithUnit("{run}"),
		metric.WithDescription("Runs in progress.")); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) runEnded(ctx context.Context, ri RunInfo, d time.Duration) {
	attrs := metric.WithAttributes(
		attribute.String("resync.trigger", string(ri.Trigger)),
		attribute.String("resync.scope", string(ri.Scope.Kind)),
		attribute.String("resync.status", string(ri.Status)))
	t.runDuration.Record(ctx, d.Seconds(), attrs)
}

func (t *telemetry) readEnded(ctx context.Context, conn Connection, r ConnectionResult) {
	prov := attribute.String("resync.provider", conn.Provider)
	t.recordsRead.Add(ctx, int64(r.Read), metric.WithAttributes(prov))
	for _, c := range []struct {
		op string
		n  int
	}{{"add", r.Added}, {"update", r.Updated}, {"remove", r.Removed}} {
		if c.n > 0 && r.Status == ConnSucceeded {
			t.changed.Add(ctx, int64(c.n), metric.WithAttributes(prov, attribute.String("resync.op", c.op)))
		}
	}
	if r.Status != ConnSucceeded {
		t.errors.Add(ctx, 1, metric.WithAttributes(prov, attribute.String("resync.status", string(r.Status))))
	}
}
