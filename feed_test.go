package recstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The change feed: Changes, Follow, Query.Wait and revisions.

// feedCollect reads t's changes after from, requiring no error.
func feedCollect[T any](t *testing.T, tbl *Table[T], from uint64) []Change[T] {
	t.Helper()
	var out []Change[T]
	for c, err := range tbl.Changes(from) {
		require.NoError(t, err)
		out = append(out, c)
	}
	return out
}

func feedPtr(u User) *User { return &u }

// feedOn is the options of a DB that keeps a change feed.
var feedOn = Options{FeedBuffer: 4096}

// TestFeed_Off: a DB without a feed (the default) answers every feed call
// with ErrNoFeed, and waits for nothing.
func TestFeed_Off(t *testing.T) {
	db, users := newUsers(t)
	_, err := users.Insert(userTagged("one", 1))
	require.NoError(t, err)
	for _, err := range users.Changes(0) {
		assert.ErrorIs(t, err, ErrNoFeed)
	}
	for _, err := range users.Follow(context.Background(), 0) {
		assert.ErrorIs(t, err, ErrNoFeed)
	}
	_, err = users.Filter().Wait(context.Background(), db.Revision())
	assert.ErrorIs(t, err, ErrNoFeed)
	fork, err := db.Fork()
	require.NoError(t, err)
	defer fork.Close()
	mine, err := users.On(fork)
	require.NoError(t, err)
	_, err = mine.Filter().Wait(context.Background(), fork.Revision())
	assert.ErrorIs(t, err, ErrNoFeed)
}

// TestFeed_Changes: every kind of write appears once, in commit order,
// with the record before and after; the writes of one commit share a
// revision; other tables' writes do not appear.
func TestFeed_Changes(t *testing.T) {
	db, users := newUsers(t, feedOn)
	accounts := newAccounts(t, db)
	start := db.Revision()
	leo, err := users.Insert(fixtureUsers()[0])
	require.NoError(t, err)
	r1 := db.Revision()
	_, err = accounts.Insert(Account{ID: 1, Owner: "leo"})
	require.NoError(t, err)
	older := leo
	leo.Age = 31
	require.NoError(t, users.Update(leo))
	r3 := db.Revision()
	var ann, bob User
	require.NoError(t, db.Update(func(tx *Tx) error {
		in := users.In(tx)
		var err error
		if ann, err = in.Insert(fixtureUsers()[1]); err != nil {
			return err
		}
		bob, err = in.Insert(fixtureUsers()[2])
		return err
	}))
	r4 := db.Revision()
	_, err = users.Delete(uID.Eq(leo.ID))
	require.NoError(t, err)
	r5 := db.Revision()
	assert.Less(t, start, r1)

	want := []Change[User]{
		{Revision: r1, New: feedPtr(older)},
		{Revision: r3, Old: feedPtr(older), New: feedPtr(leo)},
		{Revision: r4, New: feedPtr(ann)},
		{Revision: r4, New: feedPtr(bob)},
		{Revision: r5, Old: feedPtr(leo)},
	}
	assert.Equal(t, want, feedCollect(t, users, start))
	assert.Equal(t, want[2:], feedCollect(t, users, r3), "from a revision")
	assert.Empty(t, feedCollect(t, users, r5), "nothing after the newest")
	assert.Len(t, feedCollect(t, accounts, start), 1)

	// The records are the caller's copies.
	got := feedCollect(t, users, start)
	got[0].New.Name = "changed"
	assert.Equal(t, want, feedCollect(t, users, start))

	// A View's revision: the table as read, then the changes after it.
	require.NoError(t, db.View(func(tx *Tx) error {
		assert.Equal(t, r5, tx.Revision())
		return nil
	}))
}

