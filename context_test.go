package recstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Context forms: a cancelled call stops waiting and retrying, returns
// the context's error, and leaves the store as it was.

// countdownCtx is a context that ends (context.Canceled) at its n-th call
// of Err, or when Done's channel is waited on after that: cancellation at
// a chosen point of a call, whatever the timing.
type countdownCtx struct {
	context.Context
	left atomic.Int64
	once sync.Once
	done chan struct{}
}

func newCountdownCtx(n int64) *countdownCtx {
	c := &countdownCtx{Context: context.Background(), done: make(chan struct{})}
	c.left.Store(n)
	return c
}

func (c *countdownCtx) Err() error {
	if c.left.Add(-1) <= 0 {
		c.once.Do(func() { close(c.done) })
		return context.Canceled
	}
	return nil
}

func (c *countdownCtx) Done() <-chan struct{} { return c.done }

// ctxHeld starts a GetOrCreate of lookup whose create waits until the
// returned release is called: until then the lookup's creators wait.
func ctxHeld(t *testing.T, users *Table[User], lookup Cond[User], rec User) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, created, err := users.GetOrCreate(lookup, func() (User, error) {
			close(entered)
			<-gate
			return rec, nil
		})
		assert.NoError(t, err)
		assert.True(t, created)
	}()
	<-entered
	return func() { close(gate); wg.Wait() }
}

// TestContext_WaitsEnd: a call waiting for a lookup's creator returns the
// context's error once it ends, having run no callback and written
// nothing; the creator then finishes, and the record is created once.
func TestContext_WaitsEnd(t *testing.T) {
	noCreate := func(ran *atomic.Bool) func() (User, error) {
		return func() (User, error) { ran.Store(true); return User{}, errors.New("ran") }
	}
	calls := []struct {
		name string
		call func(ctx context.Context, db *DB, users *Table[User], lookup Cond[User], ran *atomic.Bool) error
	}{
		{"GetOrCreateContext", func(ctx context.Context, _ *DB, users *Table[User], lookup Cond[User], ran *atomic.Bool) error {
			_, _, err := users.GetOrCreateContext(ctx, lookup, noCreate(ran))
			return err
		}},
		{"Query.GetOrCreateContext", func(ctx context.Context, _ *DB, users *Table[User], lookup Cond[User], ran *atomic.Bool) error {
			_, _, err := users.Filter(uOrg.Eq("ctx")).GetOrCreateContext(ctx, lookup, noCreate(ran))
			return err
		}},
		{"UpdateOrCreateContext", func(ctx context.Context, _ *DB, users *Table[User], lookup Cond[User], ran *atomic.Bool) error {
			_, _, err := users.UpdateOrCreateContext(ctx, lookup, func(u User) (User, error) { ran.Store(true); return u, nil }, noCreate(ran))
			return err
		}},
		{"GetOrCreate in UpdateContext", func(ctx context.Context, db *DB, users *Table[User], lookup Cond[User], ran *atomic.Bool) error {
			return db.UpdateContext(ctx, func(tx *Tx) error {
				_, _, err := users.In(tx).GetOrCreate(lookup, noCreate(ran))
				return err
			})
		}},
		{"UpdateOrCreate in UpdateContext", func(ctx context.Context, db *DB, users *Table[User], lookup Cond[User], ran *atomic.Bool) error {
			return db.UpdateContext(ctx, func(tx *Tx) error {
				_, _, err := users.In(tx).UpdateOrCreate(lookup, func(u User) (User, error) { ran.Store(true); return u, nil }, noCreate(ran))
				return err
			})
		}},
	}
	ends := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for _, c := range calls {
		for _, end := range ends {
			t.Run(c.name+"/"+end.name, func(t *testing.T) {
				db, users, _ := newFixtureUsers(t)
				rec := userTagged("ctx", 1)
				rec.Org = "ctx"
				lookup := uEmail.Eq(rec.Email)
				release := ctxHeld(t, users, lookup, rec)
				before := dump(t, users)
				ctx, cancel := end.ctx()
				defer cancel()
				var ran atomic.Bool
				start := time.Now()
				err := c.call(ctx, db, users, lookup, &ran)
				assert.ErrorIs(t, err, end.want)
				assert.Less(t, time.Since(start), testTimeout, "the wait ended with the context")
				assert.False(t, ran.Load(), "a callback ran")
				assert.Equal(t, before, dump(t, users), "nothing written")
				release()
				// A cancelled wait gives the lock back once it gets it.
				mu := users.ops.(*memTable[User]).stripeFor(&lookup)
				within(t, testTimeout, "the stripe freed", func() { mu.Lock(); mu.Unlock() })
				got, err := users.Get(lookup)
				require.NoError(t, err)
				assert.Equal(t, rec.Email, got.Email)
			})
		}
	}
}

