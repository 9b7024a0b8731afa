//go:build race

package aws_test

// raceEnabled says the race detector is on: it slows the SDK's XML
// decoding tenfold, and TestLargePages, a timing stress check, is skipped.
const raceEnabled = true
