package recstore

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The model-based tests (TESTING.md §2): generated sequences run on the
// reference store and on the store, at several stripe counts and B-tree
// degrees. The concurrent variant is in model_concurrent_test.go, the
// transaction fuzzer in txnfuzz_test.go; TestTable_Metamorphic and the fault
// tests run the same reference store.

var flagOps = flag.Int("recstore.ops", 0, "operations of TestModel_Randomized (0: 100,000)")

// mdlRecording is a generated sequence with what the model says of it.
type mdlRecording struct {
	ops     []*mdlOp
	want    []string
	seed    uint64
	dumps   map[int][]User // the model's records after op i, every mdlDumpEvery ops
	seq     int64
	sizes   int // the sum of the table's sizes before each op
	maxSize int
}

const mdlDumpEvery = 200

// mdlRecord generates n operations from seed and runs them on the model.
func mdlRecord(t testing.TB, seed uint64, n int) *mdlRecording {
	g := &mdlGen{rng: rand.New(rand.NewPCG(seed, 0x6d6f64656c)), dom: mdlSingleDomain, db: newMdlDB()}
	m := &mdlModel{db: g.db}
	r := &mdlRecording{seed: seed, dumps: map[int][]User{}}
	for i := range n {
		r.sizes += len(g.db.cur.ids)
		r.maxSize = max(r.maxSize, len(g.db.cur.ids))
		op := g.op(ctxTop)
		r.ops = append(r.ops, op)
		r.want = append(r.want, mdlRun(m, op, true))
		if (i+1)%mdlDumpEvery == 0 || i == n-1 {
			require.NoError(t, g.db.cur.selfCheck(), "after op %d", i)
			r.dumps[i] = g.db.cur.all()
		}
	}
	r.seq = g.db.seq
	return r
}

// mdlConfigs are the stripe counts and B-tree degrees every sequence runs
// at: the results must not depend on them.
var mdlConfigs = []struct {
	name string
	opts Options
}{
	{"stripes=1 degree=2", Options{Stripes: 1, Degree: 2}},
	{"stripes=4 degree=16", Options{Stripes: 4, Degree: 16}},
	{"stripes=64 degree=2", Options{Stripes: 64, Degree: 2}},
	{"stripes=64 degree=16", Options{Stripes: 64, Degree: 16}},
}

// mdlReplay runs the recorded operations on a fresh store and returns the
// digest of its results; it stops the test at the first result that differs
// from the model's.
func mdlReplay(t *testing.T, r *mdlRecording, opts Options) []byte {
	db, users := newUsers(t, opts)
	api := &mdlStore{db: db, t: users}
	h := sha256.New()
	for i, op := range r.ops {
		got := mdlRun(api, op, true)
		if got != r.want[i] {
			t.Fatalf("op %d (reproduce with -recstore.seed=%d -recstore.ops=%d): %s\n got: %s\nmodel: %s", i, r.seed, i+1, op, got, r.want[i])
		}
		h.Write([]byte(got))
		h.Write([]byte{0})
		if want, ok := r.dumps[i]; ok {
			require.Equal(t, want, dump(t, users), "records after op %d", i)
			require.NoError(t, checkInvariants(users), "after op %d", i)
		}
	}
	return h.Sum(nil)
}

// TestModel_Randomized runs one seeded sequence of operations biased toward
// collisions on the model and at several stripe counts and B-tree degrees:
// every result, records and error classes and messages included, must be
// the model's, the records equal the model's every mdlDumpEvery operations,
// the invariant checker must pass, and the results of every configuration
// must be identical.
//
// It runs 100,000 operations; more with -recstore.ops=N, a given sequence
// with -recstore.seed=N.
func TestModel_Randomized(t *testing.T) {
	n := 100_000 // about 10 s on two cores, 45 s with -race
	if *flagOps > 0 {
		n = *flagOps
	}
	seed := testSeed(t)
	r := mdlRecord(t, seed, n)

	outcomes := map[string]int{}
	subOps := 0
	for i, op := range r.ops {
		outcome, w := "ok", r.want[i]
		switch {
		case strings.HasPrefix(w, "error "):
			outcome = strings.Fields(w)[1]
		case strings.HasPrefix(w, "panic"):
			outcome = "panic"
		}
		if op.kind == mkTx && strings.Contains(w, "runs=2") {
			outcome += ", run again" // its commit conflicted with what ran outside it
		}
		outcomes[op.kind.String()+" "+outcome]++
		subOps += mdlCountSubs(op)
	}
	keys := slices.Sorted(maps.Keys(outcomes))
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-40s %d", k, outcomes[k])
	}
	t.Logf("%d operations (and %d inside transactions, views and savepoints); %d records on average, %d at most, %d at the end; auto-key sequence at %d; outcomes:%s",
		n, subOps, r.sizes/n, r.maxSize, len(r.dumps[n-1]), r.seq, b.String())

	digests := make([][]byte, len(mdlConfigs))
	t.Run("configs", func(t *testing.T) {
		for i, c := range mdlConfigs {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				digests[i] = mdlReplay(t, r, c.opts)
			})
		}
	})
	if t.Failed() {
		return
	}
	for i := range digests {
		require.Equal(t, digests[0], digests[i], "results of %s and %s differ", mdlConfigs[0].name, mdlConfigs[i].name)
	}
}

func mdlCountSubs(op *mdlOp) int {
	n := len(op.subs)
	for _, s := range op.subs {
		n += mdlCountSubs(s)
	}
	return n
}
