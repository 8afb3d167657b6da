// Package recstore is an embedded, in-memory record store for Go programs:
// typed tables with a primary key, unique indexes that hold under any
// concurrency, plain indexes, Django-style Get and an atomic GetOrCreate.
//
// Declare fields once, then tables:
//
//	var (
//		ID    = recstore.Field("id", func(u *User) int64 { return u.ID })
//		Email = recstore.Field("email", func(u *User) string { return u.Email })
//	)
//	db := recstore.New()
//	users, err := recstore.NewTable(db, "User",
//		recstore.AutoPrimaryKey(ID, func(u *User, id int64) { u.ID = id }),
//		recstore.Unique("user_email", Email))
//
// # Guarantees
//
//   - Unique means unique. At no moment, seen from any goroutine, do two
//     records share a value of a unique index, the primary key included. A
//     write that would break one fails with a *UniqueViolationError naming
//     the constraint, its fields, the values and the record already there.
//   - GetOrCreate is linearizable: however many goroutines race on one
//     lookup, exactly one creates, all return that record, and created is
//     true for exactly one, even where no unique index covers the lookup.
//   - Reads never wait for writers and never see half a write: a record
//     visible through one index is visible, in the same state, through
//     every index of its table, and a View sees one version of every table.
//   - A failed call changes nothing, in no index. Bad input (unknown fields,
//     NaN keys, keys over MaxKeySize, zero primary keys, closed databases)
//     gets an error that says what is wrong; it never panics.
//
// # Concurrency
//
// DB, Table, Column and Cond are safe for concurrent use by multiple
// goroutines. A Tx must not be used from multiple goroutines at once.
//
// Every unique index, the primary key included, has a hash index of the
// committed state besides its B-tree (internal/btree). Writes take one of
// two paths:
//
//   - An insert (Insert, and the create of GetOrCreate and UpdateOrCreate
//     when a unique index covers the lookup) claims its unique keys in the
//     hash indexes, locking only the hash partition of each key, and
//     commits by appending itself to the DB's log of changes. Inserts of
//     different keys run in parallel and meet only where their keys do.
//   - Every other write (Update, Upsert, Delete, InsertMany, a transaction's
//     commit, a schema change, a GetOrCreate whose lookup no unique index
//     covers) joins a commit pipeline: one goroutine at a time (the
//     combiner) applies batches of them, alone (no insert runs meanwhile),
//     to the working B-trees, in place, checking every unique key against
//     the latest state. At the end of each batch its changes become
//     visible all at once.
//
// Reads see every committed change, whole:
//
//   - Point reads, Get and GetOrCreate with one equality on a field that a
//     unique index covers alone, probe the hash index. They take no lock;
//     if their probe overlaps the few instructions in which an insert or a
//     batch changes it, they probe again, so they see every write whole,
//     through every index.
//   - Every other read (Filter, Get with other lookups, Len, View, and
//     every read inside a transaction) reads an immutable version: a set
//     of copy-on-write B-trees. The B-trees follow the inserts in bulk:
//     once 256 inserts wait, the goroutine whose insert reaches that mark
//     applies them to the working trees (and past 4,096 waiting, inserts
//     wait for the trees). A version is published every 4,096 changes, at
//     a schema change, and after a write that followed a read that needed
//     one; between, a reader that finds commits newer than the last
//     version applies them itself to copies of its trees (at most a few
//     thousand changes) and shares the result with the readers after it.
//     No read waits for a writer.
//
// GetOrCreate and UpdateOrCreate also take one of a table's lock stripes,
// chosen by a hash of the lookup, so that creators of one lookup meet and
// creators of different lookups rarely do.
//
// Cost: a point read is one hash probe. An insert is one hash probe and
// insert per unique index and, later and in bulk, a few tree operations
// per index; another write is a few tree operations and hash updates per
// index, in place. The first write to a tree node after a version was
// published copies it. A version published but not yet superseded, and the
// changes pending since it, keep the records they hold alive: a deleted or
// replaced record is freed after at most a few thousand further changes.
//
// # Transactions
//
// DB.View reads one version of every table (taking it costs one or two
// atomic loads when no commit is pending, see Concurrency). DB.Update runs a function in a write transaction: its writes go to
// a private copy-on-write overlay, visible to its own reads through every
// index; at commit, every read it made through Get, Filter's verbs, Len,
// GetOrCreate and UpdateOrCreate must return the same record versions and
// every record it changed must be the version it changed, else the
// function runs again (up to 10 times, with a random doubling backoff,
// then ErrConflict). Write transactions are thus serializable with respect
// to those reads; they hold no lock while the function runs, and the
// function may run more than once, so keep it free of side effects. Each
// read inside a write transaction is evaluated twice more (against the
// snapshot, and at commit inside the commit pipeline), so keep big scans
// out of write transactions.
//
// UpdateOrCreate, Query.Update, Dedupe and InsertMany with
// OnConflict.Update are optimistic in the same way: they run their
// callbacks on a snapshot and commit only if what they read is unchanged,
// else they start again. After 8 such attempts one takes its table alone:
// until it returns, every other write to the table (outside transactions)
// waits, so that a stream of inserts cannot keep it from committing.
//
// # Ownership
//
// Records are values. Insert, Update, Upsert and the create callbacks hand
// recstore a record that it copies before storing; Get, GetOrCreate and
// every other read return a copy that the caller owns and may modify
// without affecting the store. The copy is shallow: what pointer, slice or
// map fields of a stored record refer to must not be modified while the
// record is stored. Field accessors must be pure functions of the record.
// Callbacks (create, update, OnConflict.Update) must not call back into the
// DB.
package recstore
