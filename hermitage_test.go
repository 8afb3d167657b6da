package recstore

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// The Hermitage catalogue of isolation anomalies (github.com/ept/hermitage,
// TESTING.md item 6), each test a translation of Hermitage's script for
// PostgreSQL at "serializable" (or, where Hermitage shows only a weaker
// level's script, that script run at serializable), with manual Begin and
// Commit.
//
// Hermitage's table is test(id int primary key, value int) holding (1, 10)
// and (2, 20): here the User table of newUsers, value being Age (an
// indexed field), with distinct emails and usernames to satisfy its
// unique indexes. "update test set value = v where id = i" is a
// Query.Update of uID.Eq(i); "where value % 3 = 0" a Where condition.
//
// The store is optimistic: where PostgreSQL blocks a transaction or aborts
// it at the statement, here the statement runs on the transaction's
// snapshot and its Commit returns ErrConflict. Where PostgreSQL lets a
// transaction that only read commit (it serialises it before the writer),
// a write transaction here (Begin(true)) that read something changed since
// gets ErrConflict: the contract (the Tx doc) commits a write transaction
// only if every read it made reads the same at commit. A read-only
// transaction (Begin(false)) commits, having read one snapshot. Each test
// asserts what each transaction reads, which Commit fails, and the final
// state: the outcome that rules the anomaly out.

// hermRow is Hermitage's row (id, value).
func hermRow(id int64, value int) User {
	return User{ID: id, Email: fmt.Sprintf("t%d@test", id), Org: "test", Username: fmt.Sprintf("t%d", id), Age: value}
}

// hermSetup stores Hermitage's rows (1, 10) and (2, 20).
func hermSetup(t *testing.T) (*DB, *Table[User]) {
	t.Helper()
	db, users := newUsers(t)
	for _, r := range []User{hermRow(1, 10), hermRow(2, 20)} {
		_, err := users.Insert(r)
		require.NoError(t, err)
	}
	return db, users
}

func hermBegin(t *testing.T, db *DB) *Tx {
	t.Helper()
	tx, err := db.Begin(true)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() }) // ErrTxDone once ended
	return tx
}

// hermSelect is "select * from test where …": id → value of q's records.
func hermSelect(t *testing.T, q *Query[User]) map[int64]int {
	t.Helper()
	recs, err := q.Collect()
	require.NoError(t, err)
	out := map[int64]int{}
	for _, r := range recs {
		out[r.ID] = r.Age
	}
	return out
}

// hermSet is "update test set value = fn(value) where …", requiring it to
// change n rows.
func hermSet(t *testing.T, q *Query[User], n int, fn func(int) int) {
	t.Helper()
	got, err := q.Update(func(u User) (User, error) {
		u.Age = fn(u.Age)
		return u, nil
	})
	require.NoError(t, err)
	require.Equal(t, n, got)
}

// hermTo is the update function "set value = v".
func hermTo(v int) func(int) int { return func(int) int { return v } }

// hermCommitted is what a new reader sees.
func hermCommitted(t *testing.T, users *Table[User]) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	for _, r := range dump(t, users) {
		out[r.ID] = r.Age
	}
	return out
}

// hermDivisible is "where value % m = 0".
func hermDivisible(m int) Cond[User] { return Where(func(u *User) bool { return u.Age%m == 0 }) }

// G0, write cycles: T1 and T2 both update rows 1 and 2; whatever the
// interleaving, the result is all of one then all of the other, never
// row 1 of one and row 2 of the other.
func TestTx_Hermitage_G0(t *testing.T) {
	db, users := hermSetup(t)
	t1, t2 := hermBegin(t, db), hermBegin(t, db)
	u1, u2 := users.In(t1), users.In(t2)
	hermSet(t, u1.Filter(uID.Eq(1)), 1, hermTo(11))
	hermSet(t, u2.Filter(uID.Eq(1)), 1, hermTo(12)) // PostgreSQL blocks here
	hermSet(t, u1.Filter(uID.Eq(2)), 1, hermTo(21))
	require.NoError(t, t1.Commit())
	require.Equal(t, map[int64]int{1: 11, 2: 21}, hermCommitted(t, users))
	hermSet(t, u2.Filter(uID.Eq(2)), 1, hermTo(22))
	require.Equal(t, map[int64]int{1: 12, 2: 22}, hermSelect(t, u2.Filter()), "T2 reads its own writes")
	require.ErrorIs(t, t2.Commit(), ErrConflict)
	require.Equal(t, map[int64]int{1: 11, 2: 21}, hermCommitted(t, users), "none of T2's writes, T1's both")
}

