// Package recstore is an embedded, in-memory record store for Go programs:
// typed tables with a primary key, unique indexes that hold under any
// concurrency, plain indexes, Django-style Get and Filter, and an atomic
// GetOrCreate.
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
//     How long a read takes does not depend on the size of any write under
//     way, and a write to one table does not slow the readers of another.
//   - A failed call changes nothing, in no index and in no table. Bad input
//     (unknown fields, NaN keys, keys over MaxKeySize, zero primary keys,
//     nil callbacks, a closed DB, a transaction of another DB) gets an error
//     that says what is wrong; it never panics.
//   - Write transactions are serializable and all-or-nothing (see
//     Transactions).
//
// # Concurrency
//
// DB, Table, Query, Column and Cond are safe for concurrent use by multiple
// goroutines. A Tx must not be used from multiple goroutines at once.
//
// Point reads (Get and GetOrCreate with one equality on a field that a
// unique index or the primary key covers alone) take no lock and allocate
// nothing. Every other read (Filter's verbs, Get with other lookups, Len,
// View) reads one immutable version of its table and takes no lock either.
//
// Inserts of different unique keys, including the creates of GetOrCreate,
// run in parallel and meet only where their keys do. Every other write
// (Update, Upsert, Delete, InsertMany, Query.Update and Query.Delete,
// Dedupe, a transaction's commit, a schema change) commits in one serial
// step of its DB, checking every unique key against the latest state, so
// such writes run one at a time however many goroutines make them.
// GetOrCreate and UpdateOrCreate serialise the callers of one lookup on one
// table, and rarely those of different lookups.
//
// # Costs
//
// With n records in a table: a point read is O(1); a Get or Filter through
// an index is O(log n) plus the records it reads; one without a usable
// index reads every record (Explain says which). An OrderBy that an index
// holds (its fields, in either direction, after the fields equalities fix)
// streams from it: with a Limit of k it costs O(log n + k), plus the ties
// of its last record; any other order sorts the m records matched, O(m log
// m). Offset reads the records it skips. An insert or update costs
// O(log n) per index it changes, a delete O(log n) per index, whatever the
// number of tables in the DB. Beginning a View or a transaction is O(1)
// when no commit is pending, and at most a bounded amount of catching up
// otherwise. A write transaction reads each of its reads again when it
// commits, so keep big scans out of write transactions. AddIndex builds in
// O(n log n) without stopping readers or writers. Memory follows the
// records held: a table emptied by deletes gives its memory back.
//
// # Transactions
//
// DB.View reads one version of every table. DB.Update runs a function in a
// write transaction: its writes go to a private copy, visible to its own
// reads through every index, and commit all at once or not at all. It
// commits only if every read it made (see Tx) would read the same at the
// moment it commits, with its own earlier writes applied, and every record
// it changed is still the version it changed: write transactions are
// serializable. Otherwise the function runs again on a new snapshot (up to
// a few times, then ErrConflict), so keep it free of side effects. A
// transaction holds no lock while its function runs.
//
// Inside the function, write through handles bound to the transaction
// (Table.In). A write through a bare table handle there would commit on
// its own, and again on every retry, whatever became of the transaction:
// recstore refuses it, and a nested DB.Update, with ErrOutsideTx, on the
// goroutine running the function. While any such function runs, a write
// through a bare handle on any goroutine first reads its goroutine's stack
// to tell, a cost that grows with the stack's depth (BenchmarkDB_Update
// measures it); reads never do.
//
// UpdateOrCreate, Query.Update, Dedupe and InsertMany with OnConflict.Update
// are optimistic in the same way: their callbacks may run more than once.
// One that keeps losing to concurrent writers takes its table alone for a
// moment, so that it always finishes.
//
// # Contexts
//
// Every call that waits for other callers or retries after a conflict has
// a form that takes a context.Context first: DB.UpdateContext,
// DB.ViewContext, Table.GetOrCreateContext, Table.UpdateOrCreateContext,
// Query.GetOrCreateContext and Table.AddIndexContext. Once the context
// ends, the call stops waiting and retrying and returns the context's
// error, having written nothing; a commit already under way completes
// first. Through a handle bound to a transaction of UpdateContext or
// ViewContext, calls wait under the transaction's context, so every verb
// (Query.Update, Dedupe, InsertMany among them) can run under one. Reads
// never wait. A nil context is an error (ErrNilCallback), not a panic.
//
// # Change feed
//
// Every commit has a revision, one more than the commit before:
// DB.Revision is the newest, Tx.Revision the one a transaction reads.
// Table.Changes reads a table's changes after a revision (inserts, updates
// with the record before and after, deletes), oldest first, in commit
// order; the changes of one commit (a transaction, an InsertMany, a
// Query.Update) share its revision and always come together. Table.Follow
// goes on reading as commits come, until its context ends. Query.Wait
// returns once a commit changes a record the query's condition matches,
// before or after the change, and never for another commit.
//
// A DB keeps a feed if Options.FeedBuffer asks it to, of the latest
// FeedBuffer commits (without one, those calls return ErrNoFeed); the
// records those commits replaced or deleted stay in memory until as many
// commits more have come. A writer stores one pointer per commit and, if
// readers wait for a table it changed, wakes one of them, which wakes the
// others; it never waits for a reader. A reader further behind than the buffer gets a
// *FeedError (ErrFellBehind): it reads the table again, in a View, and
// follows from that View's revision. A fork's feed begins at the fork.
//
// # Forks
//
// DB.Fork returns a new DB holding every table of the original, with its
// records, indexes, schema and primary-key sequence, as of one moment that
// every write to the original either precedes entirely or follows. From
// then on the two are independent: a write, a schema change or Close on
// one is never seen by the other. Table.On reaches a table in the fork.
// Forking costs O(tables × indexes), whatever the number of records; the
// fork and the original share what neither has written, and each copies
// what it writes on its first write to it: a path of each tree it changes,
// and O(n / Options.Stripes) for each unique index's partition it first
// writes (with n records in the table).
//
// # Snapshots
//
// DB.Snapshot writes one version of every table (the state after some
// commit, whole) to an io.Writer while writers go on; DB.Restore loads it,
// in one atomic step, into a DB that declares the same tables, empty.
// Records are encoded by each table's Codec (encoding/json unless
// WithCodec says otherwise). A snapshot carries its format version and a
// checksum: Restore reads and checks all of it before writing anything,
// reports a truncated, corrupt or mismatched input as a *SnapshotError,
// and checks every constraint as InsertMany does. Both cost O(n) in the
// records held (Restore O(n log n) for the indexes) and Restore holds the
// decoded records in memory until it commits.
//
// DB.Load loads fixtures, several tables' records at once, in one atomic
// step, in the order the DB declared its tables: Records makes a fixture
// from Go values (through a table handle of the DB or of the DB it was
// forked from), SnapshotFixture from a snapshot of some of the tables,
// added to what they hold. Every constraint is checked as InsertMany does;
// a fixture that fails to read, or a record that breaks a constraint, loads
// nothing at all.
//
// # Ownership
//
// Records are values. Insert, Update, Upsert and the create callbacks hand
// recstore a record that it copies before storing; Get, GetOrCreate and
// every other read return a copy that the caller owns and may modify
// without affecting the store. The copy is shallow: what pointer, slice or
// map fields of a stored record refer to must not be modified while the
// record is stored.
//
// # User functions
//
// Field accessors and the predicates of partial indexes must be pure
// functions of the record: recstore calls them whenever it stores,
// compares, moves or checks a record, and relies on them answering the
// same each time. One that panics on a record does so when the record is
// first stored, which then fails. Callbacks (create, update, merge, keep,
// and the functions of DB.Update, DB.View and Tx.Savepoint) must not call
// back into the DB outside the transaction they are given. A panic in any
// of them leaves the DB exactly as healthy as before the call (every lock
// released, nothing written) and reaches the caller unchanged.
//
// # Errors
//
// Sentinel errors (ErrNotFound, ErrUniqueViolation, ErrClosed, …) match
// with errors.Is; typed errors (*NotFoundError, *UniqueViolationError,
// *AccessError, …) carry the context and match with errors.As. Messages
// stay short whatever the size of the data behind them.
package recstore
