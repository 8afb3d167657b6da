package recstore

import (
	"errors"
	"math/rand/v2"
	"slices"
	"time"
)

// maxTxAttempts bounds how often Update runs its function when concurrent
// commits conflict with what it read or wrote.
const maxTxAttempts = 10

// Tx is a transaction: a consistent snapshot of every table of a DB, and,
// if writable, a private copy-on-write overlay of its changes. Read and
// write through it with table handles bound by Table.In. A Tx must not be
// used from multiple goroutines at once.
//
// Isolation: a read-only transaction sees one version of every table. A
// write transaction reads that version plus its own writes, and commits only
// if every record it read through Get, Filter's verbs, Len, GetOrCreate and
// UpdateOrCreate would read the same now, and every record it changed is
// still the version it changed: it is serializable with respect to those
// reads (reads made by the callbacks of writes, such as a Query.Update's
// filter, are validated through the records they changed). Unique
// constraints are checked at each write, against the snapshot and the
// transaction's own writes, and again at commit.
//
// Cost: beginning costs one or two atomic loads, whatever the size of the
// DB, unless commits are pending since the last published version (then
// the first reader applies them, see the package doc); the
// first write to a table copies nothing (its trees are copied node by node
// as they change); every read is evaluated a second time against the
// snapshot alone and once more at commit, inside the commit pipeline.
type Tx struct {
	db       *DB
	v        *version
	writable bool
	done     bool
	w        working                 // the private overlay: one tableWork per table written
	reads    []func(w *working) bool // commit-time validations of the reads
}