// G1a, aborted reads: T2 never sees what T1 wrote and then rolled back.
func TestTx_Hermitage_G1a(t *testing.T) {
	db, users := hermSetup(t)
	t1, t2 := hermBegin(t, db), hermBegin(t, db)
	hermSet(t, users.In(t1).Filter(uID.Eq(1)), 1, hermTo(101))
	require.Equal(t, map[int64]int{1: 10, 2: 20}, hermSelect(t, users.In(t2).Filter()))
	require.NoError(t, t1.Rollback())
	require.Equal(t, map[int64]int{1: 10, 2: 20}, hermSelect(t, users.In(t2).Filter()))
	require.NoError(t, t2.Commit(), "what T2 read is unchanged")
	require.Equal(t, map[int64]int{1: 10, 2: 20}, hermCommitted(t, users))
}

// G1b, intermediate reads: T2 never sees T1's value 101, which T1
// overwrote before committing 11.
func TestTx_Hermitage_G1b(t *testing.T) {
	for _, writable := range []bool{true, false} {
		t.Run(fmt.Sprintf("reader writable=%v", writable), func(t *testing.T) {
			db, users := hermSetup(t)
			t1 := hermBegin(t, db)
			t2, err := db.Begin(writable)
			require.NoError(t, err)
			defer t2.Rollback()
			hermSet(t, users.In(t1).Filter(uID.Eq(1)), 1, hermTo(101))
			require.Equal(t, map[int64]int{1: 10, 2: 20}, hermSelect(t, users.In(t2).Filter()))
			hermSet(t, users.In(t1).Filter(uID.Eq(1)), 1, hermTo(11))
			require.NoError(t, t1.Commit())
			require.Equal(t, map[int64]int{1: 10, 2: 20}, hermSelect(t, users.In(t2).Filter()), "T2 reads its snapshot: never 101")
			if writable {
				require.ErrorIs(t, t2.Commit(), ErrConflict, "T2 read row 1, which T1 changed since")
			} else {
				require.NoError(t, t2.Commit())
			}
			require.Equal(t, map[int64]int{1: 11, 2: 20}, hermCommitted(t, users))
		})
	}
}

// G1c, circular information flow: T1 and T2 each write a row and read the
// other's; each reads the value from before the other, so they cannot
// both commit (T1 before T2 would have T2 read 11, T2 before T1 would
// have T1 read 22).
func TestTx_Hermitage_G1c(t *testing.T) {
	db, users := hermSetup(t)
	t1, t2 := hermBegin(t, db), hermBegin(t, db)
	u1, u2 := users.In(t1), users.In(t2)
	hermSet(t, u1.Filter(uID.Eq(1)), 1, hermTo(11))
	hermSet(t, u2.Filter(uID.Eq(2)), 1, hermTo(22))
	require.Equal(t, map[int64]int{2: 20}, hermSelect(t, u1.Filter(uID.Eq(2))))
	require.Equal(t, map[int64]int{1: 10}, hermSelect(t, u2.Filter(uID.Eq(1))))
	require.NoError(t, t1.Commit())
	require.ErrorIs(t, t2.Commit(), ErrConflict)
	require.Equal(t, map[int64]int{1: 11, 2: 20}, hermCommitted(t, users))
}

