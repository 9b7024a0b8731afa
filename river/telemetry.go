package river

import (
	"context"
	"encoding/json"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// middleware is the River client's telemetry: none unless a provider is
// configured; otherwise River's OpenTelemetry middleware (otelriver),
// inside joinTrace, which makes each job's work span a child of the span
// that inserted the job.
func middleware(cfg Config) []rivertype.Middleware {
	if cfg.TracerProvider == nil && cfg.MeterProvider == nil {
		return nil
	}
	tp, mp := cfg.TracerProvider, cfg.MeterProvider
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	return []rivertype.Middleware{
		river.WorkerMiddlewareFunc(joinTrace),
		otelriver.NewMiddleware(&otelriver.MiddlewareConfig{
			TracerProvider: tp, MeterProvider: mp,
			// The inserting span's context goes into each job's metadata.
			EnableTracePropagation:      true,
			EnableWorkSpanJobKindSuffix: true,
		}),
	}
}

// joinTrace works job under the span context otelriver stored in its
// metadata when it was inserted (W3C traceparent and tracestate): the
// work span otelriver starts inside it, and the engine's spans of the
// read below that, belong to the trace of the request that submitted the
// run. otelriver alone would start a trace of its own with a link back.
func joinTrace(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	var meta struct {
		TraceParent string `json:"traceparent"`
		TraceState  string `json:"tracestate"`
	}
	if len(job.Metadata) > 0 && json.Unmarshal(job.Metadata, &meta) == nil && meta.TraceParent != "" {
		carrier := propagation.MapCarrier{"traceparent": meta.TraceParent}
		if meta.TraceState != "" {
			carrier["tracestate"] = meta.TraceState
		}
		ctx = propagation.TraceContext{}.Extract(ctx, carrier)
	}
	return doInner(ctx)
}
