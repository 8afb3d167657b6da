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
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of GetOrCreate and UpdateOrCreate: what they return and store for
// every kind of lookup, every way a callback can fail, and what many
// goroutines racing on one lookup see. The linearizability check is in
// linearizability_test.go.

var errGocCallback = errors.New("callback failed on purpose")

// gocPanic is the value the tests' callbacks panic with.
type gocPanic struct{ msg string }

// The records most tests start from.
var (
	gocAlice = User{Email: "alice@example.com", Org: "acme", Username: "alice", Name: "Alice", Age: 30}
	gocBob   = User{Email: "bob@example.com", Org: "acme", Username: "bob", Name: "Bob", Age: 40}
	gocCarol = User{Email: "carol@example.com", Org: "acme", Username: "carol", Name: "Carol", Age: 50}
)

// gocCreate returns a create callback that counts its calls in calls and
// returns rec, err.
func gocCreate(calls *int, rec User, err error) func() (User, error) {
	return func() (User, error) {
		*calls++
		return rec, err
	}
}

// gocPanicInCreate calls GetOrCreate on lookup with a create that panics,
// and returns what reached the caller and whether the lookup's stripe lock
// is free afterwards (probed with TryLock, so a leaked lock blocks nothing).
func gocPanicInCreate(users *Table[User], lookup Cond[User]) (panicked any, released bool) {
	panicked = recovered(func() {
		_, _, _ = users.GetOrCreate(lookup, func() (User, error) { panic(gocPanic{"create"}) })
	})
	mu := memTableOf(users).stripeFor(&lookup)
	if released = mu.TryLock(); released {
		mu.Unlock()
	}
	return panicked, released
}

// gocResult is what one GetOrCreate or UpdateOrCreate call returned.
type gocResult struct {
	rec     User
	created bool
	err     error
}

// gocDeleteLoop deletes random keys below keys with del, from when start
// is closed until stop is, yielding the processor yields times after each
// deletion. A deletion that finds nothing is no error; any other error is
// sent on errs and ends the loop.
func gocDeleteLoop(r *rand.Rand, keys int, start, stop <-chan struct{}, errs chan<- error, yields int, del func(k int) error) {
	<-start
	for {
		select {
		case <-stop:
			return
		default:
		}
		k := r.IntN(keys)
		if err := del(k); err != nil && !errors.Is(err, ErrNotFound) {
			errs <- fmt.Errorf("Delete key %d: %w", k, err)
			return
		}
		for range yields {
			runtime.Gosched()
		}
	}
}

// gocMatching counts the stored records that lookup matches, by a scan of
// the whole table that uses no index.
func gocMatching(t *testing.T, users *Table[User], lookup Cond[User]) int {
	t.Helper()
	n := 0
	for _, u := range dump(t, users) {
		if lookup.match(&u) {
			n++
		}
	}
	return n
}

func TestTable_GetOrCreate_Lookups(t *testing.T) {
	seeded := []User{gocAlice, gocBob}
	dave := User{Email: "dave@example.com", Org: "acme", Username: "dave", Name: "Dave", Age: 60}
	tests := []struct {
		name   string
		lookup func(s []User) Cond[User]
		hit    int  // index in seeded of the record found; -1 for a miss
		create User // what create returns on a miss
	}{
		{"hit by primary key", func(s []User) Cond[User] { return uID.Eq(s[1].ID) }, 1, User{}},
		{"hit by unique email", func([]User) Cond[User] { return uEmail.Eq(gocBob.Email) }, 1, User{}},
		{"hit by composite unique", func([]User) Cond[User] { return And(uOrg.Eq("acme"), uUsername.Eq("alice")) }, 0, User{}},
		{"hit by composite unique, terms reversed", func([]User) Cond[User] { return And(uUsername.Eq("alice"), uOrg.Eq("acme")) }, 0, User{}},
		{"hit by unindexed name", func([]User) Cond[User] { return uName.Eq("Bob") }, 1, User{}},
		{"hit by plain-indexed age", func([]User) Cond[User] { return uAge.Eq(30) }, 0, User{}},
		{"hit by email and name", func([]User) Cond[User] { return And(uEmail.Eq(gocAlice.Email), uName.Eq("Alice")) }, 0, User{}},
		{"miss by unique email", func([]User) Cond[User] { return uEmail.Eq(dave.Email) }, -1, dave},
		{"miss by composite unique", func([]User) Cond[User] { return And(uOrg.Eq("acme"), uUsername.Eq("dave")) }, -1, dave},
		{"miss by unindexed name", func([]User) Cond[User] { return uName.Eq("Dave") }, -1, dave},
		{"miss by plain-indexed age", func([]User) Cond[User] { return uAge.Eq(60) }, -1, dave},
		{"miss by org and age, no index covers both", func([]User) Cond[User] { return And(uOrg.Eq("acme"), uAge.Eq(60)) }, -1, dave},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, s := newUsersHolding(t, seeded...)
			lookup := tt.lookup(s)
			calls := 0
			rec, created, err := users.GetOrCreate(lookup, gocCreate(&calls, tt.create, nil))
			require.NoError(t, err)

			if tt.hit >= 0 {
				assert.False(t, created)
				assert.Equal(t, s[tt.hit], rec, "the stored record")
				assert.Zero(t, calls, "create must not be called when a record matches")
				assert.Equal(t, s, dump(t, users), "a hit stores nothing")
				return
			}
			assert.True(t, created)
			assert.Equal(t, 1, calls, "create is called once on a miss")
			require.NotZero(t, rec.ID, "the primary key is assigned")
			want := tt.create
			want.ID = rec.ID
			assert.Equal(t, want, rec)
			got, err := users.Get(uID.Eq(rec.ID))
			require.NoError(t, err)
			assert.Equal(t, rec, got, "the returned record is the stored one")
			assert.Equal(t, append(slices.Clone(s), rec), dump(t, users))

			// Now the same lookup hits what was created.
			again, created, err := users.GetOrCreate(lookup, gocCreate(&calls, tt.create, nil))
			require.NoError(t, err)
			assert.False(t, created)
			assert.Equal(t, rec, again)
			assert.Equal(t, 1, calls, "create must not be called when a record matches")
		})
	}
}

