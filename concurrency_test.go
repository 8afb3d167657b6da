package recstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTable_Insert_ConcurrentDuplicates: many goroutines insert
// overlapping emails at once. Exactly one insert of each email succeeds;
// every other gets a *UniqueViolationError naming the winner.
func TestTable_Insert_ConcurrentDuplicates(t *testing.T) {
	const (
		goroutines = 64
		perG       = 200
		emails     = 500
	)
	seed := testSeed(t)
	_, users := newUsers(t)

	type attempt struct {
		email string
		rec   User
		err   error
	}
	results := make([][]attempt, goroutines)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			<-start
			for range perG {
				email := fmt.Sprintf("user%03d@example.com", rng.IntN(emails))
				rec, err := users.Insert(User{Email: email, Org: "o", Username: email, Name: fmt.Sprint(g)})
				results[g] = append(results[g], attempt{email, rec, err})
			}
		})
	}
	close(start)
	wg.Wait()

	winners := map[string]User{}
	var ids []int64
	for _, rs := range results {
		for _, a := range rs {
			if a.err != nil {
				continue
			}
			_, dup := winners[a.email]
			require.False(t, dup, "two inserts of %s succeeded", a.email)
			winners[a.email] = a.rec
			ids = append(ids, a.rec.ID)
		}
	}
	for _, rs := range results {
		for _, a := range rs {
			if a.err == nil {
				continue
			}
			var uv *UniqueViolationError
			require.ErrorAs(t, a.err, &uv)
			w, ok := winners[a.email]
			require.True(t, ok, "insert of %s failed but none succeeded: %v", a.email, a.err)
			assert.Equal(t, "user_email", uv.Constraint)
			assert.Equal(t, []string{a.email}, uv.Values)
			assert.Equal(t, fmt.Sprint(w.ID), uv.HeldBy)
			assert.Equal(t, w, uv.Existing)
		}
	}
	assert.Equal(t, len(winners), users.Len())
	// Every insert took its own key from the sequence, failed or not.
	slices.Sort(ids)
	assert.Len(t, slices.Compact(ids), len(winners))
	assert.Positive(t, ids[0])
	assert.LessOrEqual(t, ids[len(ids)-1], int64(goroutines*perG))
	for email, w := range winners {
		got, err := users.Get(uEmail.Eq(email))
		require.NoError(t, err)
		assert.Equal(t, w, got)
	}
	require.NoError(t, checkInvariants(users))
}

