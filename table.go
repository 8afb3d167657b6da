package recstore

import (
	"errors"
)

// Table is a typed table of records of type T, declared with NewTable. A
// Table is safe for concurrent use by multiple goroutines.
//
// Records are values: every method that stores a record stores a copy, and
// every method that returns one returns a copy, so neither the caller nor
// the store can change the other's record. Reference fields (pointers,
// slices, maps) inside T are copied shallowly: treat what they point to as
// immutable once stored.
type Table[T any] struct {
	db  *DB
	eng tableEngine[T]
	// ops is eng as tableOps, converted once: a conversion between
	// interface types looks up a table at every call, a fifth of a hit's
	// cost.
	ops tableOps[T]
	tx  *Tx // non-nil for a handle bound to a transaction (see In)
}

// NewTable declares a table named name (the name messages use, e.g.
// "User") in db, with the primary key, indexes and fields that opts
// declare. Every schema mistake is reported at once as a *SchemaError.
func NewTable[T any](db *DB, name string, opts ...TableOption[T]) (*Table[T], error) {
	s := &schema[T]{table: name, codec: JSONCodec[T]{}}
	for _, o := range opts {
		if o == nil {
			s.errs = append(s.errs, "a table option is nil")
			continue
		}
		o.apply(s)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	db.namesMu.Lock()
	defer db.namesMu.Unlock()
	if db.names[name] {
		return nil, &SchemaError{Table: name, Reason: "the database already has a table of this name"}
	}
	eng, err := newEngineTable(db, newTableSchema(s))
	if err != nil {
		return nil, err
	}
	db.names[name] = true
	t := &Table[T]{db: db, eng: eng, ops: eng}
	db.decls = append(db.decls, t)
	return t, nil
}

// anyTable is a table of a DB, whatever its record type: what works on
// every table of a DB at once (Fork, Snapshot, Restore) reaches them
// through it. A *Table[T] outside transactions is one.
type anyTable interface {
	Name() string
	// on is Table.On.
	on(db *DB) (anyTable, error)
	// signature, dump and decode are Snapshot's and Restore's.
	signature() string
	dump(tx *Tx, w *snapWriter) error
	decode(r *snapReader, fresh bool) (load func(tx *Tx) error, err error)
}

func (t *Table[T]) on(db *DB) (anyTable, error) { return t.On(db) }

// newEngineTable asks db's engine for a table of sch.
func newEngineTable[T any](db *DB, sch *tableSchema[T]) (tableEngine[T], error) {
	switch e := db.eng.(type) {
	case *memEngine:
		return newMemTable(e, sch)
	}
	panic("recstore: a DB without an engine") // DB values come from New
}

// Name returns the table's name.
func (t *Table[T]) Name() string { return t.eng.schema().table }

// Len returns the number of records in the table (0 on a closed DB or an
// ended transaction).
func (t *Table[T]) Len() int {
	ops, err := t.access(false)
	if err != nil {
		return 0
	}
	n, _ := ops.count(t.Filter())
	return n
}

// Get returns the one record matching every condition in lookup. With no
// record it returns a *NotFoundError ("User matching query does not
// exist."), with several a *MultipleReturnedError ("get() returned more than
// one User -- it returned 2!"). A lookup fixing every field of a unique
// index reads one key; any other reads the best index (see Explain), or
// every record.
//
// The returned record is a copy: the caller owns it.
func (t *Table[T]) Get(lookup ...Cond[T]) (T, error) {
	var zero T
	ops, err := t.access(false)
	if err != nil {
		return zero, err
	}
	if len(lookup) == 1 {
		if r, ok := ops.peek(lookup[0]); ok {
			if r == nil {
				return zero, &NotFoundError{Table: t.Name()}
			}
			return *r, nil
		}
	}
	cond := condOf(lookup) // a copy: lookup itself stays on the caller's stack
	if err := cond.check(t.eng.schema()); err != nil {
		return zero, err
	}
	r, err := ops.get(cond)
	if err != nil {
		return zero, err
	}
	return *r, nil
}

func condOf[T any](lookup []Cond[T]) Cond[T] {
	if len(lookup) == 1 {
		return lookup[0]
	}
	return And(lookup...)
}

// Insert stores a copy of rec, which must not share a unique key with any
// stored record, and returns what was stored (with its primary key assigned,
// for an auto-assigned key left zero). A *UniqueViolationError names the
// constraint it would break; on any error nothing is stored.
func (t *Table[T]) Insert(rec T) (T, error) {
	var zero T
	ops, err := t.access(true)
	if err != nil {
		return zero, err
	}
	r, err := ops.insert(&rec) // rec is this call's own copy
	if err != nil {
		return zero, err
	}
	return *r, nil
}

// Update replaces the stored record that has rec's primary key with a copy
// of rec, moving its entries in every index whose fields changed. It
// returns a *NotFoundError if no record has that key and a
// *UniqueViolationError if rec would share a unique key with another
// record; on any error nothing changes.
func (t *Table[T]) Update(rec T) error {
	ops, err := t.access(true)
	if err != nil {
		return err
	}
	return ops.update(&rec)
}

// Upsert stores a copy of rec, replacing the record with its primary key if
// there is one, and returns what was stored and whether it was inserted
// (true) rather than replaced. Errors are those of Insert and Update.
func (t *Table[T]) Upsert(rec T) (T, bool, error) {
	var zero T
	ops, err := t.access(true)
	if err != nil {
		return zero, false, err
	}
	r, inserted, err := ops.upsert(&rec)
	if err != nil {
		return zero, false, err
	}
	return *r, inserted, nil
}

// Delete removes the one record matching every condition in lookup and
// returns it. It fails, removing nothing, as Get fails when no record or
// several match.
func (t *Table[T]) Delete(lookup ...Cond[T]) (T, error) {
	var zero T
	ops, err := t.access(true)
	if err != nil {
		return zero, err
	}
	cond := condOf(lookup)
	if err := cond.check(t.eng.schema()); err != nil {
		return zero, err
	}
	r, err := ops.delete(cond)
	if err != nil {
		return zero, err
	}
	return *r, nil
}

// mustKey unwraps the key of a stored record, which is always valid.
func mustKey(k key, err error) key {
	if err != nil {
		panic("recstore: stored record has an invalid key: " + err.Error())
	}
	return k
}

// The verbs of this file as state programs: what they do to a table's
// state, in the committer or in a transaction's overlay.

// updateIn replaces the record with e's primary key by e.
func updateIn[T any](st *tableState[T], e entry[T]) error {
	old, ok := st.byPK(e.rec)
	if !ok {
		return &NotFoundError{Table: st.sch.table}
	}
	return st.replace(old, e)
}

// upsertIn is updateIn, or an insert if no record has e's primary key.
func upsertIn[T any](st *tableState[T], e entry[T]) (inserted bool, err error) {
	old, ok := st.byPK(e.rec)
	if !ok {
		return true, st.insert(e)
	}
	return false, st.replace(old, e)
}

// deleteIn removes the one record of st matching cond.
func deleteIn[T any](st *tableState[T], cond *Cond[T]) (*T, error) {
	r, err := st.view().getOne(cond)
	if err != nil {
		return nil, err
	}
	st.remove(r)
	return r, nil
}

// The verbs outside transactions.

func (m *memTable[T]) get(c Cond[T]) (*T, error) { return m.latest().getOne(&c) }

func (m *memTable[T]) insert(rec *T) (*T, error) {
	e, err := m.schema().prepare(rec)
	if err != nil {
		return nil, err
	}
	if _, seq, err, ok := m.insertFast(e, -1); ok {
		if err != nil {
			return nil, err
		}
		m.e.afterInsert(seq)
		return e.rec, nil
	}
	if err := m.commitOp(func(c *commitTable[T], _ *working) error { return c.st.insert(e) }); err != nil {
		return nil, err
	}
	return e.rec, nil
}

func (m *memTable[T]) update(rec *T) error {
	e, err := m.schema().entryOf(rec)
	if err != nil {
		return err
	}
	return m.commitOp(func(c *commitTable[T], _ *working) error { return updateIn(c.st, e) })
}

func (m *memTable[T]) upsert(rec *T) (*T, bool, error) {
	e, err := m.schema().prepare(rec)
	if err != nil {
		return nil, false, err
	}
	inserted := false
	err = m.commitOp(func(c *commitTable[T], _ *working) (err error) {
		inserted, err = upsertIn(c.st, e)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return e.rec, inserted, nil
}

func (m *memTable[T]) delete(c Cond[T]) (*T, error) {
	var removed *T
	err := m.commitOp(func(ct *commitTable[T], _ *working) (err error) {
		removed, err = deleteIn(ct.st, &c)
		return err
	})
	return removed, err
}

// The verbs inside a transaction.

func (t *txTable[T]) peek(Cond[T]) (*T, bool) { return nil, false }

func (t *txTable[T]) get(c Cond[T]) (*T, error) {
	r, err := t.view().getOne(&c)
	t.observeGet(&c, r, err)
	return r, err
}

// observeGet records that getOne(c) returned r and err.
func (t *txTable[T]) observeGet(c *Cond[T], r *T, err error) {
	t.observe(func(v *tableVersion[T]) bool {
		r2, err2 := v.getOne(c)
		return r2 == r && sameGetError(err, err2)
	})
}

// sameGetError reports whether two results of getOne failed alike.
func sameGetError(a, b error) bool {
	var ma, mb *MultipleReturnedError
	switch {
	case a == nil || b == nil:
		return a == b
	case errors.As(a, &ma) && errors.As(b, &mb):
		return ma.Count == mb.Count
	}
	return errors.Is(a, ErrNotFound) && errors.Is(b, ErrNotFound)
}

func (t *txTable[T]) insert(rec *T) (*T, error) {
	e, err := t.mt.schema().prepare(rec)
	if err != nil {
		return nil, err
	}
	err = t.write(func(st *tableState[T]) error { return t.refusal(st, e.rec, st.insert(e)) })
	if err != nil {
		return nil, err
	}
	return e.rec, nil
}

func (t *txTable[T]) update(rec *T) error {
	e, err := t.mt.schema().entryOf(rec)
	if err != nil {
		return err
	}
	return t.write(func(st *tableState[T]) error { return t.refusal(st, e.rec, updateIn(st, e)) })
}

func (t *txTable[T]) upsert(rec *T) (*T, bool, error) {
	e, err := t.mt.schema().prepare(rec)
	if err != nil {
		return nil, false, err
	}
	inserted := false
	err = t.write(func(st *tableState[T]) (err error) {
		inserted, err = upsertIn(st, e)
		return t.refusal(st, e.rec, err)
	})
	if err != nil {
		return nil, false, err
	}
	return e.rec, inserted, nil
}

func (t *txTable[T]) delete(c Cond[T]) (*T, error) {
	r, err := t.get(c) // the lookup is a read of its own
	if err != nil {
		return nil, err
	}
	err = t.write(func(st *tableState[T]) error {
		st.remove(r)
		return nil
	})
	return r, err
}