// View runs fn in a read-only transaction. Every read through tx sees the
// version of the DB that was latest when View began. Writes through tx
// return ErrReadOnly. View returns fn's error.
func (db *DB) View(fn func(tx *Tx) error) error {
	tx, err := db.Begin(false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// Update runs fn in a write transaction and commits it: all of fn's writes,
// in every table, become visible at once, or none do. If fn returns an
// error or panics, nothing is written (the panic is re-raised). If a
// concurrent commit conflicts with what fn read or wrote, Update runs fn
// again on a new snapshot, up to a few times, then returns ErrConflict: fn
// may run more than once, so keep it free of side effects outside tx.
// While fn runs, Update holds no lock: other writers go on.
func (db *DB) Update(fn func(tx *Tx) error) error {
	for attempt := range maxTxAttempts {
		err := db.attempt(fn)
		if !errors.Is(err, errTxConflict) {
			return err
		}
		// Back off for a random time that doubles with each conflict, so
		// that transactions colliding on one record spread out.
		time.Sleep(time.Duration(rand.Int64N(int64(time.Microsecond) << attempt)))
	}
	return ErrConflict
}

func (db *DB) attempt(fn func(tx *Tx) error) error {
	tx, err := db.Begin(true)
	if err != nil {
		return err
	}
	defer tx.Rollback() // on error or panic
	if err := fn(tx); err != nil {
		return err
	}
	return tx.commit()
}

// Begin starts a transaction for manual control; end it with Commit or
// Rollback (a deferred Rollback is always safe). Prefer View and Update,
// which end it for you and retry conflicts.
func (db *DB) Begin(writable bool) (*Tx, error) {
	v, err := db.snapshot()
	if err != nil {
		return nil, err
	}
	return &Tx{db: db, v: v, writable: writable}, nil
}

// Writable reports whether tx may write.
func (tx *Tx) Writable() bool { return tx.writable }

// Commit makes tx's writes visible at once. It returns ErrConflict, having
// written nothing, if a concurrent commit changed what tx read or wrote;
// ErrTxDone if tx has ended. Committing a read-only transaction just ends
// it.
func (tx *Tx) Commit() error {
	err := tx.commit()
	if errors.Is(err, errTxConflict) {
		return ErrConflict
	}
	return err
}

var errTxConflict = errors.New("recstore: transaction conflicts with a concurrent commit")

func (tx *Tx) commit() error {
	if tx.done {
		return ErrTxDone
	}
	tx.done = true
	if !tx.writable || len(tx.w.log) == 0 && len(tx.reads) == 0 {
		return nil
	}
	return tx.db.submit(&op{run: func(w *working) error {
		for _, valid := range tx.reads {
			if !valid(w) {
				return errTxConflict
			}
		}
		for _, t := range tx.w.tables {
			if t != nil {
				if err := t.replayInto(w); err != nil {
					return err
				}
			}
		}
		return nil
	}})
}

// Rollback ends tx, discarding its writes. After Commit or Rollback it
// returns ErrTxDone, which a deferred Rollback may ignore.
func (tx *Tx) Rollback() error {
	if tx.done {
		return ErrTxDone
	}
	tx.done = true
	tx.w = working{}
	return nil
}

// Savepoint runs fn inside tx as a nested transaction (Django's atomic
// inside atomic): if fn returns an error or panics, only fn's writes are
// undone and the error is returned (the panic re-raised); tx goes on.
func (tx *Tx) Savepoint(fn func(tx *Tx) error) (err error) {
	if err := tx.usable(true); err != nil {
		return err
	}
	sp := len(tx.w.log)
	defer func() {
		if r := recover(); r != nil {
			tx.w.rollbackTo(sp)
			panic(r)
		}
		if err != nil && !tx.done {
			tx.w.rollbackTo(sp)
		}
	}()
	return fn(tx)
}

func (tx *Tx) usable(write bool) error {
	switch {
	case tx.done:
		return ErrTxDone
	case write && !tx.writable:
		return ErrReadOnly
	}
	return nil
}

// In returns a handle on t that reads and writes through tx. The handle is
// valid while tx is; through a read-only tx, writes return ErrReadOnly.
func (t *Table[T]) In(tx *Tx) *Table[T] {
	return &Table[T]{core: t.core, tx: tx}
}

// txState returns what reads through tx see of the table: its private
// overlay if tx wrote to it, else the snapshot.
func txState[T any](tx *Tx, core *tableCore[T]) (*tableState[T], error) {
	if err := tx.usable(false); err != nil {
		return nil, err
	}
	if tx.db != core.db {
		return nil, &SchemaError{Table: core.name, Reason: "the transaction belongs to another database"}
	}
	if tw := txTable(tx, core, false); tw != nil {
		return tw.frozen(), nil
	}
	return snapshotState(tx, core), nil
}

// snapshotState is the table as of tx's snapshot.
func snapshotState[T any](tx *Tx, core *tableCore[T]) *tableState[T] {
	if core.id >= len(tx.v.tables) { // declared after the transaction began
		sch := core.sch()
		return &tableState[T]{sch: sch, trees: emptyTrees(sch, core.db.opts.Degree)}
	}
	return tx.v.tables[core.id].(*tableState[T])
}

// txTable returns tx's overlay of the table, making it if create.
func txTable[T any](tx *Tx, core *tableCore[T], create bool) *tableWork[T] {
	if core.id < len(tx.w.tables) && tx.w.tables[core.id] != nil {
		return tx.w.tables[core.id].(*tableWork[T])
	}
	if !create {
		return nil
	}
	tw := snapshotState(tx, core).private()
	tw.id, tw.log = core.id, &tx.w.log
	for len(tx.w.tables) <= core.id {
		tx.w.tables = append(tx.w.tables, nil)
	}
	tx.w.tables[core.id] = tw
	return tw
}

// txWrite applies fn to tx's overlay of the table; a failed fn leaves no
// trace in it.
func txWrite[T any](tx *Tx, core *tableCore[T], fn func(tw *tableWork[T]) error) (err error) {
	if err := tx.usable(true); err != nil {
		return err
	}
	tw := txTable(tx, core, true)
	sp := len(tx.w.log)
	defer func() {
		if r := recover(); r != nil {
			tx.w.rollbackTo(sp)
			panic(r)
		}
		if err != nil {
			tx.w.rollbackTo(sp)
		}
	}()
	return fn(tw)
}

// frozen returns the overlay's current state as an immutable version, so
// that a read may go on while the transaction writes (O(1): later writes
// copy the nodes they change).
func (t *tableWork[T]) frozen() *tableState[T] {
	trees := make([]*tree[T], len(t.trees))
	for i, tr := range t.trees {
		trees[i] = tr.Copy()
	}
	return &tableState[T]{sch: t.sch, trees: trees}
}

// noteRead records, for validation at commit, that tx read what q matches:
// the commit fails unless q matches the same record versions then as in
// tx's snapshot.
func noteRead[T any](tx *Tx, core *tableCore[T], q *Query[T]) {
	if !tx.writable || tx.done {
		return
	}
	want, err := q.collectOn(snapshotState(tx, core))
	if err != nil {
		return // an invalid read returned its error and nothing else
	}
	tx.reads = append(tx.reads, func(w *working) bool {
		got, err := q.collectOn(w.tables[core.id].(*tableWork[T]).view)
		return err == nil && slices.Equal(got, want)
	})
}

// replayInto applies the overlay's changes, in order, to the committer's
// working state, checking that each record it changed is still the version
// it changed and that no unique key was taken meanwhile.
func (t *tableWork[T]) replayInto(w *working) error {
	real := w.tables[t.id].(*tableWork[T])
	for _, u := range t.undo {
		e := u.new
		if e.rec == nil {
			e = u.old
		}
		if u.new.sch != nil && u.new.sch != real.sch {
			return errTxConflict // the schema changed: run again
		}
		cur, ok := real.byPK(e.rec)
		if ok != (u.old.rec != nil) || ok && cur.rec != u.old.rec {
			return errTxConflict
		}
		if u.new.rec != nil {
			if d, _ := real.conflict(u.new, !ok); d != nil {
				return errTxConflict
			}
			real.notePK(u.new)
		}
		real.change(cur, u.new)
	}
	return nil
}