// TestTable_GetOrCreate_Errors: every way GetOrCreate can fail, each row
// asserting the sentinel, the typed error, that nothing was stored, and
// that the next valid call succeeds.
func TestTable_GetOrCreate_Errors(t *testing.T) {
	newRec := User{Email: "new@example.com", Org: "acme", Username: "new", Name: "New", Age: 70}
	with := func(f func(u *User)) User { u := newRec; f(&u); return u }
	tests := []struct {
		name   string
		extra  []User // stored besides alice and bob
		lookup Cond[User]
		create func() (User, error)
		is     error
		as     func(s []User) error // the typed error, compared whole; s: alice, bob, extra as stored
		calls  int                  // create calls expected
	}{
		{
			name:   "create returns an error",
			lookup: uEmail.Eq(newRec.Email),
			create: func() (User, error) { return newRec, errGocCallback },
			is:     errGocCallback,
			as: func([]User) error {
				return &CallbackError{Table: "User", Callback: "create", Err: errGocCallback}
			},
			calls: 1,
		},
		{
			name:   "created record does not match the lookup",
			lookup: uEmail.Eq(newRec.Email),
			create: func() (User, error) { return with(func(u *User) { u.Email = "other@example.com" }), nil },
			is:     ErrInvalidLookup,
			as: func([]User) error {
				return &LookupError{Table: "User", Reason: `the created record has email "other@example.com", which does not match email="new@example.com"`}
			},
			calls: 1,
		},
		{
			name:   "created record matches one term of a composite lookup only",
			lookup: And(uOrg.Eq("acme"), uUsername.Eq("new"), uAge.Eq(70)),
			create: func() (User, error) { return with(func(u *User) { u.Age = 71 }), nil },
			is:     ErrInvalidLookup,
			as: func([]User) error {
				return &LookupError{Table: "User", Reason: "the created record has age 71, which does not match age=70"}
			},
			calls: 1,
		},
		{
			name:   "created record fails a range of the lookup, nested in an And",
			lookup: And(uOrg.Eq("acme"), And(uAge.Between(18, 65), uName.Prefix("N"))),
			create: func() (User, error) { return newRec, nil },
			is:     ErrInvalidLookup,
			as: func([]User) error {
				return &LookupError{Table: "User", Reason: "the created record has age 70, which does not match age between 18 and 65"}
			},
			calls: 1,
		},
		{
			name:   "created record fails an Or of the lookup: no field to name",
			lookup: And(uOrg.Eq("acme"), Or(uAge.Lt(18), uAge.Gt(99))),
			create: func() (User, error) { return newRec, nil },
			is:     ErrInvalidLookup,
			as: func([]User) error {
				return &LookupError{Table: "User", Reason: "the created record does not match the lookup"}
			},
			calls: 1,
		},
		{
			name:   "created record fails a Where of the lookup: no field to name",
			lookup: And(uOrg.Eq("acme"), Where(func(u *User) bool { return u.Age > 99 })),
			create: func() (User, error) { return newRec, nil },
			is:     ErrInvalidLookup,
			as: func([]User) error {
				return &LookupError{Table: "User", Reason: "the created record does not match the lookup"}
			},
			calls: 1,
		},
		{
			name:   "several records match through the plain age index",
			extra:  []User{with(func(u *User) { u.Age = 30 })},
			lookup: uAge.Eq(30),
			create: func() (User, error) {
				return with(func(u *User) { u.Email, u.Username, u.Age = "x@example.com", "x", 30 }), nil
			},
			is: ErrMultipleReturned,
			as: func([]User) error { return &MultipleReturnedError{Table: "User", Count: 2} },
		},
		{
			name:   "several records match an unindexed field",
			extra:  []User{with(func(u *User) { u.Name = "Alice" })},
			lookup: uName.Eq("Alice"),
			create: func() (User, error) {
				return with(func(u *User) { u.Email, u.Username, u.Name = "x@example.com", "x", "Alice" }), nil
			},
			is: ErrMultipleReturned,
			as: func([]User) error { return &MultipleReturnedError{Table: "User", Count: 2} },
		},
		{
			name:   "new record takes another record's (org, username)",
			lookup: uEmail.Eq(newRec.Email),
			create: func() (User, error) { return with(func(u *User) { u.Username = "bob" }), nil },
			is:     ErrUniqueViolation,
			as: func(s []User) error {
				return userViolation("org_username", []string{"org", "username"}, []string{"acme", "bob"}, s[1])
			},
			calls: 1,
		},
		{
			name:   "new record takes another record's email, lookup on name",
			lookup: uName.Eq("New"),
			create: func() (User, error) { return with(func(u *User) { u.Email = gocAlice.Email }), nil },
			is:     ErrUniqueViolation,
			as: func(s []User) error {
				return userViolation("user_email", []string{"email"}, []string{gocAlice.Email}, s[0])
			},
			calls: 1,
		},
		{
			name:   "lookup fixes a taken email and a name that differs",
			lookup: And(uEmail.Eq(gocAlice.Email), uName.Eq("Other")),
			create: func() (User, error) { return with(func(u *User) { u.Email, u.Name = gocAlice.Email, "Other" }), nil },
			is:     ErrUniqueViolation,
			as: func(s []User) error {
				return userViolation("user_email", []string{"email"}, []string{gocAlice.Email}, s[0])
			},
			calls: 1,
		},
		{
			name:   "lookup on an undeclared field",
			lookup: uNickname.Eq("New"),
			create: func() (User, error) { return newRec, nil },
			is:     ErrUnknownField,
			as:     func([]User) error { return userFieldError("nickname") },
		},
		{
			// A lookup value no record can hold matches nothing; the
			// record created from it is the one rejected.
			name:   "lookup value over MaxKeySize",
			lookup: uEmail.Eq(strings.Repeat("x", MaxKeySize+1)),
			create: func() (User, error) { return with(func(u *User) { u.Email = strings.Repeat("x", MaxKeySize+1) }), nil },
			is:     ErrKeyTooLarge,
			as: func([]User) error {
				return &KeyError{Table: "User", Field: "email", Reason: fmt.Sprintf("key of %d bytes is over MaxKeySize (%d)", MaxKeySize+1, MaxKeySize), Err: ErrKeyTooLarge}
			},
			calls: 1,
		},
		{
			name:   "created record has a key over MaxKeySize",
			lookup: uName.Eq("New"),
			create: func() (User, error) { return with(func(u *User) { u.Email = strings.Repeat("x", MaxKeySize+1) }), nil },
			is:     ErrKeyTooLarge,
			as: func([]User) error {
				return &KeyError{Table: "User", Field: "email", Reason: fmt.Sprintf("key of %d bytes is over MaxKeySize (%d)", MaxKeySize+1, MaxKeySize), Err: ErrKeyTooLarge}
			},
			calls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, s := newUsersHolding(t, append([]User{gocAlice, gocBob}, tt.extra...)...)
			before := dump(t, users)
			calls := 0
			rec, created, err := users.GetOrCreate(tt.lookup, func() (User, error) {
				calls++
				return tt.create()
			})
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.is)
			requireErrorAs(t, err, tt.as(s))
			assert.False(t, created)
			assert.Zero(t, rec)
			assert.Equal(t, tt.calls, calls, "create calls")
			assert.Equal(t, before, dump(t, users), "a failed GetOrCreate stores nothing")

			next, created, err := users.GetOrCreate(uEmail.Eq("next@example.com"), func() (User, error) {
				return User{Email: "next@example.com", Org: "acme", Username: "next"}, nil
			})
			require.NoError(t, err, "the next valid call")
			assert.True(t, created)
			assert.NotZero(t, next.ID)
		})
	}
}

