package recstore

import "sync/atomic"

// Tx is a transaction: a consistent snapshot of every table of a DB. Read
// through it with a table handle bound by Table.In. A Tx must not be used
// from multiple goroutines at once, and not after the function given to
// View returns.
type Tx struct {
	db   *DB
	v    *version
	done atomic.Bool
}

// View runs fn in a read-only transaction. Every read through tx, in every
// table, sees the one version of the DB that was latest when View began,
// however many writes commit meanwhile; taking it costs one atomic load,
// whatever the size of the DB. View returns fn's error.
func (db *DB) View(fn func(tx *Tx) error) error {
	v, err := db.snapshot()
	if err != nil {
		return err
	}
	tx := &Tx{db: db, v: v}
	defer tx.done.Store(true)
	return fn(tx)
}

// In returns a handle on t that reads through tx. The handle is valid while
// tx is; writes through it return ErrReadOnly.
func (t *Table[T]) In(tx *Tx) *Table[T] {
	return &Table[T]{core: t.core, tx: tx}
}

func txState[T any](tx *Tx, core *tableCore[T]) (*tableState[T], error) {
	if tx.done.Load() {
		return nil, ErrTxDone
	}
	if tx.db != core.db {
		return nil, &SchemaError{Table: core.sch.table, Reason: "the transaction belongs to another database"}
	}
	if core.id >= len(tx.v.tables) { // declared after the transaction began
		return &tableState[T]{sch: core.sch, trees: emptyTrees(core)}, nil
	}
	return tx.v.tables[core.id].(*tableState[T]), nil
}

func emptyTrees[T any](core *tableCore[T]) []*tree[T] {
	trees := make([]*tree[T], len(core.sch.indexes))
	for i, d := range core.sch.indexes {
		trees[i] = newTree(d, core.sch.pk, core.db.opts.Degree)
	}
	return trees
}

func (tx *Tx) writeErr() error {
	if tx.done.Load() {
		return ErrTxDone
	}
	return ErrReadOnly
}
