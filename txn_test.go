package recstore

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Transactions under manual control, rollback, panics, savepoints, the
// table verbs inside a transaction, and what a transaction must not block.
// The fixtures and helpers (isoFixture, isoUser, isoWithin, …) are in
// isolation_test.go.

// txnWriteAll writes users every way a transaction can, each write one a
// rollback must undo: an insert, an update moving every key of Ann, a
// delete of Bob, a GetOrCreate, an UpdateOrCreate, an InsertMany, a
// Query.Update, a Query.Delete and a write inside a savepoint.
func txnWriteAll(tx *Tx, users *Table[User], stored []User) error {
	in := users.In(tx)
	if _, err := in.Insert(isoUser("taken", 1)); err != nil {
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
		return isoUser("goc", 2), nil
	}); err != nil || !created {
		return fmt.Errorf("GetOrCreate: %v, %w", created, err)
	}
	if _, _, err := in.UpdateOrCreate(uEmail.Eq(stored[2].Email), func(u User) (User, error) {
		u.Age++
		return u, nil
	}, nil); err != nil {
		return err
	}
	if _, err := in.InsertMany([]User{isoUser("many1", 3), isoUser("many2", 3)}, OnConflict[User]{}); err != nil {
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
		_, err := users.In(tx).Insert(isoUser("saved", 4))
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
	require.NoError(t, isoWithin(t, "the next Update", func() error {
		return db.Update(func(tx *Tx) error {
			_, err := users.In(tx).Insert(isoUser("next", 5))
			return err
		})
	}))
	type goc struct {
		created bool
		err     error
	}
	r := isoWithin(t, "the next GetOrCreate", func() goc {
		_, created, err := users.GetOrCreate(uEmail.Eq("goc@example.com"), func() (User, error) {
			return isoUser("goc", 2), nil
		})
		return goc{created, err}
	})
	require.NoError(t, r.err)
	assert.True(t, r.created, "the rolled-back GetOrCreate stored nothing")
	for _, u := range []User{isoUser("taken", 1), isoUser("moved", 1), isoUser("saved", 1), isoUser("many1", 1)} {
		_, err := users.Insert(u)
		assert.NoError(t, err, "%s is free again", u.Email)
	}
	again := isoUser("ann2", 1)
	again.Email = stored[0].Email
	_, err := users.Insert(again)
	txnRequireEmailHeldBy(t, err, stored[0])
	got, err := users.Get(uID.Eq(stored[1].ID))
	require.NoError(t, err)
	assert.Equal(t, stored[1], got, "the deleted record is back")
}

func txnRequireEmailHeldBy(t *testing.T, err error, holder User) {
	t.Helper()
	require.ErrorIs(t, err, ErrUniqueViolation)
	var uv *UniqueViolationError
	require.ErrorAs(t, err, &uv)
	assert.Equal(t, "user_email", uv.Constraint)
	assert.Equal(t, holder, uv.Existing)
}

