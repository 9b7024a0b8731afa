package main

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/openresync/resync"
)

// This file prints a run's change log, with what changed in each field.

type recKey struct {
	kind resync.RecordKind
	key  string
}

// snapshot is every connection's stored records (tombstones included).
type snapshot map[string]map[recKey]resync.StoredRecord

// records reads the stored records of every connection.
func (d *demo) records(ctx context.Context) (snapshot, error) {
	out := snapshot{}
	for _, c := range d.conns {
		recs, err := d.store.Records(ctx, resync.RecordQuery{Tenant: tenant, ConnectionID: c.ID, IncludeRemoved: true})
		if err != nil {
			return nil, err
		}
		m := make(map[recKey]resync.StoredRecord, len(recs))
		for _, r := range recs {
			m[recKey{r.Kind, r.Key}] = r
		}
		out[c.ID] = m
	}
	return out, nil
}

// printChanges prints the change log of a run, one line per changed
// record. Each entry holds the record before and after the change, so
// what changed in each field comes from the log alone.
func (d *demo) printChanges(ctx context.Context, info resync.RunInfo) error {
	var entries []resync.ChangeLogEntry
	for {
		page, err := d.engine.Changes(ctx, tenant, admin, resync.ChangeQuery{RunID: info.ID, AfterSeq: lastSeq(entries)})
		if err != nil {
			return err
		}
		entries = append(entries, page...)
		if len(page) < 100 { // the default page size
			break
		}
	}
	after, err := d.records(ctx)
	if err != nil {
		return err
	}
	plural := "s"
	if len(entries) == 1 {
		plural = ""
	}
	fmt.Fprintf(d.w, "  change log of run %s: %d change%s\n", info.ID, len(entries), plural)
	for _, c := range info.Connections {
		lookup := func(k recKey) resync.Record {
			if r, ok := after[c.ConnectionID][k]; ok {
				return r.Record
			}
			return nil
		}
		printed := false
		for _, e := range entries {
			if e.ConnectionID != c.ConnectionID {
				continue
			}
			if !printed {
				fmt.Fprintf(d.w, "    %s:\n", c.Name)
				printed = true
			}
			k := recKey{e.Kind, e.Key}
			line := fmt.Sprintf("%s %s %s", opSign(e.Op), e.Kind, e.Key)
			if l := label(lookup(k)); l != "" {
				line += " " + l
			}
			var detail []string
			switch e.Op {
			case resync.OpAdd:
				detail = describe(lookup(k))
			case resync.OpUpdate:
				if e.Before != nil && e.After != nil {
					detail = fieldDiffs(e.Before, e.After, func(kind resync.RecordKind, key string) string {
						if l := label(lookup(recKey{kind, key})); l != "" {
							return l
						}
						return key
					})
				}
			}
			if len(detail) > 0 {
				line += ": " + strings.Join(detail, ", ")
			}
			fmt.Fprintf(d.w, "      %s\n", line)
		}
	}
	return nil
}

// lastSeq is the paging cursor after entries: the last one's Seq.
func lastSeq(entries []resync.ChangeLogEntry) int64 {
	if len(entries) == 0 {
		return 0
	}
	return entries[len(entries)-1].Seq
}

func opSign(op resync.ChangeOp) string {
	switch op {
	case resync.OpAdd:
		return "+"
	case resync.OpRemove:
		return "-"
	}
	return "~"
}

// label names a record for people: an email, a username, a group name.
func label(r resync.Record) string {
	switch v := r.(type) {
	case *resync.Identity:
		if v.Email != "" {
			return v.Email
		}
		return v.Name
	case *resync.Account:
		return v.Username
	case *resync.Group:
		return v.Name
	}
	return ""
}

// describe summarizes a new record.
func describe(r resync.Record) []string {
	switch v := r.(type) {
	case *resync.Identity:
		return nonEmpty(v.Name, v.Title, v.Department, string(v.Status))
	case *resync.Account:
		return nonEmpty(v.DisplayName, strings.Join(v.Roles, "+"), string(v.Status))
	case *resync.Group:
		return []string{fmt.Sprintf("%d members", len(v.Members))}
	}
	return nil
}

func nonEmpty(ss ...string) []string {
	return slices.DeleteFunc(ss, func(s string) bool { return s == "" })
}

// fieldDiffs lists what differs between two versions of a record, field by
// field; name turns the keys in Groups and Members into names.
func fieldDiffs(old, cur resync.Record, name func(resync.RecordKind, string) string) []string {
	ov, cv := reflect.ValueOf(old), reflect.ValueOf(cur)
	if old == nil || cur == nil || ov.Type() != cv.Type() {
		return nil
	}
	ov, cv = ov.Elem(), cv.Elem()
	var out []string
	for i := range ov.NumField() {
		f := ov.Type().Field(i)
		if f.Name == "Key" {
			continue
		}
		field := snake(f.Name)
		switch a := ov.Field(i).Interface().(type) {
		case []string:
			b := cv.Field(i).Interface().([]string)
			var kind resync.RecordKind
			switch f.Name {
			case "Groups":
				kind = resync.KindGroup
			case "Members":
				kind = resync.KindIdentity
			}
			var ch []string
			for _, x := range a {
				if !slices.Contains(b, x) {
					ch = append(ch, "-"+name(kind, x))
				}
			}
			for _, x := range b {
				if !slices.Contains(a, x) {
					ch = append(ch, "+"+name(kind, x))
				}
			}
			if len(ch) > 0 {
				out = append(out, field+" "+strings.Join(ch, " "))
			}
		case map[string]string:
			b := cv.Field(i).Interface().(map[string]string)
			keys := make([]string, 0, len(a)+len(b))
			for k := range a {
				keys = append(keys, k)
			}
			for k := range b {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range slices.Compact(keys) {
				if a[k] != b[k] {
					out = append(out, fmt.Sprintf("%s %s %s → %s", field, k, show(a[k]), show(b[k])))
				}
			}
		case time.Time:
			b := cv.Field(i).Interface().(time.Time)
			if !a.Equal(b) {
				out = append(out, fmt.Sprintf("%s %s → %s", field, showTime(a), showTime(b)))
			}
		default:
			x, y := fmt.Sprint(a), fmt.Sprint(cv.Field(i).Interface())
			if x != y {
				out = append(out, fmt.Sprintf("%s %s → %s", field, show(x), show(y)))
			}
		}
	}
	return out
}

func show(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func showTime(t time.Time) string {
	switch {
	case t.IsZero():
		return "(none)"
	case t.Equal(t.Truncate(24 * time.Hour)):
		return t.UTC().Format(time.DateOnly)
	}
	return t.UTC().Format(time.RFC3339)
}

// snake turns a Go field name into a lower-case one: EndDate → end_date,
// MFA → mfa.
func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 && unicode.IsLower(rs[i-1]) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