// TestContext_Misuse: a nil context is an error, never a panic; an ended
// one stops a call before it writes anything.
func TestContext_Misuse(t *testing.T) {
	db, users, _ := newFixtureUsers(t)
	before := dump(t, users)
	create := func() (User, error) { return userTagged("new", 1), nil }
	keep := func(u User) (User, error) { return u, nil }
	var nilCtx context.Context
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for _, ctx := range []context.Context{nilCtx, ended} {
		want := error(context.Canceled)
		if ctx == nil {
			want = ErrNilCallback
		}
		_, _, err := users.GetOrCreateContext(ctx, uEmail.Eq("new@example.com"), create)
		assert.ErrorIs(t, err, want, "GetOrCreateContext")
		_, _, err = users.Filter().GetOrCreateContext(ctx, uEmail.Eq("new@example.com"), create)
		assert.ErrorIs(t, err, want, "Query.GetOrCreateContext")
		_, _, err = users.UpdateOrCreateContext(ctx, uEmail.Eq("new@example.com"), keep, create)
		assert.ErrorIs(t, err, want, "UpdateOrCreateContext")
		assert.ErrorIs(t, db.UpdateContext(ctx, func(*Tx) error { t.Error("fn ran"); return nil }), want, "UpdateContext")
		assert.ErrorIs(t, db.ViewContext(ctx, func(*Tx) error { t.Error("fn ran"); return nil }), want, "ViewContext")
		assert.ErrorIs(t, users.AddIndexContext(ctx, Index("user_name_ctx", uName)), want, "AddIndexContext")
	}
	assert.Equal(t, before, dump(t, users))
	assert.ErrorIs(t, users.DropIndex("user_name_ctx"), ErrIndexNotFound, "no index added")
	// A record found is returned whatever the context says.
	got, created, err := users.GetOrCreateContext(ended, uEmail.Eq(before[0].Email), create)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, before[0], got)
}

// ctxState is what TestContext_CancelAnywhere's calls change: Leo's age,
// the record count and the index count.
type ctxState struct{ age, records, indexes int }

func ctxStateOf(t *testing.T, users *Table[User]) ctxState {
	leo, err := users.Get(uID.Eq(1))
	require.NoError(t, err)
	return ctxState{leo.Age, users.Len(), len(users.eng.schema().indexes)}
}

// TestContext_CancelAnywhere: each Context form, cancelled at a random
// point (the n-th look at its context), either makes its whole change or
// returns context.Canceled having made none of it, while another goroutine
// keeps changing the record it changes.
func TestContext_CancelAnywhere(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 11))
	forms := []struct {
		name   string
		change ctxState // what a completed call adds
		call   func(ctx context.Context, db *DB, users *Table[User], i int) error
	}{
		{"UpdateContext", ctxState{age: 1, records: 1}, func(ctx context.Context, db *DB, users *Table[User], i int) error {
			return db.UpdateContext(ctx, func(tx *Tx) error {
				in := users.In(tx)
				leo, err := in.Get(uID.Eq(1))
				if err != nil {
					return err
				}
				leo.Age++
				if err := in.Update(leo); err != nil {
					return err
				}
				_, err = in.Insert(userTagged(fmt.Sprint("tx", i), 1))
				return err
			})
		}},
		{"UpdateOrCreateContext", ctxState{age: 1}, func(ctx context.Context, _ *DB, users *Table[User], _ int) error {
			_, _, err := users.UpdateOrCreateContext(ctx, uID.Eq(1), func(u User) (User, error) { u.Age++; return u, nil }, txnNoCreate)
			return err
		}},
		{"GetOrCreateContext", ctxState{records: 1}, func(ctx context.Context, _ *DB, users *Table[User], i int) error {
			u := userTagged(fmt.Sprint("goc", i), 1)
			_, _, err := users.GetOrCreateContext(ctx, uEmail.Eq(u.Email), func() (User, error) { return u, nil })
			return err
		}},
		{"AddIndexContext", ctxState{indexes: 1}, func(ctx context.Context, _ *DB, users *Table[User], i int) error {
			return users.AddIndexContext(ctx, Index(fmt.Sprint("user_name_", i), uName))
		}},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			db, users, _ := newFixtureUsers(t)
			bulk := make([]User, 3000) // an index build looks at its context every buildCheckEvery records
			for i := range bulk {
				bulk[i] = userTagged(fmt.Sprint("bulk", i), i%90)
			}
			_, err := users.InsertMany(bulk, OnConflict[User]{})
			require.NoError(t, err)
			var stop atomic.Bool
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // renames Leo, conflicting with the calls that change him
				defer wg.Done()
				for !stop.Load() {
					_, _, err := users.UpdateOrCreate(uID.Eq(1), func(u User) (User, error) { u.Name += "."; return u, nil }, txnNoCreate)
					assert.NoError(t, err)
				}
			}()
			defer func() { stop.Store(true); wg.Wait() }()
			completed, cancelled := 0, 0
			for i := range 40 {
				n := 1 + rng.Int64N(6)
				before := ctxStateOf(t, users)
				err := f.call(newCountdownCtx(n), db, users, i)
				want := before
				if err == nil {
					completed++
					want = ctxState{before.age + f.change.age, before.records + f.change.records, before.indexes + f.change.indexes}
				} else {
					require.ErrorIs(t, err, context.Canceled, "after %d looks", n)
					cancelled++
				}
				assert.Equal(t, want, ctxStateOf(t, users), "call %d, cancelled at look %d: %v", i, n, err)
			}
			t.Logf("%d completed, %d cancelled", completed, cancelled)
			assert.Positive(t, cancelled)
		})
	}
}
