package recstore

import (
	"context"
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
	return t.AddIndexContext(context.Background(), spec)
}

// AddIndexContext is AddIndex waiting for another schema change of the
// table, and building, only until ctx ends: then it returns ctx's error,
// and the table is as it was, without the index.
func (t *Table[T]) AddIndexContext(ctx context.Context, spec *IndexSpec[T]) error {
	if err := t.schemaAccess("AddIndex"); err != nil {
		return err
	}
	if ctx == nil {
		return &NilCallbackError{Call: t.Name() + ".AddIndexContext", Callback: "ctx"}
	}
	return t.eng.addIndex(ctx, spec)
}

// DropIndex removes the index named name (not the primary key). Queries stop
// using it and writes stop checking it at once. An unknown name is an
// *IndexNotFoundError; dropping the primary key a *SchemaError.
func (t *Table[T]) DropIndex(name string) error {
	if err := t.schemaAccess("DropIndex"); err != nil {
		return err
	}
	return t.eng.dropIndex(name)
}

// schemaAccess returns why a schema change through t cannot run: a closed
// DB, or a transaction (schema changes commit on their own).
func (t *Table[T]) schemaAccess(verb string) error {
	if t.tx != nil {
		return &SchemaError{Table: t.Name(), Reason: verb + " inside a transaction"}
	}
	_, err := t.access(true)
	return err
}

func (m *memTable[T]) addIndex(ctx context.Context, spec *IndexSpec[T]) error {
	if err := lockContext(ctx, &m.ddl); err != nil { // one schema change at a time per table
		return err
	}
	defer m.ddl.Unlock()
	sch, d, err := m.schema().with(spec)
	if err != nil {
		return err
	}
	// Capture every record written from now on, every write going
	// through the committer, then build from a version published after
	// capture began. However the build ends (an error, a panicking
	// accessor), the capture ends and the fast path comes back.
	if err := m.commitOp(func(c *commitTable[T], _ *working) error {
		c.capture = []*T{}
		c.setFast(false)
		return nil
	}); err != nil {
		return err
	}
	var touched []*T
	ended := false
	endCapture := func(c *commitTable[T]) {
		touched, c.capture, ended = c.capture, nil, true
		c.setFast(true) // install replaces it if the build succeeds
	}
	defer func() {
		if !ended {
			_ = m.commitOp(func(c *commitTable[T], _ *working) error { // fails only on a closed DB
				endCapture(c)
				return nil
			})
		}
	}()
	tr, err := m.build(ctx, d, sch)
	err = m.e.submit(&op{alone: true, run: func(w *working) error {
		c := workTable[T](w, m.id)
		endCapture(c)
		if err != nil {
			return err
		}
		if err := c.catchUpIndex(d, tr, touched); err != nil {
			return err
		}
		c.install(sch, append(slices.Clip(c.st.trees), tr))
		return nil
	}})
	return err
}

func (m *memTable[T]) dropIndex(name string) error {
	m.ddl.Lock()
	defer m.ddl.Unlock()
	old := m.schema()
	i := slices.IndexFunc(old.indexes, func(d *indexDef[T]) bool { return d.name == name })
	switch {
	case i < 0:
		return &IndexNotFoundError{Table: m.name, Index: name}
	case i == 0:
		return &SchemaError{Table: m.name, Reason: "the primary key cannot be dropped"}
	}
	s := *old.schema
	s.indexes = slices.Delete(slices.Clone(s.indexes), i, i+1)
	sch := newTableSchema(&s)
	err := m.e.submit(&op{alone: true, run: func(w *working) error {
		c := workTable[T](w, m.id)
		c.install(sch, slices.Delete(slices.Clone(c.st.trees), i, i+1))
		return nil
	}})
	return err
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
// *DuplicatesError that stops a unique one, the *KeyError of a stored
// value that cannot be a key (NaN, over MaxKeySize), or ctx's error once
// ctx ends.
func (m *memTable[T]) build(ctx context.Context, d *indexDef[T], sch *tableSchema[T]) (*tree[T], error) {
	s := m.latest()
	if d.unique {
		if groups := duplicateGroups(s, d.cols, d.member); len(groups) > 0 {
			return nil, duplicatesError(sch, d, groups)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tr := newTree(d, sch.pk, m.e.opts.Degree)
	var hint btree.Hint
	var err error
	n := 0
	s.trees[0].Scan(func(r *T) bool {
		if n++; n%buildCheckEvery == 0 {
			if err = ctx.Err(); err != nil {
				return false
			}
		}
		if d.member(r) {
			if err = d.checkKey(r, sch.table); err == nil {
				tr.Set(r, &hint)
			}
		}
		return err == nil
	})
	return tr, err
}

// buildCheckEvery is how many records an index build reads between two
// looks at its context.
const buildCheckEvery = 1024

// catchUpIndex brings tr, built from an earlier version, up to the working
// state: every record written since capture began is removed from tr in
// whatever version tr holds and added back in its current one, checking
// uniqueness.
func (c *commitTable[T]) catchUpIndex(d *indexDef[T], tr *tree[T], touched []*T) error {
	t := c.st
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
			return duplicatesError(t.sch, d, duplicateGroups(t.view(), d.cols, d.member))
		}
		tr.Set(cur, nil)
	}
	return nil
}

// install switches the table's working state to a new schema and its
// trees, and its hash indexes to those of the new schema: the ones it
// keeps are shared, a new one is built from its tree. It is an op of its
// own (op.alone), so no change of the batch is staged for the old ones.
func (c *commitTable[T]) install(sch *tableSchema[T], trees []*tree[T]) {
	// Building a new hash index calls the field accessors, which may
	// panic: first, while nothing has changed.
	live := c.live.of(sch, trees).withFast(c.fastOff == 0)
	c.st.install(sch, trees)
	c.mt.sch.Store(sch) // with the batch: writers prepare records for it from now on
	c.sealed = 0        // the version published with the change holds what the log did
	c.installLive(live)
	c.reset = true
}
