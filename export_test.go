package resync

import "context"

// Names the tests of package resync_test use that hosts do not see.
var (
	InstanceLease        = instanceLease
	VolatileDigest       = volatileDigest
	FingerprintVersionOf = fingerprintVersionOf
	ValidateChangeSet    = validateChangeSet
)

const FingerprintVersion = fingerprintVersion

// Gate returns s behind the engine's store gate.
func Gate(s Store) Store { return storeGate{s} }

// RecoverRuns runs the engine's recovery of interrupted runs once.
func (e *Engine) RecoverRuns(ctx context.Context) ([]RunInfo, error) { return e.recoverRuns(ctx) }

// TenantOffset is a tenant's stable offset within a window, as Daily,
// Every and Spread compute it.
var TenantOffset = tenantOffset