// OTV, observed transaction vanishes: T3, having read T1's writes, never
// sees them replaced by T2's, which conflict with T1's and do not commit.
// PostgreSQL takes a snapshot at a transaction's first statement: T3
// begins there, after T1 commits ("lazy"), or at the start with the
// others ("eager").
func TestTx_Hermitage_OTV(t *testing.T) {
	for _, lazy := range []bool{true, false} {
		t.Run(fmt.Sprintf("T3 begins lazily=%v", lazy), func(t *testing.T) {
			db, users := hermSetup(t)
			t1, t2 := hermBegin(t, db), hermBegin(t, db)
			var t3 *Tx
			if !lazy {
				t3 = hermBegin(t, db)
			}
			hermSet(t, users.In(t1).Filter(uID.Eq(1)), 1, hermTo(11))
			hermSet(t, users.In(t1).Filter(uID.Eq(2)), 1, hermTo(19))
			hermSet(t, users.In(t2).Filter(uID.Eq(1)), 1, hermTo(12)) // PostgreSQL blocks here
			require.NoError(t, t1.Commit())
			if lazy {
				t3 = hermBegin(t, db)
			}
			want := map[int64]int{1: 11, 2: 19} // T1's
			if !lazy {
				want = map[int64]int{1: 10, 2: 20}
			}
			u3 := users.In(t3)
			require.Equal(t, map[int64]int{1: want[1]}, hermSelect(t, u3.Filter(uID.Eq(1))))
			hermSet(t, users.In(t2).Filter(uID.Eq(2)), 1, hermTo(18))
			require.Equal(t, map[int64]int{2: want[2]}, hermSelect(t, u3.Filter(uID.Eq(2))))
			require.ErrorIs(t, t2.Commit(), ErrConflict, "T2 updated row 1, which T1 changed since")
			require.Equal(t, map[int64]int{2: want[2]}, hermSelect(t, u3.Filter(uID.Eq(2))))
			require.Equal(t, map[int64]int{1: want[1]}, hermSelect(t, u3.Filter(uID.Eq(1))))
			if lazy {
				require.NoError(t, t3.Commit(), "what T3 read is still so")
			} else {
				require.ErrorIs(t, t3.Commit(), ErrConflict, "T3 read rows that T1 changed since")
			}
			require.Equal(t, map[int64]int{1: 11, 2: 19}, hermCommitted(t, users))
		})
	}
}

// PMP, predicate-many-preceders.
func TestTx_Hermitage_PMP(t *testing.T) {
	// T1's two predicate reads see the same state: the row T2 inserts
	// matches both, and T1 sees it in neither.
	t.Run("read predicate", func(t *testing.T) {
		for _, writable := range []bool{true, false} {
			t.Run(fmt.Sprintf("T1 writable=%v", writable), func(t *testing.T) {
				db, users := hermSetup(t)
				t1, err := db.Begin(writable)
				require.NoError(t, err)
				defer t1.Rollback()
				t2 := hermBegin(t, db)
				require.Empty(t, hermSelect(t, users.In(t1).Filter(uAge.Eq(30))))
				_, err = users.In(t2).Insert(hermRow(3, 30))
				require.NoError(t, err)
				require.NoError(t, t2.Commit())
				require.Empty(t, hermSelect(t, users.In(t1).Filter(hermDivisible(3))), "T1 does not see T2's row")
				if writable {
					require.ErrorIs(t, t1.Commit(), ErrConflict, "T1's predicates now match row 3")
				} else {
					require.NoError(t, t1.Commit())
				}
				require.Equal(t, map[int64]int{1: 10, 2: 20, 3: 30}, hermCommitted(t, users))
			})
		}
	})
	// T2 deletes the rows of value 20 as of its snapshot, while T1 adds 10
	// to every value: T2 must not delete row 1, which has value 20 only
	// after T1, nor commit a delete of row 2, which T1 changed.
	t.Run("write predicate", func(t *testing.T) {
		db, users := hermSetup(t)
		t1, t2 := hermBegin(t, db), hermBegin(t, db)
		hermSet(t, users.In(t1).Filter(), 2, func(v int) int { return v + 10 })
		n, err := users.In(t2).Filter(uAge.Eq(20)).Delete() // PostgreSQL blocks here
		require.NoError(t, err)
		require.Equal(t, 1, n, "row 2, in T2's snapshot")
		require.NoError(t, t1.Commit())
		require.Empty(t, hermSelect(t, users.In(t2).Filter(uAge.Eq(20))), "row 1 has value 10 for T2, row 2 is deleted")
		require.ErrorIs(t, t2.Commit(), ErrConflict)
		require.Equal(t, map[int64]int{1: 20, 2: 30}, hermCommitted(t, users))
	})
}