// TestTable_GetOrCreate_CreatePanics: the panic reaches the caller, nothing
// is stored, and the stripe lock is released, also when one stripe serves
// every lookup.
func TestTable_GetOrCreate_CreatePanics(t *testing.T) {
	carol := gocCarol
	lookups := []struct {
		name   string
		lookup Cond[User]
	}{
		{"unique email", uEmail.Eq(carol.Email)},
		{"composite unique", And(uOrg.Eq(carol.Org), uUsername.Eq(carol.Username))},
		{"unindexed name", uName.Eq(carol.Name)},
		{"plain-indexed age", uAge.Eq(carol.Age)},
	}
	for _, stripes := range []int{0, 1} {
		for _, l := range lookups {
			t.Run(fmt.Sprintf("%s, stripes %d", l.name, stripes), func(t *testing.T) {
				o := testOptions()
				if stripes > 0 {
					o.Stripes = stripes
				}
				_, users := newUsers(t, o)
				s := storeUsers(t, users, gocAlice, gocBob)

				got, released := gocPanicInCreate(users, l.lookup)
				require.Equal(t, gocPanic{"create"}, got, "the panic is re-raised to the caller")
				require.True(t, released, "the stripe lock is released")
				require.Equal(t, s, dump(t, users), "nothing stored")

				var r gocResult
				within(t, testTimeout, "GetOrCreate after a panicking create", func() {
					rec, created, err := users.GetOrCreate(l.lookup, func() (User, error) { return carol, nil })
					r = gocResult{rec, created, err}
				})
				require.NoError(t, r.err)
				assert.True(t, r.created)
				within(t, testTimeout, "UpdateOrCreate after a panicking create", func() {
					rec, created, err := users.UpdateOrCreate(l.lookup,
						func(u User) (User, error) { u.Username = "carol2"; return u, nil },
						func() (User, error) { return carol, nil })
					r = gocResult{rec, created, err}
				})
				require.NoError(t, r.err)
				assert.False(t, r.created)
				assert.Equal(t, "carol2", r.rec.Username)
			})
		}
	}
}

// TestTable_GetOrCreate_CommitRechecksLookup pins the atomic step: what
// another writer stores between the read under the stripe lock and the
// commit is seen by the commit. create plays the race deterministically: it
// lets another goroutine insert, waits, then returns its own record.
func TestTable_GetOrCreate_CommitRechecksLookup(t *testing.T) {
	mine := User{Email: "mine@example.com", Org: "acme", Username: "mine", Name: "Zed", Age: 77}
	theirs := User{Email: "theirs@example.com", Org: "acme", Username: "theirs", Name: "Zed", Age: 77}
	with := func(u User, f func(u *User)) User { f(&u); return u }
	tests := []struct {
		name     string
		lookup   Cond[User]
		mine     User   // what create returns
		meantime []User // what another goroutine stores while create runs
		created  bool
		found    int // index in meantime of the record returned
		is       error
	}{
		{
			name:     "the lookup's email appears, the new record also takes its (org, username)",
			lookup:   uEmail.Eq(mine.Email),
			mine:     mine,
			meantime: []User{with(theirs, func(u *User) { u.Email, u.Username = mine.Email, mine.Username })},
			found:    0,
		},
		{
			name:     "the lookup's unindexed name appears",
			lookup:   uName.Eq("Zed"),
			mine:     mine,
			meantime: []User{theirs},
			found:    0,
		},
		{
			name:     "the lookup's composite key appears",
			lookup:   And(uUsername.Eq("shared"), uOrg.Eq("acme")),
			mine:     with(mine, func(u *User) { u.Username = "shared" }),
			meantime: []User{with(theirs, func(u *User) { u.Username = "shared" })},
			found:    0,
		},
		{
			name:     "two records of the lookup's plain-indexed age appear",
			lookup:   uAge.Eq(77),
			mine:     mine,
			meantime: []User{theirs, with(theirs, func(u *User) { u.Email, u.Username = "third@example.com", "third" })},
			is:       ErrMultipleReturned,
		},
		{
			name:     "another record takes the new record's (org, username), the lookup still misses",
			lookup:   uEmail.Eq(mine.Email),
			mine:     mine,
			meantime: []User{with(theirs, func(u *User) { u.Username = mine.Username })},
			is:       ErrUniqueViolation,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, _ := newUsersHolding(t, gocAlice, gocBob)
			var stored []User
			var insertErr error
			calls := 0
			rec, created, err := users.GetOrCreate(tt.lookup, func() (User, error) {
				calls++
				done := make(chan struct{})
				go func() {
					defer close(done)
					for _, u := range tt.meantime {
						s, err := users.Insert(u)
						if err != nil {
							insertErr = err
							return
						}
						stored = append(stored, s)
					}
				}()
				<-done
				return tt.mine, nil
			})
			require.NoError(t, insertErr)
			assert.Equal(t, 1, calls)
			assert.False(t, created)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
				if errors.Is(err, ErrUniqueViolation) {
					var ue *UniqueViolationError
					require.ErrorAs(t, err, &ue)
					assert.Equal(t, stored[0], ue.Existing)
				}
				var me *MultipleReturnedError
				if errors.As(err, &me) {
					assert.Equal(t, len(stored), me.Count)
				}
			} else {
				require.NoError(t, err)
				assert.Equal(t, stored[tt.found], rec, "the record the other writer stored")
			}
			_, err = users.Get(uEmail.Eq(tt.mine.Email))
			if tt.mine.Email != stored[0].Email {
				assert.ErrorIs(t, err, ErrNotFound, "the new record was not stored")
			}
			assert.Len(t, dump(t, users), 2+len(stored))
		})
	}
}

