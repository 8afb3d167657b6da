package recstore

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Transactions under manual control, rollback, panics, savepoints, the
// table verbs inside a transaction, and what a transaction must not block.
// The fixtures are in fixtures_test.go (newFixtureUsers: Leo, Ann, Bob and
// Eve), the helpers in helpers_test.go.

// txnWriteAll writes users every way a transaction can, each write one a
// rollback must undo: an insert, an update moving every key of Leo, a
// delete of Ann, a GetOrCreate, an UpdateOrCreate, an InsertMany, a
// Query.Update, a Query.Delete and a write inside a savepoint.
func txnWriteAll(tx *Tx, users *Table[User], stored []User) error {
	in := users.In(tx)
	if _, err := in.Insert(userTagged("taken", 1)); err != nil {
		return err
	}
	moved := stored[0]
	moved.Email, moved.Org, moved.Username, moved.Age = "moved@example.com", "moved", "moved", 99
	if err := in.Update(moved); err != nil {
		return err
	}
	if _, err := in.Delete(uID.Eq(stored[1].ID)); err != nil {
		return err
	}
	if _, created, err := in.GetOrCreate(uEmail.Eq("goc@example.com"), func() (User, error) {
		return userTagged("goc", 2), nil
	}); err != nil || !created {
		return fmt.Errorf("GetOrCreate: %v, %w", created, err)
	}
	if _, _, err := in.UpdateOrCreate(uEmail.Eq(stored[2].Email), func(u User) (User, error) {
		u.Age++
		return u, nil
	}, txnNoCreate); err != nil {
		return err
	}
	if _, err := in.InsertMany([]User{userTagged("many1", 3), userTagged("many2", 3)}, OnConflict[User]{}); err != nil {
		return err
	}
	if _, err := in.Filter(uAge.Eq(25)).Update(func(u User) (User, error) {
		u.Name = "renamed"
		return u, nil
	}); err != nil {
		return err
	}
	if _, err := in.Filter(uAge.Eq(3)).Delete(); err != nil {
		return err
	}
	return tx.Savepoint(func(tx *Tx) error {
		_, err := users.In(tx).Insert(userTagged("saved", 4))
		return err
	})
}

// txnRequireNoTrace checks, after a transaction that ran txnWriteAll ended
// without committing, that users is as before and that the transaction
// left nothing held: the next Update and GetOrCreate finish, and every
// unique key it took or freed is as before.
func txnRequireNoTrace(t *testing.T, db *DB, users *Table[User], stored, before []User) {
	t.Helper()
	require.Equal(t, before, dump(t, users), "the store is as before")
	concurrently(t, "the next Update", func() error {
		return db.Update(func(tx *Tx) error {
			_, err := users.In(tx).Insert(userTagged("next", 5))
			return err
		})
	})
	type goc struct {
		created bool
		err     error
	}
	var r goc
	within(t, testTimeout, "the next GetOrCreate", func() {
		_, created, err := users.GetOrCreate(uEmail.Eq("goc@example.com"), func() (User, error) {
			return userTagged("goc", 2), nil
		})
		r = goc{created, err}
	})
	require.NoError(t, r.err)
	assert.True(t, r.created, "the rolled-back GetOrCreate stored nothing")
	for _, u := range []User{userTagged("taken", 1), userTagged("moved", 1), userTagged("saved", 1), userTagged("many1", 1)} {
		_, err := users.Insert(u)
		assert.NoError(t, err, "%s is free again", u.Email)
	}
	again := userTagged("leo2", 1)
	again.Email = stored[0].Email
	_, err := users.Insert(again)
	txnRequireEmailHeldBy(t, err, again, stored[0])
	got, err := users.Get(uID.Eq(stored[1].ID))
	require.NoError(t, err)
	assert.Equal(t, stored[1], got, "the deleted record is back")
}

// txnRequireEmailHeldBy requires the unique violation of an insert of rec,
// whose email holder holds.
func txnRequireEmailHeldBy(t *testing.T, err error, rec, holder User) {
	t.Helper()
	requireUniqueViolation(t, err, "user_email", []string{"email"}, []string{rec.Email}, holder,
		fmt.Sprintf(`recstore: duplicate key value violates unique constraint "user_email" on User: (email)=(%s) already held by id %d`, rec.Email, holder.ID))
}

// txnNoCreate is a create callback for lookups that must find their
// record: it fails if called.
func txnNoCreate() (User, error) {
	return User{}, errors.New("create called though the lookup matches")
}

// txnFixture is newFixtureUsers with a write transaction open on it: the
// table, the table bound to the transaction and the fixture's records as
// stored. commit commits the transaction, requiring that nothing it wrote
// was visible outside before and that the table then holds what it saw,
// and returns that.
func txnFixture(t *testing.T) (users, in *Table[User], stored []User, commit func() []User) {
	t.Helper()
	db, users, stored := newFixtureUsers(t)
	before := dump(t, users)
	tx, err := db.Begin(true)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	in = users.In(tx)
	commit = func() []User {
		t.Helper()
		final := dump(t, in)
		assert.Equal(t, before, dump(t, users), "nothing is visible outside before the commit")
		require.NoError(t, tx.Commit())
		assert.Equal(t, final, dump(t, users))
		return final
	}
	return users, in, stored, commit
}