// TestTable_ConcurrentWritersAndReaders mixes inserts, updates that move
// indexed fields and deletes with readers that check that every state they
// see is whole: a record found through one index is found, identical,
// through every other, and every snapshot passes the invariant checker.
func TestTable_ConcurrentWritersAndReaders(t *testing.T) {
	const (
		writers  = 4
		readers  = 4
		opsPerW  = 600
		keySpace = 24
	)
	seed := testSeed(t)
	db, users := newUsers(t)
	emailOf := func(i int) string { return fmt.Sprintf("k%02d@example.com", i) }

	var writing atomic.Int32
	writing.Store(writers)
	var writes, reads atomic.Int64
	errs := make(chan error, writers+readers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			defer writing.Add(-1)
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := range opsPerW {
				email := emailOf(rng.IntN(keySpace))
				name := fmt.Sprintf("w%d-%d", w, i) // unique per write
				var err error
				switch rng.IntN(3) {
				case 0:
					_, err = users.Insert(User{Email: email, Org: "o", Username: fmt.Sprint(rng.IntN(keySpace * 2)), Name: name, Age: rng.IntN(4)})
				case 1:
					var u User
					if u, err = users.Get(uEmail.Eq(email)); err == nil {
						u.Email = emailOf(rng.IntN(keySpace))
						u.Username = fmt.Sprint(rng.IntN(keySpace * 2))
						u.Name, u.Age = name, rng.IntN(4)
						err = users.Update(u)
					}
				case 2:
					_, err = users.Delete(uEmail.Eq(email))
				}
				// A concurrent delete may remove a record between the Get
				// and the Update: NotFound is an expected outcome.
				if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrUniqueViolation) {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				writes.Add(1)
			}
		})
	}
	check := func(in *Table[User], tx *Tx) error {
		found := 0
		for k := range keySpace {
			email := emailOf(k)
			r, err := in.Get(uEmail.Eq(email))
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			found++
			if r.Email != email {
				return fmt.Errorf("Get(email=%s) returned %+v", email, r)
			}
			for _, c := range []Cond[User]{
				uID.Eq(r.ID),
				And(uOrg.Eq(r.Org), uUsername.Eq(r.Username)),
				And(uAge.Eq(r.Age), uName.Eq(r.Name)),
				uName.Eq(r.Name),
			} {
				other, err := in.Get(c)
				if err != nil {
					return fmt.Errorf("%+v found by email, then: %w", r, err)
				}
				if other != r {
					return fmt.Errorf("%+v found by email, %+v by another index", r, other)
				}
			}
		}
		if n := in.Len(); n != found {
			return fmt.Errorf("Len is %d, but %d records found by email", n, found)
		}
		return checkVersion(txViewOf(tx, users))
	}
	for r := range readers {
		wg.Go(func() {
			for writing.Load() > 0 {
				// Outside a transaction: each Get on its own.
				email := emailOf(int(reads.Load()) % keySpace)
				u, err := users.Get(uEmail.Eq(email))
				if err == nil && u.Email != email {
					errs <- fmt.Errorf("reader %d: Get(email=%s) returned %+v", r, email, u)
					return
				}
				if err != nil && !errors.Is(err, ErrNotFound) {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				// Inside one: the whole table in one state.
				if err := db.View(func(tx *Tx) error { return check(users.In(tx), tx) }); err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Equal(t, int64(writers*opsPerW), writes.Load())
	assert.Positive(t, reads.Load())
	t.Logf("%d writes, %d snapshot checks", writes.Load(), reads.Load())
	require.NoError(t, db.View(func(tx *Tx) error { return check(users.In(tx), tx) }))
}

// TestTable_Readers_DoNotWaitForWriters holds the commit pipeline, as a
// slow batch would, and checks that every read completes meanwhile and sees
// none of the pending write (an Upsert, which the committer applies), and
// that an insert, which takes the fast path, neither waits for the
// committer nor is hidden from reads by it.
func TestTable_Readers_DoNotWaitForWriters(t *testing.T) {
	db, users, stored := newFixtureUsers(t)
	// The committer is busy: writes wait in the open batch until this
	// test takes the combiner's role.
	c := &memOf(db).commit
	c.mu.Lock()
	c.busy = true
	c.mu.Unlock()
	release := func() {
		c.mu.Lock()
		b := c.open
		c.open = nil
		if b == nil {
			c.busy = false
		}
		c.mu.Unlock()
		if b != nil {
			memOf(db).combine(b)
		}
	}
	unlocked := false
	defer func() {
		if !unlocked {
			release()
		}
	}()
	inserted := make(chan error, 1)
	go func() {
		_, _, err := users.Upsert(User{Email: "pending@example.com", Org: "o", Username: "pending"})
		inserted <- err
	}()
	// Let the writer reach the pipeline.
	deadline := time.Now().Add(testTimeout)
	for {
		memOf(db).commit.mu.Lock()
		waiting := memOf(db).commit.open != nil && len(memOf(db).commit.open.ops) > 0
		memOf(db).commit.mu.Unlock()
		if waiting || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}

	within(t, testTimeout, "reads", func() {
		got, err := users.Get(uEmail.Eq(stored[0].Email))
		assert.NoError(t, err)
		assert.Equal(t, stored[0], got)
		_, err = users.Get(uEmail.Eq("pending@example.com"))
		assert.ErrorIs(t, err, ErrNotFound)
		_, err = users.Get(uAge.Eq(30))
		assert.ErrorIs(t, err, ErrMultipleReturned)
		assert.Equal(t, 4, users.Len())
		got, created, err := users.GetOrCreate(uEmail.Eq(stored[1].Email), func() (User, error) {
			t.Error("create called")
			return User{}, nil
		})
		assert.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, stored[1], got)
		assert.NoError(t, db.View(func(tx *Tx) error {
			assert.Equal(t, 4, users.In(tx).Len())
			return nil
		}))
	})
	select {
	case err := <-inserted:
		t.Fatalf("the upsert finished while the committer was held: %v", err)
	default:
	}
	within(t, testTimeout, "an insert", func() {
		fast, err := users.Insert(User{Email: "fast@example.com", Org: "o", Username: "fast"})
		require.NoError(t, err)
		got, err := users.Get(uEmail.Eq("fast@example.com"))
		assert.NoError(t, err)
		assert.Equal(t, fast, got)
		n, err := users.Filter(uOrg.Eq("o")).Count()
		assert.NoError(t, err)
		assert.Equal(t, 1, n, "a snapshot holds the insert")
	})

	release()
	unlocked = true
	var err error
	within(t, testTimeout, "the upsert once the committer is free", func() { err = <-inserted })
	require.NoError(t, err)
	got, err := users.Get(uEmail.Eq("pending@example.com"))
	require.NoError(t, err)
	assert.Equal(t, int64(5), got.ID)
	assert.Equal(t, 6, users.Len())
}

// TestTable_GetOrCreate_SlowCreateBlocksNoReader: a create callback that
// takes its time holds its lookup's stripe, nothing else.
func TestTable_GetOrCreate_SlowCreateBlocksNoReader(t *testing.T) {
	db, users, stored := newFixtureUsers(t, Options{Stripes: 1})
	entered := make(chan struct{})
	release := make(chan struct{})
	type result struct {
		rec     User
		created bool
		err     error
	}
	res := make(chan result, 1)
	go func() {
		rec, created, err := users.GetOrCreate(uEmail.Eq("slow@example.com"), func() (User, error) {
			close(entered)
			<-release
			return User{Email: "slow@example.com", Org: "o", Username: "slow"}, nil
		})
		res <- result{rec, created, err}
	}()
	<-entered
	within(t, testTimeout, "reads and other writes", func() {
		_, err := users.Get(uEmail.Eq("slow@example.com"))
		assert.ErrorIs(t, err, ErrNotFound)
		got, err := users.Get(uID.Eq(1))
		assert.NoError(t, err)
		assert.Equal(t, stored[0], got)
		assert.NoError(t, db.View(func(tx *Tx) error { return nil }))
		// Plain writes do not take stripe locks, even with one stripe.
		_, err = users.Insert(User{Email: "other@example.com", Org: "o", Username: "other"})
		assert.NoError(t, err)
		leo := stored[0]
		leo.Age = 99
		assert.NoError(t, users.Update(leo))
		_, err = users.Delete(uID.Eq(3))
		assert.NoError(t, err)
	})
	close(release)
	r := <-res
	require.NoError(t, r.err)
	assert.True(t, r.created)
	assert.Equal(t, User{ID: 6, Email: "slow@example.com", Org: "o", Username: "slow"}, r.rec)
}

// TestTable_Readers_ProgressUnderWrites: a reader loop keeps completing
// reads while writers commit as fast as they can, and the writers commit
// while it reads.
func TestTable_Readers_ProgressUnderWrites(t *testing.T) {
	db, users, _ := newFixtureUsers(t)
	stop := make(chan struct{})
	var writes atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("w%d-%d", w, i%50)
				if _, err := users.Insert(User{Email: email, Org: email}); err != nil {
					_, _ = users.Delete(uEmail.Eq(email))
				}
				writes.Add(1)
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()

	for writes.Load() < 10 {
		time.Sleep(time.Millisecond)
	}
	startWrites := writes.Load()
	reads := 0
	within(t, 20*time.Second, "reads", func() {
		// Read until both sides have made progress: 2000 reads, and 100
		// writes committed while reading.
		for reads < 2000 || writes.Load()-startWrites < 100 {
			_, err := users.Get(uEmail.Eq("leo@example.com"))
			if !assert.NoError(t, err) {
				return
			}
			if reads%100 == 0 {
				assert.NoError(t, db.View(func(tx *Tx) error {
					_, err := users.In(tx).Get(uID.Eq(2))
					return err
				}))
			}
			reads++
		}
	})
	t.Logf("%d reads while %d writes committed", reads, writes.Load()-startWrites)
}

// TestQuery_Update_ConcurrentInserts: a Query.Update over a range that 8
// goroutines keep inserting into still succeeds (an optimistic write that
// keeps going stale takes its table alone, see retrying), in one atomic
// step: every record it changed is in the range, every record of the
// range at its commit is changed, and the inserts that succeeded are all
// stored.
func TestQuery_Update_ConcurrentInserts(t *testing.T) {
	const writers = 8
	for round := range 4 {
		_, users := newUsers(t)
		for i := range 300 {
			_, err := users.Insert(User{Email: fmt.Sprintf("pre-%d@x", i), Username: fmt.Sprintf("pre-%d", i), Age: 30 + i%2})
			require.NoError(t, err)
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		var inserted atomic.Int64
		for w := range writers {
			wg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					_, err := users.Insert(User{Email: fmt.Sprintf("w%d-%d@x", w, i), Username: fmt.Sprintf("w%d-%d", w, i), Age: 30 + i%2})
					if err != nil {
						t.Errorf("insert: %v", err)
						return
					}
					inserted.Add(1)
				}
			})
		}
		time.Sleep(2 * time.Millisecond)
		n, err := users.Filter(uAge.Eq(30)).Update(func(u User) (User, error) {
			u.Name = "updated"
			return u, nil
		})
		stop.Store(true)
		wg.Wait()
		require.NoError(t, err, "round %d", round)
		changed := 0
		for _, u := range dump(t, users) {
			if u.Name == "updated" {
				changed++
				assert.Equal(t, 30, u.Age)
			}
		}
		assert.Equal(t, n, changed, "round %d: Update's count", round)
		assert.GreaterOrEqual(t, n, 150)
		assert.Equal(t, 300+int(inserted.Load()), users.Len())
	}
}

// TestDB_MixedWorkload runs every kind of writer at once for a while:
// inserts (the fast path), GetOrCreate races on lookups a unique index
// covers and on lookups none does, updates, deletes and upserts (the
// committer), an optimistic Query.Update that may escalate, AddIndex and
// DropIndex in a loop, new tables filled as soon as declared, and readers.
// Every lookup is created exactly once; a record GetOrCreate returned is
// in every read after it, point or snapshot; the invariant checker passes.
func TestDB_MixedWorkload(t *testing.T) {
	type other struct {
		ID  int64
		Key string
	}
	oID := Field("id", func(o *other) int64 { return o.ID })
	oKey := Field("key", func(o *other) string { return o.Key })
	seed := testSeed(t)
	db, users := newUsers(t)
	deadline := time.Now().Add(1500 * time.Millisecond)
	running := func() bool { return time.Now().Before(deadline) }
	var created sync.Map // lookup -> *atomic.Int64
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; running(); i++ {
				_, err := users.Insert(User{Email: fmt.Sprintf("i%d-%d@x", w, i), Username: fmt.Sprintf("i%d-%d", w, i), Age: i % 50})
				assert.NoError(t, err, "insert")
			}
		})
	}
	for w := range 6 {
		wg.Go(func() {
			for i := 0; running(); i++ {
				k := i / 3
				lookup := uEmail.Eq(fmt.Sprintf("g%d@x", k))
				covered := k%2 == 0
				if !covered {
					lookup = And(uName.Eq(fmt.Sprintf("g%d", k)), uAge.Eq(7))
				}
				u, c, err := users.GetOrCreate(lookup, func() (User, error) {
					if covered {
						return User{Email: fmt.Sprintf("g%d@x", k), Username: fmt.Sprintf("g%d-%d", k, w)}, nil
					}
					return User{Email: fmt.Sprintf("g%d-%d-%d@x", k, w, i), Name: fmt.Sprintf("g%d", k), Age: 7, Username: fmt.Sprintf("gn%d-%d-%d", k, w, i)}, nil
				})
				if !assert.NoError(t, err, "GetOrCreate") {
					continue
				}
				n, err := users.Filter(uID.Eq(u.ID), uName.Ne("never")).Count()
				assert.NoError(t, err)
				assert.Equal(t, 1, n, "a snapshot after GetOrCreate returned %+v", u)
				got, err := users.Get(uID.Eq(u.ID))
				assert.NoError(t, err)
				assert.Equal(t, u.Email, got.Email, "a point read after GetOrCreate")
				if c {
					n, _ := created.LoadOrStore(fmt.Sprint(k), new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				}
			}
		})
	}
	wg.Go(func() { // the committer's writes, to inserted records only
		rng := rand.New(rand.NewPCG(seed, 1))
		for i := 0; running(); i++ {
			u, err := users.Get(uID.Eq(int64(rng.IntN(2000) + 1)))
			if err != nil || !strings.HasPrefix(u.Email, "i") {
				continue
			}
			switch i % 3 {
			case 0:
				u.Email = fmt.Sprintf("imoved-%d@x", i)
				if err := users.Update(u); err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("update: %v", err)
				}
			case 1:
				if _, err := users.Delete(uID.Eq(u.ID), uEmail.Eq(u.Email)); err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("delete: %v", err)
				}
			default:
				u.Name = "upserted"
				_, _, err := users.Upsert(u)
				assert.NoError(t, err, "upsert")
			}
		}
	})
	wg.Go(func() {
		for running() {
			_, err := users.Filter(uAge.Eq(3)).Update(func(u User) (User, error) { u.Name = "updated"; return u, nil })
			assert.NoError(t, err, "Query.Update")
			time.Sleep(5 * time.Millisecond)
		}
	})
	wg.Go(func() {
		for running() {
			assert.NoError(t, users.AddIndex(Index("by_name", uName)))
			assert.NoError(t, users.DropIndex("by_name"))
		}
	})
	wg.Go(func() {
		for i := 0; running(); i++ {
			others, err := NewTable(db, fmt.Sprintf("Other%d", i), PrimaryKey(oID), Unique("key", oKey))
			if !assert.NoError(t, err) {
				return
			}
			for j := range 20 {
				_, err := others.Insert(other{ID: int64(j + 1), Key: fmt.Sprint(j)})
				assert.NoError(t, err)
			}
			assert.Equal(t, 20, others.Len())
			time.Sleep(time.Millisecond)
		}
	})
	wg.Go(func() { // a point read, then a snapshot: it holds what the point read saw
		for running() {
			if u, err := users.Get(uEmail.Eq("g0@x")); err == nil {
				n, err := users.Filter(uEmail.Eq(u.Email), uAge.Ne(-1)).Count()
				assert.NoError(t, err)
				assert.Equal(t, 1, n)
			}
		}
	})
	wg.Wait()
	created.Range(func(k, v any) bool {
		assert.Equal(t, int64(1), v.(*atomic.Int64).Load(), "lookup %v: creates", k)
		return true
	})
}

