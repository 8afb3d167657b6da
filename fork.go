package recstore

import (
	"maps"
	"sync/atomic"
)

// Fork returns a new DB holding every table of db, with its records,
// indexes, schema and primary-key sequence, as of one moment: a state that
// every write to db either precedes entirely or follows. The two are
// independent from then on: a write to either is never visible in the
// other, and closing one leaves the other open. Reach a table in the fork
// with Table.On.
//
// Forking costs O(tables × indexes), whatever the number of records: the
// two DBs share their records and index structures, and each copies what
// it writes, the first time it writes it. A fork is the way to give every
// test its own copy of a store seeded once (see the example).
func (db *DB) Fork() (*DB, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	// Tables are declared under namesMu: the fork's names are its tables'.
	db.namesMu.Lock()
	defer db.namesMu.Unlock()
	e, err := db.eng.fork()
	if err != nil {
		return nil, err
	}
	f := &DB{eng: e, opts: db.opts, names: maps.Clone(db.names)}
	for _, t := range db.decls {
		ft, err := t.on(f)
		if err != nil {
			return nil, err // the engine forked every table: not reached
		}
		f.decls = append(f.decls, ft)
	}
	return f, nil
}

// On returns the handle of t's table in db, a fork of t's DB (or of one of
// its forks, or t's DB itself). If db holds no such table (it is not a
// fork, or the table was declared after the fork), On returns an
// *AccessError wrapping ErrOtherDB; if db is closed, one wrapping
// ErrClosed.
func (t *Table[T]) On(db *DB) (*Table[T], error) {
	if db.closed.Load() {
		return nil, t.misuse(ErrClosed)
	}
	te, ok := db.eng.table(t.eng.origin()).(tableEngine[T])
	if !ok {
		return nil, t.misuse(ErrOtherDB)
	}
	return &Table[T]{db: db, eng: te, ops: te}, nil
}

// origins numbers table declarations: a table and its forks share one.
var origins atomic.Uint64

func (m *memTable[T]) origin() uint64 { return m.orig }

// table is engine's.
func (e *memEngine) table(origin uint64) any {
	e.tablesMu.Lock()
	defer e.tablesMu.Unlock()
	for _, t := range e.tables {
		if t.origin() == origin {
			return t
		}
	}
	return nil
}

// fork is engine's: one op of the committer, alone, so that it sees every
// change committed before it (the working state caught up with the fast
// path, no insert of which runs meanwhile) and none after.
func (e *memEngine) fork() (engine, error) {
	f := newMemEngine(e.opts)
	err := e.submit(&op{alone: true, run: func(w *working) error {
		fw := &f.commit.work
		vs := make([]versioned, len(w.tables))
		fw.tables = make([]committed, len(w.tables))
		f.tables = make([]declared, len(w.tables))
		for id, c := range w.tables {
			fw.tables[id], vs[id], f.tables[id] = c.fork(f)
		}
		v := &version{tables: newTableList(vs), seq: w.seq}
		f.cur.Store(v)
		f.head.Store(&logRec{seq: w.seq})
		if f.feed != nil {
			f.feed.base = w.seq // its feed begins here
		}
		f.applied.Store(w.seq)
		fw.seq, fw.base = w.seq, v
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// fork is committed's: the table in f, a fork of its engine, as its
// working state, its published version, and its entry in f's tables.
// The working trees are frozen (both sides copy what they write from then
// on); the hash indexes are forked likewise. The fork has a schema of its
// own, so that its primary-key sequence goes on apart from the original's.
func (c *commitTable[T]) fork(f *memEngine) (committed, versioned, declared) {
	sch := c.st.sch.forked()
	v := c.st.freeze()
	v.sch = sch
	m := &memTable[T]{e: f, id: c.mt.id, name: c.mt.name, seed: c.mt.seed, orig: c.mt.orig}
	m.sch.Store(sch)
	fc := &commitTable[T]{mt: m, st: v.fork()}
	live := c.live.fork(sch)
	fc.installLive(live)
	fc.endBatch() // no batch is open: the trees alone take catch-ups
	m.live.Store(live)
	return fc, v, m
}

// forked returns a copy of sch for a fork of its table: the same fields
// and indexes, and a primary-key sequence of its own, where sch's is.
func (sch *tableSchema[T]) forked() *tableSchema[T] {
	s := *sch.schema
	if a := s.auto; a != nil {
		s.auto = &autoPK[T]{set: a.set, max: a.max}
		s.auto.last.Store(a.last.Load())
	}
	return newTableSchema(&s)
}
