package recstore

import (
	"context"
	"errors"
)

// OnConflict says what InsertMany does with a record that would break a
// unique constraint (Django's bulk_create options). The zero value aborts:
// nothing of the batch is stored and the *UniqueViolationError is returned.
type OnConflict[T any] struct {
	// Ignore skips each colliding record and stores the rest
	// (ignore_conflicts).
	Ignore bool
	// Update, if set, resolves each collision by storing
	// Update(existing, proposed) in place of the record already holding
	// the key (update_conflicts). The result must keep existing's
	// primary key. Update runs in the caller's goroutine, may run more
	// than once if concurrent writers change the records it saw, and
	// must not call back into the DB.
	Update func(existing, proposed T) (T, error)
}

// BulkResult reports what InsertMany did, record by record, in input order.
type BulkResult[T any] struct {
	Inserted []T // the records stored, with their primary keys
	Updated  []T // the stored records that replaced colliding ones
	Skipped  []T // the input records skipped for colliding
}

// InsertMany stores copies of recs in one atomic step, resolving
// collisions with stored records, or with earlier records of recs, as
// onConflict says. On any error (an invalid record, a collision when
// aborting, a failed Update callback, a merged record that still collides)
// nothing is stored.
//
// Auto-assigned primary keys are given in input order, each past every key
// the table has held and every key chosen by a record before it in recs,
// as if the records were inserted one by one; like every key taken from
// the sequence, they are not given back if the batch fails.
func (t *Table[T]) InsertMany(recs []T, onConflict OnConflict[T]) (BulkResult[T], error) {
	ops, err := t.access(true)
	if err != nil {
		return BulkResult[T]{}, err
	}
	if onConflict.Ignore && onConflict.Update != nil {
		return BulkResult[T]{}, &LookupError{Table: t.Name(), Reason: "OnConflict sets both Ignore and Update"}
	}
	return ops.insertMany(recs, onConflict)
}

// prepareAll prepares copies of recs for storing, in input order: a
// primary key a record chooses moves the table's auto-assigned keys past
// it at once, so that a later record of the batch that asks for one never
// gets it (as if the records were inserted one by one).
func prepareAll[T any](sch *tableSchema[T], recs []T) ([]entry[T], error) {
	entries := make([]entry[T], len(recs))
	for i, r := range recs {
		e, err := sch.prepare(&r) // r is a copy of recs[i]
		if err != nil {
			return nil, err
		}
		sch.notePK(e.rec)
		entries[i] = e
	}
	return entries, nil
}

// insertAllIn inserts entries, the prepared recs, into st: InsertMany
// without Update. refused sees each refused insert (a skipped one
// included) and returns its error.
func insertAllIn[T any](st *tableState[T], recs []T, entries []entry[T], ignore bool, refused func(st *tableState[T], rec *T, err error) error) (BulkResult[T], error) {
	var res BulkResult[T]
	for i, e := range entries {
		if err := st.insert(e); err != nil {
			err = refused(st, e.rec, err)
			var dup *UniqueViolationError
			if !ignore || !errors.As(err, &dup) {
				return BulkResult[T]{}, err
			}
			res.Skipped = append(res.Skipped, recs[i])
			continue
		}
		res.Inserted = append(res.Inserted, *e.rec)
	}
	return res, nil
}

func (m *memTable[T]) insertMany(recs []T, oc OnConflict[T]) (BulkResult[T], error) {
	if oc.Update != nil {
		// Update runs outside the committer, in a transaction of its own.
		return optimistic(context.Background(), m, func(t *txTable[T]) (BulkResult[T], error) { return t.insertMany(recs, oc) })
	}
	entries, err := prepareAll(m.schema(), recs)
	if err != nil {
		return BulkResult[T]{}, err
	}
	var res BulkResult[T]
	err = m.commitOp(func(c *commitTable[T], _ *working) (err error) {
		res, err = insertAllIn(c.st, recs, entries, oc.Ignore, func(_ *tableState[T], _ *T, err error) error { return err })
		return err
	})
	return res, err
}

func (t *txTable[T]) insertMany(recs []T, oc OnConflict[T]) (BulkResult[T], error) {
	entries, err := prepareAll(t.mt.schema(), recs)
	if err != nil {
		return BulkResult[T]{}, err
	}
	var res BulkResult[T]
	err = t.write(func(st *tableState[T]) (err error) {
		if oc.Update == nil {
			res, err = insertAllIn(st, recs, entries, oc.Ignore, t.refusal)
		} else {
			res, err = t.mergeAllIn(st, entries, oc.Update)
		}
		return err
	})
	if err != nil {
		return BulkResult[T]{}, err
	}
	return res, nil
}

// mergeAllIn is InsertMany with Update: each entry is inserted or, if a
// record holds one of its unique keys, merged into that record. Its
// commit checks that every record merged into is still the one merge saw
// and that every key it inserted is still free.
func (t *txTable[T]) mergeAllIn(st *tableState[T], entries []entry[T], merge func(existing, proposed T) (T, error)) (BulkResult[T], error) {
	var res BulkResult[T]
	for _, e := range entries {
		e, err := st.fit(e)
		if err != nil {
			return res, err
		}
		d, holder := st.write(entry[T]{}, e, true)
		if d == nil {
			res.Inserted = append(res.Inserted, *e.rec)
			continue
		}
		proposed := *e.rec
		m, err := st.sch.updated(holder, func(existing T) (T, error) { return merge(existing, proposed) })
		if err != nil {
			return res, err
		}
		if err := st.replace(st.sch.stored(holder), m); err != nil {
			return res, t.refusal(st, m.rec, err)
		}
		res.Updated = append(res.Updated, *m.rec)
	}
	return res, nil
}