// TestTable_GetOrCreate_HitAllocatesNothing: the documented promise that a
// hit through an index covering the lookup alone allocates nothing, and
// the same for Get.
func TestTable_GetOrCreate_HitAllocatesNothing(t *testing.T) {
	_, users, s := newUsersHolding(t, gocAlice, gocBob)
	email, id := gocBob.Email, s[1].ID
	create := func() (User, error) { return User{}, errGocCallback }
	tests := []struct {
		name string
		call func() (User, error)
	}{
		{"GetOrCreate by email", func() (User, error) {
			u, _, err := users.GetOrCreate(uEmail.Eq(email), create)
			return u, err
		}},
		{"GetOrCreate by id", func() (User, error) {
			u, _, err := users.GetOrCreate(uID.Eq(id), create)
			return u, err
		}},
		{"Get by email", func() (User, error) { return users.Get(uEmail.Eq(email)) }},
		{"Get by id", func() (User, error) { return users.Get(uID.Eq(id)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := tt.call()
			require.NoError(t, err)
			require.Equal(t, s[1], u)
			allocs := testing.AllocsPerRun(200, func() { _, _ = tt.call() })
			assert.Zero(t, allocs, "allocations per hit")
		})
	}
}

// A Cond of one operator and one value stays in registers from Eq to the
// lookup only while it is at most four words (the compiler's limit for
// keeping a struct out of memory); a larger one, copied through memory,
// made a hot GetOrCreate hit 1.4x slower in bench/. Building it must not
// allocate either.
func TestCond_OneValue_FitsRegisters(t *testing.T) {
	c := uEmail.Eq("a@x")
	assert.LessOrEqual(t, unsafe.Sizeof(c), 4*unsafe.Sizeof(uintptr(0)), "size of a Cond")
	assert.Zero(t, testing.AllocsPerRun(100, func() { c = uEmail.Eq("a@x") }), "allocations of Eq")
	assert.Zero(t, testing.AllocsPerRun(100, func() { c = uAge.Gt(3) }), "allocations of Gt")
	assert.Zero(t, testing.AllocsPerRun(100, func() { c = uEmail.IsNull() }), "allocations of IsNull")
}

func TestTable_GetOrCreate_ReadOnlyTx(t *testing.T) {
	db, users := newUsers(t)
	s := storeUsers(t, users, gocAlice)
	err := db.View(func(tx *Tx) error {
		in := users.In(tx)
		calls := 0
		rec, created, err := in.GetOrCreate(uEmail.Eq(gocAlice.Email), gocCreate(&calls, gocAlice, nil))
		require.NoError(t, err, "a hit reads the transaction's snapshot")
		assert.False(t, created)
		assert.Equal(t, s[0], rec)

		_, _, err = in.GetOrCreate(uEmail.Eq(gocBob.Email), gocCreate(&calls, gocBob, nil))
		assert.ErrorIs(t, err, ErrReadOnly)
		_, _, err = in.UpdateOrCreate(uEmail.Eq(gocAlice.Email),
			func(u User) (User, error) { calls++; return u, nil }, gocCreate(&calls, gocAlice, nil))
		assert.ErrorIs(t, err, ErrReadOnly)
		assert.Zero(t, calls, "no callback runs in a read-only transaction")
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, s, dump(t, users))
}

// gocRaceCase is one lookup that 64 goroutines race GetOrCreate on.
type gocRaceCase struct {
	name string
	open func(t *testing.T) *Table[User]
	// lookup is round i's lookup as goroutine g spells it; rec is what
	// goroutine g's create returns.
	lookup func(i, g int) Cond[User]
	rec    func(i, g int) User
}

func gocRaceCases() []gocRaceCase {
	users := func(t *testing.T) *Table[User] { _, u := newUsers(t); return u }
	uniq := func(i, g int) string { return fmt.Sprintf("r%d-g%d", i, g) }
	return []gocRaceCase{
		{
			name:   "primary key",
			open:   func(t *testing.T) *Table[User] { return newUserItems(t, newTestDB(t)) },
			lookup: func(i, _ int) Cond[User] { return uID.Eq(int64(i + 1)) },
			rec:    func(i, g int) User { return User{ID: int64(i + 1), Age: g} },
		},
		{
			name:   "unique email, a fresh primary key per create",
			open:   users,
			lookup: func(i, _ int) Cond[User] { return uEmail.Eq(fmt.Sprintf("r%d@example.com", i)) },
			rec: func(i, g int) User {
				return User{ID: int64(1000*(i+1) + g), Email: fmt.Sprintf("r%d@example.com", i), Org: "o", Username: uniq(i, g)}
			},
		},
		{
			name: "composite unique, terms in either order",
			open: users,
			lookup: func(i, g int) Cond[User] {
				if g%2 == 0 {
					return And(uOrg.Eq("o"), uUsername.Eq(fmt.Sprint("r", i)))
				}
				return And(uUsername.Eq(fmt.Sprint("r", i)), uOrg.Eq("o"))
			},
			rec: func(i, g int) User { return User{Email: uniq(i, g), Org: "o", Username: fmt.Sprint("r", i)} },
		},
		{
			name:   "unindexed name",
			open:   users,
			lookup: func(i, _ int) Cond[User] { return uName.Eq(fmt.Sprint("r", i)) },
			rec: func(i, g int) User {
				return User{Name: fmt.Sprint("r", i), Email: uniq(i, g), Org: "o", Username: uniq(i, g)}
			},
		},
		{
			name:   "plain-indexed age",
			open:   users,
			lookup: func(i, _ int) Cond[User] { return uAge.Eq(100 + i) },
			rec:    func(i, g int) User { return User{Age: 100 + i, Email: uniq(i, g), Org: "o", Username: uniq(i, g)} },
		},
		{
			name:   "unindexed name and plain-indexed age together",
			open:   users,
			lookup: func(i, _ int) Cond[User] { return And(uName.Eq(fmt.Sprint("r", i)), uAge.Eq(100+i)) },
			rec: func(i, g int) User {
				return User{Name: fmt.Sprint("r", i), Age: 100 + i, Email: uniq(i, g), Org: "o", Username: uniq(i, g)}
			},
		},
	}
}

// TestTable_GetOrCreate_ConcurrentSameLookup: 64 goroutines released at once
// on one lookup, covered or not: exactly one creates, all return that
// record, and create runs once in all, never two at a time.
func TestTable_GetOrCreate_ConcurrentSameLookup(t *testing.T) {
	const goroutines, rounds = 64, 10
	for _, tc := range gocRaceCases() {
		t.Run(tc.name, func(t *testing.T) {
			tbl := tc.open(t)
			for i := range rounds {
				var calls, inCreate, overlaps atomic.Int32
				results := make([]gocResult, goroutines)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for g := range goroutines {
					wg.Go(func() {
						<-start
						rec, created, err := tbl.GetOrCreate(tc.lookup(i, g), func() (User, error) {
							calls.Add(1)
							if inCreate.Add(1) > 1 {
								overlaps.Add(1)
							}
							runtime.Gosched() // widen the window for a second creator
							inCreate.Add(-1)
							return tc.rec(i, g), nil
						})
						results[g] = gocResult{rec, created, err}
					})
				}
				close(start)
				wg.Wait()

				var winners []int
				for g, r := range results {
					require.NoError(t, r.err, "round %d goroutine %d", i, g)
					if r.created {
						winners = append(winners, g)
					}
				}
				require.Len(t, winners, 1, "round %d: goroutines that created", i)
				want := tc.rec(i, winners[0])
				for g, r := range results {
					assert.Equal(t, want.Email, r.rec.Email, "round %d goroutine %d: a different record", i, g)
					assert.Equal(t, results[winners[0]].rec, r.rec, "round %d goroutine %d: a different record", i, g)
				}
				assert.Equal(t, int32(1), calls.Load(), "round %d: create calls in all", i)
				assert.Zero(t, overlaps.Load(), "round %d: create ran concurrently with itself", i)
				assert.Equal(t, 1, gocMatching(t, tbl, tc.lookup(i, 0)), "round %d: records matching the lookup", i)
			}
		})
	}
}

func TestTable_UpdateOrCreate_Succeeds(t *testing.T) {
	rename := func(u User) (User, error) { u.Name += " (renamed)"; u.Age++; return u, nil }
	tests := []struct {
		name    string
		lookup  Cond[User]
		update  func(User) (User, error)
		create  User
		match   int // index in the seeded records of the match; -1: none
		want    func(s []User) User
		created bool
	}{
		{
			name: "updates the match by email", lookup: uEmail.Eq(gocAlice.Email), update: rename, match: 0,
			want: func(s []User) User { u, _ := rename(s[0]); return u },
		},
		{
			name: "updates the match by composite key", lookup: And(uUsername.Eq("bob"), uOrg.Eq("acme")), update: rename, match: 1,
			want: func(s []User) User { u, _ := rename(s[1]); return u },
		},
		{
			name: "updates the match by unindexed name", lookup: uName.Eq("Bob"), update: rename, match: 1,
			want: func(s []User) User { u, _ := rename(s[1]); return u },
		},
		{
			name: "updates indexed fields of the match", lookup: uName.Eq("Alice"), match: 0,
			update: func(u User) (User, error) {
				u.Email, u.Username, u.Age = "alicia@example.com", "alicia", 31
				return u, nil
			},
			want: func(s []User) User {
				u := s[0]
				u.Email, u.Username, u.Age = "alicia@example.com", "alicia", 31
				return u
			},
		},
		{
			name: "creates when absent, by email", lookup: uEmail.Eq(gocCarol.Email), create: gocCarol, match: -1, created: true,
			want: func([]User) User { return gocCarol },
		},
		{
			name: "creates when absent, by unindexed name", lookup: uName.Eq("Carol"), create: gocCarol, match: -1, created: true,
			want: func([]User) User { return gocCarol },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, s := newUsersHolding(t, gocAlice, gocBob)
			var updateArgs []User
			createCalls := 0
			rec, created, err := users.UpdateOrCreate(tt.lookup,
				func(u User) (User, error) {
					updateArgs = append(updateArgs, u)
					return tt.update(u)
				},
				gocCreate(&createCalls, tt.create, nil))
			require.NoError(t, err)
			assert.Equal(t, tt.created, created)

			want := tt.want(s)
			wantDump := slices.Clone(s)
			if tt.match >= 0 {
				assert.Equal(t, []User{s[tt.match]}, updateArgs, "update gets the match, once")
				assert.Zero(t, createCalls, "create is not called when a record matches")
				wantDump[tt.match] = want
			} else {
				assert.Empty(t, updateArgs, "update is not called when nothing matches")
				assert.Equal(t, 1, createCalls)
				require.NotZero(t, rec.ID)
				want.ID = rec.ID
				wantDump = append(wantDump, want)
			}
			assert.Equal(t, want, rec)
			assert.Equal(t, wantDump, dump(t, users), "the match changed, nothing else")
		})
	}
}

// TestTable_UpdateOrCreate_Errors: each row asserts the sentinel, the typed
// error, that nothing changed, and that the next valid call succeeds.
func TestTable_UpdateOrCreate_Errors(t *testing.T) {
	keep := func(u User) (User, error) { return u, nil }
	tests := []struct {
		name        string
		extra       []User
		lookup      Cond[User]
		update      func(s []User) func(User) (User, error)
		create      func() (User, error)
		is          error
		as          func(s []User) error // the typed error, compared whole
		updateCalls int
		createCalls int
	}{
		{
			name:   "update returns an error",
			lookup: uEmail.Eq(gocAlice.Email),
			update: func([]User) func(User) (User, error) {
				return func(u User) (User, error) { u.Name = "changed"; return u, errGocCallback }
			},
			is:          errGocCallback,
			as:          func([]User) error { return &CallbackError{Table: "User", Callback: "update", Err: errGocCallback} },
			updateCalls: 1,
		},
		{
			name:        "create returns an error",
			lookup:      uEmail.Eq(gocCarol.Email),
			create:      func() (User, error) { return gocCarol, errGocCallback },
			is:          errGocCallback,
			as:          func([]User) error { return &CallbackError{Table: "User", Callback: "create", Err: errGocCallback} },
			createCalls: 1,
		},
		{
			name:   "update takes another record's email",
			lookup: uName.Eq("Alice"),
			update: func([]User) func(User) (User, error) {
				return func(u User) (User, error) { u.Email = gocBob.Email; return u, nil }
			},
			is: ErrUniqueViolation,
			as: func(s []User) error {
				return userViolation("user_email", []string{"email"}, []string{gocBob.Email}, s[1])
			},
			updateCalls: 1,
		},
		{
			name:   "update takes another record's (org, username)",
			lookup: uEmail.Eq(gocAlice.Email),
			update: func([]User) func(User) (User, error) {
				return func(u User) (User, error) { u.Username = "bob"; return u, nil }
			},
			is: ErrUniqueViolation,
			as: func(s []User) error {
				return userViolation("org_username", []string{"org", "username"}, []string{"acme", "bob"}, s[1])
			},
			updateCalls: 1,
		},
		{
			name:   "update changes the primary key",
			lookup: uEmail.Eq(gocAlice.Email),
			update: func([]User) func(User) (User, error) {
				return func(u User) (User, error) { u.ID += 100; return u, nil }
			},
			is: ErrInvalidKey,
			as: func([]User) error {
				return &KeyError{Table: "User", Field: "id", Reason: "update changed the primary key", Err: ErrInvalidKey}
			},
			updateCalls: 1,
		},
		{
			name:   "update moves onto another record's primary key",
			lookup: uEmail.Eq(gocAlice.Email),
			update: func(s []User) func(User) (User, error) {
				return func(u User) (User, error) { u.ID = s[1].ID; return u, nil }
			},
			is: ErrInvalidKey,
			as: func([]User) error {
				return &KeyError{Table: "User", Field: "id", Reason: "update changed the primary key", Err: ErrInvalidKey}
			},
			updateCalls: 1,
		},
		{
			name:   "update zeroes the primary key",
			lookup: uEmail.Eq(gocAlice.Email),
			update: func([]User) func(User) (User, error) {
				return func(u User) (User, error) { u.ID = 0; return u, nil }
			},
			is: ErrInvalidKey,
			as: func([]User) error {
				return &KeyError{Table: "User", Field: "id", Reason: "the primary key is zero", Err: ErrInvalidKey}
			},
			updateCalls: 1,
		},
		{
			name:   "several records match",
			extra:  []User{gocCarol},
			lookup: uOrg.Eq("acme"),
			is:     ErrMultipleReturned,
			as:     func([]User) error { return &MultipleReturnedError{Table: "User", Count: 3} },
		},
		{
			name:   "created record does not match the lookup",
			lookup: uEmail.Eq(gocCarol.Email),
			create: func() (User, error) { u := gocCarol; u.Email = "other@example.com"; return u, nil },
			is:     ErrInvalidLookup,
			as: func([]User) error {
				return &LookupError{Table: "User", Reason: `the created record has email "other@example.com", which does not match email="carol@example.com"`}
			},
			createCalls: 1,
		},
		{
			name:   "lookup on an undeclared field",
			lookup: uNickname.Eq("Alice"),
			is:     ErrUnknownField,
			as:     func([]User) error { return userFieldError("nickname") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, users, s := newUsersHolding(t, append([]User{gocAlice, gocBob}, tt.extra...)...)
			before := dump(t, users)
			update := keep
			if tt.update != nil {
				update = tt.update(s)
			}
			create := tt.create
			if create == nil {
				create = func() (User, error) { return gocCarol, nil }
			}
			updateCalls, createCalls := 0, 0
			rec, created, err := users.UpdateOrCreate(tt.lookup,
				func(u User) (User, error) { updateCalls++; return update(u) },
				func() (User, error) { createCalls++; return create() })
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.is)
			requireErrorAs(t, err, tt.as(s))
			assert.False(t, created)
			assert.Zero(t, rec, "on an error UpdateOrCreate returns the zero record, as GetOrCreate does: it documents returning the stored record, and this one was not stored")
			assert.Equal(t, tt.updateCalls, updateCalls, "update calls")
			assert.Equal(t, tt.createCalls, createCalls, "create calls")
			assert.Equal(t, before, dump(t, users), "a failed UpdateOrCreate changes nothing")

			next, created, err := users.UpdateOrCreate(uEmail.Eq(gocAlice.Email),
				func(u User) (User, error) { u.Name = "next"; return u, nil }, create)
			require.NoError(t, err, "the next valid call")
			assert.False(t, created)
			assert.Equal(t, "next", next.Name)
		})
	}
}