// TestDB_Update_RollbackLeavesNoTrace: a transaction that returns an error,
// panics (in fn or in a callback of a verb), is rolled back or fails to
// commit leaves the dump identical, holds nothing, and frees the unique
// keys it used.
func TestDB_Update_RollbackLeavesNoTrace(t *testing.T) {
	t.Run("error", func(t *testing.T) {
		db, users, stored := newFixtureUsers(t)
		before := dump(t, users)
		stop := errors.New("stop")
		runs := 0
		err := db.Update(func(tx *Tx) error {
			runs++
			if err := txnWriteAll(tx, users, stored); err != nil {
				return err
			}
			return stop
		})
		require.Same(t, stop, err, "fn's error, unwrapped")
		assert.Equal(t, 1, runs, "an error is not retried")
		txnRequireNoTrace(t, db, users, stored, before)
	})

	for _, tc := range []struct {
		name  string
		raise func(tx *Tx, users *Table[User], p *testPanic)
	}{
		{"panic", func(*Tx, *Table[User], *testPanic) {}},
		{"panic in a GetOrCreate create callback", func(tx *Tx, users *Table[User], p *testPanic) {
			_, _, _ = users.In(tx).GetOrCreate(uEmail.Eq("boom@example.com"), func() (User, error) { panic(p) })
		}},
		{"panic in a Query.Update callback", func(tx *Tx, users *Table[User], p *testPanic) {
			_, _ = users.In(tx).Filter().Update(func(User) (User, error) { panic(p) })
		}},
		{"panic in a Savepoint", func(tx *Tx, users *Table[User], p *testPanic) {
			_ = tx.Savepoint(func(*Tx) error { panic(p) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, users, stored := newFixtureUsers(t)
			before := dump(t, users)
			p := &testPanic{tc.name}
			runs := 0
			got := recovered(func() {
				_ = db.Update(func(tx *Tx) error {
					runs++
					if err := txnWriteAll(tx, users, stored); err != nil {
						return err
					}
					tc.raise(tx, users, p)
					panic(p)
				})
			})
			require.Same(t, p, got, "the panic is re-raised unchanged")
			assert.Equal(t, 1, runs, "a panic is not retried")
			txnRequireNoTrace(t, db, users, stored, before)
		})
	}

	t.Run("manual rollback", func(t *testing.T) {
		db, users, stored := newFixtureUsers(t)
		before := dump(t, users)
		tx, err := db.Begin(true)
		require.NoError(t, err)
		require.NoError(t, txnWriteAll(tx, users, stored))
		require.NoError(t, tx.Rollback())
		txnRequireNoTrace(t, db, users, stored, before)
	})

	t.Run("failed commit", func(t *testing.T) {
		db, users, stored := newFixtureUsers(t)
		tx, err := db.Begin(true)
		require.NoError(t, err)
		_, err = users.In(tx).Get(uID.Eq(stored[3].ID))
		require.NoError(t, err)
		require.NoError(t, txnWriteAll(tx, users, stored))
		eve := stored[3]
		eve.Name = "Eve II"
		concurrently(t, "changing a record read", func() error { return users.Update(eve) })
		stored[3] = eve
		before := dump(t, users)
		require.ErrorIs(t, tx.Commit(), ErrConflict)
		txnRequireNoTrace(t, db, users, stored, before)
	})
}

// TestDB_Update_RetriesAreBounded: a transaction whose every run conflicts
// runs maxAttempts times, then Update returns ErrConflict having written
// nothing.
func TestDB_Update_RetriesAreBounded(t *testing.T) {
	db, users, stored := newFixtureUsers(t)
	runs := 0
	err := db.Update(func(tx *Tx) error {
		runs++
		in := users.In(tx)
		leo, err := in.Get(uID.Eq(stored[0].ID))
		if err != nil {
			return err
		}
		concurrently(t, "changing the record read", func() error {
			u := leo
			u.Age++
			return users.Update(u)
		})
		_, err = in.Insert(userTagged(fmt.Sprint("run", runs), 1))
		return err
	})
	require.ErrorIs(t, err, ErrConflict)
	assert.Equal(t, maxAttempts, runs)
	assert.Equal(t, len(stored), users.Len(), "no run's insert was stored")
	got, err := users.Get(uID.Eq(stored[0].ID))
	require.NoError(t, err)
	assert.Equal(t, stored[0].Age+maxAttempts, got.Age)
}

// TestDB_Update_FnErrorIsNotRetried: fn's own error ends Update at once,
// even one that is ErrConflict, even when a concurrent commit changed what
// fn read.
func TestDB_Update_FnErrorIsNotRetried(t *testing.T) {
	db, users, stored := newFixtureUsers(t)
	for _, fnErr := range []error{errors.New("mine"), ErrConflict} {
		runs := 0
		err := db.Update(func(tx *Tx) error {
			runs++
			if _, err := users.In(tx).Get(uID.Eq(stored[0].ID)); err != nil {
				return err
			}
			concurrently(t, "changing the record read", func() error {
				u := stored[0]
				u.Name += "+"
				stored[0] = u
				return users.Update(u)
			})
			return fnErr
		})
		require.Same(t, fnErr, err)
		assert.Equal(t, 1, runs, "%v", fnErr)
	}
}

// TestTx_Savepoint_Nested: a savepoint that returns an error undoes its
// writes and those of the savepoints inside it, nothing else; the
// transaction goes on and commits the rest.
func TestTx_Savepoint_Nested(t *testing.T) {
	db, users, stored := newFixtureUsers(t)
	errInner, errOuter := errors.New("inner"), errors.New("outer")
	var final []User
	err := db.Update(func(tx *Tx) error {
		in := users.In(tx)
		a, err := in.Insert(userTagged("a", 1))
		require.NoError(t, err)
		err = tx.Savepoint(func(sp *Tx) error {
			require.Same(t, tx, sp, "a savepoint runs in the same transaction")
			_, err := in.Insert(userTagged("b", 2))
			require.NoError(t, err)
			inner := tx.Savepoint(func(tx *Tx) error {
				_, err := in.Insert(userTagged("c", 3))
				require.NoError(t, err)
				renamed := a
				renamed.Name = "renamed"
				require.NoError(t, in.Update(renamed))
				_, err = in.Delete(uID.Eq(stored[0].ID))
				require.NoError(t, err)
				return errInner
			})
			require.Same(t, errInner, inner, "the savepoint returns fn's error")
			got, err := in.Get(uID.Eq(a.ID))
			require.NoError(t, err)
			assert.Equal(t, a, got, "the inner update is undone")
			_, err = in.Get(uEmail.Eq("c@example.com"))
			assert.ErrorIs(t, err, ErrNotFound, "the inner insert is undone")
			got, err = in.Get(uID.Eq(stored[0].ID))
			require.NoError(t, err)
			assert.Equal(t, stored[0], got, "the inner delete is undone")
			return nil
		})
		require.NoError(t, err)

		err = tx.Savepoint(func(tx *Tx) error {
			_, err := in.Insert(userTagged("d", 4))
			require.NoError(t, err)
			require.NoError(t, tx.Savepoint(func(*Tx) error {
				_, err := in.Insert(userTagged("e", 5))
				return err
			}), "a savepoint that succeeds inside one that fails")
			return errOuter
		})
		require.Same(t, errOuter, err)
		for _, email := range []string{"d@example.com", "e@example.com"} {
			_, err := in.Get(uEmail.Eq(email))
			assert.ErrorIs(t, err, ErrNotFound, "%s is undone with the savepoint around it", email)
		}
		_, err = in.Insert(userTagged("d", 4))
		require.NoError(t, err, "the undone savepoint's unique keys are free")

		// A failed write inside a savepoint is undone at once; the
		// savepoint goes on.
		require.NoError(t, tx.Savepoint(func(tx *Tx) error {
			dup := userTagged("dup", 6)
			dup.Email = a.Email
			_, err := in.Insert(dup)
			txnRequireEmailHeldBy(t, err, dup, a)
			_, err = in.Insert(userTagged("f", 6))
			return err
		}))
		final = dump(t, in)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, final, dump(t, users))
	var emails []string
	for _, u := range final[len(stored):] {
		emails = append(emails, u.Email)
	}
	assert.Equal(t, []string{"a@example.com", "b@example.com", "d@example.com", "f@example.com"}, emails)
	assert.Equal(t, stored, final[:len(stored)])
}

// TestTx_Savepoint_Panic: a panic inside a savepoint undoes the savepoint's
// writes and propagates unchanged; recovered inside fn, the transaction
// goes on; not recovered, Update rolls everything back and re-raises it.
func TestTx_Savepoint_Panic(t *testing.T) {
	db, users, _ := newFixtureUsers(t)
	p := &testPanic{"savepoint"}
	err := db.Update(func(tx *Tx) error {
		in := users.In(tx)
		_, err := in.Insert(userTagged("kept", 1))
		require.NoError(t, err)
		got := recovered(func() {
			_ = tx.Savepoint(func(tx *Tx) error {
				_, err := in.Insert(userTagged("lost", 2))
				require.NoError(t, err)
				return tx.Savepoint(func(*Tx) error {
					_, err := in.Insert(userTagged("lost-inner", 3))
					require.NoError(t, err)
					panic(p)
				})
			})
		})
		require.Same(t, p, got)
		for _, email := range []string{"lost@example.com", "lost-inner@example.com"} {
			_, err = in.Get(uEmail.Eq(email))
			assert.ErrorIs(t, err, ErrNotFound, "%s is undone", email)
		}
		_, err = in.Insert(userTagged("after", 4))
		return err
	})
	require.NoError(t, err)
	for email, want := range map[string]bool{"kept": true, "after": true, "lost": false, "lost-inner": false} {
		_, err := users.Get(uEmail.Eq(email + "@example.com"))
		if want {
			assert.NoError(t, err, email)
		} else {
			assert.ErrorIs(t, err, ErrNotFound, email)
		}
	}

	before := dump(t, users)
	got := recovered(func() {
		_ = db.Update(func(tx *Tx) error {
			_, err := users.In(tx).Insert(userTagged("outer", 5))
			require.NoError(t, err)
			return tx.Savepoint(func(tx *Tx) error {
				_, err := users.In(tx).Insert(userTagged("inner", 6))
				require.NoError(t, err)
				panic(p)
			})
		})
	})
	require.Same(t, p, got)
	assert.Equal(t, before, dump(t, users))
}

// TestTx_Savepoint_Unusable: Savepoint on an ended transaction returns
// ErrTxDone and on a read-only one ErrReadOnly, without calling fn; a
// savepoint whose fn ends the transaction returns fn's error and undoes
// nothing more.
func TestTx_Savepoint_Unusable(t *testing.T) {
	db, users, _ := newFixtureUsers(t)
	called := false
	fn := func(*Tx) error { called = true; return nil }

	committed, err := db.Begin(true)
	require.NoError(t, err)
	require.NoError(t, committed.Commit())
	assert.ErrorIs(t, committed.Savepoint(fn), ErrTxDone)
	rolledBack, err := db.Begin(true)
	require.NoError(t, err)
	require.NoError(t, rolledBack.Rollback())
	assert.ErrorIs(t, rolledBack.Savepoint(fn), ErrTxDone)
	require.NoError(t, db.View(func(tx *Tx) error {
		assert.ErrorIs(t, tx.Savepoint(fn), ErrReadOnly)
		return nil
	}))
	var viewTx *Tx
	require.NoError(t, db.View(func(tx *Tx) error { viewTx = tx; return nil }))
	assert.ErrorIs(t, viewTx.Savepoint(fn), ErrTxDone, "a View's transaction after View returned")
	assert.False(t, called, "fn never runs")

	stop := errors.New("stop")
	tx, err := db.Begin(true)
	require.NoError(t, err)
	_, err = users.In(tx).Insert(userTagged("before", 1))
	require.NoError(t, err)
	err = tx.Savepoint(func(tx *Tx) error {
		require.NoError(t, tx.Commit())
		return stop
	})
	require.Same(t, stop, err)
	_, err = users.Get(uEmail.Eq("before@example.com"))
	assert.NoError(t, err, "the commit inside the savepoint stands")
	_, err = users.In(tx).Insert(userTagged("after", 2))
	assert.ErrorIs(t, err, ErrTxDone)
}

// TestTx_Commit_Manual: Begin, Commit and Rollback under manual control.
func TestTx_Commit_Manual(t *testing.T) {
	db, users, stored := newFixtureUsers(t)

	tx, err := db.Begin(true)
	require.NoError(t, err)
	defer tx.Rollback() // harmless after Commit
	assert.True(t, tx.Writable())
	added, err := users.In(tx).Insert(userTagged("committed", 1))
	require.NoError(t, err)
	_, err = users.Get(uEmail.Eq(added.Email))
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, tx.Commit())
	got, err := users.Get(uEmail.Eq(added.Email))
	require.NoError(t, err)
	assert.Equal(t, added, got)
	assert.ErrorIs(t, tx.Commit(), ErrTxDone)
	assert.ErrorIs(t, tx.Rollback(), ErrTxDone, "Rollback after Commit")

	before := dump(t, users)
	tx, err = db.Begin(true)
	require.NoError(t, err)
	_, err = users.In(tx).Insert(userTagged("rolled", 1))
	require.NoError(t, err)
	renamed := stored[0]
	renamed.Name = "rolled back"
	require.NoError(t, users.In(tx).Update(renamed))
	require.NoError(t, tx.Rollback())
	assert.ErrorIs(t, tx.Rollback(), ErrTxDone)
	assert.ErrorIs(t, tx.Commit(), ErrTxDone, "Commit after Rollback")
	assert.Equal(t, before, dump(t, users))
	_, err = users.Insert(userTagged("rolled", 1))
	assert.NoError(t, err, "the rolled-back insert's email is free")

	ro, err := db.Begin(false)
	require.NoError(t, err)
	assert.False(t, ro.Writable())
	got, err = users.In(ro).Get(uID.Eq(stored[0].ID))
	require.NoError(t, err)
	assert.Equal(t, stored[0], got)
	require.NoError(t, ro.Commit(), "committing a read-only transaction ends it")
	assert.ErrorIs(t, ro.Rollback(), ErrTxDone)

	// A transaction that read and wrote nothing commits.
	empty, err := db.Begin(true)
	require.NoError(t, err)
	require.NoError(t, empty.Commit())
}

// TestTx_Commit_Conflicts: a manual Commit returns ErrConflict, writing
// nothing, exactly when a concurrent commit changed what the transaction
// read (through Get, Filter's verbs, Len, GetOrCreate, UpdateOrCreate) or
// wrote, or took a unique key it wrote.
func TestTx_Commit_Conflicts(t *testing.T) {
	leo := func(s []User) User { return s[0] }
	ann := func(s []User) User { return s[1] }
	rename := func(u User) func(*Table[User]) error {
		return func(users *Table[User]) error { u.Name += "+"; return users.Update(u) }
	}
	insert := func(tag string, age int) func(*Table[User]) error {
		return func(users *Table[User]) error { _, err := users.Insert(userTagged(tag, age)); return err }
	}
	get := func(c func(s []User) Cond[User]) func(*Table[User], []User) error {
		return func(in *Table[User], s []User) error { _, err := in.Get(c(s)); return txnIgnoreNotFound(err) }
	}
	query := func(verb func(q *Query[User]) error) func(*Table[User], []User) error {
		return func(in *Table[User], _ []User) error { return verb(in.Filter(uAge.Eq(30))) }
	}
	var fixture []User
	for i := range 4 {
		fixture = append(fixture, fixtureUser(i))
	}
	for _, tc := range []struct {
		name     string
		op       func(in *Table[User], s []User) error // the transaction's read or write
		change   func(users *Table[User]) error        // the concurrent commit
		conflict bool
	}{
		{"Get by pk, record changed", get(func(s []User) Cond[User] { return uID.Eq(leo(s).ID) }), rename(leo(fixture)), true},
		{"Get by pk, another record changed", get(func(s []User) Cond[User] { return uID.Eq(leo(s).ID) }), rename(ann(fixture)), false},
		{"Get by email, record deleted", get(func(s []User) Cond[User] { return uEmail.Eq(leo(s).Email) }),
			func(users *Table[User]) error { _, err := users.Delete(uEmail.Eq(leo(fixture).Email)); return err }, true},
		{"Get missing, then inserted", get(func([]User) Cond[User] { return uEmail.Eq("new@example.com") }), insert("new", 1), true},
		{"Get missing, another inserted", get(func([]User) Cond[User] { return uEmail.Eq("new@example.com") }), insert("other", 1), false},
		{"Get by org/username, record changed", get(func(s []User) Cond[User] { return And(uOrg.Eq("acme"), uUsername.Eq("ann")) }), rename(ann(fixture)), true},
		{"Count, matching insert", query(func(q *Query[User]) error { _, err := q.Count(); return err }), insert("p", 30), true},
		{"Count, other insert", query(func(q *Query[User]) error { _, err := q.Count(); return err }), insert("p", 31), false},
		{"Collect, record leaves", query(func(q *Query[User]) error { _, err := q.Collect(); return err }),
			func(users *Table[User]) error { u := ann(fixture); u.Age = 31; return users.Update(u) }, true},
		// First read one record: a match after it changes nothing read.
		{"First, matching insert after the first", query(func(q *Query[User]) error { _, _, err := q.First(); return err }), insert("p", 30), false},
		{"First, matching insert before the first", query(func(q *Query[User]) error {
			_, _, err := q.OrderBy(uEmail.Asc()).First()
			return err
		}), insert("aa", 30), true},
		{"Exists, record changed", query(func(q *Query[User]) error { _, err := q.Exists(); return err }), rename(leo(fixture)), true},
		{"Query.Get, record changed", func(in *Table[User], s []User) error {
			_, err := in.Filter(uOrg.Eq("acme")).Get(uUsername.Eq("leo"))
			return err
		}, rename(leo(fixture)), true},
		{"All, matching insert", query(func(q *Query[User]) error {
			for _, err := range q.All() {
				if err != nil {
					return err
				}
			}
			return nil
		}), insert("p", 30), true},
		{"Len, insert", func(in *Table[User], _ []User) error { _ = in.Len(); return nil }, insert("p", 1), true},
		{"GetOrCreate hit, record changed", func(in *Table[User], s []User) error {
			_, _, err := in.GetOrCreate(uEmail.Eq(leo(s).Email), txnNoCreate)
			return err
		}, rename(leo(fixture)), true},
		{"GetOrCreate miss, created concurrently", func(in *Table[User], _ []User) error {
			_, _, err := in.GetOrCreate(uName.Eq("new"), func() (User, error) { return userTagged("new", 1), nil })
			return err
		}, insert("new", 2), true},
		{"UpdateOrCreate, record changed", func(in *Table[User], s []User) error {
			_, _, err := in.UpdateOrCreate(uEmail.Eq(leo(s).Email), func(u User) (User, error) { u.Age = 1; return u, nil }, txnNoCreate)
			return err
		}, rename(leo(fixture)), true},
		{"write only, record changed", func(in *Table[User], s []User) error {
			u := leo(s)
			u.Age = 1
			return in.Update(u)
		}, rename(leo(fixture)), true},
		{"write only, another record changed", func(in *Table[User], s []User) error {
			u := leo(s)
			u.Age = 1
			return in.Update(u)
		}, rename(ann(fixture)), false},
		{"delete, record deleted", func(in *Table[User], s []User) error {
			_, err := in.Delete(uID.Eq(ann(s).ID))
			return err
		}, func(users *Table[User]) error { _, err := users.Delete(uID.Eq(ann(fixture).ID)); return err }, true},
		{"insert, email taken", func(in *Table[User], _ []User) error { _, err := in.Insert(userTagged("new", 1)); return err }, insert("new", 2), true},
		{"insert, org/username taken", func(in *Table[User], _ []User) error {
			u := userTagged("new", 1)
			u.Email = "mine@example.com"
			_, err := in.Insert(u)
			return err
		}, insert("new", 2), true},
		{"insert, auto-assigned key taken by an explicit one", func(in *Table[User], _ []User) error {
			u, err := in.Insert(userTagged("new", 1))
			if err == nil && u.ID != 5 {
				err = fmt.Errorf("assigned id %d, want 5", u.ID)
			}
			return err
		}, func(users *Table[User]) error {
			u := userTagged("five", 2)
			u.ID = 5
			_, err := users.Insert(u)
			return err
		}, true},
		{"update, new email taken", func(in *Table[User], s []User) error {
			u := leo(s)
			u.Email = "new@example.com"
			return in.Update(u)
		}, insert("new", 2), true},
		{"insert, other keys taken", func(in *Table[User], _ []User) error { _, err := in.Insert(userTagged("new", 1)); return err }, insert("other", 2), false},
		{"Query.Update, record changed", func(in *Table[User], _ []User) error {
			_, err := in.Filter(uAge.Eq(41)).Update(func(u User) (User, error) { u.Name = "x"; return u, nil })
			return err
		}, func(users *Table[User]) error { u := fixture[2]; u.Age = 42; return users.Update(u) }, true},
		{"Query.Delete, matching insert", func(in *Table[User], _ []User) error {
			_, err := in.Filter(uAge.Eq(41)).Delete()
			return err
		}, insert("p", 41), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, users, stored := newFixtureUsers(t)
			require.Equal(t, fixture, stored)
			tx, err := db.Begin(true)
			require.NoError(t, err)
			defer tx.Rollback()
			require.NoError(t, tc.op(users.In(tx), stored))
			witness, err := users.In(tx).Insert(userTagged("witness", 7))
			require.NoError(t, err)
			concurrently(t, "the concurrent commit", func() error { return tc.change(users) })
			before := dump(t, users)
			err = tx.Commit()
			if !tc.conflict {
				require.NoError(t, err)
				got, err := users.Get(uEmail.Eq(witness.Email))
				require.NoError(t, err)
				assert.Equal(t, witness, got)
				return
			}
			require.ErrorIs(t, err, ErrConflict)
			assert.Equal(t, before, dump(t, users), "a conflicting commit writes nothing")
			assert.ErrorIs(t, tx.Rollback(), ErrTxDone, "a failed commit ends the transaction")
		})
	}
}

func txnIgnoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// txnCall is one call through a transaction-bound handle, returning its
// error; the callbacks it passes set *ran.
type txnCall struct {
	name  string
	write bool
	call  func(tx *Tx, in *Table[User], ran *bool) error
}

func txnCalls() []txnCall {
	newUser := func(ran *bool) func() (User, error) {
		return func() (User, error) { *ran = true; return userTagged("created", 1), nil }
	}
	rename := func(ran *bool) func(User) (User, error) {
		return func(u User) (User, error) { *ran = true; u.Name += "+"; return u, nil }
	}
	leo := fixtureUser(0)
	return []txnCall{
		{"Get", false, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Get(uID.Eq(1)); return err }},
		{"Filter.Collect", false, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Filter().Collect(); return err }},
		{"Filter.Count", false, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Filter(uAge.Eq(30)).Count(); return err }},
		{"Filter.First", false, func(_ *Tx, in *Table[User], _ *bool) error { _, _, err := in.Filter().First(); return err }},
		{"Filter.Last", false, func(_ *Tx, in *Table[User], _ *bool) error { _, _, err := in.Filter().Last(); return err }},
		{"Filter.Exists", false, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Filter().Exists(); return err }},
		{"Filter.Get", false, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Filter().Get(uID.Eq(1)); return err }},
		{"Filter.Latest", false, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Filter().Latest(uAge); return err }},
		{"Filter.All", false, func(_ *Tx, in *Table[User], _ *bool) error {
			for _, err := range in.Filter().All() {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"InBulk", false, func(_ *Tx, in *Table[User], _ *bool) error {
			_, err := InBulk(in.Filter(), uEmail, leo.Email)
			return err
		}},
		{"Insert", true, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Insert(userTagged("new", 1)); return err }},
		{"Update", true, func(_ *Tx, in *Table[User], _ *bool) error { u := leo; u.Age = 2; return in.Update(u) }},
		{"Upsert", true, func(_ *Tx, in *Table[User], _ *bool) error { _, _, err := in.Upsert(userTagged("new", 1)); return err }},
		{"Delete", true, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Delete(uID.Eq(1)); return err }},
		{"Filter.Delete", true, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Filter(uAge.Eq(30)).Delete(); return err }},
		{"Filter.Update", true, func(_ *Tx, in *Table[User], ran *bool) error {
			_, err := in.Filter(uAge.Eq(30)).Update(rename(ran))
			return err
		}},
		{"GetOrCreate", true, func(_ *Tx, in *Table[User], ran *bool) error {
			_, _, err := in.GetOrCreate(uEmail.Eq("created@example.com"), newUser(ran))
			return err
		}},
		{"Filter.GetOrCreate", true, func(_ *Tx, in *Table[User], ran *bool) error {
			_, _, err := in.Filter(uOrg.Eq("tag")).GetOrCreate(uEmail.Eq("created@example.com"), newUser(ran))
			return err
		}},
		{"UpdateOrCreate", true, func(_ *Tx, in *Table[User], ran *bool) error {
			_, _, err := in.UpdateOrCreate(uEmail.Eq(leo.Email), rename(ran), newUser(ran))
			return err
		}},
		{"InsertMany", true, func(_ *Tx, in *Table[User], _ *bool) error {
			_, err := in.InsertMany([]User{userTagged("m1", 1)}, OnConflict[User]{})
			return err
		}},
		{"InsertMany ignoring", true, func(_ *Tx, in *Table[User], _ *bool) error {
			_, err := in.InsertMany([]User{userTagged("m1", 1)}, OnConflict[User]{Ignore: true})
			return err
		}},
		{"InsertMany merging", true, func(_ *Tx, in *Table[User], ran *bool) error {
			_, err := in.InsertMany([]User{leo}, OnConflict[User]{Update: func(existing, _ User) (User, error) {
				*ran = true
				return existing, nil
			}})
			return err
		}},
		{"Savepoint", true, func(tx *Tx, _ *Table[User], ran *bool) error {
			return tx.Savepoint(func(*Tx) error { *ran = true; return nil })
		}},
	}
}

