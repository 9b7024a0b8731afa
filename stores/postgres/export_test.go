package postgres

// SetCopyMin sets the change count from which Apply stages changes
// through COPY rather than arrays, so tests can drive both paths.
func (s *Store) SetCopyMin(n int) { s.copyMin = n }
