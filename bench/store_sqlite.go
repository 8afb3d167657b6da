package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"modernc.org/sqlite"
)

// sqliteStore: modernc.org/sqlite (SQLite transpiled to Go), one named
// in-memory database per store shared by a pool of runtime.NumCPU()
// connections (shared cache: table-level locks, one writer at a time). A
// call reads first, as the other stores do; on a miss it runs
//
//	INSERT … ON CONFLICT(email) DO NOTHING RETURNING …
//
// and reads again if that returned nothing (another connection won). The
// table holds (org, name) unique too, as recstore's does.
type sqliteStore struct {
	db     *sql.DB
	keep   *sql.Conn // keeps the in-memory database alive between calls
	sel    *sql.Stmt
	ins    *sql.Stmt
	snapQ  *sql.Stmt
	rangeQ *sql.Stmt
	closed atomic.Bool
}

var sqliteSeq atomic.Int64

const sqliteSchema = `CREATE TABLE users (
	id    INTEGER PRIMARY KEY,
	email TEXT NOT NULL UNIQUE,
	name  TEXT NOT NULL,
	org   TEXT NOT NULL,
	age   INTEGER NOT NULL,
	UNIQUE (org, name))`

func init() {
	register("sqlite", newSQLiteStore)
	_ = sqlite.Driver{} // the driver registers itself as "sqlite"
}

func newSQLiteStore() (Store, error) {
	dsn := fmt.Sprintf("file:bench%d?mode=memory&cache=shared&_pragma=busy_timeout(10000)", sqliteSeq.Add(1))
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	n := runtime.NumCPU()
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	s := &sqliteStore{db: db}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bench: sqlite: %w", err)
	}
	return s, nil
}

func (s *sqliteStore) init() (err error) {
	ctx := context.Background()
	if s.keep, err = s.db.Conn(ctx); err != nil {
		return err
	}
	if _, err = s.keep.ExecContext(ctx, sqliteSchema); err != nil {
		return err
	}
	if s.sel, err = s.db.Prepare(`SELECT id, name, org, age FROM users WHERE email = ?`); err != nil {
		return err
	}
	if s.ins, err = s.db.Prepare(`INSERT INTO users (email, name, org, age) VALUES (?, ?, ?, ?)
		ON CONFLICT (email) DO NOTHING RETURNING id`); err != nil {
		return err
	}
	if s.snapQ, err = s.db.Prepare(`SELECT id FROM users WHERE id = 1`); err != nil {
		return err
	}
	s.rangeQ, err = s.db.Prepare(`SELECT id, email, name, org, age FROM users WHERE email >= ? AND email < ?`)
	return err
}

func (s *sqliteStore) GetOrCreate(email string, mk func(string) User) (User, bool, error) {
	if u, ok, err := s.Get(email); ok || err != nil {
		return u, false, err
	}
	u := mk(email)
	err := s.ins.QueryRow(u.Email, u.Name, u.Org, u.Age).Scan(&u.ID)
	if errors.Is(err, sql.ErrNoRows) { // another connection created it first
		u, ok, err := s.Get(email)
		if err == nil && !ok {
			err = errors.New("bench: sqlite: the conflicting row of " + email + " is gone")
		}
		return u, false, err
	}
	if err != nil {
		return User{}, false, err
	}
	return u, true, nil
}

func (s *sqliteStore) Get(email string) (User, bool, error) {
	u := User{Email: email}
	err := s.sel.QueryRow(email).Scan(&u.ID, &u.Name, &u.Org, &u.Age)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, false, nil
	}
	return u, err == nil, err
}

// Range reads an email range through the email column's unique index,
// scanning every row.
func (s *sqliteStore) Range(lo, hi string) (int, error) {
	rows, err := s.rangeQ.Query(lo, hi)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &u.Org, &u.Age); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func (s *sqliteStore) Len() int {
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
		return -1
	}
	return n
}

func (s *sqliteStore) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return errors.Join(s.sel.Close(), s.ins.Close(), s.snapQ.Close(), s.rangeQ.Close(), s.keep.Close(), s.db.Close())
}

// Load inserts the records in transactions of 10,000.
func (s *sqliteStore) Load(emails []string, mk func(string) User) error {
	for len(emails) > 0 {
		chunk := emails[:min(len(emails), 10_000)]
		emails = emails[len(chunk):]
		tx, err := s.db.Begin()
		if err != nil {
			return err
		}
		st, err := tx.Prepare(`INSERT INTO users (email, name, org, age) VALUES (?, ?, ?, ?)`)
		if err != nil {
			_ = tx.Rollback()
			return err
		}
		for _, e := range chunk {
			u := mk(e)
			if _, err := st.Exec(u.Email, u.Name, u.Org, u.Age); err != nil {
				_ = tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Snapshot runs a read transaction: BEGIN, one point read (SQLite's
// deferred BEGIN takes its locks at the first read), COMMIT. With a shared
// cache it holds table read locks, not a snapshot: writers wait.
func (s *sqliteStore) Snapshot() error {
	tx, err := s.db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	var id int64
	err = tx.Stmt(s.snapQ).QueryRow().Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return errors.Join(err, tx.Commit())
}

// OffHeapBytes returns the bytes of SQLite's page cache of this store's
// database, which holds the whole in-memory database (page headers
// included): modernc's libc allocates it outside the Go heap. (The
// process-wide sqlite3_memory_used is compiled out: SQLITE_DEFAULT_MEMSTATUS
// is 0.) With a shared cache every connection reports the whole cache.
func (s *sqliteStore) OffHeapBytes() int64 {
	var n int
	err := s.keep.Raw(func(dc any) error {
		st, ok := dc.(sqlite.DBStatus)
		if !ok {
			return errors.New("the driver connection has no DBStatus")
		}
		var err error
		n, _, err = st.Status(sqlite.DBStatusCacheUsed, false)
		return err
	})
	if err != nil {
		return -1
	}
	return int64(n)
}