// TestTx_UseAfterEnd: every call through a transaction that has committed,
// rolled back or failed to commit returns ErrTxDone, runs no callback and
// changes nothing; Len reads 0 and All yields nothing.
func TestTx_UseAfterEnd(t *testing.T) {
	ends := []struct {
		name     string
		writable bool
		end      func(t *testing.T, tx *Tx, users *Table[User])
	}{
		{"commit", true, func(t *testing.T, tx *Tx, _ *Table[User]) { require.NoError(t, tx.Commit()) }},
		{"rollback", true, func(t *testing.T, tx *Tx, _ *Table[User]) { require.NoError(t, tx.Rollback()) }},
		{"failed commit", true, func(t *testing.T, tx *Tx, users *Table[User]) {
			_, err := users.In(tx).Get(uID.Eq(1))
			require.NoError(t, err)
			concurrently(t, "changing the record read", func() error {
				_, _, err := users.UpdateOrCreate(uID.Eq(1), func(u User) (User, error) { u.Age++; return u, nil }, txnNoCreate)
				return err
			})
			require.ErrorIs(t, tx.Commit(), ErrConflict)
		}},
		{"read-only commit", false, func(t *testing.T, tx *Tx, _ *Table[User]) { require.NoError(t, tx.Commit()) }},
		{"read-only rollback", false, func(t *testing.T, tx *Tx, _ *Table[User]) { require.NoError(t, tx.Rollback()) }},
	}
	for _, end := range ends {
		t.Run(end.name, func(t *testing.T) {
			db, users, _ := newFixtureUsers(t)
			tx, err := db.Begin(end.writable)
			require.NoError(t, err)
			end.end(t, tx, users)
			before := dump(t, users)
			in := users.In(tx)
			for _, c := range txnCalls() {
				ran := false
				assert.ErrorIs(t, c.call(tx, in, &ran), ErrTxDone, c.name)
				assert.False(t, ran, "%s ran a callback", c.name)
			}
			assert.Zero(t, in.Len())
			n := 0
			for _, err := range in.Filter().All() {
				n++
				assert.ErrorIs(t, err, ErrTxDone, "All")
			}
			assert.Equal(t, 1, n, "All yields its error once")
			assert.ErrorIs(t, tx.Commit(), ErrTxDone)
			assert.ErrorIs(t, tx.Rollback(), ErrTxDone)
			assert.Equal(t, before, dump(t, users))
		})
	}
}

