package recstore

import (
	"slices"

	"github.com/recstore/recstore/internal/btree"
)

// AddIndex adds the index spec declares (Unique or Index, refined with Where
// or NullsNotDistinct) to the table while other goroutines read and write
// it. It builds the index from a snapshot without stopping writers,
// catches up with the writes made meanwhile, and publishes the index
// atomically: queries use it from then on, writes keep it.
//
// If records share the values of a new unique index, AddIndex returns a
// *DuplicatesError listing them (see Duplicates and Dedupe) and changes
// nothing. A write racing the build either fails with a
// *UniqueViolationError (if the index was published first) or makes the
// build fail: never both succeed. Schema mistakes return a *SchemaError.
func (t *Table[T]) AddIndex(spec *IndexSpec[T]) error {
	if t.tx != nil {
		return &SchemaError{Table: t.Name(), Reason: "AddIndex inside a transaction"}
	}
	t.core.ddl.Lock() // one schema change at a time per table
	defer t.core.ddl.Unlock()
	sch, d, err := t.core.sch().with(spec)
	if err != nil {
		return err
	}
	// Capture every record written from now on, every write going
	// through the committer, then build from a version published after
	// capture began.
	if err := t.write(func(tw *tableWork[T]) error {
		tw.capture = []*T{}
		tw.setFast(false)
		return nil
	}); err != nil {
		return err
	}
	tr, err := t.build(d, sch)
	err = t.write(func(tw *tableWork[T]) error {
		touched := tw.capture
		tw.capture = nil
		tw.setFast(true) // install replaces it if the build succeeds
		if err != nil {
			return err
		}
		if err := tw.catchUp(d, tr, touched); err != nil {
			return err
		}
		tw.install(sch, append(slices.Clip(tw.trees), tr))
		return nil
	})
	if err != nil {
		return err
	}
	t.core.schema.Store(sch)
	return nil
}

// DropIndex removes the index named name (not the primary key). Queries stop
// using it and writes stop checking it at once.
func (t *Table[T]) DropIndex(name string) error {
	if t.tx != nil {
		return &SchemaError{Table: t.Name(), Reason: "DropIndex inside a transaction"}
	}
	t.core.ddl.Lock()
	defer t.core.ddl.Unlock()
	old := t.core.sch()
	i := slices.IndexFunc(old.indexes, func(d *indexDef[T]) bool { return d.name == name })
	switch {
	case i < 0:
		return &SchemaError{Table: t.Name(), Reason: "no index named " + name}
	case i == 0:
		return &SchemaError{Table: t.Name(), Reason: "the primary key cannot be dropped"}
	}
	s := *old.schema
	s.indexes = slices.Delete(slices.Clone(s.indexes), i, i+1)
	sch := newTableSchema(&s)
	err := t.write(func(tw *tableWork[T]) error {
		tw.install(sch, slices.Delete(slices.Clone(tw.trees), i, i+1))
		return nil
	})
	if err != nil {
		return err
	}
	t.core.schema.Store(sch)
	return nil
}

// with returns the schema extended by spec, and spec's index.
func (sch *tableSchema[T]) with(spec *IndexSpec[T]) (*tableSchema[T], *indexDef[T], error) {
	s := *sch.schema
	s.indexes = slices.Clip(s.indexes)
	s.cols = slices.Clip(s.cols)
	s.errs = nil
	spec.apply(&s)
	if err := s.validate(); err != nil {
		return nil, nil, err
	}
	return newTableSchema(&s), s.indexes[len(s.indexes)-1], nil
}

// build makes index d's tree from the latest version, or returns the
// *DuplicatesError that stops a unique one, or the *KeyError of a stored
// value that cannot be a key (NaN, over MaxKeySize).
func (t *Table[T]) build(d *indexDef[T], sch *tableSchema[T]) (*tree[T], error) {
	s, err := t.state()
	if err != nil {
		return nil, err
	}
	if d.unique {
		if groups := duplicateGroups(s, d.cols, d.member); len(groups) > 0 {
			return nil, duplicatesError(sch, d, groups)
		}
	}
	tr := newTree(d, sch.pk, t.core.db.opts.Degree)
	var hint btree.Hint
	s.trees[0].Scan(func(r *T) bool {
		if d.member(r) {
			if err = d.checkKey(r, sch.table); err == nil {
				tr.Set(r, &hint)
			}
		}
		return err == nil
	})
	return tr, err
}

// catchUp brings tr, built from an earlier version, up to the working
// state: every record written since capture began is removed from tr in
// whatever version tr holds and added back in its current one, checking
// uniqueness.
func (t *tableWork[T]) catchUp(d *indexDef[T], tr *tree[T], touched []*T) error {
	pks := map[key]bool{}
	for _, r := range touched { // remove every version tr may hold
		pks[mustKey(t.sch.pk.keyOf(r))] = true
		if !d.member(r) || d.checkKey(r, t.sch.table) != nil {
			continue // never stored in tr
		}
		if held, ok := tr.Get(r); ok && held == r {
			tr.Delete(r, nil)
		}
	}
	for pk := range pks { // add the current version
		cur, ok := t.trees[0].Find(t.sch.pk.probe(pk))
		if !ok || !d.member(cur) {
			continue
		}
		if err := d.checkKey(cur, t.sch.table); err != nil {
			return err
		}
		if held, ok := tr.Get(cur); ok && held != cur && d.unique {
			return duplicatesError(t.sch, d, duplicateGroups(t.view, d.cols, d.member))
		}
		tr.Set(cur, nil)
	}
	return nil
}

// setFast stops inserts into the table from taking the fast path, or ends
// one such stop: they take it again once every stop has ended. It runs in
// the committer, beside which no such insert runs.
func (t *tableWork[T]) setFast(on bool) {
	if on {
		t.fastOff--
	} else {
		t.fastOff++
	}
	t.live = t.live.withFast(t.fastOff == 0)
	// After an install in this batch, t.live holds the batch's changes so
	// far: then applyLive publishes it, inside the liveSeq window, when
	// the batch commits.
	if !t.reset {
		t.liveOut.Store(t.live)
	}
}

// install switches the working state to a new schema and its trees.
func (t *tableWork[T]) install(sch *tableSchema[T], trees []*tree[T]) {
	t.sch, t.trees, t.dirty, t.reset = sch, trees, true, true
	t.view = &tableState[T]{sch: sch, trees: trees}
	t.hints = make([]btree.Hint, len(trees))
	t.undo, t.sealed = nil, 0 // entries of the old schema cannot be undone into the new
	// The live indexes are rebuilt from the trees, which hold the changes
	// of the batch so far; the undo log no longer does.
	t.live = newLiveIndexes(sch, trees[0], t.live.seed, t.live.parts).withFast(t.fastOff == 0)
}
