//go:build recstore_faults

package recstore

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Each test here switches on one fault of faults.go, which breaks one
// guarantee on purpose, and requires that the check guarding that guarantee
// FAILS: the suite bites. Each first runs the same check with the fault off
// and requires it to pass, so that the check tells the two apart.
//
// Run with: go test -race -count=1 -tags recstore_faults -run Fault ./...

// faultsOn switches f on until the test ends.
func faultsOn(t *testing.T, f fault) {
	t.Helper()
	setFault(f, true)
	t.Cleanup(func() { setFault(f, false) })
}

// faultsUsers is newUsers without the invariant check at cleanup: some faults
// corrupt the table on purpose, and the test checks it itself.
func faultsUsers(t *testing.T) (*DB, *Table[User]) {
	t.Helper()
	db := newUncheckedDB()
	return db, newUsersIn(t, db)
}

// faultsOneCreator is the GetOrCreate guarantee: 32 goroutines call
// GetOrCreate at once with one lookup that no unique index covers (an
// unindexed name and a plain-indexed age), each offering its own record.
// Exactly one must create, every call must return that record, and one
// record must match. It runs up to rounds rounds, each on a new lookup, and
// returns how the first broken round broke, or "" if none did.
func faultsOneCreator(users *Table[User], rounds int, tag string) string {
	const callers = 32
	for round := range rounds {
		name := fmt.Sprintf("%s-%d", tag, round)
		lookup := And(uName.Eq(name), uAge.Eq(7))
		start := make(chan struct{})
		results := make([]faultsResult, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				u, created, err := users.GetOrCreate(lookup, func() (User, error) {
					time.Sleep(time.Millisecond) // widen the window a broken GetOrCreate leaves
					return User{Email: fmt.Sprintf("%s-%d@example.com", name, i), Org: name, Username: fmt.Sprint(i), Name: name, Age: 7}, nil
				})
				results[i] = faultsResult{u, created, err}
			}()
		}
		close(start)
		wg.Wait()
		creators := 0
		var winner User
		for _, r := range results {
			if r.err != nil {
				return fmt.Sprintf("round %d: GetOrCreate failed: %v", round, r.err)
			}
			if r.created {
				creators++
				winner = r.rec
			}
		}
		if creators != 1 {
			return fmt.Sprintf("round %d: %d callers created", round, creators)
		}
		for i, r := range results {
			if r.rec != winner {
				return fmt.Sprintf("round %d: caller %d got %+v, the creator %+v", round, i, r.rec, winner)
			}
		}
		if n, err := users.Filter(lookup).Count(); err != nil || n != 1 {
			return fmt.Sprintf("round %d: %d records match (%v)", round, n, err)
		}
	}
	return ""
}

type faultsResult struct {
	rec     User
	created bool
	err     error
}

func faultsGetOrCreateBites(t *testing.T, f fault) {
	_, users := newUsers(t)
	require.Empty(t, faultsOneCreator(users, 3, "control"), "the check fails without the fault")
	faultsOn(t, f)
	broke := faultsOneCreator(users, 50, "fault")
	t.Logf("with the fault on: %s", broke)
	require.NotEmpty(t, broke, "50 rounds of 32 concurrent GetOrCreate calls did not notice the fault")
}

// TestFault_CheckThenAct: GetOrCreate as a plain check-then-act lets
// several callers create.
func TestFault_CheckThenAct(t *testing.T) { faultsGetOrCreateBites(t, faultCheckThenAct) }

// TestFault_SkipRecheck: the stripe lock without the re-check under it
// serialises the creators but lets each create again.
func TestFault_SkipRecheck(t *testing.T) { faultsGetOrCreateBites(t, faultSkipRecheck) }

// faultsStripeReleased is the guarantee that a panicking create releases the
// lookup's stripe lock and re-raises its panic: a second GetOrCreate on the
// same lookup must finish within a timeout. It returns what broke, or "".
func faultsStripeReleased(t *testing.T, users *Table[User], name string) string {
	lookup := And(uName.Eq(name), uAge.Eq(3))
	type boom struct{}
	v := recovered(func() {
		_, _, _ = users.GetOrCreate(lookup, func() (User, error) { panic(boom{}) })
	})
	var broke string
	if v == nil {
		broke = "the create callback's panic was swallowed; "
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := users.GetOrCreate(lookup, func() (User, error) {
			return User{Email: name + "@example.com", Username: name, Name: name, Age: 3}, nil
		})
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(2 * time.Second):
		broke += "a second GetOrCreate on the lookup was still blocked after 2s"
		memTableOf(users).stripeFor(&lookup).Unlock() // free it, so that nothing outlives the test
		require.NoError(t, <-done)
	}
	return broke
}

