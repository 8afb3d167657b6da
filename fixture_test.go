package recstore

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// DB.Load: fixtures from Go values and from snapshots, loaded into several
// tables in one atomic step.

func fixtureAccounts() []Account {
	return []Account{{ID: 10, Owner: "leo", Balance: 5}, {ID: 11, Owner: "ann", Balance: 7}}
}

// TestDB_Load: every fixture's records land, primary keys assigned in the
// fixtures' order; a failing fixture, anywhere, loads nothing.
func TestDB_Load(t *testing.T) {
	users4 := fixtureUsers()[:4]
	t.Run("values", func(t *testing.T) {
		db, users := newUsers(t)
		accounts := newAccounts(t, db)
		require.NoError(t, db.Load(Records(accounts, fixtureAccounts()...), Records(users, users4[:2]...), Records(users, users4[2:]...)))
		for i, u := range dump(t, users) {
			assert.Equal(t, fixtureUser(i), u, "ids follow the fixtures' order")
		}
		assert.Equal(t, fixtureAccounts(), dump(t, accounts))
	})
	cases := []struct {
		name     string
		fixtures func(db *DB, users *Table[User], accounts *Table[Account]) []Fixture
		want     error
	}{
		{"a duplicate in the last fixture", func(_ *DB, users *Table[User], accounts *Table[Account]) []Fixture {
			return []Fixture{Records(users, users4...), Records(accounts, fixtureAccounts()[0], fixtureAccounts()[0])}
		}, ErrUniqueViolation},
		{"a record already stored", func(_ *DB, users *Table[User], accounts *Table[Account]) []Fixture {
			return []Fixture{Records(accounts, fixtureAccounts()...), Records(users, fixtureUser(4))}
		}, ErrUniqueViolation},
		{"a table of another DB", func(_ *DB, users *Table[User], _ *Table[Account]) []Fixture {
			other := newAccounts(t, New())
			return []Fixture{Records(users, users4...), Records(other, fixtureAccounts()...)}
		}, ErrOtherDB},
		{"a corrupt snapshot", func(_ *DB, users *Table[User], _ *Table[Account]) []Fixture {
			return []Fixture{Records(users, users4...), SnapshotFixture(bytes.NewReader([]byte("RECSTORE\x01")))}
		}, ErrSnapshot},
		{"a zero fixture", func(_ *DB, users *Table[User], _ *Table[Account]) []Fixture {
			return []Fixture{Records(users, users4...), {}}
		}, ErrNilCallback},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, users := newUsers(t)
			accounts := newAccounts(t, db)
			_, err := users.Insert(fixtureUser(4))
			require.NoError(t, err)
			before := dump(t, users)
			assert.ErrorIs(t, db.Load(c.fixtures(db, users, accounts)...), c.want)
			assert.Equal(t, before, dump(t, users), "nothing loaded")
			assert.Empty(t, dump(t, accounts), "nothing loaded")
		})
	}
	t.Run("closed", func(t *testing.T) {
		db, users := newUsers(t)
		require.NoError(t, db.Close())
		assert.ErrorIs(t, db.Load(Records(users, users4...)), ErrClosed)
	})
}

// TestDB_Load_Fork: a fixture built on a table handle loads into a fork,
// not the DB it was declared in.
func TestDB_Load_Fork(t *testing.T) {
	seed, users := newUsers(t)
	fork, err := seed.Fork()
	require.NoError(t, err)
	t.Cleanup(func() { fork.Close() })
	require.NoError(t, fork.Load(Records(users, fixtureUsers()[:4]...)))
	mine, err := users.On(fork)
	require.NoError(t, err)
	for i, u := range dump(t, mine) {
		assert.Equal(t, fixtureUser(i), u)
	}
	assert.Equal(t, 4, mine.Len())
	assert.Zero(t, users.Len())
}

// TestDB_Load_Snapshot: a snapshot of some tables loads into a DB that
// declares more and already holds records, with Go-value fixtures in the
// same step; Restore still wants every table, empty.
func TestDB_Load_Snapshot(t *testing.T) {
	src, srcUsers := newUsers(t)
	_, err := srcUsers.InsertMany(fixtureUsers()[:4], OnConflict[User]{})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, src.Snapshot(&buf))

	db, users := newUsers(t)
	accounts := newAccounts(t, db)
	extra, err := users.Insert(fixtureUser(6))
	require.NoError(t, err)
	require.NoError(t, db.Load(SnapshotFixture(bytes.NewReader(buf.Bytes())), Records(accounts, fixtureAccounts()...)))
	got := dump(t, users)
	assert.ElementsMatch(t, []User{fixtureUser(0), fixtureUser(1), fixtureUser(2), fixtureUser(3), extra}, got)
	assert.Equal(t, fixtureAccounts(), dump(t, accounts))

	// Loading it again meets the records it loaded: nothing more is written.
	assert.ErrorIs(t, db.Load(Records(accounts, Account{ID: 12, Owner: "bob"}), SnapshotFixture(bytes.NewReader(buf.Bytes()))), ErrUniqueViolation)
	assert.Len(t, dump(t, accounts), 2)

	// Restore, unlike a fixture, wants every table, empty.
	assert.ErrorIs(t, db.Restore(bytes.NewReader(buf.Bytes())), ErrSnapshot)
}

// TestDB_Load_Atomic: readers of both tables during loads see all of a
// load or none of it.
func TestDB_Load_Atomic(t *testing.T) {
	db, users := newUsers(t)
	accounts := newAccounts(t, db)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				assert.NoError(t, db.View(func(tx *Tx) error {
					nu, na := users.In(tx).Len(), accounts.In(tx).Len()
					assert.Equal(t, nu/4, na/2, "a load seen in part: %d users, %d accounts", nu, na)
					return nil
				}))
			}
		}()
	}
	for i := range 50 {
		us := make([]User, 4)
		for j := range us {
			us[j] = userTagged(string(rune('a'+j))+string(rune('a'+i%26))+string(rune('a'+i/26)), j)
		}
		as := []Account{{ID: int64(2*i + 1), Owner: us[0].Email}, {ID: int64(2*i + 2), Owner: us[1].Email}}
		require.NoError(t, db.Load(Records(users, us...), Records(accounts, as...)))
	}
	stop.Store(true)
	wg.Wait()
	assert.Equal(t, 200, users.Len())
	assert.Equal(t, 100, accounts.Len())
}