// P4, lost update: T1 and T2 both read row 1 and write it from what they
// read; the second to commit conflicts, and run again it adds its
// increment to the first one's.
func TestTx_Hermitage_P4(t *testing.T) {
	db, users := hermSetup(t)
	t1, t2 := hermBegin(t, db), hermBegin(t, db)
	increment := func(tbl *Table[User]) {
		v := hermSelect(t, tbl.Filter(uID.Eq(1)))[1]
		hermSet(t, tbl.Filter(uID.Eq(1)), 1, hermTo(v+1))
	}
	require.Equal(t, map[int64]int{1: 10}, hermSelect(t, users.In(t1).Filter(uID.Eq(1))))
	require.Equal(t, map[int64]int{1: 10}, hermSelect(t, users.In(t2).Filter(uID.Eq(1))))
	increment(users.In(t1))
	increment(users.In(t2)) // PostgreSQL blocks here
	require.NoError(t, t1.Commit())
	require.ErrorIs(t, t2.Commit(), ErrConflict)
	require.Equal(t, map[int64]int{1: 11, 2: 20}, hermCommitted(t, users), "one increment, not T2's overwriting T1's")

	require.NoError(t, db.Update(func(tx *Tx) error {
		increment(users.In(tx))
		return nil
	}))
	require.Equal(t, map[int64]int{1: 12, 2: 20}, hermCommitted(t, users), "both increments")
}

// G-single, single anti-dependency cycles (read skew): T1 reads row 1
// before T2 moves 2 from row 2 to row 1 and row 2 after; it must not see
// row 1 before T2 and row 2 after.
func TestTx_Hermitage_GSingle(t *testing.T) {
	t.Run("item", func(t *testing.T) {
		db, users := hermSetup(t)
		t1, t2 := hermBegin(t, db), hermBegin(t, db)
		u1, u2 := users.In(t1), users.In(t2)
		require.Equal(t, map[int64]int{1: 10}, hermSelect(t, u1.Filter(uID.Eq(1))))
		require.Equal(t, map[int64]int{1: 10}, hermSelect(t, u2.Filter(uID.Eq(1))))
		require.Equal(t, map[int64]int{2: 20}, hermSelect(t, u2.Filter(uID.Eq(2))))
		hermSet(t, u2.Filter(uID.Eq(1)), 1, hermTo(12))
		hermSet(t, u2.Filter(uID.Eq(2)), 1, hermTo(18))
		require.NoError(t, t2.Commit())
		require.Equal(t, map[int64]int{2: 20}, hermSelect(t, u1.Filter(uID.Eq(2))), "not 18: 10 and 18 never coexisted")
		require.ErrorIs(t, t1.Commit(), ErrConflict, "T1 read rows that T2 changed since")
		require.Equal(t, map[int64]int{1: 12, 2: 18}, hermCommitted(t, users))
	})
	// With predicate reads: T1 reads value%5 = 0 (both rows), T2 changes
	// row 1 to 12, T1 reads value%3 = 0: not row 1.
	t.Run("read predicate", func(t *testing.T) {
		db, users := hermSetup(t)
		t1, t2 := hermBegin(t, db), hermBegin(t, db)
		u1 := users.In(t1)
		require.Equal(t, map[int64]int{1: 10, 2: 20}, hermSelect(t, u1.Filter(hermDivisible(5))))
		hermSet(t, users.In(t2).Filter(uAge.Eq(10)), 1, hermTo(12))
		require.NoError(t, t2.Commit())
		require.Empty(t, hermSelect(t, u1.Filter(hermDivisible(3))), "T1 does not see 12")
		require.ErrorIs(t, t1.Commit(), ErrConflict)
		require.Equal(t, map[int64]int{1: 12, 2: 20}, hermCommitted(t, users))
	})
	// With a write predicate: after T2 commits, T1 deletes the rows of
	// value 20 as of its snapshot; that cannot commit.
	t.Run("write predicate", func(t *testing.T) {
		db, users := hermSetup(t)
		t1, t2 := hermBegin(t, db), hermBegin(t, db)
		u1, u2 := users.In(t1), users.In(t2)
		require.Equal(t, map[int64]int{1: 10}, hermSelect(t, u1.Filter(uID.Eq(1))))
		require.Equal(t, map[int64]int{1: 10, 2: 20}, hermSelect(t, u2.Filter()))
		hermSet(t, u2.Filter(uID.Eq(1)), 1, hermTo(12))
		hermSet(t, u2.Filter(uID.Eq(2)), 1, hermTo(18))
		require.NoError(t, t2.Commit())
		n, err := u1.Filter(uAge.Eq(20)).Delete() // PostgreSQL fails here
		require.NoError(t, err)
		require.Equal(t, 1, n, "row 2, in T1's snapshot")
		require.ErrorIs(t, t1.Commit(), ErrConflict)
		require.Equal(t, map[int64]int{1: 12, 2: 18}, hermCommitted(t, users), "row 2 (now 18) not deleted")
	})
}

