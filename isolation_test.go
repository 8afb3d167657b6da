package recstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The isolation tests (TESTING.md item 4): deterministic anomaly tests, a
// bank test, a marker test and a long-lived reader. The Tx doc states what
// they pin: a read-only transaction sees one version of every table; a
// write transaction sees that version plus its own writes and commits only
// if what it read through Get, Filter's verbs, Len, GetOrCreate and
// UpdateOrCreate reads the same at commit and what it changed is unchanged.

// isoProbe is the set of lookups isoObserve makes.
type isoProbe struct {
	ids      []int64
	emails   []string
	orgUsers [][2]string
	ages     []int
	names    []string
}

// isoProbeOf returns a probe looking up every key of every record given.
func isoProbeOf(recs ...[]User) isoProbe {
	var p isoProbe
	for _, rs := range recs {
		for _, r := range rs {
			p.ids = append(p.ids, r.ID)
			p.emails = append(p.emails, r.Email)
			p.orgUsers = append(p.orgUsers, [2]string{r.Org, r.Username})
			p.ages = append(p.ages, r.Age)
			p.names = append(p.names, r.Name)
		}
	}
	return p
}

// isoObservation is everything a reader saw of users through one handle:
// the result of each probe through the primary key, both unique indexes,
// the plain age index and a full scan on name, then Len, Count and every
// record in primary key order. Two readers saw the same state iff their
// observations are equal.
type isoObservation struct {
	ByID, ByEmail, ByOrgUser, ByAge, ByName map[string]string
	Len, Count                              int
	All                                     []User
}

func isoResult(u User, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%+v", u)
}

func isoResults(us []User, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%+v", us)
}

// isoObserve reads users through every path in p. It uses no require, so
// that other goroutines may call it.
func isoObserve(users *Table[User], p isoProbe) isoObservation {
	o := isoObservation{ByID: map[string]string{}, ByEmail: map[string]string{},
		ByOrgUser: map[string]string{}, ByAge: map[string]string{}, ByName: map[string]string{}}
	for _, id := range p.ids {
		o.ByID[fmt.Sprint(id)] = isoResult(users.Get(uID.Eq(id)))
	}
	for _, e := range p.emails {
		o.ByEmail[e] = isoResult(users.Get(uEmail.Eq(e)))
	}
	for _, ou := range p.orgUsers {
		o.ByOrgUser[ou[0]+"/"+ou[1]] = isoResult(users.Get(uOrg.Eq(ou[0]), uUsername.Eq(ou[1])))
	}
	for _, a := range p.ages {
		o.ByAge[fmt.Sprint(a)] = isoResults(users.Filter(uAge.Eq(a)).Collect())
	}
	for _, n := range p.names {
		o.ByName[n] = isoResults(users.Filter(uName.Eq(n)).Collect())
	}
	o.Len = users.Len()
	n, err := users.Filter().Count()
	if err != nil {
		n = -1
	}
	o.Count = n
	o.All, _ = users.Filter().Collect()
	return o
}

// isoViewObserve observes users in a View run by another goroutine: a
// concurrent read-only transaction.
func isoViewObserve(t *testing.T, db *DB, users *Table[User], p isoProbe) isoObservation {
	t.Helper()
	type res struct {
		o   isoObservation
		err error
	}
	var r res
	within(t, testTimeout, "concurrent View", func() {
		var o isoObservation
		err := db.View(func(tx *Tx) error {
			o = isoObserve(users.In(tx), p)
			return nil
		})
		r = res{o, err}
	})
	require.NoError(t, r.err)
	return r.o
}

