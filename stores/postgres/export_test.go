package postgres

// WithCopyMin sets the change count from which Apply stages changes
// through COPY rather than arrays, so tests can drive both paths.
func WithCopyMin(n int) Option { return func(o *options) { o.copyMin = n } }