// TestFault_LeakStripe: a stripe lock kept after create panics blocks every
// later GetOrCreate of lookups on that stripe.
func TestFault_LeakStripe(t *testing.T) {
	_, users := newUsers(t)
	require.Empty(t, faultsStripeReleased(t, users, "control"), "the check fails without the fault")
	faultsOn(t, faultLeakStripe)
	broke := faultsStripeReleased(t, users, "fault")
	t.Logf("with the fault on: %s", broke)
	require.NotEmpty(t, broke, "a leaked stripe lock went unnoticed")
}

// faultsViewsWhole is the guarantee that a View sees whole commits: while a
// writer inserts records with ids 1, 2, 3… and emails to match, readers in
// a tight loop open a View, take the record with the largest id (the
// table's length), and look it up by email in the same View. It runs for
// up to d and returns the first record found by primary key and not by
// email, or "".
func faultsViewsWhole(t *testing.T, d time.Duration) string {
	db, users := newUsers(t)
	var torn atomic.Pointer[string]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the writer
		defer wg.Done()
		for id := int64(1); ; id++ {
			select {
			case <-stop:
				return
			default:
			}
			_, err := users.Insert(User{ID: id, Email: fmt.Sprintf("t%d@example.com", id), Username: fmt.Sprint(id)})
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var views atomic.Int64
	for range 2 { // the readers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = db.View(func(tx *Tx) error {
					ut := users.In(tx)
					n := int64(ut.Len())
					if n == 0 {
						return nil
					}
					u, err := ut.Get(uID.Eq(n))
					if err != nil {
						s := fmt.Sprintf("the View holds %d records but not id %d: %v", n, n, err)
						torn.CompareAndSwap(nil, &s)
						return nil
					}
					if _, err := ut.Get(uEmail.Eq(u.Email)); err != nil {
						s := fmt.Sprintf("record %d found by primary key, but not by its email %q in the same View: %v", n, u.Email, err)
						torn.CompareAndSwap(nil, &s)
					}
					return nil
				})
				views.Add(1)
			}
		}()
	}
	deadline := time.After(d)
	for torn.Load() == nil {
		select {
		case <-deadline:
			close(stop)
			wg.Wait()
			t.Logf("%d views, %d records, none torn", views.Load(), users.Len())
			return ""
		case <-time.After(time.Millisecond):
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d views, %d records", views.Load(), users.Len())
	return *torn.Load()
}

// TestFault_TornPublish: a batch published index by index lets a View see
// a record in the primary key and not in its other indexes.
func TestFault_TornPublish(t *testing.T) {
	require.Empty(t, faultsViewsWhole(t, 300*time.Millisecond), "the check fails without the fault")
	faultsOn(t, faultTornPublish)
	broke := faultsViewsWhole(t, 30*time.Second)
	t.Logf("with the fault on: %s", broke)
	require.NotEmpty(t, broke, "readers never saw a torn publication")
}

// TestFault_OpenLive: live indexes written outside the liveSeq window let
// point reads see one record of a transaction's pair and not the other.
func TestFault_OpenLive(t *testing.T) {
	db, users := faultsUsers(t)
	require.Empty(t, livePairsWhole(t, db, users, 300*time.Millisecond), "the check fails without the fault")
	require.Empty(t, insertsWhole(t, users, 300*time.Millisecond), "the check fails without the fault")
	faultsOn(t, faultOpenLive)
	broke := livePairsWhole(t, db, users, 30*time.Second)
	t.Logf("with the fault on: %s", broke)
	require.NotEmpty(t, broke, "readers never saw part of a commit")
	broke = insertsWhole(t, users, 30*time.Second)
	t.Logf("with the fault on, inserts: %s", broke)
	require.NotEmpty(t, broke, "readers never saw part of an insert")
}

// TestFault_ForkWritesShared: a fork that writes the hash index tables it
// shares with its original in place changes what the original's point
// reads find.
func TestFault_ForkWritesShared(t *testing.T) {
	faultsBite(t, faultForkWritesShared, faultsForkApart, "the fork's writes never reached the original")
}

func TestFault_BareWritesCommit(t *testing.T) {
	faultsBite(t, faultBareWritesCommit, faultsBareWriteRefused, "the bare write inside the rolled-back Update stayed out")
}

// faultsBareWriteRefused is the transaction-function guarantee: a write
// through a bare handle inside DB.Update's function, whose transaction
// then rolls back, leaves nothing behind. It returns what broke, or "".
func faultsBareWriteRefused(t *testing.T) string {
	_, users := faultsUsers(t)
	db := users.db
	rollback := errors.New("roll back")
	err := db.Update(func(tx *Tx) error {
		_, _ = users.Insert(User{Email: "bare@x", Username: "bare"})
		return rollback
	})
	require.ErrorIs(t, err, rollback)
	if users.Len() != 0 {
		return "a bare write inside a rolled-back Update committed"
	}
	return ""
}

// faultsBite requires that check, which returns what broke or "", passes
// with fault f off and fails with it on (nothing: why).
func faultsBite(t *testing.T, f fault, check func(t *testing.T) string, nothing string) {
	t.Helper()
	require.Empty(t, check(t), "the check fails without the fault")
	faultsOn(t, f)
	broke := check(t)
	t.Logf("with the fault on: %s", broke)
	require.NotEmpty(t, broke, nothing)
}

// faultsForkApart is the fork guarantee: writes to a fork (creates,
// deletes, updates of unique keys, every one through the hash indexes)
// are not visible in the original, through point reads or any other. It
// returns what broke, or "".
func faultsForkApart(t *testing.T) string {
	db, users := faultsUsers(t)
	var before []User
	for i := range 200 {
		u, err := users.Insert(User{Email: fmt.Sprintf("u%d@x", i), Username: fmt.Sprint(i)})
		require.NoError(t, err)
		before = append(before, u)
	}
	f, err := db.Fork()
	require.NoError(t, err)
	forked, err := users.On(f)
	require.NoError(t, err)
	for i, u := range before {
		switch i % 3 {
		case 0:
			_, _, err = forked.GetOrCreate(uEmail.Eq(fmt.Sprintf("new%d@x", i)), func() (User, error) {
				return User{Email: fmt.Sprintf("new%d@x", i), Username: fmt.Sprintf("new%d", i)}, nil
			})
		case 1:
			_, err = forked.Delete(uEmail.Eq(u.Email))
		default:
			u.Email = "moved-" + u.Email
			err = forked.Update(u)
		}
		require.NoError(t, err)
	}
	for i, u := range before {
		if got, err := users.Get(uEmail.Eq(u.Email)); err != nil || got != u {
			return fmt.Sprintf("the original's %s reads %+v, %v", u.Email, got, err)
		}
		if _, err := users.Get(uEmail.Eq(fmt.Sprintf("new%d@x", i))); !errors.Is(err, ErrNotFound) {
			return fmt.Sprintf("the original finds the fork's new%d@x: %v", i, err)
		}
	}
	if err := memOf(db).check(true); err != nil {
		return fmt.Sprintf("the original's invariants: %v", err)
	}
	return ""
}

// faultsUniqueHolds is the unique-index guarantee: 16 goroutines insert
// records with one email at once; exactly one may succeed, and the
// invariant checker must pass. It returns what broke, or "".
func faultsUniqueHolds(t *testing.T) string {
	_, users := faultsUsers(t)
	const writers = 16
	var wins atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := users.Insert(User{Email: "same@example.com", Username: fmt.Sprint(i)}); err == nil {
				wins.Add(1)
			} else if !faultsIsUnique(err) {
				t.Errorf("insert %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	var broke string
	if n := wins.Load(); n != 1 {
		broke = fmt.Sprintf("%d of %d inserts of one email succeeded; ", n, writers)
	}
	if err := checkInvariants(users); err != nil {
		broke += "invariant checker: " + err.Error()
	}
	return broke
}

func faultsIsUnique(err error) bool {
	var uv *UniqueViolationError
	return errors.As(err, &uv)
}

// TestFault_SkipUniqueCheck: writes that skip the secondary unique checks
// store duplicates, and leave the index out of step with the table.
func TestFault_SkipUniqueCheck(t *testing.T) {
	faultsBite(t, faultSkipUniqueCheck, faultsUniqueHolds, "concurrent duplicate inserts went unnoticed")

	// The model-based test notices too.
	seed := testSeed(t)
	r := mdlRecord(t, seed, 2000)
	_, users := faultsUsers(t)
	api := &mdlStore{db: users.db, t: users}
	for i, op := range r.ops {
		if got := mdlRun(api, op, true); got != r.want[i] {
			t.Logf("the model-based test (seed %d) differs at op %d: %s\n got: %s\nmodel: %s", seed, i, op, got, r.want[i])
			return
		}
	}
	t.Fatalf("2000 model-based operations (seed %d) did not notice the fault", seed)
}