// TestFeed_NetChanges: a commit's changes come one per record, from before
// the commit to after it; a record it inserted and deleted, or changed and
// changed back in a savepoint that rolled back, is no change at all.
func TestFeed_NetChanges(t *testing.T) {
	db, users, stored := newFixtureUsers(t, feedOn)
	from := db.Revision()
	var keep User
	require.NoError(t, db.Update(func(tx *Tx) error {
		in := users.In(tx)
		var err error
		if keep, err = in.Insert(userTagged("keep", 1)); err != nil {
			return err
		}
		undone := tx.Savepoint(func(*Tx) error {
			if _, err := in.Insert(userTagged("undone", 1)); err != nil {
				return err
			}
			bob := stored[2]
			bob.Age = 7
			if err := in.Update(bob); err != nil {
				return err
			}
			return errors.New("undo")
		})
		require.EqualError(t, undone, "undo")
		keep.Age = 5
		if err := in.Update(keep); err != nil {
			return err
		}
		leo := stored[0]
		leo.Age = 99
		if err := in.Update(leo); err != nil {
			return err
		}
		if err := in.Update(stored[0]); err != nil { // and back, as a new write
			return err
		}
		_, err = in.Delete(uID.Eq(stored[1].ID))
		return err
	}))
	rev := db.Revision()
	assert.Equal(t, []Change[User]{
		{Revision: rev, New: feedPtr(keep)},
		{Revision: rev, Old: feedPtr(stored[0]), New: feedPtr(stored[0])},
		{Revision: rev, Old: feedPtr(stored[1])},
	}, feedCollect(t, users, from))
}

// TestFeed_SmallBufferKeepsTheLog: a feed smaller than the fast path's
// lag gives up the log before its oldest record only once the working
// trees hold it: inserts of the fast path, read by a Filter between them,
// all stay visible to every read (an earlier cut lost 256 of them from
// the trees, which the invariant checker reports at cleanup).
func TestFeed_SmallBufferKeepsTheLog(t *testing.T) {
	db, users := newUsers(t, Options{FeedBuffer: 16})
	for i := range 1000 {
		_, err := users.Insert(User{Email: fmt.Sprint("e", i), Username: fmt.Sprint(i)})
		require.NoError(t, err)
		if i%97 == 0 {
			n, err := users.Filter().Count()
			require.NoError(t, err)
			require.Equal(t, i+1, n)
		}
	}
	n, err := users.Filter().Count()
	require.NoError(t, err)
	require.Equal(t, 1000, n)
	require.Len(t, feedCollect(t, users, db.Revision()-16), 16)
}

// TestFeed_FellBehind: a reader further behind than Options.FeedBuffer
// commits gets a *FeedError; a fork's feed begins at the fork.
func TestFeed_FellBehind(t *testing.T) {
	db, users := newUsers(t, Options{FeedBuffer: 8})
	start := db.Revision()
	for i := range 20 {
		_, err := users.Insert(userTagged(fmt.Sprint(i), i))
		require.NoError(t, err)
	}
	var n int
	for _, err := range users.Changes(start) {
		n++
		var fe *FeedError
		require.ErrorAs(t, err, &fe)
		assert.ErrorIs(t, err, ErrFellBehind)
		assert.Equal(t, &FeedError{Table: "User", From: start, Oldest: db.Revision() - 8}, fe)
	}
	assert.Equal(t, 1, n, "one error, then the end")
	assert.Len(t, feedCollect(t, users, db.Revision()-8), 8)

	fork, err := db.Fork()
	require.NoError(t, err)
	defer fork.Close()
	mine, err := users.On(fork)
	require.NoError(t, err)
	at := fork.Revision()
	assert.Equal(t, db.Revision(), at, "a fork goes on from the original's revision")
	_, err = mine.Insert(userTagged("fork", 1))
	require.NoError(t, err)
	assert.Len(t, feedCollect(t, mine, at), 1)
	for _, err := range mine.Changes(at - 1) {
		assert.ErrorIs(t, err, ErrFellBehind, "before the fork")
	}
	assert.Empty(t, feedCollect(t, users, at), "the fork's writes are not the original's")
}

