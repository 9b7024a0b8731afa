package sqlite_test

// crashEnv, when set, names the database file the crash child applies to.
const crashEnv = "RESYNC_SQLITE_CRASH_DB"
