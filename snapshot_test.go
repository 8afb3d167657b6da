package recstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// snapTables are the tables of the snapshot tests, each declared in a DB
// of its own by newSnapDB.
type snapTables struct {
	db       *DB
	users    *Table[User]
	accounts *Table[Account]
	parts    *Table[Part]
}

func newSnapDB(t testing.TB) snapTables {
	t.Helper()
	db, users := newUsers(t)
	return snapTables{db, users, newAccounts(t, db), newParts(t, db)}
}

// fillSnap stores n random records of each kind in s, from rng.
func fillSnap(t testing.TB, s snapTables, rng *rand.Rand, n int) {
	t.Helper()
	for i := range n {
		_, err := s.users.Insert(User{Email: fmt.Sprintf("u%d-%d@x", i, rng.IntN(1000)), Org: fmt.Sprint("org", rng.IntN(5)),
			Username: fmt.Sprint("n", i), Name: fmt.Sprintf("Name \"%d\"\n\u00e9", rng.IntN(10)), Age: rng.IntN(90)})
		require.NoError(t, err)
		_, err = s.accounts.Insert(Account{ID: int64(i + 1 + rng.IntN(3)*1000), Owner: fmt.Sprint("o", i), Balance: rng.Int64N(1 << 40)})
		require.NoError(t, err)
		_, err = s.parts.Insert(Part{SKU: fmt.Sprintf("sku-%d", i), Shop: "s", Code: fmt.Sprint(i), Color: "red", Size: -rng.IntN(50)})
		require.NoError(t, err)
	}
	// Deletes leave gaps, so that the auto keys go on past a hole.
	_, err := s.users.Filter(uAge.Lt(10)).Delete()
	require.NoError(t, err)
}

// snapshotOf writes s's snapshot.
func snapshotOf(t testing.TB, s snapTables) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, s.db.Snapshot(&buf))
	return buf.Bytes()
}

// requireSameSnap requires that a and b hold the same records.
func requireSameSnap(t testing.TB, a, b snapTables) {
	t.Helper()
	require.Equal(t, dump(t, a.users), dump(t, b.users))
	require.Equal(t, dump(t, a.accounts), dump(t, b.accounts))
	require.Equal(t, dump(t, a.parts), dump(t, b.parts))
}

func TestDB_Snapshot_RoundTrips(t *testing.T) {
	seed := testSeed(t)
	for round, n := range []int{0, 1, 7, 300} {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			src := newSnapDB(t)
			fillSnap(t, src, rand.New(rand.NewPCG(seed, uint64(round))), n)
			snap := snapshotOf(t, src)

			dst := newSnapDB(t)
			require.NoError(t, dst.db.Restore(bytes.NewReader(snap)))
			requireSameSnap(t, src, dst)
			require.Equal(t, snap, snapshotOf(t, dst), "a restored DB's snapshot is the snapshot")
			var forked bytes.Buffer
			require.NoError(t, forkOf(t, src.db).Snapshot(&forked))
			require.Equal(t, snap, forked.Bytes(), "a fork's snapshot is its original's")

			// Point reads, unique checks and the auto-key sequence work
			// on what was restored.
			for _, u := range dump(t, src.users) {
				got, err := dst.users.Get(uEmail.Eq(u.Email))
				require.NoError(t, err)
				require.Equal(t, u, got)
			}
			if held := dump(t, src.users); len(held) > 0 { // fillSnap's deletes may leave none
				u := held[0]
				_, err := dst.users.Insert(User{Email: u.Email, Username: "other"})
				require.ErrorIs(t, err, ErrUniqueViolation)
			}
			mine, err := dst.users.Insert(User{Email: "new@x", Username: "new"})
			require.NoError(t, err)
			require.Greater(t, mine.ID, maxID(dump(t, src.users)), "the sequence restarts past every restored key")
		})
	}
}

func maxID(users []User) int64 {
	var m int64
	for _, u := range users {
		m = max(m, u.ID)
	}
	return m
}

// requireRestoreFails requires that restoring input into a fresh DB
// fails with a *SnapshotError and leaves it empty.
func requireRestoreFails(t *testing.T, input []byte, what string) *SnapshotError {
	t.Helper()
	dst := newSnapDB(t)
	err := dst.db.Restore(bytes.NewReader(input))
	require.ErrorIs(t, err, ErrSnapshot, what)
	var se *SnapshotError
	require.ErrorAs(t, err, &se, what)
	require.Less(t, len(err.Error()), 600, "%s: the message is bounded", what)
	require.Zero(t, dst.users.Len()+dst.accounts.Len()+dst.parts.Len(), "%s: a failed restore wrote records", what)
	return se
}

