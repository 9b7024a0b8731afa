package postgres_test

// crashChildEnv marks the child process of TestCrashDuringApply.
const crashChildEnv = "RESYNC_PG_CRASH_CHILD"
