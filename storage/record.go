package storage

import (
	"encoding/json"
	"fmt"

	"github.com/openresync/resync"
)

// EncodeRecord encodes a record as JSON, the form the stores of this
// module keep records in. DecodeRecord with the record's kind decodes it.
// Field names are the Go ones; a release adds fields, never renames them.
func EncodeRecord(r resync.Record) ([]byte, error) { return json.Marshal(r) }

// DecodeRecord decodes a record of the given kind encoded by EncodeRecord.
func DecodeRecord(kind resync.RecordKind, data []byte) (resync.Record, error) {
	var r resync.Record
	switch kind {
	case resync.KindIdentity:
		r = new(resync.Identity)
	case resync.KindAccount:
		r = new(resync.Account)
	case resync.KindGroup:
		r = new(resync.Group)
	default:
		return nil, fmt.Errorf("storage: unknown record kind %d", uint8(kind))
	}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("storage: decoding %s record: %w", kind, err)
	}
	return r, nil
}

// KindOfRecord returns the kind of r: KindIdentity, KindAccount or
// KindGroup, or 0 for a nil record.
func KindOfRecord(r resync.Record) resync.RecordKind {
	switch r.(type) {
	case *resync.Identity:
		return resync.KindIdentity
	case *resync.Account:
		return resync.KindAccount
	case *resync.Group:
		return resync.KindGroup
	}
	return 0
}

// KeyOf returns the key of r (its Key field), or "" for a nil record.
func KeyOf(r resync.Record) string {
	switch r := r.(type) {
	case *resync.Identity:
		if r != nil {
			return r.Key
		}
	case *resync.Account:
		if r != nil {
			return r.Key
		}
	case *resync.Group:
		if r != nil {
			return r.Key
		}
	}
	return ""
}
