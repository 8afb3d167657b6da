package recstore

import (
	"flag"

	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The magic constants vary between runs of the suite: the results must not
// depend on them (metamorphic testing).
var (
	flagStripes = flag.Int("recstore.stripes", 0, "lock stripes per table for tests (0: default)")
	flagDegree  = flag.Int("recstore.degree", 0, "B-tree degree for tests (0: default)")
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// User is the record type most tests use.
type User struct {
	ID       int64
	Email    string
	Org      string
	Username string
	Name     string
	Age      int
}

var (
	uID       = Field("id", func(u *User) int64 { return u.ID })
	uEmail    = Field("email", func(u *User) string { return u.Email })
	uOrg      = Field("org", func(u *User) string { return u.Org })
	uUsername = Field("username", func(u *User) string { return u.Username })
	uName     = Field("name", func(u *User) string { return u.Name })
	uAge      = Field("age", func(u *User) int { return u.Age })
)

// testOptions are the DB options of this run of the suite.
func testOptions() Options {
	return Options{Stripes: *flagStripes, Degree: *flagDegree}
}

// newTestDB returns an empty DB with this run's options (or opts). When
// the test ends, the invariant checker runs on it, with nothing under way:
// every index holds exactly its records, every lock is free and every mode
// is back to normal.
func newTestDB(t testing.TB, opts ...Options) *DB {
	t.Helper()
	o := testOptions()
	if len(opts) > 0 {
		o = opts[0]
	}
	db := New(o)
	t.Cleanup(func() {
		if err := memOf(db).check(true); err != nil {
			t.Errorf("invariant checker: %v", err)
		}
	})
	return db
}

// newUsers returns a fresh DB (newTestDB) with the User table: auto primary
// key id, unique email, unique (org, username), plain index on age, and
// name as a declared unindexed field.
func newUsers(t testing.TB, opts ...Options) (*DB, *Table[User]) {
	t.Helper()
	db := newTestDB(t, opts...)
	return db, newUsersIn(t, db)
}

// newUsersIn declares the User table of newUsers in db.
func newUsersIn(t testing.TB, db *DB) *Table[User] {
	t.Helper()
	users, err := NewTable(db, "User",
		AutoPrimaryKey(uID, func(u *User, id int64) { u.ID = id }),
		Unique("user_email", uEmail),
		Unique("org_username", uOrg, uUsername),
		Index("user_age", uAge),
		Fields(uName))
	require.NoError(t, err)
	return users
}

// memOf is db's engine.
func memOf(db *DB) *memEngine { return db.eng.(*memEngine) }

// memTableOf is tbl's table in its engine.
func memTableOf[T any](tbl *Table[T]) *memTable[T] { return tbl.eng.(*memTable[T]) }

// versionOf is tbl in the latest version of its DB.
func versionOf[T any](tbl *Table[T]) *tableVersion[T] { return memTableOf(tbl).latest() }

// checkInvariants runs the invariant checker on tbl's DB, which may have
// calls under way.
func checkInvariants[T any](tbl *Table[T]) error { return memOf(tbl.db).check(false) }

// dump returns every record of tbl in primary key order, as tbl sees
// them: through its transaction, if it is bound to one.
func dump[T any](t testing.TB, tbl *Table[T]) []T {
	t.Helper()
	v := versionOf(tbl)
	if tbl.tx != nil {
		v = txViewOf(tbl.tx, tbl)
	}
	var out []T
	v.trees[0].Scan(func(r *T) bool {
		out = append(out, *r)
		return true
	})
	return out
}

// txViewOf is tbl as tx sees it.
func txViewOf[T any](tx *Tx, tbl *Table[T]) *tableVersion[T] {
	return memTableOf(tbl).txTable(tx.eng.(*memTx)).view()
}

// requireAccessError checks that err is the *AccessError of a call on
// table refused for sentinel (ErrClosed, ErrTxDone, ErrReadOnly,
// ErrOtherDB).
func requireAccessError(t testing.TB, err, sentinel error, table string) {
	t.Helper()
	require.ErrorIs(t, err, sentinel)
	var ae *AccessError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, &AccessError{Table: table, Err: sentinel}, ae)
	require.Equal(t, sentinel.Error()+" (table "+table+")", err.Error())
}