// TestTx_ReadOnly_WritesFail: in a read-only transaction every read works
// and every write returns ErrReadOnly and changes nothing.
func TestTx_ReadOnly_WritesFail(t *testing.T) {
	db, users, _ := newFixtureUsers(t)
	before := dump(t, users)
	for _, begin := range []string{"View", "Begin(false)"} {
		t.Run(begin, func(t *testing.T) {
			check := func(tx *Tx) {
				in := users.In(tx)
				for _, c := range txnCalls() {
					ran := false
					err := c.call(tx, in, &ran)
					if c.write {
						assert.ErrorIs(t, err, ErrReadOnly, c.name)
					} else {
						assert.NoError(t, err, c.name)
					}
				}
				assert.Equal(t, len(before), in.Len())
				assert.Equal(t, before, dump(t, in))
			}
			if begin == "View" {
				require.NoError(t, db.View(func(tx *Tx) error { check(tx); return nil }))
			} else {
				tx, err := db.Begin(false)
				require.NoError(t, err)
				check(tx)
				require.NoError(t, tx.Commit())
			}
			assert.Equal(t, before, dump(t, users))
		})
	}
}

// TestTx_ReadOnly_NoCallbackRuns: a write in a read-only transaction fails
// before calling any user callback, as UpdateOrCreate and GetOrCreate do:
// the callback's work would be thrown away.
func TestTx_ReadOnly_NoCallbackRuns(t *testing.T) {
	db, users, _ := newFixtureUsers(t)
	require.NoError(t, db.View(func(tx *Tx) error {
		for _, c := range txnCalls() {
			ran := false
			_ = c.call(tx, users.In(tx), &ran)
			assert.False(t, ran, "%s ran its callback in a read-only transaction", c.name)
		}
		return nil
	}))
}

