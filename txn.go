package recstore

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync/atomic"
)

// Tx is a transaction: a consistent snapshot of every table of a DB, and,
// if writable, a private copy-on-write overlay of its changes. Read and
// write through it with table handles bound by Table.In. A Tx must not be
// used from multiple goroutines at once.
//
// Isolation: a read-only transaction sees one version of every table. A
// write transaction reads that version plus its own writes, and commits
// only if every read it made, through any verb (Get, Filter's verbs, Len,
// Duplicates, the lookups of Delete, GetOrCreate and UpdateOrCreate, the
// records that Query.Update, Query.Delete and Dedupe changed, the keys that
// refused a write), would read the same at the moment it commits, with its
// own earlier writes applied, and every record it changed is still the
// version it changed: write transactions are serializable. Unique
// constraints are checked at each write, against the snapshot and the
// transaction's own writes, and again at commit.
//
// Cost: beginning costs one or two atomic loads, whatever the size of the
// DB, unless commits are pending since the last published version (then
// the first reader applies them, see the package doc); the first write to
// a table copies nothing (its trees are copied node by node as they
// change); each read is made once more at commit, inside the commit
// pipeline, so keep big scans out of write transactions.
type Tx struct {
	db       *DB
	eng      txEngine
	ctx      context.Context // UpdateContext's or ViewContext's, else nil
	writable bool
	done     bool
}

// View runs fn in a read-only transaction. Every read through tx sees the
// version of the DB that was latest when View began. Writes through tx
// return ErrReadOnly. View returns fn's error.
func (db *DB) View(fn func(tx *Tx) error) error {
	return db.ViewContext(context.Background(), fn)
}