// TestTable_GetOrCreate_InTransactions_CreateNeverConcurrent: callers of
// one lookup, half of them inside write transactions and half plain, with
// the lookup covered by a unique index or not. create never runs twice at
// a time for the lookup; it may run more than once in all (a transaction
// whose commit lost to another creator runs again and then finds the
// record), but exactly one caller returns created, all return that record,
// and exactly one record matches at the end.
func TestTable_GetOrCreate_InTransactions_CreateNeverConcurrent(t *testing.T) {
	const goroutines, rounds = 16, 10
	lookups := map[string]func(i int) Cond[User]{
		"covered (email)":  func(i int) Cond[User] { return uEmail.Eq(fmt.Sprint("tx", i, "@example.com")) },
		"uncovered (name)": func(i int) Cond[User] { return uName.Eq(fmt.Sprint("tx", i)) },
		"uncovered (email and age)": func(i int) Cond[User] {
			return And(uEmail.Eq(fmt.Sprint("tx", i, "@example.com")), uAge.Eq(i))
		},
	}
	for name, lookup := range lookups {
		t.Run(name, func(t *testing.T) {
			db, users := newUsers(t)
			for i := range rounds {
				var inCreate, overlaps, calls atomic.Int32
				type result struct {
					rec     User
					created bool
					err     error
				}
				results := make([]result, goroutines)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for g := range goroutines {
					wg.Go(func() {
						<-start
						create := func() (User, error) {
							calls.Add(1)
							if inCreate.Add(1) > 1 {
								overlaps.Add(1)
							}
							runtime.Gosched() // widen the window for a second creator
							inCreate.Add(-1)
							return User{Email: fmt.Sprint("tx", i, "@example.com"), Name: fmt.Sprint("tx", i), Age: i,
								Org: "o", Username: fmt.Sprint(i, "-", g)}, nil
						}
						var r result
						if g%2 == 0 {
							r.rec, r.created, r.err = users.GetOrCreate(lookup(i), create)
						} else {
							r.err = db.Update(func(tx *Tx) error {
								var err error
								r.rec, r.created, err = users.In(tx).GetOrCreate(lookup(i), create)
								return err
							})
						}
						results[g] = r
					})
				}
				close(start)
				wg.Wait()
				creators := 0
				for g, r := range results {
					require.NoError(t, r.err, "round %d goroutine %d", i, g)
					if r.created {
						creators++
					}
					require.Equal(t, results[0].rec, r.rec, "round %d goroutine %d: another record", i, g)
				}
				require.Equal(t, 1, creators, "round %d: callers that returned created", i)
				require.Zero(t, overlaps.Load(), "round %d: create ran concurrently with itself (%d calls)", i, calls.Load())
				n, err := users.Filter(lookup(i)).Count()
				require.NoError(t, err)
				require.Equal(t, 1, n, "round %d: records matching the lookup", i)
			}
		})
	}
}