// G2-item, item anti-dependency cycles (write skew): T1 and T2 read both
// rows and each updates a different one; they cannot both commit.
func TestTx_Hermitage_G2Item(t *testing.T) {
	db, users := hermSetup(t)
	t1, t2 := hermBegin(t, db), hermBegin(t, db)
	u1, u2 := users.In(t1), users.In(t2)
	require.Equal(t, map[int64]int{1: 10, 2: 20}, hermSelect(t, u1.Filter(uID.In(1, 2))))
	require.Equal(t, map[int64]int{1: 10, 2: 20}, hermSelect(t, u2.Filter(uID.In(1, 2))))
	hermSet(t, u1.Filter(uID.Eq(1)), 1, hermTo(11))
	hermSet(t, u2.Filter(uID.Eq(2)), 1, hermTo(21))
	require.NoError(t, t1.Commit())
	require.ErrorIs(t, t2.Commit(), ErrConflict)
	require.Equal(t, map[int64]int{1: 11, 2: 20}, hermCommitted(t, users))
}

// G2, anti-dependency cycles over predicates.
func TestTx_Hermitage_G2(t *testing.T) {
	// T1 and T2 both find no row of value%3 = 0 and each inserts one; they
	// cannot both commit.
	t.Run("predicate", func(t *testing.T) {
		db, users := hermSetup(t)
		t1, t2 := hermBegin(t, db), hermBegin(t, db)
		u1, u2 := users.In(t1), users.In(t2)
		require.Empty(t, hermSelect(t, u1.Filter(hermDivisible(3))))
		require.Empty(t, hermSelect(t, u2.Filter(hermDivisible(3))))
		_, err := u1.Insert(hermRow(3, 30))
		require.NoError(t, err)
		_, err = u2.Insert(hermRow(4, 42))
		require.NoError(t, err)
		require.NoError(t, t1.Commit())
		require.ErrorIs(t, t2.Commit(), ErrConflict)
		require.Equal(t, map[int64]int{1: 10, 2: 20, 3: 30}, hermCommitted(t, users))
		require.Equal(t, map[int64]int{3: 30}, hermSelect(t, users.Filter(hermDivisible(3))))
	})
	// Fekete et al.'s example with two anti-dependency edges: T1 reads
	// both rows; T2 adds 5 to row 2 and commits; T3, begun after, reads
	// both and commits (it sees T2 but not T1); T1 then updates row 1,
	// and cannot commit (T3 saw T2's row 2 and not T1's row 1, T1 read
	// row 2 before T2).
	t.Run("two anti-dependency edges", func(t *testing.T) {
		db, users := hermSetup(t)
		t1 := hermBegin(t, db)
		require.Equal(t, map[int64]int{1: 10, 2: 20}, hermSelect(t, users.In(t1).Filter()))
		t2 := hermBegin(t, db)
		hermSet(t, users.In(t2).Filter(uID.Eq(2)), 1, func(v int) int { return v + 5 })
		require.NoError(t, t2.Commit())
		t3 := hermBegin(t, db)
		require.Equal(t, map[int64]int{1: 10, 2: 25}, hermSelect(t, users.In(t3).Filter()))
		require.NoError(t, t3.Commit())
		hermSet(t, users.In(t1).Filter(uID.Eq(1)), 1, hermTo(0)) // PostgreSQL fails here
		require.ErrorIs(t, t1.Commit(), ErrConflict)
		require.Equal(t, map[int64]int{1: 10, 2: 25}, hermCommitted(t, users))
	})
}