// TestTable_UpdateOrCreate_Panics: a panic in either callback reaches the
// caller, changes nothing and releases the stripe lock.
func TestTable_UpdateOrCreate_Panics(t *testing.T) {
	for _, stripes := range []int{0, 1} {
		for _, tc := range []struct {
			name   string
			lookup Cond[User]
		}{
			{"update panics", uEmail.Eq(gocAlice.Email)},
			{"create panics", uEmail.Eq(gocCarol.Email)},
			{"update panics, unindexed name", uName.Eq("Alice")},
			{"create panics, unindexed name", uName.Eq("Carol")},
		} {
			t.Run(fmt.Sprintf("%s, stripes %d", tc.name, stripes), func(t *testing.T) {
				o := testOptions()
				if stripes > 0 {
					o.Stripes = stripes
				}
				_, users := newUsers(t, o)
				s := storeUsers(t, users, gocAlice, gocBob)
				got := recovered(func() {
					_, _, _ = users.UpdateOrCreate(tc.lookup,
						func(User) (User, error) { panic(gocPanic{"update"}) },
						func() (User, error) { panic(gocPanic{"create"}) })
				})
				want := gocPanic{"update"}
				if strings.HasPrefix(tc.name, "create") {
					want = gocPanic{"create"}
				}
				require.Equal(t, want, got, "the panic is re-raised to the caller")
				require.Equal(t, s, dump(t, users), "nothing changed")

				var r gocResult
				within(t, testTimeout, "UpdateOrCreate after a panicking callback", func() {
					rec, created, err := users.UpdateOrCreate(tc.lookup,
						func(u User) (User, error) { u.Age++; return u, nil },
						func() (User, error) { return gocCarol, nil })
					r = gocResult{rec, created, err}
				})
				require.NoError(t, r.err)
				within(t, testTimeout, "GetOrCreate after a panicking callback", func() {
					rec, created, err := users.GetOrCreate(tc.lookup, func() (User, error) { return gocCarol, nil })
					r = gocResult{rec, created, err}
				})
				require.NoError(t, r.err)
				assert.False(t, r.created)
			})
		}
	}
}