// TestDB_Update_RollbackLeavesNoTrace: a transaction that returns an error,
// panics (in fn or in a callback of a verb), is rolled back or fails to
// commit leaves the dump identical, holds nothing, and frees the unique
// keys it used.
func TestDB_Update_RollbackLeavesNoTrace(t *testing.T) {
	t.Run("error", func(t *testing.T) {
		db, users, stored := isoFixture(t)
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
		raise func(tx *Tx, users *Table[User], p *isoPanic)
	}{
		{"panic", func(*Tx, *Table[User], *isoPanic) {}},
		{"panic in a GetOrCreate create callback", func(tx *Tx, users *Table[User], p *isoPanic) {
			_, _, _ = users.In(tx).GetOrCreate(uEmail.Eq("boom@example.com"), func() (User, error) { panic(p) })
		}},
		{"panic in a Query.Update callback", func(tx *Tx, users *Table[User], p *isoPanic) {
			_, _ = users.In(tx).Filter().Update(func(User) (User, error) { panic(p) })
		}},
		{"panic in a Savepoint", func(tx *Tx, users *Table[User], p *isoPanic) {
			_ = tx.Savepoint(func(*Tx) error { panic(p) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, users, stored := isoFixture(t)
			before := dump(t, users)
			p := &isoPanic{tc.name}
			runs := 0
			got := isoRecover(func() {
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
		db, users, stored := isoFixture(t)
		before := dump(t, users)
		tx, err := db.Begin(true)
		require.NoError(t, err)
		require.NoError(t, txnWriteAll(tx, users, stored))
		require.NoError(t, tx.Rollback())
		txnRequireNoTrace(t, db, users, stored, before)
	})

	t.Run("failed commit", func(t *testing.T) {
		db, users, stored := isoFixture(t)
		tx, err := db.Begin(true)
		require.NoError(t, err)
		_, err = users.In(tx).Get(uID.Eq(stored[3].ID))
		require.NoError(t, err)
		require.NoError(t, txnWriteAll(tx, users, stored))
		dee := stored[3]
		dee.Name = "Dee II"
		isoConcurrently(t, "changing a record read", func() error { return users.Update(dee) })
		stored[3] = dee
		before := dump(t, users)
		require.ErrorIs(t, tx.Commit(), ErrConflict)
		txnRequireNoTrace(t, db, users, stored, before)
	})
}

// TestDB_Update_RetriesAreBounded: a transaction whose every run conflicts
// runs maxAttempts times, then Update returns ErrConflict having written
// nothing.
func TestDB_Update_RetriesAreBounded(t *testing.T) {
	db, users, stored := isoFixture(t)
	runs := 0
	err := db.Update(func(tx *Tx) error {
		runs++
		in := users.In(tx)
		ann, err := in.Get(uID.Eq(stored[0].ID))
		if err != nil {
			return err
		}
		isoConcurrently(t, "changing the record read", func() error {
			u := ann
			u.Age++
			return users.Update(u)
		})
		_, err = in.Insert(isoUser(fmt.Sprint("run", runs), 1))
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
	db, users, stored := isoFixture(t)
	for _, fnErr := range []error{errors.New("mine"), ErrConflict} {
		runs := 0
		err := db.Update(func(tx *Tx) error {
			runs++
			if _, err := users.In(tx).Get(uID.Eq(stored[0].ID)); err != nil {
				return err
			}
			isoConcurrently(t, "changing the record read", func() error {
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
	db, users, stored := isoFixture(t)
	errInner, errOuter := errors.New("inner"), errors.New("outer")
	var final []User
	err := db.Update(func(tx *Tx) error {
		in := users.In(tx)
		a, err := in.Insert(isoUser("a", 1))
		require.NoError(t, err)
		err = tx.Savepoint(func(sp *Tx) error {
			require.Same(t, tx, sp, "a savepoint runs in the same transaction")
			_, err := in.Insert(isoUser("b", 2))
			require.NoError(t, err)
			inner := tx.Savepoint(func(tx *Tx) error {
				_, err := in.Insert(isoUser("c", 3))
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
			_, err := in.Insert(isoUser("d", 4))
			require.NoError(t, err)
			require.NoError(t, tx.Savepoint(func(*Tx) error {
				_, err := in.Insert(isoUser("e", 5))
				return err
			}), "a savepoint that succeeds inside one that fails")
			return errOuter
		})
		require.Same(t, errOuter, err)
		for _, email := range []string{"d@example.com", "e@example.com"} {
			_, err := in.Get(uEmail.Eq(email))
			assert.ErrorIs(t, err, ErrNotFound, "%s is undone with the savepoint around it", email)
		}
		_, err = in.Insert(isoUser("d", 4))
		require.NoError(t, err, "the undone savepoint's unique keys are free")

		// A failed write inside a savepoint is undone at once; the
		// savepoint goes on.
		require.NoError(t, tx.Savepoint(func(tx *Tx) error {
			dup := isoUser("dup", 6)
			dup.Email = a.Email
			_, err := in.Insert(dup)
			txnRequireEmailHeldBy(t, err, a)
			_, err = in.Insert(isoUser("f", 6))
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
	db, users, _ := isoFixture(t)
	p := &isoPanic{"savepoint"}
	err := db.Update(func(tx *Tx) error {
		in := users.In(tx)
		_, err := in.Insert(isoUser("kept", 1))
		require.NoError(t, err)
		got := isoRecover(func() {
			_ = tx.Savepoint(func(tx *Tx) error {
				_, err := in.Insert(isoUser("lost", 2))
				require.NoError(t, err)
				return tx.Savepoint(func(*Tx) error {
					_, err := in.Insert(isoUser("lost-inner", 3))
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
		_, err = in.Insert(isoUser("after", 4))
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
	got := isoRecover(func() {
		_ = db.Update(func(tx *Tx) error {
			_, err := users.In(tx).Insert(isoUser("outer", 5))
			require.NoError(t, err)
			return tx.Savepoint(func(tx *Tx) error {
				_, err := users.In(tx).Insert(isoUser("inner", 6))
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
	db, users, _ := isoFixture(t)
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
	_, err = users.In(tx).Insert(isoUser("before", 1))
	require.NoError(t, err)
	err = tx.Savepoint(func(tx *Tx) error {
		require.NoError(t, tx.Commit())
		return stop
	})
	require.Same(t, stop, err)
	_, err = users.Get(uEmail.Eq("before@example.com"))
	assert.NoError(t, err, "the commit inside the savepoint stands")
	_, err = users.In(tx).Insert(isoUser("after", 2))
	assert.ErrorIs(t, err, ErrTxDone)
}

// TestTx_Commit_Manual: Begin, Commit and Rollback under manual control.
func TestTx_Commit_Manual(t *testing.T) {
	db, users, stored := isoFixture(t)

	tx, err := db.Begin(true)
	require.NoError(t, err)
	defer tx.Rollback() // harmless after Commit
	assert.True(t, tx.Writable())
	added, err := users.In(tx).Insert(isoUser("committed", 1))
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
	_, err = users.In(tx).Insert(isoUser("rolled", 1))
	require.NoError(t, err)
	renamed := stored[0]
	renamed.Name = "rolled back"
	require.NoError(t, users.In(tx).Update(renamed))
	require.NoError(t, tx.Rollback())
	assert.ErrorIs(t, tx.Rollback(), ErrTxDone)
	assert.ErrorIs(t, tx.Commit(), ErrTxDone, "Commit after Rollback")
	assert.Equal(t, before, dump(t, users))
	_, err = users.Insert(isoUser("rolled", 1))
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
	ann := func(s []User) User { return s[0] }
	bob := func(s []User) User { return s[1] }
	rename := func(u User) func(*Table[User]) error {
		return func(users *Table[User]) error { u.Name += "+"; return users.Update(u) }
	}
	insert := func(tag string, age int) func(*Table[User]) error {
		return func(users *Table[User]) error { _, err := users.Insert(isoUser(tag, age)); return err }
	}
	get := func(c func(s []User) Cond[User]) func(*Table[User], []User) error {
		return func(in *Table[User], s []User) error { _, err := in.Get(c(s)); return txnIgnoreNotFound(err) }
	}
	query := func(verb func(q *Query[User]) error) func(*Table[User], []User) error {
		return func(in *Table[User], _ []User) error { return verb(in.Filter(uAge.Eq(30))) }
	}
	fixture := isoFixtureUsers()
	for i := range fixture {
		fixture[i].ID = int64(i + 1)
	}
	for _, tc := range []struct {
		name     string
		op       func(in *Table[User], s []User) error // the transaction's read or write
		change   func(users *Table[User]) error        // the concurrent commit
		conflict bool
	}{
		{"Get by pk, record changed", get(func(s []User) Cond[User] { return uID.Eq(ann(s).ID) }), rename(ann(fixture)), true},
		{"Get by pk, another record changed", get(func(s []User) Cond[User] { return uID.Eq(ann(s).ID) }), rename(bob(fixture)), false},
		{"Get by email, record deleted", get(func(s []User) Cond[User] { return uEmail.Eq(ann(s).Email) }),
			func(users *Table[User]) error { _, err := users.Delete(uEmail.Eq(ann(fixture).Email)); return err }, true},
		{"Get missing, then inserted", get(func([]User) Cond[User] { return uEmail.Eq("new@example.com") }), insert("new", 1), true},
		{"Get missing, another inserted", get(func([]User) Cond[User] { return uEmail.Eq("new@example.com") }), insert("other", 1), false},
		{"Get by org/username, record changed", get(func(s []User) Cond[User] { return And(uOrg.Eq("acme"), uUsername.Eq("bob")) }), rename(bob(fixture)), true},
		{"Count, matching insert", query(func(q *Query[User]) error { _, err := q.Count(); return err }), insert("p", 30), true},
		{"Count, other insert", query(func(q *Query[User]) error { _, err := q.Count(); return err }), insert("p", 31), false},
		{"Collect, record leaves", query(func(q *Query[User]) error { _, err := q.Collect(); return err }),
			func(users *Table[User]) error { u := bob(fixture); u.Age = 31; return users.Update(u) }, true},
		// First read one record: a match after it changes nothing read.
		{"First, matching insert after the first", query(func(q *Query[User]) error { _, _, err := q.First(); return err }), insert("p", 30), false},
		{"First, matching insert before the first", query(func(q *Query[User]) error {
			_, _, err := q.OrderBy(uEmail.Asc()).First()
			return err
		}), insert("aa", 30), true},
		{"Exists, record changed", query(func(q *Query[User]) error { _, err := q.Exists(); return err }), rename(ann(fixture)), true},
		{"Query.Get, record changed", func(in *Table[User], s []User) error {
			_, err := in.Filter(uOrg.Eq("acme")).Get(uUsername.Eq("ann"))
			return err
		}, rename(ann(fixture)), true},
		{"All, matching insert", query(func(q *Query[User]) error {
			for range q.All() {
			}
			return nil
		}), insert("p", 30), true},
		{"Len, insert", func(in *Table[User], _ []User) error { _ = in.Len(); return nil }, insert("p", 1), true},
		{"GetOrCreate hit, record changed", func(in *Table[User], s []User) error {
			_, _, err := in.GetOrCreate(uEmail.Eq(ann(s).Email), nil)
			return err
		}, rename(ann(fixture)), true},
		{"GetOrCreate miss, created concurrently", func(in *Table[User], _ []User) error {
			_, _, err := in.GetOrCreate(uName.Eq("new"), func() (User, error) { return isoUser("new", 1), nil })
			return err
		}, insert("new", 2), true},
		{"UpdateOrCreate, record changed", func(in *Table[User], s []User) error {
			_, _, err := in.UpdateOrCreate(uEmail.Eq(ann(s).Email), func(u User) (User, error) { u.Age = 1; return u, nil }, nil)
			return err
		}, rename(ann(fixture)), true},
		{"write only, record changed", func(in *Table[User], s []User) error {
			u := ann(s)
			u.Age = 1
			return in.Update(u)
		}, rename(ann(fixture)), true},
		{"write only, another record changed", func(in *Table[User], s []User) error {
			u := ann(s)
			u.Age = 1
			return in.Update(u)
		}, rename(bob(fixture)), false},
		{"delete, record deleted", func(in *Table[User], s []User) error {
			_, err := in.Delete(uID.Eq(bob(s).ID))
			return err
		}, func(users *Table[User]) error { _, err := users.Delete(uID.Eq(bob(fixture).ID)); return err }, true},
		{"insert, email taken", func(in *Table[User], _ []User) error { _, err := in.Insert(isoUser("new", 1)); return err }, insert("new", 2), true},
		{"insert, org/username taken", func(in *Table[User], _ []User) error {
			u := isoUser("new", 1)
			u.Email = "mine@example.com"
			_, err := in.Insert(u)
			return err
		}, insert("new", 2), true},
		{"insert, auto-assigned key taken by an explicit one", func(in *Table[User], _ []User) error {
			u, err := in.Insert(isoUser("new", 1))
			if err == nil && u.ID != 5 {
				err = fmt.Errorf("assigned id %d, want 5", u.ID)
			}
			return err
		}, func(users *Table[User]) error {
			u := isoUser("five", 2)
			u.ID = 5
			_, err := users.Insert(u)
			return err
		}, true},
		{"update, new email taken", func(in *Table[User], s []User) error {
			u := ann(s)
			u.Email = "new@example.com"
			return in.Update(u)
		}, insert("new", 2), true},
		{"insert, other keys taken", func(in *Table[User], _ []User) error { _, err := in.Insert(isoUser("new", 1)); return err }, insert("other", 2), false},
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
			db, users, stored := isoFixture(t)
			require.Equal(t, fixture, stored)
			tx, err := db.Begin(true)
			require.NoError(t, err)
			defer tx.Rollback()
			require.NoError(t, tc.op(users.In(tx), stored))
			witness, err := users.In(tx).Insert(isoUser("witness", 7))
			require.NoError(t, err)
			isoConcurrently(t, "the concurrent commit", func() error { return tc.change(users) })
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
		return func() (User, error) { *ran = true; return isoUser("created", 1), nil }
	}
	rename := func(ran *bool) func(User) (User, error) {
		return func(u User) (User, error) { *ran = true; u.Name += "+"; return u, nil }
	}
	ann := User{ID: 1, Email: "ann@example.com", Org: "acme", Username: "ann", Name: "Ann", Age: 30}
	return []txnCall{
		{"Get", false, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Get(uID.Eq(1)); return err }},
		{"Filter.Collect", false, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Filter().Collect(); return err }},
		{"Filter.Count", false, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Filter(uAge.Eq(30)).Count(); return err }},
		{"Filter.First", false, func(_ *Tx, in *Table[User], _ *bool) error { _, _, err := in.Filter().First(); return err }},
		{"Filter.Last", false, func(_ *Tx, in *Table[User], _ *bool) error { _, _, err := in.Filter().Last(); return err }},
		{"Filter.Exists", false, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Filter().Exists(); return err }},
		{"Filter.Get", false, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Filter().Get(uID.Eq(1)); return err }},
		{"Filter.Latest", false, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Filter().Latest(uAge); return err }},
		{"Filter.Err", false, func(_ *Tx, in *Table[User], _ *bool) error { return in.Filter().Err() }},
		{"InBulk", false, func(_ *Tx, in *Table[User], _ *bool) error {
			_, err := InBulk(in.Filter(), uEmail, ann.Email)
			return err
		}},
		{"Insert", true, func(_ *Tx, in *Table[User], _ *bool) error { _, err := in.Insert(isoUser("new", 1)); return err }},
		{"Update", true, func(_ *Tx, in *Table[User], _ *bool) error { u := ann; u.Age = 2; return in.Update(u) }},
		{"Upsert", true, func(_ *Tx, in *Table[User], _ *bool) error { _, _, err := in.Upsert(isoUser("new", 1)); return err }},
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
			_, _, err := in.Filter(uOrg.Eq("iso")).GetOrCreate(uEmail.Eq("created@example.com"), newUser(ran))
			return err
		}},
		{"UpdateOrCreate", true, func(_ *Tx, in *Table[User], ran *bool) error {
			_, _, err := in.UpdateOrCreate(uEmail.Eq(ann.Email), rename(ran), newUser(ran))
			return err
		}},
		{"InsertMany", true, func(_ *Tx, in *Table[User], _ *bool) error {
			_, err := in.InsertMany([]User{isoUser("m1", 1)}, OnConflict[User]{})
			return err
		}},
		{"InsertMany ignoring", true, func(_ *Tx, in *Table[User], _ *bool) error {
			_, err := in.InsertMany([]User{isoUser("m1", 1)}, OnConflict[User]{Ignore: true})
			return err
		}},
		{"InsertMany merging", true, func(_ *Tx, in *Table[User], ran *bool) error {
			_, err := in.InsertMany([]User{ann}, OnConflict[User]{Update: func(existing, _ User) (User, error) {
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
			isoConcurrently(t, "changing the record read", func() error {
				_, _, err := users.UpdateOrCreate(uID.Eq(1), func(u User) (User, error) { u.Age++; return u, nil }, nil)
				return err
			})
			require.ErrorIs(t, tx.Commit(), ErrConflict)
		}},
		{"read-only commit", false, func(t *testing.T, tx *Tx, _ *Table[User]) { require.NoError(t, tx.Commit()) }},
		{"read-only rollback", false, func(t *testing.T, tx *Tx, _ *Table[User]) { require.NoError(t, tx.Rollback()) }},
	}
	for _, end := range ends {
		t.Run(end.name, func(t *testing.T) {
			db, users, _ := isoFixture(t)
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
			for range in.Filter().All() {
				t.Error("All yielded a record")
			}
			assert.ErrorIs(t, tx.Commit(), ErrTxDone)
			assert.ErrorIs(t, tx.Rollback(), ErrTxDone)
			assert.Equal(t, before, dump(t, users))
		})
	}
}

// TestTx_ReadOnly_WritesFail: in a read-only transaction every read works
// and every write returns ErrReadOnly and changes nothing.
func TestTx_ReadOnly_WritesFail(t *testing.T) {
	db, users, _ := isoFixture(t)
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
	db, users, _ := isoFixture(t)
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
	db, users, stored := isoFixture(t)
	view, err := db.Begin(false)
	require.NoError(t, err)
	defer view.Rollback()
	early, err := db.Begin(true)
	require.NoError(t, err)
	defer early.Rollback()
	pBefore := isoProbeOf(stored)
	before := isoObserve(users.In(view), pBefore)

	added, err := users.Insert(isoUser("later", 30))
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
	accounts := newIsoAccounts(t, db)
	_, err = accounts.Insert(isoAccount{ID: 1, Owner: "ann", Balance: 5})
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
	_, err = in.Insert(isoAccount{ID: 2, Owner: "bob", Balance: 7})
	require.NoError(t, err)
	got, err := in.Get(accID.Eq(2))
	require.NoError(t, err)
	assert.Equal(t, isoAccount{ID: 2, Owner: "bob", Balance: 7}, got)
	require.NoError(t, early.Commit())
	assert.Equal(t, []isoAccount{{ID: 1, Owner: "ann", Balance: 5}, {ID: 2, Owner: "bob", Balance: 7}}, dump(t, accounts))

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
	db, users, stored := isoFixture(t)
	before := dump(t, users)
	tx, err := db.Begin(true)
	require.NoError(t, err)
	defer tx.Rollback()
	in := users.In(tx)
	calls := 0
	create := func(u User) func() (User, error) {
		return func() (User, error) { calls++; return u, nil }
	}

	eve, created, err := in.GetOrCreate(uEmail.Eq("eve@example.com"), create(isoUser("eve", 50)))
	require.NoError(t, err)
	assert.True(t, created)
	assert.NotZero(t, eve.ID)
	again, created, err := in.GetOrCreate(uEmail.Eq("eve@example.com"), create(isoUser("eve", 51)))
	require.NoError(t, err)
	assert.False(t, created, "the transaction's own record")
	assert.Equal(t, eve, again)
	byAge, created, err := in.GetOrCreate(uAge.Eq(50), create(isoUser("eve2", 50)))
	require.NoError(t, err)
	assert.False(t, created, "found through the plain index")
	assert.Equal(t, eve, byAge)
	ann, created, err := in.GetOrCreate(And(uOrg.Eq("acme"), uUsername.Eq("ann")), create(User{}))
	require.NoError(t, err)
	assert.False(t, created, "a record of the snapshot")
	assert.Equal(t, stored[0], ann)
	assert.Equal(t, 1, calls)

	_, _, err = in.GetOrCreate(uAge.Eq(30), create(User{}))
	var mr *MultipleReturnedError
	require.ErrorAs(t, err, &mr)
	assert.Equal(t, 2, mr.Count)
	_, err = in.Insert(isoUser("eve3", 50))
	require.NoError(t, err)
	_, _, err = in.GetOrCreate(uAge.Eq(50), create(User{}))
	require.ErrorIs(t, err, ErrMultipleReturned, "through the transaction's own write")
	assert.Equal(t, 1, calls, "no create on several matches")

	clash := isoUser("clash", 1)
	clash.Org, clash.Username = "acme", "ann"
	_, _, err = in.GetOrCreate(uEmail.Eq("clash@example.com"), create(clash))
	var uv *UniqueViolationError
	require.ErrorAs(t, err, &uv, "a unique violation outside the lookup, at once")
	assert.Equal(t, "org_username", uv.Constraint)
	assert.Equal(t, stored[0], uv.Existing)
	fail := errors.New("create failed")
	_, _, err = in.GetOrCreate(uEmail.Eq("fail@example.com"), func() (User, error) { return User{}, fail })
	var ce *CallbackError
	require.ErrorAs(t, err, &ce)
	assert.ErrorIs(t, err, fail)
	_, _, err = in.GetOrCreate(uEmail.Eq("lie@example.com"), create(isoUser("other", 1)))
	require.ErrorIs(t, err, ErrInvalidLookup)

	// Query.GetOrCreate searches the query's records only.
	initechAnn, created, err := in.Filter(uOrg.Eq("initech")).GetOrCreate(uUsername.Eq("ann"), create(User{
		Email: "ann@initech.test", Org: "initech", Username: "ann", Name: "Ann of initech", Age: 60}))
	require.NoError(t, err)
	assert.True(t, created, "acme's ann is outside the query")

	// The transaction is usable after every error; nothing is visible
	// outside until it commits.
	final := dump(t, in)
	require.Len(t, final, len(before)+3)
	assert.Equal(t, before, dump(t, users))
	require.NoError(t, tx.Commit())
	assert.Equal(t, final, dump(t, users))
	got, err := users.Get(uEmail.Eq("ann@initech.test"))
	require.NoError(t, err)
	assert.Equal(t, initechAnn, got)
}

// TestTx_UpdateOrCreate_InTransaction: UpdateOrCreate inside a write
// transaction updates the snapshot's records and its own, creates what is
// missing, and fails at once on a unique violation or several matches,
// leaving the transaction usable.
func TestTx_UpdateOrCreate_InTransaction(t *testing.T) {
	db, users, stored := isoFixture(t)
	before := dump(t, users)
	tx, err := db.Begin(true)
	require.NoError(t, err)
	defer tx.Rollback()
	in := users.In(tx)
	older := func(u User) (User, error) { u.Age++; return u, nil }

	ann, created, err := in.UpdateOrCreate(uEmail.Eq(stored[0].Email), older, nil)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, stored[0].Age+1, ann.Age)
	fay, created, err := in.UpdateOrCreate(uEmail.Eq("fay@example.com"), older, func() (User, error) { return isoUser("fay", 20), nil })
	require.NoError(t, err)
	assert.True(t, created)
	fay2, created, err := in.UpdateOrCreate(uEmail.Eq("fay@example.com"), older, nil)
	require.NoError(t, err)
	assert.False(t, created, "the transaction's own record")
	assert.Equal(t, fay.Age+1, fay2.Age)

	_, _, err = in.UpdateOrCreate(uEmail.Eq(stored[0].Email), func(u User) (User, error) {
		u.Username = "bob" // acme/bob is Bob's
		return u, nil
	}, nil)
	var uv *UniqueViolationError
	require.ErrorAs(t, err, &uv)
	assert.Equal(t, "org_username", uv.Constraint)
	_, _, err = in.UpdateOrCreate(uOrg.Eq("acme"), older, nil)
	require.ErrorIs(t, err, ErrMultipleReturned)
	fail := errors.New("update failed")
	_, _, err = in.UpdateOrCreate(uID.Eq(stored[2].ID), func(User) (User, error) { return User{}, fail }, nil)
	require.ErrorIs(t, err, fail)

	got, err := in.Get(uID.Eq(ann.ID))
	require.NoError(t, err)
	assert.Equal(t, ann, got, "the failed updates changed nothing")
	final := dump(t, in)
	assert.Equal(t, before, dump(t, users))
	require.NoError(t, tx.Commit())
	assert.Equal(t, final, dump(t, users))
}

// TestTx_InsertMany_InTransaction: InsertMany inside a write transaction
// collides with the snapshot, the transaction's own writes and the batch
// itself; aborting stores nothing of the batch, Ignore skips, Update
// merges with what the transaction sees.
func TestTx_InsertMany_InTransaction(t *testing.T) {
	db, users, stored := isoFixture(t)
	before := dump(t, users)
	tx, err := db.Begin(true)
	require.NoError(t, err)
	defer tx.Rollback()
	in := users.In(tx)
	own, err := in.Insert(isoUser("own", 1))
	require.NoError(t, err)
	withEmail := func(tag, email string) User {
		u := isoUser(tag, 2)
		u.Email = email
		return u
	}

	for name, batch := range map[string][]User{
		"with the snapshot":        {isoUser("n1", 2), withEmail("n2", stored[0].Email)},
		"with its own write":       {isoUser("n1", 2), withEmail("n2", own.Email)},
		"inside the batch":         {isoUser("n1", 2), withEmail("n2", "n1@example.com")},
		"a later record collision": {isoUser("n1", 2), isoUser("n2", 2), withEmail("n3", "n2@example.com")},
	} {
		_, err := in.InsertMany(batch, OnConflict[User]{})
		require.ErrorIs(t, err, ErrUniqueViolation, name)
		_, err = in.Get(uEmail.Eq("n1@example.com"))
		require.ErrorIs(t, err, ErrNotFound, "%s: nothing of the batch is stored", name)
	}

	res, err := in.InsertMany([]User{isoUser("i1", 3), withEmail("i2", own.Email), isoUser("i3", 3)}, OnConflict[User]{Ignore: true})
	require.NoError(t, err)
	assert.Len(t, res.Inserted, 2)
	assert.Equal(t, []User{withEmail("i2", own.Email)}, res.Skipped)

	var merged [][2]User
	res, err = in.InsertMany([]User{withEmail("m1", own.Email), withEmail("m2", stored[1].Email), isoUser("m3", 4)},
		OnConflict[User]{Update: func(existing, proposed User) (User, error) {
			merged = append(merged, [2]User{existing, proposed})
			existing.Name = proposed.Name
			return existing, nil
		}})
	require.NoError(t, err)
	require.Len(t, merged, 2)
	assert.Equal(t, own, merged[0][0], "merge sees the transaction's own record")
	assert.Equal(t, stored[1], merged[1][0], "and the snapshot's")
	require.Len(t, res.Updated, 2)
	assert.Equal(t, "m1", res.Updated[0].Name)
	assert.Equal(t, "m2", res.Updated[1].Name)
	assert.Len(t, res.Inserted, 1)

	final := dump(t, in)
	assert.Len(t, final, len(before)+4)
	assert.Equal(t, before, dump(t, users))
	require.NoError(t, tx.Commit())
	assert.Equal(t, final, dump(t, users))
}

// TestQuery_UpdateDelete_InTransaction: Query.Update and Query.Delete inside
// a write transaction change exactly the records the transaction sees
// matching, or nothing on an error, and nothing outside until it commits.
func TestQuery_UpdateDelete_InTransaction(t *testing.T) {
	db, users, stored := isoFixture(t)
	before := dump(t, users)
	tx, err := db.Begin(true)
	require.NoError(t, err)
	defer tx.Rollback()
	in := users.In(tx)
	own, err := in.Insert(isoUser("own", 30))
	require.NoError(t, err)

	n, err := in.Filter(uAge.Eq(30)).Update(func(u User) (User, error) { u.Name += "!"; return u, nil })
	require.NoError(t, err)
	assert.Equal(t, 3, n, "Ann, Bob and the transaction's own record")
	names, err := in.Filter(uAge.Eq(30)).Collect()
	require.NoError(t, err)
	assert.Equal(t, []string{"Ann!", "Bob!", "own!"}, []string{names[0].Name, names[1].Name, names[2].Name})
	inside := dump(t, in)

	_, err = in.Filter(uAge.Eq(30)).Update(func(u User) (User, error) { u.Username = "same"; return u, nil })
	require.ErrorIs(t, err, ErrUniqueViolation, "Ann and Bob would share acme/same")
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
	assert.Equal(t, 2, n, "Cid and the transaction's own record")
	assert.Equal(t, 3, in.Len())
	n, err = in.Filter(uAge.Eq(41)).Delete()
	require.NoError(t, err)
	assert.Zero(t, n)

	final := dump(t, in)
	assert.Equal(t, before, dump(t, users))
	require.NoError(t, tx.Commit())
	assert.Equal(t, final, dump(t, users))
	_, err = users.Get(uID.Eq(stored[2].ID))
	assert.ErrorIs(t, err, ErrNotFound)
}

// TestDB_Update_BlockedFnBlocksNoWriter: while a write transaction's fn is
// blocked, having written and read, every other call finishes: plain
// writes, GetOrCreate of the very key the transaction created, other
// transactions and reads. The blocked transaction then commits, running
// again where a concurrent commit took what it wrote.
func TestDB_Update_BlockedFnBlocksNoWriter(t *testing.T) {
	db, users, stored := isoFixture(t)
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
			if _, err := in.Insert(isoUser("long", 1)); err != nil {
				return err
			}
			_, created, err := in.GetOrCreate(uEmail.Eq("contested@example.com"), func() (User, error) {
				return isoUser("contested", 1), nil
			})
			if err != nil {
				return err
			}
			contested = append(contested, created)
			ann := stored[0]
			ann.Name = "long"
			if err := in.Update(ann); err != nil {
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
	wait := func(ch <-chan struct{}) func() struct{} {
		return func() struct{} { <-ch; return struct{}{} }
	}
	isoWithin(t, "the transaction's first run", wait(entered))

	type goc struct {
		u       User
		created bool
		err     error
	}
	r := isoWithin(t, "GetOrCreate of the key the blocked transaction created", func() (r goc) {
		r.u, r.created, r.err = users.GetOrCreate(uEmail.Eq("contested@example.com"), func() (User, error) {
			u := isoUser("contested", 2)
			u.Username = "contested-plain"
			return u, nil
		})
		return r
	})
	require.NoError(t, r.err)
	require.True(t, r.created, "the transaction's uncommitted record is invisible")
	plain := r.u
	for name, call := range map[string]func() error{
		"Insert": func() error { _, err := users.Insert(isoUser("plain", 2)); return err },
		"GetOrCreate": func() error {
			_, _, err := users.GetOrCreate(uEmail.Eq("goc@example.com"), func() (User, error) { return isoUser("goc", 2), nil })
			return err
		},
		"Update": func() error { u := stored[1]; u.Name = "plain"; return users.Update(u) },
		"Delete": func() error { _, err := users.Delete(uID.Eq(stored[3].ID)); return err },
		"UpdateOrCreate": func() error {
			_, _, err := users.UpdateOrCreate(uEmail.Eq("uoc@example.com"), nil, func() (User, error) { return isoUser("uoc", 2), nil })
			return err
		},
		"InsertMany": func() error { _, err := users.InsertMany([]User{isoUser("bulk", 2)}, OnConflict[User]{}); return err },
		"Filter.Update": func() error {
			_, err := users.Filter(uAge.Eq(2)).Update(func(u User) (User, error) { return u, nil })
			return err
		},
		"another Update": func() error {
			return db.Update(func(tx *Tx) error { _, err := users.In(tx).Insert(isoUser("tx2", 2)); return err })
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
		require.NoError(t, isoWithin(t, name, call), name)
	}

	releaseOnce.Do(func() { close(release) })
	isoWithin(t, "the released transaction", wait(finished))
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
	db := New(testOptions())
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
