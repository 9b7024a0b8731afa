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
		return nil, fmt.Errorf("storage: unknown record kind %q", kind)
	}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("storage: decoding %s record: %w", kind, err)
	}
	return r, nil
}

// KindOfRecord returns the kind of r: KindIdentity, KindAccount or
// KindGroup, or "" for a nil record.
func KindOfRecord(r resync.Record) resync.RecordKind {
	switch r.(type) {
	case *resync.Identity:
		return resync.KindIdentity
	case *resync.Account:
		return resync.KindAccount
	case *resync.Group:
		return resync.KindGroup
	}
	return ""
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

// KindCode returns a small integer for a record kind, for stores that keep
// kinds in an integer column: 1 for identities, 2 for accounts and 3 for
// groups (the order stores list records in), 0 for anything else. The
// codes never change; KindOf maps them back.
func KindCode(k resync.RecordKind) int {
	switch k {
	case resync.KindIdentity:
		return 1
	case resync.KindAccount:
		return 2
	case resync.KindGroup:
		return 3
	}
	return 0
}

// KindOf returns the record kind of a KindCode, or an error for a code no
// kind has.
func KindOf(code int64) (resync.RecordKind, error) {
	switch code {
	case 1:
		return resync.KindIdentity, nil
	case 2:
		return resync.KindAccount, nil
	case 3:
		return resync.KindGroup, nil
	}
	return "", fmt.Errorf("storage: stored record kind %d is unknown", code)
}

// OpCode returns a small integer for a change operation, for stores that
// keep operations in an integer column: 1 add, 2 update, 3 remove,
// 4 refresh, 5 erase, 0 for anything else. The codes never change; OpOf maps them
// back.
func OpCode(o resync.ChangeOp) int {
	switch o {
	case resync.OpAdd:
		return 1
	case resync.OpUpdate:
		return 2
	case resync.OpRemove:
		return 3
	case resync.OpRefresh:
		return 4
	case resync.OpErase:
		return 5
	}
	return 0
}

// OpOf returns the change operation of an OpCode, or an error for a code
// no operation has.
func OpOf(code int64) (resync.ChangeOp, error) {
	switch code {
	case 1:
		return resync.OpAdd, nil
	case 2:
		return resync.OpUpdate, nil
	case 3:
		return resync.OpRemove, nil
	case 4:
		return resync.OpRefresh, nil
	case 5:
		return resync.OpErase, nil
	}
	return "", fmt.Errorf("storage: stored change operation %d is unknown", code)
}
