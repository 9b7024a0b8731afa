package linking

// SetWriteChunk sets how many links or findings one WriteLinks stores,
// and returns a function that restores it. Not for parallel tests.
func SetWriteChunk(n int) (restore func()) {
	old := writeChunk
	writeChunk = n
	return func() { writeChunk = old }
}

// RedactedForTest is redacted, for the test that it is storage.Redacted.
var RedactedForTest = redacted
