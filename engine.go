package recstore

import (
	"context"
	"sync"
)

// The engine seam. The public API (DB, Table, Query, Tx, conditions and
// errors) holds no storage of its own: each call checks its arguments and
// its access (see access), then asks an engine, through the interfaces
// below. The in-memory engine (memory.go) is one implementation; another
// engine (a database server, say) implements the same interfaces, and user
// code does not change.
//
// Records cross the seam as *T: an engine returns records that nobody
// writes (the memory engine's stored records, or fresh ones), and the API
// copies them into the caller's values.

// engine is the storage under a DB.
type engine interface {
	// begin starts a transaction.
	begin(writable bool) (txEngine, error)
	// close makes every later write fail with ErrClosed (the API checks
	// DB.closed before it calls the engine).
	close()
	// fork returns an independent engine holding every table as of one
	// moment (see DB.Fork).
	fork() (engine, error)
	// table returns the engine's table (a tableEngine[T]) whose
	// declaration has origin, or nil.
	table(origin uint64) any
	// revision returns the revision of the newest commit (see feed.go).
	revision() uint64
}

// txEngine is one transaction of an engine.
type txEngine interface {
	// commit makes the transaction's writes visible at once, or returns
	// errStale, having written nothing, if a concurrent commit changed
	// what it read or wrote.
	commit() error
	// rollback discards the transaction's writes.
	rollback()
	// savepoint marks the transaction's writes so far; rollbackTo undoes
	// the writes after a mark.
	savepoint() int
	rollbackTo(sp int)
	// revision returns the revision of the version it reads.
	revision() uint64
}

// tableEngine is one table of an engine.
type tableEngine[T any] interface {
	// tableOps reads and writes the table outside transactions.
	tableOps[T]
	// in returns the table as a transaction of the same engine sees it.
	in(tx txEngine) tableOps[T]
	// schema returns the table's latest schema.
	schema() *tableSchema[T]
	addIndex(ctx context.Context, spec *IndexSpec[T]) error
	dropIndex(name string) error
	// origin identifies the table's declaration: a fork's tables keep
	// their originals'.
	origin() uint64
	// changes yields the table's changes after revision from, oldest
	// first, up to the newest commit, until yield returns false; it
	// returns the newest revision it read, or a *FeedError if it can no
	// longer read from from.
	changes(from uint64, yield func(rev uint64, old, new *T) bool) (uint64, error)
	// wait returns once a commit after revision after exists, woken by a
	// commit that changed the table, or ctx's error, or ErrClosed once
	// the engine closes.
	wait(ctx context.Context, after uint64) error
}

// tableOps is one table as one call sees it: outside transactions (every
// commit, and writes that commit on their own) or inside one. The API
// validates conditions and queries against the schema first (see
// Query.validate). Writes take a record the caller handed over (the API's
// own copy).
type tableOps[T any] interface {
	// peek answers a point read (one equality on a field that a unique
	// index covers alone) without a lock or an allocation, if it can:
	// ok false means ask get.
	peek(lookup Cond[T]) (rec *T, ok bool)
	get(lookup Cond[T]) (*T, error)
	count(q *Query[T]) (int, error)
	each(q *Query[T], fn func(*T) bool) error
	explain(q *Query[T]) (string, error)
	duplicates(cols []*col[T]) ([][]*T, error)

	insert(rec *T) (*T, error)
	update(rec *T) error
	upsert(rec *T) (*T, bool, error)
	delete(lookup Cond[T]) (*T, error)
	deleteWhere(q *Query[T]) (int, error)
	updateWhere(q *Query[T], fn func(T) (T, error)) (int, error)
	insertMany(recs []T, onConflict OnConflict[T]) (BulkResult[T], error)
	// claim, settle and abandon are GetOrCreate's steps (see getOrCreate):
	// claim searches for search (lookup, or lookup within a query's
	// scope) and, if nothing matches, takes the lock of lookup's creators
	// and searches again; settle stores rec, created from lookup, unless a
	// record matching search appeared meanwhile, and releases the claim;
	// abandon releases a claim whose create failed. The create callback
	// itself never crosses the seam (see getOrCreate). claim and
	// updateOrCreate wait for the lookup's other creators until ctx ends,
	// and updateOrCreate retries until then.
	claim(ctx context.Context, search, lookup Cond[T]) (found *T, n int, c claim, err error)
	settle(c claim, search, lookup Cond[T], rec *T) (*T, bool, error)
	abandon(c claim)
	updateOrCreate(ctx context.Context, lookup Cond[T], update func(T) (T, error), create func() (T, error)) (*T, bool, error)
	dedupe(cols []*col[T], keep func(group []T) int) ([]T, error)
}

// claim is a table's hold on the creators of one lookup, from
// tableOps.claim to settle or abandon: the lock they share, if any.
type claim struct{ mu sync.Locker }

// release lets the lookup's other creators go on.
func (c claim) release() {
	if c.mu != nil {
		c.mu.Unlock()
	}
}

// access is the one place that decides whether a call on t may run, and
// returns what it reads or writes through: the engine's table, or the
// table as t's transaction sees it. It checks, in this order: a closed DB,
// a write through a bare handle inside a transaction function (see
// Table.In), an ended transaction, a write in a read-only one, a
// transaction of another DB. Each misuse is an *AccessError; nothing is
// read or written. The common case, a handle outside transactions on an
// open DB while no transaction function runs, is small enough to inline
// into every call.
func (t *Table[T]) access(write bool) (tableOps[T], error) {
	if t.tx == nil && !t.db.closed.Load() && (!write || txFuncs.Load() == 0) {
		return t.ops, nil
	}
	return t.accessChecked(write)
}

func (t *Table[T]) accessChecked(write bool) (tableOps[T], error) {
	db := t.db
	switch {
	case db.closed.Load():
		return nil, t.misuse(ErrClosed)
	case t.tx == nil && write && inTxFunc():
		return nil, t.misuse(ErrOutsideTx)
	case t.tx == nil:
		return t.ops, nil
	case t.tx.done:
		return nil, t.misuse(ErrTxDone)
	case write && !t.tx.writable:
		return nil, t.misuse(ErrReadOnly)
	case t.tx.db != db:
		return nil, t.misuse(ErrOtherDB)
	}
	return t.eng.in(t.tx.eng), nil
}

func (t *Table[T]) misuse(err error) error { return &AccessError{Table: t.Name(), Err: err} }
