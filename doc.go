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
// Writes are applied one after another in a commit pipeline: each write
// joins the open batch, and one goroutine at a time (the combiner) applies
// batches to the working B-trees (internal/btree), in place,
// checking every unique key against the latest state. At the end of each
// batch its changes become visible all at once, to two kinds of read:
//
//   - Point reads, Get and GetOrCreate with one equality on a field that a
//     unique index covers alone (the primary key included), search a hash
//     index of the committed state. They take no lock; if their probe
//     overlaps the few instructions in which a batch updates those hash
//     indexes they probe again, so they see every batch whole.
//   - Every other read (Filter, Get with other lookups, Len, View, and
//     every read inside a transaction) reads an immutable version: a set
//     of copy-on-write B-trees. The committer publishes one every 4,096
//     changes, at a schema change, and after a batch that followed a read
//     that needed one; between, a reader that finds commits newer than the
//     last version applies them itself to copies of its trees (at most
//     4,096 changes) and shares the result with the readers after it. No
//     read waits for the committer.
//
// GetOrCreate and UpdateOrCreate also take one of a table's lock stripes,
// chosen by a hash of the lookup, so that creators of one lookup meet and
// creators of different lookups rarely do.
//
// Cost: a point read is one hash probe. A write is a few tree operations
// per index, in place; the first write to a node after a version was
// published copies it. A version published but not yet superseded, and the
// changes pending since it, keep the records they hold alive: a deleted or
// replaced record is freed after at most 4,096 further changes.
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