// TestFeed_Follow_Model: writers race with every kind of write while a
// follower, started from a View's revision, applies the feed to a copy of
// what the View read; the copy must end equal to the table. An insert of
// a key held, an update or delete whose old record is not the one held,
// or a transaction's changes split across revisions, fails it: a change
// lost, repeated or reordered breaks the copy.
func TestFeed_Follow_Model(t *testing.T) {
	db, users, _ := newFixtureUsers(t, feedOn)
	model := map[int64]User{}
	var start uint64
	require.NoError(t, db.View(func(tx *Tx) error {
		start = tx.Revision()
		for u, err := range users.In(tx).Filter().All() {
			if err != nil {
				return err
			}
			model[u.ID] = u
		}
		return nil
	}))
	var followed sync.WaitGroup
	followed.Add(1)
	go func() {
		defer followed.Done()
		last := start
		tags := map[string]uint64{} // a transaction's tag: its revision
		for c, err := range users.Follow(context.Background(), start) {
			if !assert.NoError(t, err) {
				return
			}
			assert.GreaterOrEqual(t, c.Revision, last, "revisions go forward")
			last = c.Revision
			switch {
			case c.Old == nil:
				_, held := model[c.New.ID]
				assert.False(t, held, "insert of a key held: %+v", c)
				model[c.New.ID] = *c.New
			case c.New == nil:
				assert.Equal(t, model[c.Old.ID], *c.Old, "delete of a record not held")
				delete(model, c.Old.ID)
			default:
				assert.Equal(t, model[c.Old.ID], *c.Old, "update of a record not held")
				model[c.New.ID] = *c.New
			}
			if c.New != nil && c.New.Org == "tx" {
				if rev, ok := tags[c.New.Name]; ok {
					assert.Equal(t, rev, c.Revision, "a transaction's changes split")
				}
				tags[c.New.Name] = c.Revision
			}
			if c.New != nil && c.New.Email == "done@x" {
				return // the last write
			}
		}
	}()
	rng := rand.New(rand.NewPCG(testSeed(t), 5))
	seeds := make([]uint64, 4)
	for i := range seeds {
		seeds[i] = rng.Uint64()
	}
	var wg sync.WaitGroup
	for w, seed := range seeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for i := range 300 {
				email := fmt.Sprintf("w%d-%d@x", w, r.IntN(40))
				var err error
				switch r.IntN(5) {
				case 0:
					_, _, err = users.GetOrCreate(uEmail.Eq(email), func() (User, error) {
						return User{Email: email, Org: "o", Username: email, Age: r.IntN(9)}, nil
					})
				case 1:
					_, _, err = users.UpdateOrCreate(uEmail.Eq(email), func(u User) (User, error) { u.Age++; return u, nil },
						func() (User, error) { return User{Email: email, Org: "o", Username: email}, nil })
				case 2:
					_, err = users.Delete(uEmail.Eq(email))
					if errors.Is(err, ErrNotFound) {
						err = nil
					}
				case 3:
					tag := fmt.Sprintf("w%d-t%d", w, i)
					_, err = users.InsertMany([]User{
						{Email: tag + "a@x", Org: "tx", Username: tag + "a", Name: tag},
						{Email: tag + "b@x", Org: "tx", Username: tag + "b", Name: tag},
					}, OnConflict[User]{})
				default:
					_, err = users.Filter(uOrg.Eq("o"), uAge.Lt(3)).Update(func(u User) (User, error) { u.Age += 3; return u, nil })
				}
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	_, err := users.Insert(User{Email: "done@x", Username: "done"})
	require.NoError(t, err)
	within(t, testTimeout, "following to the last write", followed.Wait)
	got := map[int64]User{}
	for _, u := range dump(t, users) {
		got[u.ID] = u
	}
	assert.Equal(t, got, model)
}

// TestFeed_Follow_Ends: a follower waiting for commits stops when its
// context ends or the DB closes, yielding why; its goroutine is gone
// (goleak checks at the end of the suite).
func TestFeed_Follow_Ends(t *testing.T) {
	for _, end := range []string{"cancel", "close"} {
		t.Run(end, func(t *testing.T) {
			db, users := newUsers(t, feedOn)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errs := make(chan error, 1)
			seen := make(chan Change[User], 1)
			from := db.Revision()
			go func() {
				for c, err := range users.Follow(ctx, from) {
					if err != nil {
						errs <- err
						return
					}
					seen <- c
				}
			}()
			u, err := users.Insert(userTagged("one", 1))
			require.NoError(t, err)
			assert.Equal(t, u, *(<-seen).New)
			if end == "cancel" {
				cancel()
				assert.ErrorIs(t, <-errs, context.Canceled)
			} else {
				require.NoError(t, db.Close())
				requireAccessError(t, <-errs, ErrClosed, "User")
			}
		})
	}
}

// TestQuery_Wait: Wait returns the first commit after the revision that
// changes a record the query matches, before or after the change, and no
// other: not another table's, nor a record outside the condition.
func TestQuery_Wait(t *testing.T) {
	db, users, stored := newFixtureUsers(t, feedOn) // ages 30, 30, 41, 25
	accounts := newAccounts(t, db)
	young := users.Filter(uAge.Lt(28))
	from := db.Revision()
	_, err := accounts.Insert(Account{ID: 1, Owner: "x"}) // another table
	require.NoError(t, err)
	leo := stored[0]
	leo.Name = "Leo II" // outside the condition, before and after
	require.NoError(t, users.Update(leo))
	_, err = users.Insert(userTagged("old", 60))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = young.Wait(ctx, from)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "no commit changed what it matches")

	// A waiter started now fires on the commit that changes its records.
	fired := make(chan uint64, 1)
	go func() {
		rev, err := young.Wait(context.Background(), from)
		assert.NoError(t, err)
		fired <- rev
	}()
	bob := stored[2]
	bob.Age = 20 // moves into the condition
	require.NoError(t, users.Update(bob))
	moved := db.Revision()
	assert.Equal(t, moved, <-fired)
	rev, err := young.Wait(context.Background(), from)
	require.NoError(t, err)
	assert.Equal(t, moved, rev, "from a revision, the first commit after it")

	eve := stored[3]
	eve.Age = 50 // moves out of it
	require.NoError(t, users.Update(eve))
	rev, err = young.Wait(context.Background(), moved)
	require.NoError(t, err)
	assert.Equal(t, db.Revision(), rev)

	// Misuse and ends.
	_, err = young.Wait(nil, from) //nolint:staticcheck // a nil context, on purpose
	assert.ErrorIs(t, err, ErrNilCallback)
	_, err = users.Filter(Field("nope", func(u *User) int { return 0 }).Eq(1)).Wait(context.Background(), from)
	assert.ErrorIs(t, err, ErrUnknownField)
	closed := make(chan error, 1)
	go func() { _, err := young.Wait(context.Background(), db.Revision()); closed <- err }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, db.Close())
	requireAccessError(t, <-closed, ErrClosed, "User")
}