// TestDB_View_IgnoresLaterWrites: a View's snapshot sees none of the writes
// committed after it began, in any table, not even a table declared after
// it began; a write transaction begun before a table was declared can
// write it.
func TestDB_View_IgnoresLaterWrites(t *testing.T) {
	db, users, stored := newFixtureUsers(t)
	view, err := db.Begin(false)
	require.NoError(t, err)
	defer view.Rollback()
	early, err := db.Begin(true)
	require.NoError(t, err)
	defer early.Rollback()
	pBefore := isoProbeOf(stored)
	before := isoObserve(users.In(view), pBefore)

	added, err := users.Insert(userTagged("later", 30))
	require.NoError(t, err)
	changed := stored[0]
	changed.Age = 31
	require.NoError(t, users.Update(changed))
	_, err = users.Delete(uID.Eq(stored[1].ID))
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *Tx) error {
		_, err := users.In(tx).Filter(uAge.Eq(41)).Update(func(u User) (User, error) { u.Name = "x"; return u, nil })
		return err
	}))
	accounts := newAccounts(t, db)
	_, err = accounts.Insert(Account{ID: 1, Owner: "ann", Balance: 5})
	require.NoError(t, err)

	assert.Equal(t, before, isoObserve(users.In(view), pBefore), "the View reads as when it began")
	_, err = users.In(view).Get(uID.Eq(added.ID))
	assert.ErrorIs(t, err, ErrNotFound)
	p := isoProbeOf(stored, []User{added, changed})
	acc := accounts.In(view)
	assert.Zero(t, acc.Len(), "a table declared after the View began is empty in it")
	_, err = acc.Get(accID.Eq(1))
	assert.ErrorIs(t, err, ErrNotFound)
	n, err := acc.Filter(accOwner.Eq("ann")).Count()
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Empty(t, dump(t, acc))

	// A write transaction begun before the table existed writes it.
	in := accounts.In(early)
	_, err = in.Insert(Account{ID: 2, Owner: "bob", Balance: 7})
	require.NoError(t, err)
	got, err := in.Get(accID.Eq(2))
	require.NoError(t, err)
	assert.Equal(t, Account{ID: 2, Owner: "bob", Balance: 7}, got)
	require.NoError(t, early.Commit())
	assert.Equal(t, []Account{{ID: 1, Owner: "ann", Balance: 5}, {ID: 2, Owner: "bob", Balance: 7}}, dump(t, accounts))

	require.NoError(t, db.View(func(tx *Tx) error {
		assert.Equal(t, isoObserve(users, p), isoObserve(users.In(tx), p), "a new View sees everything")
		return nil
	}))
}