// TestDB_Update_Isolation has one subtest per anomaly that transactions
// rule out.
func TestDB_Update_Isolation(t *testing.T) {
	t.Run("dirty read", func(t *testing.T) {
		db, users, stored := newFixtureUsers(t)
		added := userTagged("zed", 30)
		changed := stored[0]
		changed.Email, changed.Username, changed.Name, changed.Age = "leo@acme.test", "leonard", "Leonard", 77
		dumped := dump(t, users)

		tx, err := db.Begin(true)
		require.NoError(t, err)
		defer tx.Rollback()
		in := users.In(tx)
		added, err = in.Insert(added)
		require.NoError(t, err)
		require.NoError(t, in.Update(changed))
		_, err = in.Delete(uID.Eq(stored[1].ID))
		require.NoError(t, err)
		p := isoProbeOf(stored, []User{added, changed})
		before := isoObserve(users, p)
		inside := isoObserve(in, p)
		require.NotEqual(t, before, inside, "the transaction sees its writes")

		assert.Equal(t, before, isoObserve(users, p), "plain reads see no uncommitted write")
		assert.Equal(t, before, isoViewObserve(t, db, users, p), "a concurrent View sees no uncommitted write")
		require.NoError(t, db.Update(func(other *Tx) error {
			assert.Equal(t, before, isoObserve(users.In(other), p), "another write transaction sees no uncommitted write")
			return nil
		}))
		assert.Equal(t, dumped, dump(t, users))

		// A View opened before the commit keeps not seeing it; a reader
		// after the commit sees all of it.
		opened, err := db.Begin(false)
		require.NoError(t, err)
		defer opened.Rollback()
		require.NoError(t, tx.Commit())
		assert.Equal(t, before, isoObserve(users.In(opened), p))
		assert.Equal(t, inside, isoObserve(users, p))
	})

	t.Run("non-repeatable read", func(t *testing.T) {
		db, users, stored := newFixtureUsers(t)
		leo := stored[0]
		edit := func(u User, name string, age int) User {
			u.Name, u.Age, u.Email = name, age, name+"@example.com"
			return u
		}
		v1, v2, v3 := edit(leo, "leo1", 31), edit(leo, "leo2", 32), edit(leo, "leo3", 33)
		p := isoProbeOf(stored, []User{v1, v2, v3})

		// In a View: a commit between two reads changes neither.
		require.NoError(t, db.View(func(tx *Tx) error {
			in := users.In(tx)
			first := isoObserve(in, p)
			concurrently(t, "update between two reads", func() error { return users.Update(v1) })
			assert.Equal(t, first, isoObserve(in, p), "second read of the View")
			got, err := in.Get(uID.Eq(leo.ID))
			assert.NoError(t, err)
			assert.Equal(t, leo, got)
			return nil
		}))
		got, err := users.Get(uID.Eq(leo.ID))
		require.NoError(t, err)
		require.Equal(t, v1, got, "the update committed")

		// In a write transaction: same, and the commit fails because what it
		// read changed.
		tx, err := db.Begin(true)
		require.NoError(t, err)
		in := users.In(tx)
		first := isoObserve(in, p)
		concurrently(t, "update between two reads", func() error { return users.Update(v2) })
		assert.Equal(t, first, isoObserve(in, p), "second read of the write transaction")
		_, err = in.Insert(userTagged("witness", 1))
		require.NoError(t, err)
		require.ErrorIs(t, tx.Commit(), ErrConflict)
		_, err = users.Get(uEmail.Eq("witness@example.com"))
		require.ErrorIs(t, err, ErrNotFound, "a conflicting commit writes nothing")

		// Update runs fn again on a fresh snapshot, which reads the new
		// version twice.
		var seen []User
		err = db.Update(func(tx *Tx) error {
			in := users.In(tx)
			a, err := in.Get(uID.Eq(leo.ID))
			if err != nil {
				return err
			}
			if len(seen) == 0 {
				concurrently(t, "update between two reads", func() error { return users.Update(v3) })
			}
			b, err := in.Get(uEmail.Eq(a.Email))
			if err != nil {
				return err
			}
			assert.Equal(t, a, b, "one run reads one version")
			seen = append(seen, b)
			b.Name += "!"
			return in.Update(b)
		})
		require.NoError(t, err)
		require.Equal(t, []User{v2, v3}, seen, "the first run read v2 and conflicted; the second read v3")
		got, err = users.Get(uID.Eq(leo.ID))
		require.NoError(t, err)
		assert.Equal(t, "leo3!", got.Name, "the increment applies to the version it read")
	})

	t.Run("phantom", func(t *testing.T) {
		db, users, _ := newFixtureUsers(t)
		thirty := users.Filter(uAge.Eq(30))

		// In a View, inserts that match commit between two counts.
		require.NoError(t, db.View(func(tx *Tx) error {
			in := users.In(tx)
			n, err := in.Filter(uAge.Eq(30)).Count()
			assert.NoError(t, err)
			assert.Equal(t, 2, n)
			before, err := in.Filter(uAge.Eq(30)).Collect()
			assert.NoError(t, err)
			concurrently(t, "matching inserts", func() error {
				for i := range 3 {
					if _, err := users.Insert(userTagged(fmt.Sprint("p", i), 30)); err != nil {
						return err
					}
				}
				return nil
			})
			n, err = in.Filter(uAge.Eq(30)).Count()
			assert.NoError(t, err)
			assert.Equal(t, 2, n, "no phantom in the count")
			after, err := in.Filter(uAge.Eq(30)).Collect()
			assert.NoError(t, err)
			assert.Equal(t, before, after, "no phantom in the records")
			assert.Equal(t, 4, in.Len())
			return nil
		}))
		n, err := thirty.Count()
		require.NoError(t, err)
		require.Equal(t, 5, n, "the inserts committed")

		// In an Update, a matching insert committed after the Filter read
		// makes the commit conflict; the second run counts it.
		var counts []int
		err = db.Update(func(tx *Tx) error {
			in := users.In(tx)
			n, err := in.Filter(uAge.Eq(30)).Count()
			if err != nil {
				return err
			}
			counts = append(counts, n)
			if len(counts) == 1 {
				concurrently(t, "matching insert", func() error {
					_, err := users.Insert(userTagged("phantom", 30))
					return err
				})
			}
			_, err = in.Insert(userTagged(fmt.Sprint("count", n), 0))
			return err
		})
		require.NoError(t, err)
		assert.Equal(t, []int{5, 6}, counts)
		_, err = users.Get(uEmail.Eq("count6@example.com"))
		require.NoError(t, err, "the commit is the second run's")
		_, err = users.Get(uEmail.Eq("count5@example.com"))
		require.ErrorIs(t, err, ErrNotFound, "the first run left nothing")

		// An insert the Filter does not match is no conflict.
		runs := 0
		err = db.Update(func(tx *Tx) error {
			runs++
			in := users.In(tx)
			if _, err := in.Filter(uAge.Eq(30)).Collect(); err != nil {
				return err
			}
			if runs == 1 {
				concurrently(t, "non-matching insert", func() error {
					_, err := users.Insert(userTagged("other", 31))
					return err
				})
			}
			_, err := in.Insert(userTagged("reader", 0))
			return err
		})
		require.NoError(t, err)
		assert.Equal(t, 1, runs, "an insert outside what the transaction read does not conflict")
	})

	t.Run("lost update", func(t *testing.T) {
		db, users := newUsers(t)
		counter, err := users.Insert(userTagged("counter", 0))
		require.NoError(t, err)
		increment := func(tx *Tx) error {
			in := users.In(tx)
			u, err := in.Get(uID.Eq(counter.ID))
			if err != nil {
				return err
			}
			u.Age++
			return in.Update(u)
		}

		// Two transactions read the same counter; the second commit fails.
		t1, err := db.Begin(true)
		require.NoError(t, err)
		t2, err := db.Begin(true)
		require.NoError(t, err)
		require.NoError(t, increment(t1))
		require.NoError(t, increment(t2))
		require.NoError(t, t1.Commit())
		require.ErrorIs(t, t2.Commit(), ErrConflict)
		got, err := users.Get(uID.Eq(counter.ID))
		require.NoError(t, err)
		require.Equal(t, 1, got.Age)

		// Many goroutines increment at once; Update retries the losers.
		const goroutines, perG = 32, 25
		var runs, exhausted atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range goroutines {
			wg.Go(func() {
				<-start
				for range perG {
					for {
						err := db.Update(func(tx *Tx) error {
							runs.Add(1)
							return increment(tx)
						})
						if errors.Is(err, ErrConflict) {
							exhausted.Add(1) // lost maxAttempts times: nothing written, try again
							continue
						}
						assert.NoError(t, err)
						break
					}
				}
			})
		}
		close(start)
		wg.Wait()
		got, err = users.Get(uID.Eq(counter.ID))
		require.NoError(t, err)
		assert.Equal(t, 1+goroutines*perG, got.Age, "every increment counted once")
		assert.GreaterOrEqual(t, runs.Load(), int64(goroutines*perG))
		t.Logf("%d increments took %d runs of fn; %d Updates gave up with ErrConflict after %d attempts",
			goroutines*perG, runs.Load(), exhausted.Load(), maxAttempts)
	})

	t.Run("write skew on indexed reads", func(t *testing.T) {
		db := newTestDB(t)
		doctors := newIsoDoctors(t, db)
		reset := func() {
			for _, d := range []isoDoctor{{ID: 1, Name: "alice", OnCall: true}, {ID: 2, Name: "bob", OnCall: true}} {
				_, _, err := doctors.Upsert(d)
				require.NoError(t, err)
			}
		}
		onCall := func(d *Table[isoDoctor]) int {
			n, err := d.Filter(docOnCall.Eq(true)).Count()
			require.NoError(t, err)
			return n
		}
		// goOffCall takes doctor id off call if another doctor stays.
		goOffCall := func(tx *Tx, id int64) (bool, error) {
			in := doctors.In(tx)
			n, err := in.Filter(docOnCall.Eq(true)).Count()
			if err != nil || n < 2 {
				return false, err
			}
			d, err := in.Get(docID.Eq(id))
			if err != nil {
				return false, err
			}
			d.OnCall = false
			return true, in.Update(d)
		}

		// Manual transactions: both read two on call, both take one off;
		// the second commit conflicts.
		reset()
		t1, err := db.Begin(true)
		require.NoError(t, err)
		t2, err := db.Begin(true)
		require.NoError(t, err)
		off, err := goOffCall(t1, 1)
		require.NoError(t, err)
		require.True(t, off)
		off, err = goOffCall(t2, 2)
		require.NoError(t, err)
		require.True(t, off, "t2's snapshot has both on call")
		require.NoError(t, t1.Commit())
		require.ErrorIs(t, t2.Commit(), ErrConflict)
		assert.Equal(t, 1, onCall(doctors))

		// Two Updates whose first runs both read before either commits:
		// one of them runs again and keeps its doctor on call.
		reset()
		var ready sync.WaitGroup
		ready.Add(2)
		var runs [2]int
		var took [2]bool
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				err := db.Update(func(tx *Tx) error {
					runs[i]++
					n, err := doctors.In(tx).Filter(docOnCall.Eq(true)).Count()
					if err != nil {
						return err
					}
					if runs[i] == 1 {
						assert.Equal(t, 2, n)
						ready.Done()
						ready.Wait() // both have read
					}
					took[i], err = goOffCall(tx, int64(i+1))
					return err
				})
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		assert.Equal(t, 1, onCall(doctors), "at least one doctor stays on call")
		assert.ElementsMatch(t, []int{1, 2}, runs[:], "exactly one transaction ran again")
		assert.ElementsMatch(t, []bool{true, false}, took[:], "the one that ran again saw one on call")
	})

	t.Run("own writes", func(t *testing.T) {
		db, users, stored := newFixtureUsers(t)
		dumped := dump(t, users)
		tx, err := db.Begin(true)
		require.NoError(t, err)
		defer tx.Rollback()
		in := users.In(tx)

		added, err := in.Insert(userTagged("zed", 30))
		require.NoError(t, err)
		moved := stored[0]
		moved.Email, moved.Org, moved.Username, moved.Name, moved.Age = "leo@initech.test", "initech", "leonard", "Leonard", 41
		require.NoError(t, in.Update(moved))
		deleted, err := in.Delete(uEmail.Eq(stored[1].Email))
		require.NoError(t, err)
		require.Equal(t, stored[1], deleted)
		// A unique key the transaction freed is free inside it.
		reuse := userTagged("reuse", 25)
		reuse.Email = stored[1].Email
		reused, err := in.Insert(reuse)
		require.NoError(t, err)

		for _, tc := range []struct {
			name   string
			lookup []Cond[User]
			want   *User // nil: not found
		}{
			{"inserted by pk", []Cond[User]{uID.Eq(added.ID)}, &added},
			{"inserted by email", []Cond[User]{uEmail.Eq(added.Email)}, &added},
			{"inserted by org/username", []Cond[User]{uOrg.Eq("tag"), uUsername.Eq("zed")}, &added},
			{"updated by pk", []Cond[User]{uID.Eq(moved.ID)}, &moved},
			{"updated by new email", []Cond[User]{uEmail.Eq(moved.Email)}, &moved},
			{"updated by old email", []Cond[User]{uEmail.Eq(stored[0].Email)}, nil},
			{"updated by new org/username", []Cond[User]{uOrg.Eq("initech"), uUsername.Eq("leonard")}, &moved},
			{"updated by old org/username", []Cond[User]{uOrg.Eq("acme"), uUsername.Eq("leo")}, nil},
			{"updated by unindexed name", []Cond[User]{uName.Eq("Leonard")}, &moved},
			{"deleted by pk", []Cond[User]{uID.Eq(stored[1].ID)}, nil},
			{"deleted by org/username", []Cond[User]{uOrg.Eq("acme"), uUsername.Eq("ann")}, nil},
			{"reused email", []Cond[User]{uEmail.Eq(stored[1].Email)}, &reused},
		} {
			got, err := in.Get(tc.lookup...)
			if tc.want == nil {
				assert.ErrorIs(t, err, ErrNotFound, tc.name)
				continue
			}
			if assert.NoError(t, err, tc.name) {
				assert.Equal(t, *tc.want, got, tc.name)
			}
		}
		byAge := func(age int) []User {
			recs, err := in.Filter(uAge.Eq(age)).Collect()
			require.NoError(t, err)
			return recs
		}
		assert.Equal(t, []User{added}, byAge(30), "the plain index: Leo moved out, Ann deleted, Zed in")
		assert.Equal(t, []User{moved, stored[2]}, byAge(41), "in primary key order")
		assert.Equal(t, []User{stored[3], reused}, byAge(25))
		n, err := in.Filter(uAge.Ge(25)).Count()
		require.NoError(t, err)
		assert.Equal(t, 5, n)
		assert.Equal(t, 5, in.Len())
		first, ok, err := in.Filter().OrderBy(uAge.Desc()).First()
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, moved, first, "ordered by age, ties by primary key")

		// One verb reads one state: writes made while it iterates are not
		// in its results, but the next verb sees them.
		seen := 0
		for u, err := range in.Filter(uAge.Eq(41)).All() {
			require.NoError(t, err)
			seen++
			_, err := in.Insert(userTagged(fmt.Sprint("during-", u.ID), 41))
			require.NoError(t, err)
		}
		assert.Equal(t, 2, seen)
		assert.Len(t, byAge(41), 4)

		// Nothing is visible outside until the commit.
		assert.Equal(t, dumped, dump(t, users))
		_, err = users.Get(uEmail.Eq(added.Email))
		assert.ErrorIs(t, err, ErrNotFound)
		final := dump(t, in)
		require.NoError(t, tx.Commit())
		assert.Equal(t, final, dump(t, users))
	})

	t.Run("commit visibility", func(t *testing.T) {
		db, users, stored := newFixtureUsers(t)
		accounts := newAccounts(t, db)
		var final []User
		var finalAccounts []Account
		err := db.Update(func(tx *Tx) error {
			in, acc := users.In(tx), accounts.In(tx)
			for i := range 10 {
				if _, err := in.Insert(userTagged(fmt.Sprint("v", i), 50+i)); err != nil {
					return err
				}
				if _, err := acc.Insert(Account{ID: int64(i + 1), Owner: fmt.Sprint("v", i), Balance: 10}); err != nil {
					return err
				}
			}
			if _, err := in.Filter(uAge.Eq(30)).Update(func(u User) (User, error) { u.Name += "*"; return u, nil }); err != nil {
				return err
			}
			if _, err := in.Delete(uID.Eq(stored[3].ID)); err != nil {
				return err
			}
			final, finalAccounts = dump(t, in), dump(t, acc)
			return nil
		})
		require.NoError(t, err)
		p := isoProbeOf(stored, final)
		want := isoObserve(users, p)
		assert.Equal(t, final, want.All, "plain reads after Update returns see every write")
		assert.Equal(t, finalAccounts, dump(t, accounts), "of every table")
		assert.Equal(t, want, isoViewObserve(t, db, users, p), "a View after Update returns sees it")
		var wg sync.WaitGroup
		got := make([]isoObservation, 8)
		for i := range got {
			wg.Go(func() { got[i] = isoObserve(users, p) })
		}
		wg.Wait()
		for i := range got {
			assert.Equal(t, want, got[i], "reader goroutine %d", i)
		}
	})

	t.Run("partial commit", func(t *testing.T) {
		db, users, _ := newFixtureUsers(t)
		accounts := newAccounts(t, db)
		_, err := accounts.Insert(Account{ID: 1, Owner: "ann", Balance: 100})
		require.NoError(t, err)
		beforeUsers, beforeAccounts := dump(t, users), dump(t, accounts)
		unchanged := func(msg string) {
			t.Helper()
			assert.Equal(t, beforeUsers, dump(t, users), msg)
			assert.Equal(t, beforeAccounts, dump(t, accounts), msg)
		}
		// writeBoth writes both tables, users (declared first, so replayed
		// first at commit) and then accounts.
		writeBoth := func(tx *Tx, owner string) error {
			if _, err := users.In(tx).Insert(userTagged("partial-"+owner, 1)); err != nil {
				return err
			}
			a, err := accounts.In(tx).Get(accID.Eq(1))
			if err != nil {
				return err
			}
			a.Balance -= 10
			if err := accounts.In(tx).Update(a); err != nil {
				return err
			}
			_, err = accounts.In(tx).Insert(Account{ID: 2, Owner: owner, Balance: 10})
			return err
		}

		// fn returns an error after writing both tables.
		stop := errors.New("stop")
		err = db.Update(func(tx *Tx) error {
			if err := writeBoth(tx, "bea"); err != nil {
				return err
			}
			return stop
		})
		require.ErrorIs(t, err, stop)
		unchanged("an error from fn")

		// The commit fails on the second table's unique key, taken by a
		// concurrent commit, after the first table was replayed.
		tx, err := db.Begin(true)
		require.NoError(t, err)
		require.NoError(t, writeBoth(tx, "cal"))
		beforeAccounts = append(beforeAccounts, Account{ID: 3, Owner: "cal", Balance: 0})
		concurrently(t, "taking the owner key", func() error {
			_, err := accounts.Insert(beforeAccounts[1])
			return err
		})
		require.ErrorIs(t, tx.Commit(), ErrConflict)
		unchanged("a unique key taken before the commit")

		// The commit fails on a record of the second table that changed.
		tx, err = db.Begin(true)
		require.NoError(t, err)
		require.NoError(t, writeBoth(tx, "dan"))
		beforeAccounts[0].Balance = 90
		concurrently(t, "changing the account read", func() error { return accounts.Update(beforeAccounts[0]) })
		require.ErrorIs(t, tx.Commit(), ErrConflict)
		unchanged("a record read and changed before the commit")

		// Update: the first run conflicts at commit, the second fails on the
		// unique key at once and returns the error.
		runs := 0
		err = db.Update(func(tx *Tx) error {
			runs++
			if runs == 1 {
				defer concurrently(t, "taking the owner key", func() error {
					_, err := accounts.Insert(Account{ID: 4, Owner: "eli", Balance: 0})
					return err
				})
			}
			return writeBoth(tx, "eli")
		})
		require.ErrorIs(t, err, ErrUniqueViolation)
		assert.Equal(t, 2, runs)
		beforeAccounts = append(beforeAccounts, Account{ID: 4, Owner: "eli", Balance: 0})
		unchanged("a second run that fails")
	})
}

