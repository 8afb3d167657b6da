package recstore

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzFilter decodes its input into a small table (User or Item), a query
// and a write: a valid query must give what the model's linear scan gives
// (query_model_test.go), for every read verb and for Query.Delete and
// Query.Update; an invalid one (NaN, a negative limit or offset, an
// undeclared field, Prefix on a non-string, Where(nil)) must fail every
// verb with one of the sentinels its problems predict, and change nothing.
//
// The input is read byte by byte (zeros once it runs out):
//
//	[0]     table: even User, odd Item
//	[1]     B-tree degree, 2 to 4
//	[2]     number of records, 0 to 23
//	then    per record: its primary key (1 to 256), then the record
//	then    the query (fltSchema.genQuery): filter, exclude, refine,
//	        order, offset, limit
//	then    the write: 0 none, 1 Query.Delete, 2 Query.Update
//
// Crashers land in testdata/fuzz/FuzzFilter, which plain go test replays.
func FuzzFilter(f *testing.F) {
	for _, seed := range fltFuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &fltBytes{b: data}
		if src.next()&1 == 0 {
			fltFuzzOne(t, fltUserSchema(), src)
		} else {
			fltFuzzOne(t, fltItemSchema(), src)
		}
	})
}

func fltFuzzOne[R any](t *testing.T, s *fltSchema[R], src *fltBytes) {
	_, tbl := s.open(t, Options{Degree: 2 + src.n(3)})
	model := map[int64]R{}
	for range src.n(24) {
		id := 1 + int64(src.next())
		s.put(t, tbl, model, s.decode(src, id), true, "insert")
	}
	recs := s.sorted(model)
	require.Equal(t, recs, dump(t, tbl))

	fq := s.genQuery(src)
	s.check(t, tbl, recs, fq, "fuzz")
	require.Equal(t, recs, dump(t, tbl), "a read changed the table")

	write := src.n(3)
	if probs := s.problems(fq, true); len(probs) > 0 {
		q := s.query(tbl, fq)
		n, err := q.Delete()
		fltRequireOneOf(t, err, probs, "Delete")
		require.Zero(t, n)
		called := false
		n, err = q.Update(func(r R) (R, error) { called = true; return r, nil })
		fltRequireOneOf(t, err, probs, "Update")
		require.Zero(t, n)
		require.False(t, called, "Update called its function on an invalid query")
		require.Equal(t, recs, dump(t, tbl), "an invalid query changed the table")
		return
	}
	if write > 0 {
		s.checkWrite(t, tbl, model, fq, write == 1, "fuzz "+s.queryString(fq))
	}
}

func fltRequireOneOf(t *testing.T, err error, sentinels []error, verb string) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("%s: %v; want one of %v", verb, err, sentinels)
}

// fltFuzzSeeds are the f.Add seeds: random inputs of several lengths for
// both tables (testdata/fuzz/FuzzFilter holds hand-picked ones).
func fltFuzzSeeds() [][]byte {
	rng := rand.New(rand.NewPCG(7, 11))
	var seeds [][]byte
	for i := range 10 {
		b := make([]byte, 40+i*40)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		b[0] = byte(i) // both tables
		b[2] = byte(4 + i*2)
		seeds = append(seeds, b)
	}
	return append(seeds, nil, []byte{1}, []byte{0, 0, 0xff})
}
