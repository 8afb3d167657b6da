package recstore

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
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
	core *tableCore[T]
	tx   *Tx // non-nil for a handle bound to a transaction (see In)
	// alone marks the handle of an optimistic write that holds the table
	// alone (see retrying): its writes do not wait for core.excl.
	alone bool
}

type tableCore[T any] struct {
	_       noCopy
	db      *DB
	id      int
	name    string
	schema  atomic.Pointer[tableSchema[T]] // the latest; AddIndex and DropIndex change it
	live    atomic.Pointer[liveIndexes[T]] // the committed state, for point reads (live.go)
	stripes []stripe
	seed    maphash.Seed
	ddl     sync.Mutex // serialises AddIndex and DropIndex
	// excl is held shared by every write to the table outside
	// transactions and the fast path, and alone by an optimistic write
	// that kept going stale (retrying).
	excl sync.RWMutex
}

// sch returns the table's latest schema. Records prepared with it may meet
// a newer one in the committer, which then recomputes their keys.
func (c *tableCore[T]) sch() *tableSchema[T] { return c.schema.Load() }

// stripe is one lock of a table's stripe set, padded to its own cache line
// so that neighbouring stripes do not slow each other down.
type stripe struct {
	sync.Mutex
	_ [56]byte
}

// NewTable declares a table named name (the name messages use, e.g.
// "User") in db, with the primary key, indexes and fields that opts
// declare. Every schema mistake is reported at once as a *SchemaError.
func NewTable[T any](db *DB, name string, opts ...TableOption[T]) (*Table[T], error) {
	s := &schema[T]{table: name}
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
	core := &tableCore[T]{db: db, name: name, stripes: make([]stripe, db.opts.Stripes), seed: maphash.MakeSeed()}
	core.schema.Store(newTableSchema(s))
	err := db.submit(&op{run: func(w *working) error {
		core.id = len(w.tables)
		tw := newTableWork(core.sch(), emptyTrees(core.sch(), db.opts.Degree), &w.log)
		tw.id, tw.dirty, tw.reset = core.id, true, true
		tw.live, tw.liveOut = newLiveIndexes(tw.sch, tw.trees[0], core.seed, db.opts.Stripes), &core.live
		core.live.Store(tw.live)
		w.tables = append(w.tables, tw)
		return nil
	}})
	if err != nil {
		return nil, err
	}
	db.names[name] = true
	return &Table[T]{core: core}, nil
}

// Name returns the table's name.
func (t *Table[T]) Name() string { return t.core.name }

// state returns the version of the table that reads see: the transaction's
// if t is bound to one, else the latest.
func (t *Table[T]) state() (*tableState[T], error) {
	if t.tx != nil {
		return txState(t.tx, t.core)
	}
	v, err := t.core.db.snapshot()
	if err != nil {
		return nil, err
	}
	return v.tables[t.core.id].(*tableState[T]), nil
}

// work returns the table's working state inside the committer.
func (t *Table[T]) work(w *working) *tableWork[T] {
	return w.tables[t.core.id].(*tableWork[T])
}

// write applies fn in the commit pipeline.
func (t *Table[T]) write(fn func(tw *tableWork[T]) error) error {
	if t.tx != nil {
		return txWrite(t.tx, t.core, fn)
	}
	if !t.alone {
		t.core.excl.RLock()
		defer t.core.excl.RUnlock()
	}
	return t.core.db.submit(&op{run: func(w *working) error { return fn(t.work(w)) }})
}

// writable returns why t cannot write now: a read-only or ended
// transaction. Writes that run callbacks check it before calling them.
func (t *Table[T]) writable() error {
	if t.tx == nil {
		return nil
	}
	return t.tx.usable(true)
}

// Len returns the number of records in the table (0 on a closed DB or an
// ended transaction).
func (t *Table[T]) Len() int {
	s, err := t.state()
	if err != nil {
		return 0
	}
	t.noteRead(nil)
	return s.len()
}

// noteRead records, inside a write transaction, that the caller read what
// cond matches (nil: every record), for validation at commit.
func (t *Table[T]) noteRead(cond *Cond[T]) {
	if t.tx == nil {
		return
	}
	q := t.Filter()
	if cond != nil {
		q.cond = *cond
	}
	noteRead(t.tx, t.core, q)
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
	if len(lookup) == 1 {
		if r, ok := t.pointHit(lookup[0]); ok {
			if r == nil {
				return zero, &NotFoundError{Table: t.Name()}
			}
			return *r, nil
		}
	}
	s, err := t.state()
	if err != nil {
		return zero, err
	}
	cond := condOf(lookup) // a copy: lookup itself stays on the caller's stack
	t.noteRead(&cond)
	r, err := s.getOne(&cond)
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
	e, err := t.core.sch().prepare(&rec) // rec is this call's own copy
	if err != nil {
		return zero, err
	}
	if t.tx == nil {
		if _, seq, err, ok := t.insertFast(e, -1); ok {
			if err != nil {
				return zero, err
			}
			t.core.db.afterInsert(seq)
			return *e.rec, nil
		}
	}
	if err := t.write(func(tw *tableWork[T]) error { return tw.insert(e) }); err != nil {
		return zero, err
	}
	return *e.rec, nil
}

// Update replaces the stored record that has rec's primary key with a copy
// of rec, moving its entries in every index whose fields changed. It
// returns a *NotFoundError if no record has that key and a
// *UniqueViolationError if rec would share a unique key with another
// record; on any error nothing changes.
func (t *Table[T]) Update(rec T) error {
	e, err := t.core.sch().entryOf(&rec)
	if err != nil {
		return err
	}
	e.rec = new(T)
	*e.rec = rec
	return t.write(func(tw *tableWork[T]) error {
		old, ok := tw.byPK(e.rec)
		if !ok {
			return &NotFoundError{Table: tw.sch.table}
		}
		return tw.replace(old, e)
	})
}

// Upsert stores a copy of rec, replacing the record with its primary key if
// there is one, and returns what was stored and whether it was inserted
// (true) rather than replaced. Errors are those of Insert and Update.
func (t *Table[T]) Upsert(rec T) (T, bool, error) {
	var zero T
	e, err := t.core.sch().prepare(&rec) // rec is this call's own copy
	if err != nil {
		return zero, false, err
	}
	inserted := false
	err = t.write(func(tw *tableWork[T]) error {
		old, ok := tw.byPK(e.rec)
		if !ok {
			inserted = true
			return tw.insert(e)
		}
		inserted = false
		return tw.replace(old, e)
	})
	if err != nil {
		return zero, false, err
	}
	return *e.rec, inserted, nil
}

// Delete removes the one record matching every condition in lookup and
// returns it. It fails, removing nothing, as Get fails when no record or
// several match.
func (t *Table[T]) Delete(lookup ...Cond[T]) (T, error) {
	var zero T
	cond := condOf(lookup)
	if _, err := t.core.sch().planFor(&cond); err != nil {
		return zero, err
	}
	var removed *T
	err := t.write(func(tw *tableWork[T]) error {
		r, err := tw.view.getOne(&cond)
		if err != nil {
			return err
		}
		old, _ := tw.byPK(r)
		tw.change(old, entry[T]{})
		removed = r
		return nil
	})
	if err != nil {
		return zero, err
	}
	return *removed, nil
}

// mustKey unwraps the key of a stored record, which is always valid.
func mustKey(k key, err error) key {
	if err != nil {
		panic("recstore: stored record has an invalid key: " + err.Error())
	}
	return k
}