// TestTx_GetOrCreate_InTransaction: GetOrCreate and Query.GetOrCreate
// inside a write transaction see its snapshot and own writes, report
// created as they would outside, and fail at once, leaving the transaction
// usable, on several matches, a unique violation, a failing create or a
// record not matching the lookup.
func TestTx_GetOrCreate_InTransaction(t *testing.T) {
	users, in, stored, commit := txnFixture(t)
	calls := 0
	create := func(u User) func() (User, error) {
		return func() (User, error) { calls++; return u, nil }
	}

	kim, created, err := in.GetOrCreate(uEmail.Eq("kim@example.com"), create(userTagged("kim", 50)))
	require.NoError(t, err)
	assert.True(t, created)
	assert.NotZero(t, kim.ID)
	again, created, err := in.GetOrCreate(uEmail.Eq("kim@example.com"), create(userTagged("kim", 51)))
	require.NoError(t, err)
	assert.False(t, created, "the transaction's own record")
	assert.Equal(t, kim, again)
	byAge, created, err := in.GetOrCreate(uAge.Eq(50), create(userTagged("kim2", 50)))
	require.NoError(t, err)
	assert.False(t, created, "found through the plain index")
	assert.Equal(t, kim, byAge)
	leo, created, err := in.GetOrCreate(And(uOrg.Eq("acme"), uUsername.Eq("leo")), create(User{}))
	require.NoError(t, err)
	assert.False(t, created, "a record of the snapshot")
	assert.Equal(t, stored[0], leo)
	assert.Equal(t, 1, calls)

	_, _, err = in.GetOrCreate(uAge.Eq(30), create(User{}))
	requireMultiple(t, err, "User", 2)
	_, err = in.Insert(userTagged("kim3", 50))
	require.NoError(t, err)
	_, _, err = in.GetOrCreate(uAge.Eq(50), create(User{}))
	require.ErrorIs(t, err, ErrMultipleReturned, "through the transaction's own write")
	assert.Equal(t, 1, calls, "no create on several matches")

	clash := userTagged("clash", 1)
	clash.Org, clash.Username = "acme", "leo"
	_, _, err = in.GetOrCreate(uEmail.Eq("clash@example.com"), create(clash))
	// A unique violation outside the lookup, at once.
	requireErrorAs(t, err, userViolation("org_username", []string{"org", "username"}, []string{"acme", "leo"}, stored[0]))
	fail := errors.New("create failed")
	_, _, err = in.GetOrCreate(uEmail.Eq("fail@example.com"), func() (User, error) { return User{}, fail })
	requireErrorAs(t, err, &CallbackError{Table: "User", Callback: "create", Err: fail})
	assert.ErrorIs(t, err, fail)
	_, _, err = in.GetOrCreate(uEmail.Eq("lie@example.com"), create(userTagged("other", 1)))
	require.ErrorIs(t, err, ErrInvalidLookup)

	// Query.GetOrCreate searches the query's records only.
	initechAnn, created, err := in.Filter(uOrg.Eq("initech")).GetOrCreate(uUsername.Eq("ann"), create(User{
		Email: "ann@initech.test", Org: "initech", Username: "ann", Name: "Ann of initech", Age: 60}))
	require.NoError(t, err)
	assert.True(t, created, "acme's ann is outside the query")

	// The transaction is usable after every error; nothing is visible
	// outside until it commits.
	final := commit()
	require.Len(t, final, len(stored)+3)
	got, err := users.Get(uEmail.Eq("ann@initech.test"))
	require.NoError(t, err)
	assert.Equal(t, initechAnn, got)
}

// TestTx_UpdateOrCreate_InTransaction: UpdateOrCreate inside a write
// transaction updates the snapshot's records and its own, creates what is
// missing, and fails at once on a unique violation or several matches,
// leaving the transaction usable.
func TestTx_UpdateOrCreate_InTransaction(t *testing.T) {
	_, in, stored, commit := txnFixture(t)
	older := func(u User) (User, error) { u.Age++; return u, nil }

	leo, created, err := in.UpdateOrCreate(uEmail.Eq(stored[0].Email), older, txnNoCreate)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, stored[0].Age+1, leo.Age)
	fay, created, err := in.UpdateOrCreate(uEmail.Eq("fay@example.com"), older, func() (User, error) { return userTagged("fay", 20), nil })
	require.NoError(t, err)
	assert.True(t, created)
	fay2, created, err := in.UpdateOrCreate(uEmail.Eq("fay@example.com"), older, txnNoCreate)
	require.NoError(t, err)
	assert.False(t, created, "the transaction's own record")
	assert.Equal(t, fay.Age+1, fay2.Age)

	_, _, err = in.UpdateOrCreate(uEmail.Eq(stored[0].Email), func(u User) (User, error) {
		u.Username = "ann" // acme/ann is Ann's
		return u, nil
	}, txnNoCreate)
	requireErrorAs(t, err, userViolation("org_username", []string{"org", "username"}, []string{"acme", "ann"}, stored[1]))
	_, _, err = in.UpdateOrCreate(uOrg.Eq("acme"), older, txnNoCreate)
	require.ErrorIs(t, err, ErrMultipleReturned)
	fail := errors.New("update failed")
	_, _, err = in.UpdateOrCreate(uID.Eq(stored[2].ID), func(User) (User, error) { return User{}, fail }, txnNoCreate)
	require.ErrorIs(t, err, fail)

	got, err := in.Get(uID.Eq(leo.ID))
	require.NoError(t, err)
	assert.Equal(t, leo, got, "the failed updates changed nothing")
	commit()
}

