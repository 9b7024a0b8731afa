package storage_test

import (
	"testing"

	"github.com/openresync/resync"
	"github.com/openresync/resync/memstore"
	"github.com/openresync/resync/storage"
)

// resync.Store and storage.Store have the same method set: a host's Store
// written against either is the other.
func TestStoreTypesAreMutuallyAssignable(t *testing.T) {
	var s storage.Store = memstore.New()
	var r resync.Store = s
	s = r
	if s == nil || r == nil {
		t.Fatal("nil store")
	}
}
