package linking

// RedactedForTest is redacted, for the test that it is storage.Redacted.
var RedactedForTest = redacted