// isoDoctor is a record of the write skew test.
type isoDoctor struct {
	ID     int64
	Name   string
	OnCall bool
}

var (
	docID     = Field("id", func(d *isoDoctor) int64 { return d.ID })
	docOnCall = Field("on_call", func(d *isoDoctor) bool { return d.OnCall })
)

func newIsoDoctors(t testing.TB, db *DB) *Table[isoDoctor] {
	t.Helper()
	doctors, err := NewTable(db, "Doctor", PrimaryKey(docID), Index("doctor_on_call", docOnCall))
	require.NoError(t, err)
	return doctors
}

var errIsoInsufficient = errors.New("insufficient funds")

// TestDB_Update_BankTransfersKeepTotal: writers move money between random
// accounts in Update transactions, through several read and write paths,
// some failing after debiting one side; readers, in Views and through
// single verbs, must always see the same total.
func TestDB_Update_BankTransfersKeepTotal(t *testing.T) {
	const (
		nAccounts = 16
		initial   = 1000
		total     = nAccounts * initial
		writers   = 8
		readers   = 4
		duration  = 2 * time.Second
	)
	seed := testSeed(t)
	db := newTestDB(t)
	accounts := newAccounts(t, db)
	for i := range nAccounts {
		_, err := accounts.Insert(Account{ID: int64(i + 1), Owner: fmt.Sprint("owner", i), Balance: initial})
		require.NoError(t, err)
	}

	// transfer moves amt from one account to another in tx, through one of
	// several paths; it fails, having debited from already, if from would
	// go negative.
	transfer := func(tx *Tx, style int, from, to, amt int64) error {
		in := accounts.In(tx)
		switch style {
		case 0: // Get by primary key, Update
			a, err := in.Get(accID.Eq(from))
			if err != nil {
				return err
			}
			a.Balance -= amt
			if err := in.Update(a); err != nil {
				return err
			}
			if a.Balance < 0 {
				return errIsoInsufficient
			}
			b, err := in.Get(accID.Eq(to))
			if err != nil {
				return err
			}
			b.Balance += amt
			return in.Update(b)
		case 1: // Filter on the unique owner, Upsert
			a, err := in.Filter(accOwner.Eq(fmt.Sprint("owner", from-1))).Get()
			if err != nil {
				return err
			}
			b, ok, err := in.Filter(accID.Eq(to)).First()
			if err != nil || !ok {
				return fmt.Errorf("account %d: %v, %w", to, ok, err)
			}
			a.Balance -= amt
			b.Balance += amt
			if _, _, err := in.Upsert(b); err != nil {
				return err
			}
			if _, _, err := in.Upsert(a); err != nil {
				return err
			}
			if a.Balance < 0 {
				return errIsoInsufficient
			}
			return nil
		default: // one Query.Update over both
			_, err := in.Filter(accID.In(from, to)).Update(func(a Account) (Account, error) {
				if a.ID == from {
					a.Balance -= amt
					if a.Balance < 0 {
						return a, errIsoInsufficient
					}
				} else {
					a.Balance += amt
				}
				return a, nil
			})
			return err
		}
	}

	var (
		committed, insufficient, exhausted, panics, reads atomic.Int64
		mismatch                                          atomic.Pointer[string]
	)
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		mismatch.CompareAndSwap(nil, &msg)
	}
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for time.Now().Before(deadline) {
				from := 1 + rng.Int64N(nAccounts)
				to := 1 + (from+rng.Int64N(nAccounts-1))%nAccounts
				amt := 1 + rng.Int64N(400)
				style := rng.IntN(3)
				doPanic := rng.IntN(50) == 0
				var err error
				p := &testPanic{"transfer"}
				got := recovered(func() {
					err = db.Update(func(tx *Tx) error {
						if err := transfer(tx, style, from, to, amt); err != nil {
							return err
						}
						if doPanic {
							panic(p)
						}
						return nil
					})
				})
				switch {
				case got != nil:
					if got != p {
						fail("recovered %v, not the transfer's panic", got)
					}
					panics.Add(1)
				case err == nil:
					committed.Add(1)
				case errors.Is(err, errIsoInsufficient):
					insufficient.Add(1)
				case errors.Is(err, ErrConflict):
					exhausted.Add(1)
				default:
					fail("transfer %d→%d style %d: %v", from, to, style, err)
				}
			}
		})
	}
	sum := func(recs []Account) (s int64) {
		for _, r := range recs {
			s += r.Balance
		}
		return s
	}
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(writers+r)))
			for time.Now().Before(deadline) {
				err := db.View(func(tx *Tx) error {
					in := accounts.In(tx)
					all, err := in.Filter().Collect()
					if err != nil {
						return err
					}
					if s := sum(all); s != total || len(all) != nAccounts || in.Len() != nAccounts {
						fail("View: total %d over %d accounts, Len %d", s, len(all), in.Len())
					}
					// The same snapshot through other paths, in another order.
					var byKey int64
					for _, id := range rng.Perm(nAccounts) {
						a, err := in.Get(accID.Eq(int64(id + 1)))
						if err != nil {
							return err
						}
						byKey += a.Balance
					}
					byBalance, err := in.Filter(accBalance.Ge(0)).OrderBy(accBalance.Desc()).Collect()
					if err != nil {
						return err
					}
					if byKey != total || sum(byBalance) != total {
						fail("View: total %d by key, %d by balance index", byKey, sum(byBalance))
					}
					return nil
				})
				if err != nil {
					fail("View: %v", err)
				}
				// One verb outside a transaction reads one version too.
				all, err := accounts.Filter().Collect()
				if err != nil || sum(all) != total {
					fail("Collect: total %d, %v", sum(all), err)
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	if msg := mismatch.Load(); msg != nil {
		t.Fatal(*msg)
	}
	final := dump(t, accounts)
	require.Len(t, final, nAccounts)
	assert.EqualValues(t, total, sum(final))
	for _, a := range final {
		assert.GreaterOrEqual(t, a.Balance, int64(0), "account %d", a.ID)
	}
	assert.Positive(t, committed.Load())
	assert.Positive(t, reads.Load())
	t.Logf("%d transfers committed, %d refused, %d panicked, %d gave up with ErrConflict; %d consistent reads",
		committed.Load(), insufficient.Load(), panics.Load(), exhausted.Load(), reads.Load())
}

// isoMark is a record of the marker test: transactions store batches of
// isoBatchSize records sharing a batch id.
type isoMark struct {
	ID    int64
	Batch int
	Seq   int
}

var (
	markID    = Field("id", func(m *isoMark) int64 { return m.ID })
	markBatch = Field("batch", func(m *isoMark) int { return m.Batch })
	markSeq   = Field("seq", func(m *isoMark) int { return m.Seq })
)

const isoBatchSize = 8

// isoBatch plans are what happens to batch b, by b % 4.
const (
	planCommit = iota
	planError
	planPanic
	planCommitThenDelete
)

// TestDB_Update_BatchAllOrNothing is the marker test: transactions insert
// batches of isoBatchSize records sharing a batch id; some commit, some
// return an error or panic after inserting, some commit and are later
// deleted by a transaction. Readers must always count 0 or isoBatchSize
// records of any batch, and exactly what the batch's fate says once its
// Update has returned.
func TestDB_Update_BatchAllOrNothing(t *testing.T) {
	const (
		writers    = 4
		readers    = 4
		maxBatches = 1 << 14
		duration   = time.Second
	)
	seed := testSeed(t)
	db := newTestDB(t)
	marks, err := NewTable(db, "Mark", AutoPrimaryKey(markID, func(m *isoMark, id int64) { m.ID = id }),
		Index("mark_batch", markBatch), Unique("mark_batch_seq", markBatch, markSeq))
	require.NoError(t, err)

	var (
		next     atomic.Int64
		done     [maxBatches]atomic.Bool // the batch's Update has returned
		checks   atomic.Int64
		mismatch atomic.Pointer[string]
	)
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		mismatch.CompareAndSwap(nil, &msg)
	}
	abort := errors.New("abort")
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				b := int(next.Add(1))
				if b >= maxBatches {
					return
				}
				p := &testPanic{"batch"}
				var err error
				got := recovered(func() {
					err = db.Update(func(tx *Tx) error {
						in := marks.In(tx)
						for s := range isoBatchSize {
							if _, err := in.Insert(isoMark{Batch: b, Seq: s}); err != nil {
								return err
							}
						}
						switch b % 4 {
						case planError:
							return abort
						case planPanic:
							panic(p)
						}
						return nil
					})
				})
				switch b % 4 {
				case planError:
					if !errors.Is(err, abort) {
						fail("batch %d: %v, want abort", b, err)
					}
				case planPanic:
					if got != p {
						fail("batch %d: recovered %v", b, got)
					}
				case planCommitThenDelete:
					if err == nil {
						err = db.Update(func(tx *Tx) error {
							n, err := marks.In(tx).Filter(markBatch.Eq(b)).Delete()
							if err == nil && n != isoBatchSize {
								fail("batch %d: deleted %d records", b, n)
							}
							return err
						})
					}
					fallthrough
				default:
					if err != nil {
						fail("batch %d: %v", b, err)
					}
				}
				done[b].Store(true)
			}
		})
	}
	// check verifies the count n of batch b read after done was loaded.
	check := func(where string, b, n int, wasDone bool) {
		checks.Add(1)
		switch {
		case n != 0 && n != isoBatchSize:
			fail("%s: batch %d has %d records", where, b, n)
		case !wasDone:
		case b%4 == planCommit && n != isoBatchSize:
			fail("%s: committed batch %d has %d records", where, b, n)
		case (b%4 == planError || b%4 == planPanic) && n != 0:
			fail("%s: rolled back batch %d has %d records", where, b, n)
		}
	}
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(r)))
			for time.Now().Before(deadline) {
				started := int(max(1, min(next.Load(), maxBatches-1)))
				probe := make([]int, 8)
				wasDone := make([]bool, len(probe))
				for i := range probe {
					probe[i] = 1 + rng.IntN(started)
					wasDone[i] = done[probe[i]].Load()
				}
				err := db.View(func(tx *Tx) error {
					in := marks.In(tx)
					for i, b := range probe {
						n, err := in.Filter(markBatch.Eq(b)).Count()
						if err != nil {
							return err
						}
						check("View", b, n, wasDone[i])
					}
					// Every batch in the snapshot is whole.
					per := map[int]int{}
					for m, err := range in.Filter().All() {
						if err != nil {
							return err
						}
						per[m.Batch]++
					}
					for b, n := range per {
						check("View scan", b, n, false)
					}
					if in.Len()%isoBatchSize != 0 {
						fail("View: Len %d", in.Len())
					}
					return nil
				})
				if err != nil {
					fail("View: %v", err)
				}
				b := probe[0]
				n, err := marks.Filter(markBatch.Eq(b)).Count()
				if err != nil {
					fail("Count: %v", err)
				}
				check("Count", b, n, wasDone[0])
			}
		})
	}
	wg.Wait()
	if msg := mismatch.Load(); msg != nil {
		t.Fatal(*msg)
	}
	batches := int(min(next.Load(), maxBatches-1)) // every one has run
	kept := 0
	for b := 1; b <= batches; b++ {
		n, err := marks.Filter(markBatch.Eq(b)).Count()
		require.NoError(t, err)
		if b%4 == planCommit {
			kept++
			require.Equal(t, isoBatchSize, n, "batch %d", b)
		} else {
			require.Zero(t, n, "batch %d", b)
		}
	}
	require.Equal(t, kept*isoBatchSize, marks.Len())
	assert.Positive(t, checks.Load())
	t.Logf("%d batches, %d kept; %d checks", batches, kept, checks.Load())
}

