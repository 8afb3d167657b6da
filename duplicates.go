package recstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// DuplicateGroup is a set of records sharing the values of some fields.
type DuplicateGroup[T any] struct {
	Values  []string // the shared values, formatted, one per field
	Records []T      // the records, in primary key order
}

// Duplicates returns the groups of records that share the values of fields
// (indexed or not; Django's GROUP BY … HAVING COUNT(*) > 1), in the order
// of those values, each with its records in primary key order. A record
// with a null in any of fields is in no group, as a unique index would let
// it be; so is a record with NaN in one, which equals nothing.
func (t *Table[T]) Duplicates(fields ...ColumnOf[T]) ([]DuplicateGroup[T], error) {
	ops, err := t.access(false)
	if err != nil {
		return nil, err
	}
	cols, err := t.eng.schema().columns(fields)
	if err != nil {
		return nil, err
	}
	groups, err := ops.duplicates(cols)
	if err != nil {
		return nil, err
	}
	out := make([]DuplicateGroup[T], len(groups))
	for i, g := range groups {
		out[i] = DuplicateGroup[T]{Values: formatValues(cols, g[0]), Records: derefAll(g)}
	}
	return out, nil
}

// columns checks that fields are declared in the table.
func (sch *tableSchema[T]) columns(fields []ColumnOf[T]) ([]*col[T], error) {
	if len(fields) == 0 {
		return nil, &LookupError{Table: sch.table, Reason: "no fields given"}
	}
	cols := make([]*col[T], len(fields))
	for i, f := range fields {
		var c *col[T]
		if f != nil {
			c = f.meta()
		}
		if c == nil || !sch.hasCol(c) {
			return nil, sch.unknownField(c.nameOrNil())
		}
		cols[i] = c
	}
	return cols, nil
}

func anyNull[T any](cols []*col[T], r *T) bool {
	for _, c := range cols {
		if c.isNull(r) {
			return true
		}
	}
	return false
}

func formatValues[T any](cols []*col[T], r *T) []string {
	vals := make([]string, len(cols))
	for i, c := range cols {
		vals[i] = c.format(r)
	}
	return vals
}

func derefAll[T any](recs []*T) []T {
	out := make([]T, len(recs))
	for i, r := range recs {
		out[i] = *r
	}
	return out
}

