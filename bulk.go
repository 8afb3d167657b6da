package recstore

import "errors"

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
func (t *Table[T]) InsertMany(recs []T, onConflict OnConflict[T]) (BulkResult[T], error) {
	if err := t.writable(); err != nil {
		return BulkResult[T]{}, err
	}
	if onConflict.Ignore && onConflict.Update != nil {
		return BulkResult[T]{}, &LookupError{Table: t.Name(), Reason: "OnConflict sets both Ignore and Update"}
	}
	if onConflict.Update != nil {
		return retrying(t, func(t *Table[T]) (BulkResult[T], error) { return t.insertManyMerging(recs, onConflict.Update) })
	}
	entries, err := t.prepareAll(recs)
	if err != nil {
		return BulkResult[T]{}, err
	}
	var res BulkResult[T]
	err = t.write(func(tw *tableWork[T]) error {
		res = BulkResult[T]{}
		for i, e := range entries {
			if err := tw.insert(e); err != nil {
				var dup *UniqueViolationError
				if !onConflict.Ignore || !errors.As(err, &dup) {
					return err
				}
				// Skipping read the record in the way: in a transaction,
				// it must still be there at commit.
				held := dup.Existing.(T)
				t.noteRead(&Cond[T]{h: &condHead[T]{op: opEq, col: tw.sch.pk.cols[0]}, k: mustKey(tw.sch.pk.keyOf(&held))})
				res.Skipped = append(res.Skipped, recs[i])
				continue
			}
			res.Inserted = append(res.Inserted, *e.rec)
		}
		return nil
	})
	if err != nil {
		return BulkResult[T]{}, err
	}
	return res, nil
}

func (t *Table[T]) prepareAll(recs []T) ([]entry[T], error) {
	entries := make([]entry[T], len(recs))
	for i, r := range recs {
		e, err := t.core.sch().prepare(&r) // r is a copy of recs[i]
		if err != nil {
			return nil, err
		}
		entries[i] = e
	}
	return entries, nil
}

// bulkStep is one planned change of a merging InsertMany: insert e, or
// replace the record old (as seen when planning) by e.
type bulkStep[T any] struct {
	old *T
	e   entry[T]
}

// insertManyMerging plans the batch on a private copy of the latest version,
// calling merge in this goroutine, then has the committer replay the plan,
// checking that every record it replaces is still the one merge saw.
func (t *Table[T]) insertManyMerging(recs []T, merge func(existing, proposed T) (T, error)) (BulkResult[T], error) {
	entries, err := t.prepareAll(recs)
	if err != nil {
		return BulkResult[T]{}, err
	}
	s, err := t.state()
	if err != nil {
		return BulkResult[T]{}, err
	}
	sim := s.private()
	steps := make([]bulkStep[T], 0, len(entries))
	for _, e := range entries {
		d, holder := sim.conflict(e, true)
		if d == nil {
			sim.change(entry[T]{}, e)
			sim.notePK(e)
			steps = append(steps, bulkStep[T]{e: e})
			continue
		}
		proposed := *e.rec
		m, err := t.core.sch().updated(holder, func(existing T) (T, error) { return merge(existing, proposed) })
		if err != nil {
			return BulkResult[T]{}, err
		}
		old := sim.entryOf(holder)
		if err := sim.replace(old, m); err != nil {
			return BulkResult[T]{}, err
		}
		steps = append(steps, bulkStep[T]{old: holder, e: m})
	}
	var res BulkResult[T]
	err = t.write(func(tw *tableWork[T]) error {
		res = BulkResult[T]{}
		for _, st := range steps {
			if st.old == nil {
				if tw.insert(st.e) != nil {
					return errStale
				}
				res.Inserted = append(res.Inserted, *st.e.rec)
				continue
			}
			cur, ok := tw.byPK(st.e.rec)
			if !ok || cur.rec != st.old || tw.replace(cur, st.e) != nil {
				return errStale
			}
			res.Updated = append(res.Updated, *st.e.rec)
		}
		return nil
	})
	if err != nil {
		return BulkResult[T]{}, err
	}
	return res, nil
}

// private returns a working state over copies of s's trees, for planning
// changes without touching the DB.
//
// A published tree must not be Copy()ed: Copy writes to its source, which
// readers share. Copying the tree header is enough instead: no node carries
// the isoid of a published tree (it was fresh when published, and nothing
// mutates a published tree), so the copy clones every node it writes to.
func (s *tableState[T]) private() *tableWork[T] {
	trees := make([]*tree[T], len(s.trees))
	for i, tr := range s.trees {
		trees[i] = tr.Fork()
	}
	return newTableWork(s.sch, trees, new([]int))
}