// TestDB_View_LongLivedReaderSeesOpeningState: one View stays open while
// writers commit inserts, updates, deletes and transactions; every read it
// makes, through every path, must equal the same read of the dump taken
// when it opened, computed by linear scans.
func TestDB_View_LongLivedReaderSeesOpeningState(t *testing.T) {
	const (
		initial  = 64
		writers  = 4
		minReads = 300
		duration = 500 * time.Millisecond
	)
	seed := testSeed(t)
	db, users := newUsers(t)
	for i := range initial {
		_, err := users.Insert(userTagged(fmt.Sprint("u", i), i%8))
		require.NoError(t, err)
	}
	model := dump(t, users)

	stop := make(chan struct{})
	var commits atomic.Int64
	var wg sync.WaitGroup
	var stopOnce sync.Once
	stopWriters := func() {
		stopOnce.Do(func() { close(stop) })
		wg.Wait()
	}
	defer stopWriters() // also when a require fails inside the View
	startWriters := func() {
		for w := range writers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(seed, uint64(w)))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := 1 + rng.Int64N(initial*2)
					tag := fmt.Sprintf("w%d-%d", w, i)
					var err error
					switch rng.IntN(5) {
					case 0:
						_, err = users.Insert(userTagged(tag, rng.IntN(8)))
					case 1:
						err = users.Update(User{ID: id, Email: tag + "@example.com", Org: "upd", Username: tag, Name: tag, Age: rng.IntN(8)})
					case 2:
						_, err = users.Delete(uID.Eq(id))
					case 3:
						_, _, err = users.GetOrCreate(uEmail.Eq(tag+"@example.com"), func() (User, error) { return userTagged(tag, 3), nil })
					default:
						err = db.Update(func(tx *Tx) error {
							in := users.In(tx)
							if _, err := in.Filter(uAge.Eq(rng.IntN(8))).Update(func(u User) (User, error) {
								u.Name += "+"
								return u, nil
							}); err != nil {
								return err
							}
							_, err := in.Insert(userTagged(tag, 7))
							return err
						})
					}
					if err == nil {
						commits.Add(1)
					} else if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
						assert.NoError(t, err)
					}
				}
			})
		}
	}

	scan := func(match func(u User) bool) []User {
		var out []User
		for _, u := range model {
			if match(u) {
				out = append(out, u)
			}
		}
		return out
	}
	one := func(match func(u User) bool) (User, error) {
		got := scan(match)
		switch len(got) {
		case 0:
			return User{}, &NotFoundError{Table: "User"}
		case 1:
			return got[0], nil
		}
		return User{}, &MultipleReturnedError{Table: "User", Count: len(got)}
	}
	rng := rand.New(rand.NewPCG(seed, writers))
	reads := 0
	err := db.View(func(tx *Tx) error {
		in := users.In(tx)
		require.Equal(t, model, dump(t, in), "the View opened at the model's version")
		startWriters()
		deadline := time.Now().Add(duration)
		for reads < minReads || time.Now().Before(deadline) {
			reads++
			id := 1 + rng.Int64N(initial*2)
			email := fmt.Sprintf("u%d@example.com", rng.IntN(initial*2))
			age := rng.IntN(9)
			lo, hi := rng.IntN(8), rng.IntN(8)
			switch rng.IntN(7) {
			case 0:
				got, err := in.Get(uID.Eq(id))
				want, werr := one(func(u User) bool { return u.ID == id })
				require.Equal(t, isoResult(want, werr), isoResult(got, err), "Get id %d", id)
			case 1:
				got, err := in.Get(uEmail.Eq(email))
				want, werr := one(func(u User) bool { return u.Email == email })
				require.Equal(t, isoResult(want, werr), isoResult(got, err), "Get email %s", email)
			case 2:
				got, err := in.Filter(uAge.Eq(age)).Collect()
				require.NoError(t, err)
				require.Equal(t, scan(func(u User) bool { return u.Age == age }), got, "age %d", age)
			case 3:
				n, err := in.Filter(uAge.Between(lo, hi)).Count()
				require.NoError(t, err)
				require.Len(t, scan(func(u User) bool { return u.Age >= lo && u.Age <= hi }), n, "ages %d..%d", lo, hi)
			case 4:
				require.Equal(t, len(model), in.Len())
			case 5:
				got, err := in.Filter(uName.Prefix(fmt.Sprint("u", lo))).OrderBy(uAge.Desc()).Collect()
				require.NoError(t, err)
				want := scan(func(u User) bool { return strings.HasPrefix(u.Name, fmt.Sprint("u", lo)) })
				slices.SortStableFunc(want, func(a, b User) int { return b.Age - a.Age })
				require.Equal(t, want, got, "prefix u%d by age", lo)
			default:
				got, err := in.Get(uOrg.Eq("tag"), uUsername.Eq(fmt.Sprint("u", id)))
				want, werr := one(func(u User) bool { return u.Org == "tag" && u.Username == fmt.Sprint("u", id) })
				require.Equal(t, isoResult(want, werr), isoResult(got, err), "Get org/username u%d", id)
			}
		}
		stopWriters()
		require.Equal(t, model, dump(t, in), "the View still reads its version")
		return nil
	})
	require.NoError(t, err)
	require.Positive(t, commits.Load())
	require.NotEqual(t, model, dump(t, users), "writers committed while the View was open")
	t.Logf("%d reads checked while %d writes committed", reads, commits.Load())
}