// TestQuery_UpdateDelete_InTransaction: Query.Update and Query.Delete inside
// a write transaction change exactly the records the transaction sees
// matching, or nothing on an error, and nothing outside until it commits.
func TestQuery_UpdateDelete_InTransaction(t *testing.T) {
	users, in, stored, commit := txnFixture(t)
	own, err := in.Insert(userTagged("own", 30))
	require.NoError(t, err)

	n, err := in.Filter(uAge.Eq(30)).Update(func(u User) (User, error) { u.Name += "!"; return u, nil })
	require.NoError(t, err)
	assert.Equal(t, 3, n, "Leo, Ann and the transaction's own record")
	names, err := in.Filter(uAge.Eq(30)).Collect()
	require.NoError(t, err)
	assert.Equal(t, []string{"Leo!", "Ann!", "own!"}, []string{names[0].Name, names[1].Name, names[2].Name})
	inside := dump(t, in)

	_, err = in.Filter(uAge.Eq(30)).Update(func(u User) (User, error) { u.Username = "same"; return u, nil })
	require.ErrorIs(t, err, ErrUniqueViolation, "Leo and Ann would share acme/same")
	fail := errors.New("update failed")
	_, err = in.Filter(uAge.Eq(30)).Update(func(u User) (User, error) {
		if u.ID == own.ID {
			return u, fail
		}
		u.Age = 1
		return u, nil
	})
	require.ErrorIs(t, err, fail)
	_, err = in.Filter(uAge.Eq(30)).Update(func(u User) (User, error) { u.ID += 100; return u, nil })
	require.ErrorIs(t, err, ErrInvalidKey, "changing the primary key")
	assert.Equal(t, inside, dump(t, in), "the failed updates changed nothing")

	n, err = in.Filter(Or(uAge.Eq(41), uEmail.Eq(own.Email))).Delete()
	require.NoError(t, err)
	assert.Equal(t, 2, n, "Bob and the transaction's own record")
	assert.Equal(t, 3, in.Len())
	n, err = in.Filter(uAge.Eq(41)).Delete()
	require.NoError(t, err)
	assert.Zero(t, n)

	commit()
	_, err = users.Get(uID.Eq(stored[2].ID))
	assert.ErrorIs(t, err, ErrNotFound)
}

// TestDB_Update_BlockedFnBlocksNoWriter: while a write transaction's fn is
// blocked, having written and read, every other call finishes: plain
// writes, GetOrCreate of the very key the transaction created, other
// transactions and reads. The blocked transaction then commits, running
// again where a concurrent commit took what it wrote.
func TestDB_Update_BlockedFnBlocksNoWriter(t *testing.T) {
	db, users, stored := newFixtureUsers(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	var runs atomic.Int32
	var contested []bool // created, per run
	var updateErr error
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		updateErr = db.Update(func(tx *Tx) error {
			in := users.In(tx)
			run := runs.Add(1)
			if _, err := in.Insert(userTagged("long", 1)); err != nil {
				return err
			}
			_, created, err := in.GetOrCreate(uEmail.Eq("contested@example.com"), func() (User, error) {
				return userTagged("contested", 1), nil
			})
			if err != nil {
				return err
			}
			contested = append(contested, created)
			leo := stored[0]
			leo.Name = "long"
			if err := in.Update(leo); err != nil {
				return err
			}
			if _, err := in.Filter(uAge.Eq(41)).Count(); err != nil {
				return err
			}
			if run == 1 {
				close(entered)
				<-release
			}
			return nil
		})
	}()
	defer func() {
		releaseOnce.Do(func() { close(release) })
		<-finished // no goroutine outlives the test
	}()
	within(t, testTimeout, "the transaction's first run", func() { <-entered })

	var r struct {
		u       User
		created bool
		err     error
	}
	within(t, testTimeout, "GetOrCreate of the key the blocked transaction created", func() {
		r.u, r.created, r.err = users.GetOrCreate(uEmail.Eq("contested@example.com"), func() (User, error) {
			u := userTagged("contested", 2)
			u.Username = "contested-plain"
			return u, nil
		})
	})
	require.NoError(t, r.err)
	require.True(t, r.created, "the transaction's uncommitted record is invisible")
	plain := r.u
	for name, call := range map[string]func() error{
		"Insert": func() error { _, err := users.Insert(userTagged("plain", 2)); return err },
		"GetOrCreate": func() error {
			_, _, err := users.GetOrCreate(uEmail.Eq("goc@example.com"), func() (User, error) { return userTagged("goc", 2), nil })
			return err
		},
		"Update": func() error { u := stored[1]; u.Name = "plain"; return users.Update(u) },
		"Delete": func() error { _, err := users.Delete(uID.Eq(stored[3].ID)); return err },
		"UpdateOrCreate": func() error {
			_, _, err := users.UpdateOrCreate(uEmail.Eq("uoc@example.com"), func(u User) (User, error) { return u, nil }, func() (User, error) { return userTagged("uoc", 2), nil })
			return err
		},
		"InsertMany": func() error {
			_, err := users.InsertMany([]User{userTagged("bulk", 2)}, OnConflict[User]{})
			return err
		},
		"Filter.Update": func() error {
			_, err := users.Filter(uAge.Eq(2)).Update(func(u User) (User, error) { return u, nil })
			return err
		},
		"another Update": func() error {
			return db.Update(func(tx *Tx) error { _, err := users.In(tx).Insert(userTagged("tx2", 2)); return err })
		},
		"View": func() error {
			return db.View(func(tx *Tx) error { _, err := users.In(tx).Filter().Count(); return err })
		},
		"AddIndex": func() error { return users.AddIndex(Index("user_name", uName)) },
		"Get of an uncommitted record": func() error {
			_, err := users.Get(uEmail.Eq("long@example.com"))
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			return fmt.Errorf("the uncommitted record is visible: %v", err)
		},
	} {
		concurrently(t, name, call)
	}

	releaseOnce.Do(func() { close(release) })
	within(t, testTimeout, "the released transaction", func() { <-finished })
	require.NoError(t, updateErr)
	assert.Equal(t, int32(2), runs.Load(), "the contested key made the first commit conflict")
	assert.Equal(t, []bool{true, false}, contested, "the second run found the plain record")
	got, err := users.Get(uEmail.Eq("contested@example.com"))
	require.NoError(t, err)
	assert.Equal(t, plain, got)
	got, err = users.Get(uID.Eq(stored[0].ID))
	require.NoError(t, err)
	assert.Equal(t, "long", got.Name)
	_, err = users.Get(uEmail.Eq("long@example.com"))
	assert.NoError(t, err)
}