// gocCounterLookup is one way UpdateOrCreate finds the counter record of
// key k; create builds record n of key k.
type gocCounterLookup struct {
	name   string
	lookup func(k int) Cond[User]
	create func(k int, n int64) User
}

func gocCounterLookups() []gocCounterLookup {
	return []gocCounterLookup{
		{
			name:   "unique email",
			lookup: func(k int) Cond[User] { return uEmail.Eq(fmt.Sprintf("counter%d@example.com", k)) },
			create: func(k int, n int64) User {
				return User{Email: fmt.Sprintf("counter%d@example.com", k), Org: "o", Username: fmt.Sprint("c-", n), Name: fmt.Sprint("c-", n), Age: 1}
			},
		},
		{
			name:   "unindexed name",
			lookup: func(k int) Cond[User] { return uName.Eq(fmt.Sprint("counter-", k)) },
			create: func(k int, n int64) User {
				return User{Name: fmt.Sprint("counter-", k), Email: fmt.Sprint("c-", n), Org: "o", Username: fmt.Sprint("c-", n), Age: 1}
			},
		},
	}
}

// TestTable_UpdateOrCreate_ConcurrentCounters: goroutines increment
// per-key counters (Age) with UpdateOrCreate while, in one variant, another
// goroutine deletes the counters. Nothing is lost: per key, the ages of
// the deleted records plus the age left equal the calls; every creation is
// explained by a delete or the record left; no lookup ever matches two.
func TestTable_UpdateOrCreate_ConcurrentCounters(t *testing.T) {
	const keys, goroutines, calls = 4, 8, 200
	seed := testSeed(t)
	for _, lk := range gocCounterLookups() {
		for _, deletes := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, deletes %v", lk.name, deletes), func(t *testing.T) {
				_, users := newUsers(t)
				var next atomic.Int64
				var perKey, createdPerKey [keys]atomic.Int64
				start, stop := make(chan struct{}), make(chan struct{})
				var wg sync.WaitGroup
				errs := make(chan error, goroutines+1)
				for g := range goroutines {
					wg.Go(func() {
						r := rand.New(rand.NewPCG(seed, uint64(g)))
						<-start
						for range calls {
							k := r.IntN(keys)
							rec, created, err := users.UpdateOrCreate(lk.lookup(k),
								func(u User) (User, error) { u.Age++; return u, nil },
								func() (User, error) { return lk.create(k, next.Add(1)), nil })
							if err != nil {
								errs <- fmt.Errorf("UpdateOrCreate key %d: %w", k, err)
								return
							}
							if created && rec.Age != 1 || rec.Age < 1 {
								errs <- fmt.Errorf("UpdateOrCreate key %d returned age %d, created %v", k, rec.Age, created)
								return
							}
							perKey[k].Add(1)
							if created {
								createdPerKey[k].Add(1)
							}
						}
					})
				}
				var deletedAges, deletedCount [keys]int64
				var dwg sync.WaitGroup
				if deletes {
					dwg.Go(func() {
						gocDeleteLoop(rand.New(rand.NewPCG(seed, goroutines)), keys, start, stop, errs, 1, func(k int) error {
							u, err := users.Delete(lk.lookup(k))
							if err == nil {
								deletedAges[k] += int64(u.Age)
								deletedCount[k]++
							}
							return err
						})
					})
				}
				close(start)
				wg.Wait()
				close(stop)
				dwg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}

				var total int64
				for k := range keys {
					n := gocMatching(t, users, lk.lookup(k))
					require.LessOrEqual(t, n, 1, "key %d: records matching the lookup", k)
					var left int64
					if n == 1 {
						u, err := users.Get(lk.lookup(k))
						require.NoError(t, err)
						left = int64(u.Age)
					}
					assert.Equal(t, perKey[k].Load(), deletedAges[k]+left, "key %d: increments lost or doubled (deleted ages %d + age left %d)", k, deletedAges[k], left)
					assert.Equal(t, createdPerKey[k].Load(), deletedCount[k]+int64(n), "key %d: creations not explained by deletes and what is left", k)
					if !deletes {
						assert.Equal(t, int64(1), createdPerKey[k].Load(), "key %d: creations without deletes", k)
					}
					total += perKey[k].Load()
				}
				assert.Equal(t, int64(goroutines*calls), total)
				t.Logf("%d UpdateOrCreate calls, deletes per key %v", total, deletedCount)
			})
		}
	}
}