// TestTx_GetOrCreate_ConcurrentTransactions: Update transactions that
// GetOrCreate the same email at once all succeed, the losers by running
// again, and all return the one record that results.
func TestTx_GetOrCreate_ConcurrentTransactions(t *testing.T) {
	getOrCreate := func(users *Table[User], tx *Tx, tag string, g int) (User, bool, error) {
		return users.In(tx).GetOrCreate(uEmail.Eq(tag+"@example.com"), func() (User, error) {
			u := userTagged(tag, g)
			u.Username = fmt.Sprint(tag, "-", g) // the creator's own username
			return u, nil
		})
	}

	t.Run("two, both read before either commits", func(t *testing.T) {
		db, users := newUsers(t)
		var ready sync.WaitGroup
		ready.Add(2)
		var runs [2]int
		var got [2]User
		var created [2][]bool
		var wg sync.WaitGroup
		for g := range 2 {
			wg.Go(func() {
				err := db.Update(func(tx *Tx) error {
					runs[g]++
					u, c, err := getOrCreate(users, tx, "shared", g)
					if err != nil {
						return err
					}
					got[g] = u
					created[g] = append(created[g], c)
					if runs[g] == 1 {
						ready.Done()
						ready.Wait() // both created in their overlay
					}
					return nil
				})
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		all := dump(t, users)
		require.Len(t, all, 1, "exactly one record results")
		assert.Equal(t, all[0], got[0])
		assert.Equal(t, all[0], got[1])
		assert.ElementsMatch(t, []int{1, 2}, runs[:], "one transaction ran again")
		assert.ElementsMatch(t, [][]bool{{true}, {true, false}}, created[:],
			"the second run of the loser found the winner's record")
	})

	t.Run("many", func(t *testing.T) {
		const goroutines, rounds = 16, 20
		db, users := newUsers(t)
		for round := range rounds {
			tag := fmt.Sprint("r", round)
			got := make([]User, goroutines)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for g := range goroutines {
				wg.Go(func() {
					<-start
					for {
						err := db.Update(func(tx *Tx) error {
							u, _, err := getOrCreate(users, tx, tag, g)
							got[g] = u
							return err
						})
						if errors.Is(err, ErrConflict) {
							continue // lost every attempt: nothing written, try again
						}
						assert.NoError(t, err)
						return
					}
				})
			}
			close(start)
			wg.Wait()
			recs, err := users.Filter(uEmail.Eq(tag + "@example.com")).Collect()
			require.NoError(t, err)
			require.Len(t, recs, 1, "round %d", round)
			for g := range got {
				require.Equal(t, recs[0], got[g], "round %d goroutine %d", round, g)
			}
		}
		assert.Equal(t, rounds, users.Len())
	})
}

// TestTx_Dedupe_WriteSkew: two transactions dedupe the same group, each
// keeping a different record. Run one after the other, the second finds no
// duplicates; concurrently, the second must conflict at commit (an Update
// then runs it again) so that one record of the group survives. Duplicates
// notes its read for the commit to validate; Dedupe reads the same groups.
func TestTx_Dedupe_WriteSkew(t *testing.T) {
	keepFirst := func([]User) int { return 0 }
	keepLast := func(g []User) int { return len(g) - 1 }
	thirty := func(t *testing.T, users *Table[User]) []User {
		recs, err := users.Filter(uAge.Eq(30)).Collect()
		require.NoError(t, err)
		return recs
	}

	t.Run("manual", func(t *testing.T) {
		db, users, stored := newFixtureUsers(t)
		t1, err := db.Begin(true)
		require.NoError(t, err)
		defer t1.Rollback()
		t2, err := db.Begin(true)
		require.NoError(t, err)
		defer t2.Rollback()
		removed, err := users.In(t1).Dedupe(keepFirst, uAge)
		require.NoError(t, err)
		require.Equal(t, []User{stored[1]}, removed, "t1 keeps Leo")
		removed, err = users.In(t2).Dedupe(keepLast, uAge)
		require.NoError(t, err)
		require.Equal(t, []User{stored[0]}, removed, "t2 keeps Ann")
		require.NoError(t, t1.Commit())
		err = t2.Commit()
		assert.Len(t, thirty(t, users), 1, "one of the group survives (t2's commit returned %v)", err)
		assert.ErrorIs(t, err, ErrConflict, "t2 read a group t1 changed")
	})

	t.Run("Update", func(t *testing.T) {
		db, users, _ := newFixtureUsers(t)
		var ready sync.WaitGroup
		ready.Add(2)
		var wg sync.WaitGroup
		for i, keep := range []func([]User) int{keepFirst, keepLast} {
			wg.Go(func() {
				runs := 0
				err := db.Update(func(tx *Tx) error {
					runs++
					_, err := users.In(tx).Dedupe(keep, uAge)
					if runs == 1 {
						ready.Done()
						ready.Wait() // both deduped before either commits
					}
					return err
				})
				assert.NoError(t, err, "transaction %d", i)
			})
		}
		wg.Wait()
		assert.Len(t, thirty(t, users), 1, "one of the group survives")
	})
}