// duplicateGroups returns the groups of two or more records of s, among
// those include accepts, that share the values of cols: groups in the
// order of those values, records in primary key order.
func duplicateGroups[T any](s *tableVersion[T], cols []*col[T], include func(*T) bool) [][]*T {
	byKey := map[string][]*T{}
	s.trees[0].Scan(func(r *T) bool {
		if !include(r) {
			return true
		}
		var b []byte
		for _, c := range cols {
			k, err := c.extract(r)
			if err != nil {
				return true // NaN equals nothing, so it duplicates nothing
			}
			b = c.appendKey(b, k)
		}
		byKey[string(b)] = append(byKey[string(b)], r)
		return true
	})
	var keys []string
	for k, g := range byKey {
		if len(g) > 1 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	groups := make([][]*T, len(keys))
	for i, k := range keys {
		groups[i] = byKey[k]
	}
	return groups
}

// Dedupe removes, in one atomic step, all but one record of every group
// that Duplicates(fields...) would return, and returns the removed records.
// keep chooses the survivor of each group by its position in the group
// (records in primary key order); a nil keep keeps the first, the lowest
// primary key. keep runs in the caller's goroutine, again if a concurrent
// write changes the groups, and must not call back into the DB.
func (t *Table[T]) Dedupe(keep func(group []T) int, fields ...ColumnOf[T]) ([]T, error) {
	ops, err := t.access(true)
	if err != nil {
		return nil, err
	}
	cols, err := t.eng.schema().columns(fields)
	if err != nil {
		return nil, err
	}
	return ops.dedupe(cols, keep)
}

// notNull is the records that Duplicates groups: those with no null in
// cols.
func notNull[T any](cols []*col[T]) func(*T) bool {
	return func(r *T) bool { return !anyNull(cols, r) }
}

func (m *memTable[T]) duplicates(cols []*col[T]) ([][]*T, error) {
	return duplicateGroups(m.latest(), cols, notNull(cols)), nil
}

// dedupe runs in a transaction of its own: keep runs outside the
// committer, and the commit checks that the groups are still those keep
// saw.
func (m *memTable[T]) dedupe(cols []*col[T], keep func(group []T) int) ([]T, error) {
	return optimistic(context.Background(), m, func(t *txTable[T]) ([]T, error) { return t.dedupe(cols, keep) })
}

func (t *txTable[T]) duplicates(cols []*col[T]) ([][]*T, error) {
	groups := duplicateGroups(t.view(), cols, notNull(cols))
	t.observe(func(v *tableVersion[T]) bool {
		return slices.EqualFunc(duplicateGroups(v, cols, notNull(cols)), groups, slices.Equal)
	})
	return groups, nil
}

func (t *txTable[T]) dedupe(cols []*col[T], keep func(group []T) int) ([]T, error) {
	groups, _ := t.duplicates(cols)
	var losers []*T
	for _, g := range groups {
		k := 0
		if keep != nil {
			k = keep(derefAll(g))
			if k < 0 || k >= len(g) {
				return nil, &LookupError{Table: t.mt.name, Reason: fmt.Sprintf("Dedupe's keep chose %d of a group of %d", k, len(g))}
			}
		}
		losers = append(losers, slices.Delete(slices.Clone(g), k, k+1)...)
	}
	err := t.write(func(st *tableState[T]) error {
		for _, r := range losers {
			st.remove(r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return derefAll(losers), nil
}

// DuplicatesError reports that a unique index cannot be added because
// records already share its values. It matches ErrDuplicateValues with
// errors.Is.
type DuplicatesError struct {
	Table  string
	Index  string
	Fields []string
	// Groups are the first few groups, in the order of their values.
	Groups []DuplicateValues
	// Total is the number of groups.
	Total int
}

// DuplicateValues is one group of a DuplicatesError: shared values, how
// many records share them, and the primary keys of the first few.
type DuplicateValues struct {
	Values []string
	Count  int
	PKs    []string // at most maxReportedPKs, in primary key order
}

// maxReportedGroups is how many groups a DuplicatesError lists, and
// maxReportedPKs how many primary keys of each, so that its message stays
// short whatever the data.
const (
	maxReportedGroups = 5
	maxReportedPKs    = 5
)

// Error returns the message described on DuplicatesError.
func (e *DuplicatesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "recstore: cannot add unique index %q on %s: %d group(s) of records share (%s):",
		e.Index, e.Table, e.Total, strings.Join(e.Fields, ", "))
	for _, g := range e.Groups {
		fmt.Fprintf(&b, " (%s) held by %s", strings.Join(g.Values, ", "), strings.Join(g.PKs, ", "))
		if g.Count > len(g.PKs) {
			fmt.Fprintf(&b, " and %d more", g.Count-len(g.PKs))
		}
		b.WriteString(";")
	}
	if e.Total > len(e.Groups) {
		fmt.Fprintf(&b, " and %d more", e.Total-len(e.Groups))
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Unwrap returns ErrDuplicateValues.
func (e *DuplicatesError) Unwrap() error { return ErrDuplicateValues }

func duplicatesError[T any](sch *tableSchema[T], d *indexDef[T], groups [][]*T) error {
	e := &DuplicatesError{Table: sch.table, Index: d.name, Fields: d.fieldNames(), Total: len(groups)}
	for _, g := range groups[:min(len(groups), maxReportedGroups)] {
		pks := make([]string, min(len(g), maxReportedPKs))
		for i := range pks {
			pks[i] = sch.pk.cols[0].format(g[i])
		}
		e.Groups = append(e.Groups, DuplicateValues{Values: formatValues(d.cols, g[0]), Count: len(g), PKs: pks})
	}
	return e
}