func TestDB_Restore_TruncatedOrCorrupt(t *testing.T) {
	src := newSnapDB(t)
	fillSnap(t, src, rand.New(rand.NewPCG(testSeed(t), 9)), 3)
	snap := snapshotOf(t, src)

	for cut := range len(snap) {
		requireRestoreFails(t, snap[:cut], fmt.Sprintf("cut at byte %d of %d", cut, len(snap)))
	}
	for bit := range 8 * len(snap) {
		bad := bytes.Clone(snap)
		bad[bit/8] ^= 1 << (bit % 8)
		requireRestoreFails(t, bad, fmt.Sprintf("bit %d flipped", bit))
	}
	se := requireRestoreFails(t, append(bytes.Clone(snap), 0), "a byte after the checksum")
	require.Equal(t, "bytes follow the checksum", se.Reason)
	se = requireRestoreFails(t, []byte("SQLite format 3\x00"), "another format")
	require.Equal(t, "the input is not a recstore snapshot", se.Reason)

	// A table name from the input is cut in the message.
	long := []byte(snapshotMagic + "\x01\x00\x03")
	long = binary.AppendUvarint(long, 5000)
	long = append(long, bytes.Repeat([]byte("x"), 5000)...)
	long = append(long, 1, 'z') // its signature
	se = requireRestoreFails(t, long, "a long unknown table name")
	require.Equal(t, "the DB declares no such table", se.Reason)

	// A length over the limits is refused before it is read.
	huge := []byte(snapshotMagic + "\x01\x00\x03")
	huge = append(huge, 0xff, 0xff, 0xff, 0xff, 0x0f) // a name of 4 GiB
	se = requireRestoreFails(t, huge, "a huge length")
	require.Contains(t, se.Reason, "over the limit")
}

func TestDB_Restore_RefusesAnotherSchema(t *testing.T) {
	src := newSnapDB(t)
	fillSnap(t, src, rand.New(rand.NewPCG(1, 2)), 2)
	snap := snapshotOf(t, src)

	for _, tt := range []struct {
		name    string
		declare func(t *testing.T, db *DB)
		table   string
		reason  string
	}{
		{"a table missing", func(t *testing.T, db *DB) {
			newUsersIn(t, db)
			newAccounts(t, db)
		}, "", "it holds 3 tables, the DB declares 2"},
		{"an index more", func(t *testing.T, db *DB) {
			newUsersIn(t, db)
			newAccounts(t, db)
			parts := newParts(t, db)
			require.NoError(t, parts.AddIndex(Index("part_code", partCode)))
		}, "Part", "its schema is"},
		{"another table of the same count", func(t *testing.T, db *DB) {
			newUsersIn(t, db)
			newAccounts(t, db)
			_, err := NewTable(db, "Widget", PrimaryKey(partSKU))
			require.NoError(t, err)
		}, "Part", "the DB declares no such table"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := newTestDB(t)
			tt.declare(t, db)
			err := db.Restore(bytes.NewReader(snap))
			var se *SnapshotError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tt.table, se.Table)
			require.Contains(t, se.Reason, tt.reason)
			for _, tbl := range db.decls {
				require.Zero(t, tbl.(interface{ Len() int }).Len(), "a refused restore wrote %s", tbl.Name())
			}
		})
	}
}

func TestDB_Restore_ChecksConstraintsAndEmptiness(t *testing.T) {
	src := newSnapDB(t)
	fillSnap(t, src, rand.New(rand.NewPCG(3, 4)), 5)
	snap := snapshotOf(t, src)

	// Into tables that hold records: refused, nothing written.
	dst := newSnapDB(t)
	_, err := dst.parts.Insert(Part{SKU: "mine", Shop: "m", Code: "m"})
	require.NoError(t, err)
	err = dst.db.Restore(bytes.NewReader(snap))
	require.ErrorIs(t, err, ErrSnapshot)
	require.Contains(t, err.Error(), "the table holds 1 records")
	require.Zero(t, dst.users.Len()+dst.accounts.Len())

	// A codec that decodes every user to one email: the unique index
	// refuses the restore, whole.
	db := newTestDB(t)
	users, err := NewTable(db, "User", append(userTable(uName), WithCodec[User](sameEmailCodec{}))...)
	require.NoError(t, err)
	newAccounts(t, db)
	newParts(t, db)
	err = db.Restore(bytes.NewReader(snap))
	require.ErrorIs(t, err, ErrUniqueViolation)
	require.Zero(t, users.Len())
}

// sameEmailCodec is JSON, but decodes every user with one email.
type sameEmailCodec struct{ JSONCodec[User] }

func (c sameEmailCodec) Decode(data []byte, u *User) error {
	err := c.JSONCodec.Decode(data, u)
	u.Email = "same@x"
	return err
}

// failingCodec fails to encode or decode.
type failingCodec struct{}

var errCodec = errors.New("codec broke")

func (failingCodec) Append([]byte, *User) ([]byte, error) { return nil, errCodec }
func (failingCodec) Decode([]byte, *User) error           { return errCodec }