// ViewContext is View under ctx: if ctx has ended it returns ctx's error
// without calling fn. Reads never wait, so ctx matters to fn alone, which
// may read it from its closure.
func (db *DB) ViewContext(ctx context.Context, fn func(tx *Tx) error) error {
	if ctx == nil {
		return &NilCallbackError{Call: "DB.ViewContext", Callback: "ctx"}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := db.Begin(false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if fn == nil {
		return &NilCallbackError{Call: "DB.View", Callback: "fn"}
	}
	tx.ctx = ctx
	return fn(tx)
}

// Update runs fn in a write transaction and commits it: all of fn's writes,
// in every table, become visible at once, or none do. If fn returns an
// error or panics, nothing is written (the panic is re-raised). If a
// concurrent commit conflicts with what fn read or wrote, Update runs fn
// again on a new snapshot, up to a few times, then returns ErrConflict: fn
// may run more than once, so keep it free of side effects outside tx.
// While fn runs, Update holds no lock: other writers go on.
//
// Inside fn, write through handles bound to tx (Table.In): a write through
// a bare table handle, or a DB.Update, made by fn's goroutine while fn
// runs would commit on its own whatever became of tx, and is refused with
// ErrOutsideTx (see Table.In).
func (db *DB) Update(fn func(tx *Tx) error) error {
	return db.UpdateContext(context.Background(), fn)
}

// UpdateContext is Update under ctx. Once ctx ends, it stops: it makes no
// further attempt, stops waiting between attempts, and does not commit an
// attempt whose fn returned after ctx ended; it returns ctx's error,
// having written nothing. A commit already under way completes. Calls
// through handles bound to tx that wait for other callers (GetOrCreate and
// UpdateOrCreate on a lookup that another caller is creating) wait only
// until ctx ends; fn may read ctx from its closure.
func (db *DB) UpdateContext(ctx context.Context, fn func(tx *Tx) error) error {
	switch {
	case db.closed.Load():
		return ErrClosed
	case ctx == nil:
		return &NilCallbackError{Call: "DB.UpdateContext", Callback: "ctx"}
	case fn == nil:
		return &NilCallbackError{Call: "DB.Update", Callback: "fn"}
	case inTxFunc():
		return ErrOutsideTx
	}
	_, err := retry(ctx, func() (struct{}, error) { return struct{}{}, db.attempt(ctx, fn) }, nil)
	return err
}

func (db *DB) attempt(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := db.Begin(true)
	if err != nil {
		return err
	}
	defer tx.Rollback() // on error or panic
	tx.ctx = ctx
	if err := runTxFunc(tx, fn); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return tx.commit()
}

// Transaction functions. A write made inside DB.Update's function through
// a bare table handle would commit on its own, and again on every retry,
// whatever became of the transaction. Go has no goroutine identity to tell
// such a write by, but the goroutine's stack does: every transaction
// function runs from runTxFunc, so a stack holding a return address inside
// runTxFunc is inside one. (Any address inside it, not only that of its
// call of fn: a build with profile-guided optimisation may call a hot fn
// from a second place, or inline it.) Reading the stack costs time that
// grows with its depth, so a write looks only while some transaction
// function runs (txFuncs), and reads never look.

// txFuncs counts the transaction functions (DB.Update's) running, in
// every DB.
var txFuncs atomic.Int64

// runTxFunc runs fn, a transaction function, on tx.
//
//go:noinline
func runTxFunc(tx *Tx, fn func(*Tx) error) error {
	txFuncs.Add(1)
	defer txFuncs.Add(-1)
	return fn(tx)
}

// txFuncEntry is runTxFunc's entry address.
var txFuncEntry = func() uintptr {
	var pc [1]uintptr
	_ = runTxFunc(nil, func(*Tx) error {
		runtime.Callers(2, pc[:]) // 0 is Callers, 1 this function, 2 runTxFunc
		return nil
	})
	return runtime.FuncForPC(pc[0] - 1).Entry()
}()

// inTxFunc reports whether the calling goroutine is running a transaction
// function.
func inTxFunc() bool {
	if txFuncs.Load() == 0 || faultOn(faultBareWritesCommit) {
		return false
	}
	var pcs [64]uintptr
	for skip := 2; ; skip += len(pcs) {
		n := runtime.Callers(skip, pcs[:])
		for _, pc := range pcs[:n] {
			// Only an address just past the entry can be runTxFunc's: ask
			// the symbol table about those alone.
			if pc > txFuncEntry && pc-txFuncEntry < 1<<12 && runtime.FuncForPC(pc-1).Entry() == txFuncEntry {
				return true
			}
		}
		if n < len(pcs) {
			return false
		}
	}
}

// Begin starts a transaction for manual control; end it with Commit or
// Rollback (a deferred Rollback is always safe). Prefer View and Update,
// which end it for you and retry conflicts.
func (db *DB) Begin(writable bool) (*Tx, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	etx, err := db.eng.begin(writable)
	if err != nil {
		return nil, err
	}
	return &Tx{db: db, eng: etx, writable: writable}, nil
}

// Writable reports whether tx may write.
func (tx *Tx) Writable() bool { return tx.writable }

// Commit makes tx's writes visible at once. It returns ErrConflict, having
// written nothing, if a concurrent commit changed what tx read or wrote;
// ErrTxDone if tx has ended. Committing a read-only transaction just ends
// it.
func (tx *Tx) Commit() error {
	err := tx.commit()
	if err == errStale {
		return ErrConflict
	}
	return err
}

func (tx *Tx) commit() error {
	if tx.done {
		return ErrTxDone
	}
	tx.done = true
	return tx.eng.commit()
}

// Rollback ends tx, discarding its writes. After Commit or Rollback it
// returns ErrTxDone, which a deferred Rollback may ignore.
func (tx *Tx) Rollback() error {
	if tx.done {
		return ErrTxDone
	}
	tx.done = true
	tx.eng.rollback()
	return nil
}

// Savepoint runs fn inside tx as a nested transaction (Django's atomic
// inside atomic): if fn returns an error or panics, only fn's writes are
// undone and the error is returned (the panic re-raised); tx goes on.
func (tx *Tx) Savepoint(fn func(tx *Tx) error) (err error) {
	switch {
	case tx.db.closed.Load():
		return ErrClosed
	case tx.done:
		return ErrTxDone
	case !tx.writable:
		return ErrReadOnly
	case fn == nil:
		return &NilCallbackError{Call: "Tx.Savepoint", Callback: "fn"}
	}
	sp := tx.eng.savepoint()
	ok := false
	defer func() {
		if !ok && !tx.done {
			tx.eng.rollbackTo(sp)
		}
	}()
	err = fn(tx)
	ok = err == nil
	return err
}

// In returns a handle on t that reads and writes through tx. The handle is
// valid while tx is; through a read-only tx, writes return ErrReadOnly.
//
// Inside a transaction function (DB.Update's fn, and the functions of
// Tx.Savepoint inside it), every write must go through such a handle: a
// write through the bare t, on the goroutine running the function, is
// refused with an *AccessError wrapping ErrOutsideTx and writes nothing,
// whichever DB t belongs to. (A goroutine that the function starts is not
// told apart, and neither is a transaction begun with DB.Begin.) Reads
// through the bare t are allowed: they read the latest commit, outside the
// transaction's snapshot, and its commit does not check them.
func (t *Table[T]) In(tx *Tx) *Table[T] {
	return &Table[T]{db: t.db, eng: t.eng, ops: t.ops, tx: tx}
}

// The memory engine's transactions.

// memTx is a transaction of the memory engine: the version it began on,
// its tables' overlays, and the history of what it did, which its commit
// replays in the commit pipeline.
type memTx struct {
	e        *memEngine
	v        *version
	writable bool
	tables   []txTabler // by table id; nil until used
	// log is every change the transaction made, in order, undone ones and
	// their undoing included: a read made inside a savepoint that rolled
	// back saw the changes it undid.
	log []txChange
	// reads are what it read, each to be read again at commit.
	reads []txRead
}

// txChange is change n of a table's overlay log.
type txChange struct{ table, n int }

// txRead is a read a transaction made after its first at changes. again
// reads it again on the working state, as the commit has brought it to
// (the latest commit with the transaction's first at changes applied),
// and reports whether it read the same.
type txRead struct {
	at    int
	again func(w *working) bool
}

// txTabler is a transaction's overlay of one table, whatever T: a
// *txTable[T].
type txTabler interface {
	// replay applies change n of the overlay to the working state,
	// checking that every record it changed is still the version it
	// changed and that no unique key it took was taken meanwhile.
	replay(w *working, n int) error
	// undo writes the inverse of change n.
	undo(n int)
}

func (e *memEngine) begin(writable bool) (txEngine, error) {
	return &memTx{e: e, v: e.latest(), writable: writable}, nil
}

func (tx *memTx) rollback() { tx.tables, tx.log, tx.reads = nil, nil, nil }

func (tx *memTx) revision() uint64 { return tx.v.seq }

func (tx *memTx) savepoint() int { return len(tx.log) }

// rollbackTo undoes the changes after sp by writing their inverses, newest
// first, so that the history keeps what the reads in between saw.
func (tx *memTx) rollbackTo(sp int) {
	for i := len(tx.log) - 1; i >= sp; i-- {
		c := tx.log[i]
		tx.tables[c.table].undo(c.n)
	}
}

func (tx *memTx) commit() error {
	if !tx.writable || len(tx.log) == 0 && len(tx.reads) == 0 {
		return nil // it read nothing it promised to check
	}
	// A read that wrote while it read (All's loop body) is noted after the
	// reads inside it, with an earlier place.
	slices.SortStableFunc(tx.reads, func(a, b txRead) int { return a.at - b.at })
	return tx.e.submit(&op{run: func(w *working) error {
		r := 0
		for k, c := range tx.log {
			for ; r < len(tx.reads) && tx.reads[r].at <= k; r++ {
				if !tx.reads[r].again(w) {
					return errStale
				}
			}
			if err := tx.tables[c.table].replay(w, c.n); err != nil {
				return err
			}
		}
		for ; r < len(tx.reads); r++ {
			if !tx.reads[r].again(w) {
				return errStale
			}
		}
		return nil
	}})
}

// txTable is a transaction's view of one table: the version it began on
// and, once it writes, a fork of it holding its writes. Its methods are
// tableOps inside the transaction.
type txTable[T any] struct {
	tx    *memTx
	mt    *memTable[T]
	base  *tableVersion[T]
	st    *tableState[T] // nil until the first write
	noted int            // the entries of st.log in tx.log
}

// in is tableEngine's: the table as tx sees it.
func (m *memTable[T]) in(tx txEngine) tableOps[T] {
	return m.txTable(tx.(*memTx))
}

func (m *memTable[T]) txTable(tx *memTx) *txTable[T] {
	for len(tx.tables) <= m.id {
		tx.tables = append(tx.tables, nil)
	}
	if t := tx.tables[m.id]; t != nil {
		return t.(*txTable[T])
	}
	t := &txTable[T]{tx: tx, mt: m, base: m.version(tx.v)}
	tx.tables[m.id] = t
	return t
}

// view is what reads through the transaction see: an immutable version,
// so that a read may go on while the transaction writes (O(1): later
// writes copy the nodes they change).
func (t *txTable[T]) view() *tableVersion[T] {
	if t.st == nil {
		return t.base
	}
	return t.st.freeze()
}

// write applies fn to the overlay and notes in the transaction's history
// every change it made. If fn fails or panics, its changes are undone
// (by inverse changes, also noted).
func (t *txTable[T]) write(fn func(st *tableState[T]) error) (err error) {
	if t.st == nil {
		t.st = t.base.fork()
	}
	from := len(t.st.log)
	ok := false
	defer func() {
		t.note()
		if !ok {
			for n := len(t.st.log) - 1; n >= from; n-- {
				t.undo(n) // appends the inverse, past n
			}
		}
	}()
	err = fn(t.st)
	ok = err == nil
	return err
}

// note notes the overlay's changes not noted yet in the history.
func (t *txTable[T]) note() {
	for ; t.noted < len(t.st.log); t.noted++ {
		t.tx.log = append(t.tx.log, txChange{t.mt.id, t.noted})
	}
}

func (t *txTable[T]) undo(n int) {
	c := t.st.log[n]
	t.st.write(c.new, c.old, false)
	t.note()
}

// observe records a read made just now for the commit to make again:
// again reads it on a version and reports whether it read the same. A
// read-only transaction records nothing.
func (t *txTable[T]) observe(again func(v *tableVersion[T]) bool) { t.observeAt(t.pos(), again) }

// pos is the place of a read made now in the transaction's history: after
// every change made so far, a write of this table under way included.
func (t *txTable[T]) pos() int {
	at := len(t.tx.log)
	if t.st != nil {
		at += len(t.st.log) - t.noted
	}
	return at
}

// observeAt is observe for a read made at pos at: one that may have
// written while it read (All's loop body) is checked as it began.
func (t *txTable[T]) observeAt(at int, again func(v *tableVersion[T]) bool) {
	if !t.tx.writable {
		return
	}
	id := t.mt.id
	t.tx.reads = append(t.tx.reads, txRead{at: at, again: func(w *working) bool {
		return again(workTable[T](w, id).st.view())
	}})
}

// observeHeld records that unique index d held rec's key, for holder (nil:
// free).
func (t *txTable[T]) observeHeld(d *indexDef[T], rec, holder *T) {
	t.observe(func(v *tableVersion[T]) bool {
		i := slices.Index(v.sch.indexes, d)
		if i < 0 {
			return false
		}
		held, _ := v.trees[i].Get(rec)
		return held == holder
	})
}

// refusal records what a refused write read, and returns err: the holder
// of the key that a *UniqueViolationError names and the record that held
// rec's primary key (an update that collided found its record; an insert
// found none), or the absence of rec's primary key that a *NotFoundError
// reports. A write's function calls it on its state st, before the write
// is undone.
func (t *txTable[T]) refusal(st *tableState[T], rec *T, err error) error {
	var uv *UniqueViolationError
	var nf *NotFoundError
	switch {
	case err == nil:
	case errors.As(err, &uv):
		for i, d := range st.sch.indexes {
			if d.name == uv.Constraint {
				held, _ := st.trees[i].Get(rec)
				t.observeHeld(d, rec, held)
			}
		}
		byPK, _ := st.trees[0].Get(rec)
		t.observeHeld(st.sch.pk, rec, byPK)
	case errors.As(err, &nf):
		t.observeHeld(st.sch.pk, rec, nil)
	}
	return err
}

func (t *txTable[T]) replay(w *working, n int) error {
	c := t.st.log[n]
	real := workTable[T](w, t.mt.id)
	e := c.new
	if e.rec == nil {
		e = c.old
	}
	if c.new.sch != nil && c.new.sch != real.st.sch {
		return errStale // the schema changed: run again
	}
	cur, ok := real.st.byPK(e.rec)
	if ok != (c.old.rec != nil) || ok && cur.rec != c.old.rec {
		return errStale
	}
	if d, _ := real.st.write(cur, c.new, true); d != nil {
		return errStale
	}
	return nil
}
