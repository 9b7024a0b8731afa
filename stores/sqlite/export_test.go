package sqlite

// SetBatch sets the rows per multi-row statement of Apply, for benchmarks.
func SetBatch(n int) { batch = n }