func TestDB_Snapshot_CodecErrors(t *testing.T) {
	db := newTestDB(t)
	users, err := NewTable(db, "User", append(userTable(uName), WithCodec[User](failingCodec{}))...)
	require.NoError(t, err)
	_, err = users.Insert(User{Email: "a@x"})
	require.NoError(t, err)
	var buf bytes.Buffer
	err = db.Snapshot(&buf)
	require.ErrorIs(t, err, errCodec)
	requireErrorAs(t, err, &CallbackError{Table: "User", Callback: "codec", Err: errCodec})

	src, srcUsers := newUsers(t)
	_, err = srcUsers.Insert(User{Email: "a@x"})
	require.NoError(t, err)
	require.NoError(t, src.Snapshot(&buf))
	err = db.Restore(&buf)
	require.ErrorIs(t, err, ErrSnapshot)
	require.ErrorIs(t, err, errCodec)
	require.Equal(t, 1, users.Len())

	_, err = NewTable(newTestDB(t), "User", append(userTable(uName), WithCodec[User](nil))...)
	requireSchemaError(t, err, "User", "the codec is nil")
}

// failingWriter fails once it took n bytes.
type failingWriter struct{ n int }

var errDisk = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errDisk
	}
	w.n -= len(p)
	return len(p), nil
}

func TestDB_Snapshot_WriterErrors(t *testing.T) {
	src := newSnapDB(t)
	fillSnap(t, src, rand.New(rand.NewPCG(5, 6)), 200)
	for _, n := range []int{0, 100, 5000} {
		require.ErrorIs(t, src.db.Snapshot(&failingWriter{n}), errDisk, "after %d bytes", n)
	}
	require.ErrorIs(t, newSnapDB(t).db.Restore(iotest{}), ErrSnapshot)
}

// iotest is a reader that fails.
type iotest struct{}

func (iotest) Read([]byte) (int, error) { return 0, errDisk }

// TestDB_Snapshot_WhileWritersGoOn snapshots two tables of accounts while
// transfers between them commit: every snapshot holds one moment of both,
// so its balances add up to the total, and it restores to a DB whose
// balances do too.
func TestDB_Snapshot_WhileWritersGoOn(t *testing.T) {
	const accounts, total = 10, 2 * 10 * 1000
	declare := func(t *testing.T, db *DB) [2]*Table[Account] {
		savings, err := NewTable(db, "Savings", PrimaryKey(accID))
		require.NoError(t, err)
		return [2]*Table[Account]{newAccounts(t, db), savings}
	}
	db := newTestDB(t)
	tables := declare(t, db)
	for _, tbl := range tables {
		for i := range accounts {
			_, err := tbl.Insert(Account{ID: int64(i + 1), Owner: fmt.Sprint("o", i), Balance: total / (2 * accounts)})
			require.NoError(t, err)
		}
	}
	var stop atomic.Bool
	var transfers atomic.Int64
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for !stop.Load() {
				from, to := tables[rng.IntN(2)], tables[rng.IntN(2)]
				fromID, toID := int64(1+rng.IntN(accounts)), int64(1+rng.IntN(accounts))
				err := db.Update(func(tx *Tx) error {
					a, err := from.In(tx).Get(accID.Eq(fromID))
					if err != nil {
						return err
					}
					a.Balance -= 7
					if err := from.In(tx).Update(a); err != nil {
						return err
					}
					b, err := to.In(tx).Get(accID.Eq(toID))
					if err != nil {
						return err
					}
					b.Balance += 7
					return to.In(tx).Update(b)
				})
				if err == nil {
					transfers.Add(1)
				}
			}
		})
	}
	for snaps := 0; snaps < 20 || transfers.Load() < 500; snaps++ {
		var buf bytes.Buffer
		require.NoError(t, db.Snapshot(&buf))
		dst := newTestDB(t)
		restored := declare(t, dst)
		require.NoError(t, dst.Restore(&buf))
		var sum int64
		for _, tbl := range restored {
			for _, a := range dump(t, tbl) {
				sum += a.Balance
			}
		}
		require.Equal(t, int64(total), sum, "a snapshot holds part of a transfer")
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d transfers committed", transfers.Load())
}

// BenchmarkDB_Snapshot measures writing and restoring a snapshot of n
// users with the default codec (JSON): bytes/s, and records/s as a
// metric.
//
//	go test -run '^$' -bench DB_Snapshot -benchtime 3x .
func BenchmarkDB_Snapshot(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		db, users := newUsers(b)
		recs := make([]User, n)
		for i := range recs {
			recs[i] = User{Email: fmt.Sprintf("u%d@example.com", i), Org: "acme", Username: fmt.Sprint("user", i), Name: "A Name", Age: i % 90}
		}
		_, err := users.InsertMany(recs, OnConflict[User]{})
		require.NoError(b, err)
		var snap bytes.Buffer
		require.NoError(b, db.Snapshot(&snap))
		b.Run(fmt.Sprintf("n=%d/write", n), func(b *testing.B) {
			b.SetBytes(int64(snap.Len()))
			for b.Loop() {
				if err := db.Snapshot(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run(fmt.Sprintf("n=%d/restore", n), func(b *testing.B) {
			b.SetBytes(int64(snap.Len()))
			for b.Loop() {
				dst, _ := newUsers(b)
				if err := dst.Restore(bytes.NewReader(snap.Bytes())); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