// BenchmarkFeed_Write measures an insert while 0, 1 or 100 goroutines
// wait on a query of the written table that the inserts never match (each
// insert wakes them to look), or 100 wait on another table's.
//
//	go test -run '^$' -bench Feed_Write -cpu 2
func BenchmarkFeed_Write(b *testing.B) {
	for _, w := range []struct {
		name     string
		watchers int
		other    bool
	}{{"watchers=0", 0, false}, {"watchers=1", 1, false}, {"watchers=100", 100, false}, {"watchers=100/other table", 100, true}} {
		b.Run(w.name, func(b *testing.B) {
			db, users := newUsers(b, feedOn)
			accounts := newAccounts(b, db)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range w.watchers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if w.other {
						_, _ = accounts.Filter(accBalance.Eq(-1)).Wait(ctx, db.Revision())
					} else {
						_, _ = users.Filter(uAge.Eq(-1)).Wait(ctx, db.Revision())
					}
				}()
			}
			benchInserts(b, users)
			b.StopTimer()
			cancel()
			wg.Wait()
		})
	}
}

// TestFeed_HoldsItsCommitsOnly: with a feed of 64 commits, records
// inserted and deleted one commit at a time (inserts of the fast path and
// deletes of the committer, the two kinds of log record) are held no more
// than without a feed, but for the feed's 64 commits: it keeps copies of
// its commits' changes, pinning neither the log before them nor the
// committer's log arrays.
func TestFeed_HoldsItsCommitsOnly(t *testing.T) {
	n := 20_000
	if raceEnabled {
		n = 5_000
	}
	held := func(opts Options) int64 {
		db, users := newUsers(t, opts)
		before := heapInUse()
		for i := range n {
			u, err := users.Insert(User{Email: fmt.Sprint("e", i), Org: "o", Username: fmt.Sprint(i), Name: string(make([]byte, 200))})
			require.NoError(t, err)
			_, err = users.Delete(uID.Eq(u.ID))
			require.NoError(t, err)
		}
		_ = users.Len()
		h := int64(heapInUse()) - int64(before)
		runtime.KeepAlive(db)
		return h
	}
	without, with := held(Options{}), held(Options{FeedBuffer: 64})
	t.Logf("%d records inserted and deleted: %d B held without a feed, %d B with one of 64 commits", n, without, with)
	// 64 commits of a few hundred bytes each, with room for the GC's
	// noise: pinning the log, or the committer's log arrays, held
	// hundreds of bytes per record inserted (750 KB more at 5,000).
	require.Less(t, with-without, int64(128<<10), "the feed holds more than its commits")
}
