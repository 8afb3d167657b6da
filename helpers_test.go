package recstore

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The helpers every test file shares: the seed of randomized tests, the
// timeout of calls that must not wait, recovering panics, and the
// assertions on the library's errors. The fixtures are in fixtures_test.go.

// flagSeed is the seed of every randomized test of a run. Each test logs the
// seed it used; run it again with that seed (and -run) to replay its
// choices. Tests that run goroutines replay their choices, not the
// goroutines' interleaving.
var flagSeed = flag.Uint64("recstore.seed", 0, "seed of the randomized tests (0: random)")

// testSeed returns the seed of a randomized test, -recstore.seed or a random
// one, and logs how to run the test again with it. A test that draws
// several streams mixes a constant of its own into each (rand.NewPCG(seed,
// k)), so that no two of its streams, and no two tests, share one.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := *flagSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed: -recstore.seed=%d (go test -run '^%s$' -recstore.seed=%d)", seed, t.Name(), seed)
	return seed
}

// testTimeout bounds every wait for a call that must not block: a read
// while a writer holds the committer, the next Update after a rollback, a
// GetOrCreate after a panic. Generous, for -race on a busy machine; no test
// waits that long on purpose.
const testTimeout = 5 * time.Second

// within runs f in another goroutine and fails the test if it does not
// return within d: a call that must not wait (for a writer, for a lock a
// failed call might have left held). What f sets is the caller's to read
// once within returns.
func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s blocked for %v (a lock left held?)", what, d)
	}
}

// concurrently runs fn in another goroutine, as a concurrent client would,
// within testTimeout, and requires it to succeed: a commit that happens
// "in between" two calls of the test.
func concurrently(t testing.TB, what string, fn func() error) {
	t.Helper()
	var err error
	within(t, testTimeout, what, func() { err = fn() })
	require.NoError(t, err, what)
}

// recovered calls fn and returns what it panicked with, or nil.
func recovered(fn func()) (v any) {
	defer func() { v = recover() }()
	fn()
	return nil
}

// testPanic is a panic value that only a re-raise of the very same panic can
// produce: tests compare the recovered pointer with require.Same.
type testPanic struct{ where string }

// requireErrorAs requires that err's chain holds an error of want's
// dynamic type (through errors.As) equal to want, field by field.
func requireErrorAs(t testing.TB, err, want error) {
	t.Helper()
	target := reflect.New(reflect.TypeOf(want))
	require.True(t, errors.As(err, target.Interface()), "%v (%T) holds no %T", err, err, want)
	require.Equal(t, want, target.Elem().Interface())
}

// requireNotFound requires the *NotFoundError of a lookup on table that
// matched nothing.
func requireNotFound(t testing.TB, err error, table string) {
	t.Helper()
	require.ErrorIs(t, err, ErrNotFound)
	requireErrorAs(t, err, &NotFoundError{Table: table})
	assert.Equal(t, table+" matching query does not exist.", err.Error())
}

// requireMultiple requires the *MultipleReturnedError of a lookup on table
// that matched count records (21: more than 20).
func requireMultiple(t testing.TB, err error, table string, count int) {
	t.Helper()
	require.ErrorIs(t, err, ErrMultipleReturned)
	requireErrorAs(t, err, &MultipleReturnedError{Table: table, Count: count})
	want := fmt.Sprintf("get() returned more than one %s -- it returned %d!", table, count)
	if count > 20 {
		want = fmt.Sprintf("get() returned more than one %s -- it returned more than 20!", table)
	}
	assert.Equal(t, want, err.Error())
}

// userViolation is the *UniqueViolationError of a write to the User table
// of newUsers that would give constraint's fields the values that holder
// holds.
func userViolation(constraint string, fields, values []string, holder User) *UniqueViolationError {
	return &UniqueViolationError{Table: "User", Constraint: constraint, Fields: fields, Values: values,
		HeldBy: fmt.Sprint(holder.ID), PKField: "id", Existing: holder}
}

// requireUniqueViolation requires userViolation(constraint, fields, values,
// holder), whose message is msg.
func requireUniqueViolation(t testing.TB, err error, constraint string, fields, values []string, holder User, msg string) {
	t.Helper()
	require.ErrorIs(t, err, ErrUniqueViolation)
	requireErrorAs(t, err, userViolation(constraint, fields, values, holder))
	assert.Equal(t, msg, err.Error())
}

// requireKeyError requires the *KeyError of a key value of table's field
// refused for reason: sentinel is ErrInvalidKey or ErrKeyTooLarge.
func requireKeyError(t testing.TB, err, sentinel error, table, field, reason string) {
	t.Helper()
	require.ErrorIs(t, err, sentinel)
	requireErrorAs(t, err, &KeyError{Table: table, Field: field, Reason: reason, Err: sentinel})
}

// requireAccessError checks that err is the *AccessError of a call on
// table refused for sentinel (ErrClosed, ErrTxDone, ErrReadOnly,
// ErrOtherDB).
func requireAccessError(t testing.TB, err, sentinel error, table string) {
	t.Helper()
	require.ErrorIs(t, err, sentinel)
	requireErrorAs(t, err, &AccessError{Table: table, Err: sentinel})
	require.Equal(t, sentinel.Error()+" (table "+table+")", err.Error())
}

// requireSchemaError asserts that err is a *SchemaError for table with
// exactly reason, matching ErrSchema.
func requireSchemaError(t testing.TB, err error, table, reason string) {
	t.Helper()
	require.ErrorIs(t, err, ErrSchema)
	requireErrorAs(t, err, &SchemaError{Table: table, Reason: reason})
	assert.Equal(t, `recstore: invalid schema for table "`+table+`": `+reason, err.Error())
}

// requireDuplicatesError asserts that err is a *DuplicatesError equal to
// want, and returns it.
func requireDuplicatesError(t testing.TB, err error, want *DuplicatesError) *DuplicatesError {
	t.Helper()
	require.ErrorIs(t, err, ErrDuplicateValues)
	requireErrorAs(t, err, want)
	var de *DuplicatesError
	errors.As(err, &de)
	return de
}

// keyed is a record type of the tests with an int64 primary key.
type keyed interface{ id() int64 }

// idsOf returns the primary keys of recs, in order (empty, not nil, for
// none).
func idsOf[T keyed](recs []T) []int64 {
	ids := make([]int64, len(recs))
	for i, r := range recs {
		ids[i] = r.id()
	}
	return ids
}

// fuzzSource is the randomness of a fuzz target: its input's bytes, each
// spread over a whole uint64 so that IntN(n) maps it evenly onto 0..n-1,
// then, once they run out, a PCG's numbers.
type fuzzSource struct {
	b   []byte
	pcg *rand.PCG
}

// Uint64 is rand.Source's.
func (s *fuzzSource) Uint64() uint64 {
	if len(s.b) > 0 {
		v := uint64(s.b[0]) * 0x0101010101010101
		s.b = s.b[1:]
		return v
	}
	return s.pcg.Uint64()
}

// benchInserts inserts a new user per iteration of b's loop, reporting
// allocations.
func benchInserts(b *testing.B, users *Table[User]) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := users.Insert(userTagged(fmt.Sprint(i), 1)); err != nil {
			b.Fatal(err)
		}
	}
}