// TestTable_UpdateOrCreate_ConcurrentWithUpdateAndDelete: UpdateOrCreate
// increments Age while Table.Update renames the same record (a blind
// write of the whole record, so it may set Age back to what it read) and,
// in one variant, Delete removes it. Each rename or creation starts an
// epoch named by the record's Name; within an epoch only UpdateOrCreate
// writes, so its results must be exactly base+1 … base+m, none lost, none
// twice. UpdateOrCreate must never write back a Name it read before a
// rename: without deletes, the final Name is the last rename's.
func TestTable_UpdateOrCreate_ConcurrentWithUpdateAndDelete(t *testing.T) {
	const keys, goroutines, calls = 2, 6, 400
	seed := testSeed(t)
	lookup := func(k int) Cond[User] { return uEmail.Eq(fmt.Sprintf("counter%d@example.com", k)) }
	for _, deletes := range []bool{false, true} {
		t.Run(fmt.Sprint("deletes ", deletes), func(t *testing.T) {
			_, users := newUsers(t)
			type result struct {
				k       int
				name    string
				age     int
				created bool
			}
			var mu sync.Mutex
			var results []result
			bases := map[string]int{} // epoch name -> the age it started from
			lastRename := map[int]string{}
			var next atomic.Int64
			var createdPerKey [keys]atomic.Int64
			var deletedCount [keys]int64
			errs := make(chan error, goroutines+keys+1)
			start, stop := make(chan struct{}), make(chan struct{})

			var wg, bg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(seed, uint64(g)))
					<-start
					for range calls {
						k := r.IntN(keys)
						rec, created, err := users.UpdateOrCreate(lookup(k),
							func(u User) (User, error) { u.Age++; return u, nil },
							func() (User, error) {
								n := next.Add(1)
								return User{Email: fmt.Sprintf("counter%d@example.com", k), Org: "o", Username: fmt.Sprint("c-", n), Name: fmt.Sprint("c-", n), Age: 1}, nil
							})
						if err != nil {
							errs <- fmt.Errorf("UpdateOrCreate key %d: %w", k, err)
							return
						}
						if created {
							createdPerKey[k].Add(1)
						}
						mu.Lock()
						results = append(results, result{k, rec.Name, rec.Age, created})
						mu.Unlock()
					}
				})
			}
			for k := range keys {
				bg.Go(func() { // renames key k's record until the counters finish
					<-start
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						u, err := users.Get(lookup(k))
						if errors.Is(err, ErrNotFound) {
							runtime.Gosched()
							continue
						}
						if err != nil {
							errs <- fmt.Errorf("Get key %d: %w", k, err)
							return
						}
						u.Name = fmt.Sprintf("w%d-%d", k, i)
						err = users.Update(u)
						if errors.Is(err, ErrNotFound) {
							continue // deleted since the Get
						}
						if err != nil {
							errs <- fmt.Errorf("Update key %d: %w", k, err)
							return
						}
						mu.Lock()
						bases[u.Name] = u.Age
						lastRename[k] = u.Name
						mu.Unlock()
						runtime.Gosched()
					}
				})
			}
			if deletes {
				bg.Go(func() {
					gocDeleteLoop(rand.New(rand.NewPCG(seed, goroutines)), keys, start, stop, errs, 4, func(k int) error {
						_, err := users.Delete(lookup(k))
						if err == nil {
							deletedCount[k]++
						}
						return err
					})
				})
			}
			close(start)
			wg.Wait()
			close(stop)
			bg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}

			// Group the results by epoch.
			epochs := map[string][]result{}
			for _, r := range results {
				epochs[r.name] = append(epochs[r.name], r)
			}
			for name, rs := range epochs {
				base, renamed := bases[name]
				createdHere := 0
				for _, r := range rs {
					if r.created {
						createdHere++
					}
				}
				switch {
				case renamed:
					assert.Zero(t, createdHere, "epoch %s: a renamed record reported created", name)
				case strings.HasPrefix(name, "c-"):
					base = 0
					assert.Equal(t, 1, createdHere, "epoch %s: results reporting the creation", name)
				default:
					t.Errorf("UpdateOrCreate returned Name %q, which nobody wrote", name)
					continue
				}
				ages := make([]int, 0, len(rs))
				for _, r := range rs {
					ages = append(ages, r.age)
				}
				slices.Sort(ages)
				want := make([]int, len(rs))
				for i := range want {
					want[i] = base + 1 + i
				}
				assert.Equal(t, want, ages, "epoch %s (from age %d): increments lost or doubled", name, base)
			}

			renames := 0
			for k := range keys {
				n := gocMatching(t, users, lookup(k))
				require.LessOrEqual(t, n, 1, "key %d: records matching the lookup", k)
				assert.Equal(t, createdPerKey[k].Load(), deletedCount[k]+int64(n), "key %d: creations not explained by deletes and what is left", k)
				if !deletes {
					assert.Equal(t, int64(1), createdPerKey[k].Load(), "key %d: creations without deletes", k)
					u, err := users.Get(lookup(k))
					require.NoError(t, err)
					if last, ok := lastRename[k]; ok {
						assert.Equal(t, last, u.Name, "key %d: UpdateOrCreate wrote back a Name it read before the last rename", k)
					}
				}
			}
			for name := range bases {
				if _, ok := epochs[name]; ok {
					renames++
				}
			}
			t.Logf("%d UpdateOrCreate results in %d epochs (%d renames with increments after them); deletes per key %v", len(results), len(epochs), renames, deletedCount)
		})
	}
}