// txnBenchDB returns a DB whose User table (newUsers' schema, without the
// invariant checker, which would dominate at 1M records) holds n records.
func txnBenchDB(b *testing.B, n int) *DB {
	b.Helper()
	db := newUncheckedDB()
	users := newUsersIn(b, db)
	const chunk = 10_000
	batch := make([]User, 0, chunk)
	for i := range n {
		batch = append(batch, User{Email: fmt.Sprintf("u%d@example.com", i), Org: "bench",
			Username: fmt.Sprint("u", i), Name: "bench", Age: i % 100})
		if len(batch) == chunk || i == n-1 {
			_, err := users.InsertMany(batch, OnConflict[User]{})
			require.NoError(b, err)
			batch = batch[:0]
		}
	}
	require.Equal(b, n, users.Len())
	return db
}

// BenchmarkTxBegin measures beginning and ending a View, which must not
// depend on the size of the DB.
func BenchmarkTxBegin(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			if n > 10_000 && testing.Short() {
				b.Skip("building 1M records is skipped under -short")
			}
			db := txnBenchDB(b, n)
			fn := func(*Tx) error { return nil }
			b.ReportAllocs()
			for b.Loop() { // the table was built before the first call: untimed
				if err := db.View(fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDB_Update measures a write transaction inserting one record
// ("update"), and a bare insert made while another goroutine keeps a
// transaction function open ("bare insert/during update"), which reads
// its goroutine's stack to tell it is not inside that function; "bare
// insert/alone" is the same insert with no function open.
//
//	go test -run '^$' -bench DB_Update -cpu 2
func BenchmarkDB_Update(b *testing.B) {
	b.Run("update", func(b *testing.B) {
		db, users := newUsers(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if err := db.Update(func(tx *Tx) error {
				_, err := users.In(tx).Insert(userTagged(fmt.Sprint(i), 1))
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, during := range []bool{false, true} {
		name := map[bool]string{false: "bare insert/alone", true: "bare insert/during update"}[during]
		b.Run(name, func(b *testing.B) {
			db, users := newUsers(b)
			release, held := make(chan struct{}), make(chan struct{})
			if during {
				go func() {
					_ = db.Update(func(*Tx) error { close(held); <-release; return nil })
				}()
				<-held
			}
			defer close(release)
			benchInserts(b, users)
		})
	}
}

// TestTx_BareHandleInTxFunc: inside DB.Update's function, every write
// through the bare table handle (of any DB), and a nested DB.Update, is
// refused with ErrOutsideTx before any callback runs, and writes nothing;
// reads through it work, and a GetOrCreate that finds returns the record.
// The function's own writes through the transaction still commit.
func TestTx_BareHandleInTxFunc(t *testing.T) {
	funcs := []struct {
		name string
		run  func(db *DB, fn func(tx *Tx) error) error
	}{
		{"Update", (*DB).Update},
		{"Savepoint", func(db *DB, fn func(tx *Tx) error) error {
			return db.Update(func(tx *Tx) error { return tx.Savepoint(fn) })
		}},
		{"deep in Update", func(db *DB, fn func(tx *Tx) error) error {
			var deep func(n int, tx *Tx) error
			deep = func(n int, tx *Tx) error {
				if n == 0 {
					return fn(tx)
				}
				return deep(n-1, tx)
			}
			return db.Update(func(tx *Tx) error { return deep(150, tx) }) // more than one stack read
		}},
	}
	for _, f := range funcs {
		t.Run(f.name, func(t *testing.T) {
			db, users, stored := newFixtureUsers(t)
			other, otherUsers, _ := newFixtureUsers(t)
			before, otherBefore := dump(t, users), dump(t, otherUsers)
			require.NoError(t, f.run(db, func(tx *Tx) error {
				for _, c := range txnCalls() {
					if c.name == "Savepoint" {
						continue // through tx, not a handle
					}
					for _, bare := range []*Table[User]{users, otherUsers} {
						ran := false
						err := c.call(tx, bare, &ran)
						if c.write {
							requireAccessError(t, err, ErrOutsideTx, "User")
							assert.False(t, ran, "%s ran its callback", c.name)
						} else {
							assert.NoError(t, err, c.name)
						}
					}
				}
				got, created, err := users.GetOrCreate(uEmail.Eq(stored[0].Email), txnNoCreate)
				assert.NoError(t, err, "a GetOrCreate that finds writes nothing")
				assert.False(t, created)
				assert.Equal(t, stored[0], got)
				got, created, err = users.Filter(uAge.Eq(stored[0].Age)).GetOrCreate(uEmail.Eq(stored[0].Email), txnNoCreate)
				assert.NoError(t, err)
				assert.False(t, created)
				assert.Equal(t, stored[0], got)
				assert.ErrorIs(t, db.Update(func(*Tx) error { t.Error("a nested Update ran"); return nil }), ErrOutsideTx)
				assert.ErrorIs(t, other.Update(func(*Tx) error { t.Error("a nested Update ran"); return nil }), ErrOutsideTx)
				return nil
			}))
			assert.Equal(t, before, dump(t, users), "nothing written")
			assert.Equal(t, otherBefore, dump(t, otherUsers), "nothing written in the other DB")

			// Once the function has returned, or panicked, the bare handle writes.
			assert.Panics(t, func() { _ = f.run(db, func(*Tx) error { panic("boom") }) })
			_, err := users.Insert(userTagged("after", 1))
			require.NoError(t, err)
		})
	}
	t.Run("writes through the transaction commit", func(t *testing.T) {
		db, users, _ := newFixtureUsers(t)
		var added User
		require.NoError(t, db.Update(func(tx *Tx) error {
			_, err := users.Insert(userTagged("bare", 1))
			require.ErrorIs(t, err, ErrOutsideTx)
			added, err = users.In(tx).Insert(userTagged("bound", 1))
			return err
		}))
		got, err := users.Get(uID.Eq(added.ID))
		require.NoError(t, err)
		assert.Equal(t, added, got)
		_, err = users.Get(uEmail.Eq(userTagged("bare", 1).Email))
		assert.ErrorIs(t, err, ErrNotFound)
	})
}

// TestTx_BareHandleOtherGoroutines: while transaction functions run, bare
// writes on other goroutines go on: none is refused, and every one lands.
// (A View's function may write through bare handles: it has nothing to
// roll back and runs once; TestDB_View does.)
func TestTx_BareHandleOtherGoroutines(t *testing.T) {
	db, users := newUsers(t)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			assert.NoError(t, db.Update(func(tx *Tx) error {
				time.Sleep(50 * time.Microsecond) // hold the function open
				_, err := users.In(tx).Filter(uAge.Eq(-1)).Count()
				return err
			}))
		}
	}()
	const writers, each = 4, 200
	var inserted atomic.Int64
	var ww sync.WaitGroup
	for w := range writers {
		ww.Add(1)
		go func() {
			defer ww.Done()
			for i := range each {
				_, err := users.Insert(userTagged(fmt.Sprintf("w%d-%d", w, i), 1))
				if assert.NoError(t, err) {
					inserted.Add(1)
				}
			}
		}()
	}
	ww.Wait()
	stop.Store(true)
	wg.Wait()
	assert.EqualValues(t, writers*each, inserted.Load())
	assert.Equal(t, writers*each, users.Len())
}