// TestTable_GetOrCreate_HitWithClosureAllocatesNothing: a create callback
// built at the call, capturing the caller's variables, stays on the
// caller's stack: the callback never crosses the engine's interfaces
// (getOrCreate calls it), so a hit allocates nothing even then.
func TestTable_GetOrCreate_HitWithClosureAllocatesNothing(t *testing.T) {
	_, users, s := newUsersHolding(t, gocAlice, gocBob)
	email, name := gocBob.Email, "unused"
	allocs := testing.AllocsPerRun(200, func() {
		u, created, err := users.GetOrCreate(uEmail.Eq(email), func() (User, error) {
			return User{Email: email, Name: name}, nil
		})
		if err != nil || created || u.ID != s[1].ID {
			t.Errorf("GetOrCreate = %+v, %v, %v", u, created, err)
		}
	})
	assert.Zero(t, allocs, "allocations per hit")
}

// TestTable_GetOrCreate_MissAllocatesTwice: a create through the fast
// path allocates the stored record and its entry in the log, and nothing
// else (the lookup and the callback stay on the caller's stack, whatever
// the error paths keep), but for the B-trees' and hash indexes' growth.
func TestTable_GetOrCreate_MissAllocatesTwice(t *testing.T) {
	_, users := newUsers(t)
	// Preloaded, so that the hash indexes' partitions exist and grow
	// rarely: a growth's cost is spread over the records that fill it.
	seed := make([]User, 20_000)
	for i := range seed {
		seed[i] = User{Email: fmt.Sprint("seed", i), Org: "acme", Username: fmt.Sprint("seed", i)}
	}
	_, err := users.InsertMany(seed, OnConflict[User]{})
	require.NoError(t, err)
	emails := make([]string, 300)
	for i := range emails {
		emails[i] = fmt.Sprintf("miss%03d@example.com", i)
	}
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		email := emails[i]
		i++
		_, created, err := users.GetOrCreate(uEmail.Eq(email), func() (User, error) {
			return User{Email: email, Org: "acme", Username: email}, nil
		})
		if err != nil || !created {
			t.Errorf("GetOrCreate(%s) = %v, %v", email, created, err)
		}
	})
	assert.LessOrEqual(t, allocs, 2.0, "allocations per create")
}

func TestTable_GetOrCreate_StrictLookups(t *testing.T) {
	mk := func(email string) func() (User, error) {
		return func() (User, error) { return User{Email: email, Org: "acme", Username: email, Name: "X", Age: 7}, nil }
	}
	upd := func(u User) (User, error) { u.Age++; return u, nil }
	for _, tt := range []struct {
		name    string
		call    func(users *Table[User]) error
		refused bool
	}{
		{"the email, which a unique index covers alone", func(u *Table[User]) error {
			_, _, err := u.GetOrCreate(uEmail.Eq("a@x"), mk("a@x"))
			return err
		}, false},
		{"both fields of a composite unique index, and more", func(u *Table[User]) error {
			_, _, err := u.GetOrCreate(And(uOrg.Eq("acme"), uUsername.Eq("b@x"), uAge.Eq(7)), mk("b@x"))
			return err
		}, false},
		{"a query's scope and lookup fixing one together", func(u *Table[User]) error {
			_, _, err := u.Filter(uOrg.Eq("acme")).GetOrCreate(uUsername.Eq("c@x"), mk("c@x"))
			return err
		}, false},
		{"an unindexed field", func(u *Table[User]) error {
			_, _, err := u.GetOrCreate(uName.Eq("X"), mk("d@x"))
			return err
		}, true},
		{"half a composite unique index", func(u *Table[User]) error {
			_, _, err := u.GetOrCreate(uUsername.Eq("e@x"), mk("e@x"))
			return err
		}, true},
		{"a range of a unique field", func(u *Table[User]) error {
			_, _, err := u.GetOrCreate(uEmail.Ge("f@x"), mk("f@x"))
			return err
		}, true},
		{"UpdateOrCreate on a plain index", func(u *Table[User]) error {
			_, _, err := u.UpdateOrCreate(uAge.Eq(7), upd, mk("g@x"))
			return err
		}, true},
		{"a query's scope that fixes nothing unique", func(u *Table[User]) error {
			_, _, err := u.Filter(uAge.Eq(7)).GetOrCreate(uName.Eq("X"), mk("h@x"))
			return err
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, strict := newUsers(t, Options{StrictLookups: true})
			err := tt.call(strict)
			if !tt.refused {
				require.NoError(t, err)
				require.Equal(t, 1, strict.Len())
			} else {
				require.ErrorIs(t, err, ErrInvalidLookup)
				var le *LookupError
				require.ErrorAs(t, err, &le)
				require.Contains(t, le.Reason, "fix no unique index")
				require.Zero(t, strict.Len(), "a refused call wrote")
			}
			_, lax := newUsers(t)
			require.NoError(t, tt.call(lax), "without StrictLookups every lookup runs")
			require.Equal(t, 1, lax.Len())
		})
	}
}
