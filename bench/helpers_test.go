package bench

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var seed = flag.Uint64("seed", 1, "seed of the benchmarks' random draws (each goroutine draws from its own PCG seeded (seed, goroutine number))")

// smallRun reports whether to shrink the benchmarks for a quick check:
// under -short or the race detector, the 1,000,000-record sizes are
// skipped and the 100,000-record preloads hold 10,000 records.
func smallRun() bool { return testing.Short() || RaceEnabled }

// preloadSize is the number of records the hit and Get benchmarks preload.
func preloadSize() int {
	if smallRun() {
		return 10_000
	}
	return 100_000
}

func skipLarge(b *testing.B, n int) {
	b.Helper()
	if n >= 1_000_000 && smallRun() {
		b.Skipf("%d records: skipped under -short and -race", n)
	}
}

// fixedOps reports whether the benchmarks run a fixed number of operations
// (-benchtime=Nx) rather than for a fixed time.
func fixedOps() bool {
	f := flag.Lookup("test.benchtime")
	return f != nil && strings.HasSuffix(f.Value.String(), "x")
}

// The key space: keys[i] is Email(i). Built once, outside every timed
// loop, and grown on demand.
var (
	keysMu sync.Mutex
	keys   []string
)

func keysFor(n int) []string {
	keysMu.Lock()
	defer keysMu.Unlock()
	for i := len(keys); i < n; i++ {
		keys = append(keys, Email(i))
	}
	return keys[:n:n]
}

// gated runs the correctness gate once per store and process; TestGate
// and the benchmarks share the result.
var gates sync.Map // name -> func() error

func gateResult(name string) error {
	f, _ := gates.LoadOrStore(name, sync.OnceValue(func() error { return GateNew(name) }))
	return f.(func() error)()
}

// requireGate stops the benchmark unless the store passes the gate.
func requireGate(b *testing.B, name string) {
	b.Helper()
	if err := gateResult(name); err != nil {
		b.Fatalf("no figures for %s: %v", name, err)
	}
}

// newStore returns an empty store, closed when the benchmark ends.
func newStore(tb testing.TB, name string) Store {
	tb.Helper()
	s, err := New(name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// fill stores NewUser(e) for every e in emails, which must all be new: in
// bulk where the store can, else by GetOrCreate from GOMAXPROCS goroutines.
func fill(s Store, emails []string) error {
	if l, ok := s.(BulkLoader); ok {
		return l.Load(emails, NewUser)
	}
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(emails); i += workers {
				_, created, err := s.GetOrCreate(emails[i], NewUser)
				if err == nil && !created {
					err = fmt.Errorf("%q already present", emails[i])
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Preloaded stores are shared by the benchmarks that only read them (hit,
// Get, Snapshot) and kept for the process, except that only one store of
// 1,000,000 records or more is kept at a time.
type preloadKey struct {
	name string
	n    int
}

var (
	preloadMu sync.Mutex
	preloads  = map[preloadKey]Store{}
)

func preloaded(b *testing.B, name string, n int) Store {
	b.Helper()
	preloadMu.Lock()
	defer preloadMu.Unlock()
	k := preloadKey{name, n}
	if s, ok := preloads[k]; ok {
		return s
	}
	if n >= 1_000_000 {
		for k, s := range preloads {
			if k.n >= 1_000_000 {
				_ = s.Close()
				delete(preloads, k)
			}
		}
	}
	s, err := New(name)
	if err != nil {
		b.Fatal(err)
	}
	if err := fill(s, keysFor(n)); err != nil {
		_ = s.Close()
		b.Fatalf("preloading %d records: %v", n, err)
	}
	if got := s.Len(); got != n {
		_ = s.Close()
		b.Fatalf("preloaded %d records, Len() = %d", n, got)
	}
	preloads[k] = s
	return s
}

// uniform draws an index in [0, n), n < 2^32, with a bias below 2^-32 and
// without the interface call of math/rand/v2.Rand.
func uniform(src *rand.PCG, n int) int {
	return int(uint64(uint32(src.Uint64())) * uint64(n) >> 32)
}

// firstErr keeps the first error of a parallel benchmark's calls. set takes
// the error by value so that the caller's err does not escape: taking its
// address in the timed loop would move every call's err to the heap, an
// allocation per call charged to the store under test.
type firstErr struct{ p atomic.Pointer[error] }

func (f *firstErr) set(err error) { f.p.CompareAndSwap(nil, &err) }

func (f *firstErr) get() error {
	if p := f.p.Load(); p != nil {
		return *p
	}
	return nil
}

// parallel runs body on g goroutines per GOMAXPROCS until they have done
// b.N operations between them, as b.SetParallelism(g) and b.RunParallel
// would; body calls o.Next before each operation, until it reports false.
//
// RunParallel hands out operations in grains sized from the benchmark's
// previous run, which under -benchtime=Nx (miss and zipf run that way)
// is the one-operation probe: every operation then takes its own turn at
// one shared atomic counter. With 64 goroutines on two cores that cost
// about 75 ns an operation, a quarter of sync.Map's zipf time, charged to
// the store. parallel sizes grains from b.N: 1/64 of a goroutine's share,
// from 1 to 10,000 operations (RunParallel's ceiling).
func parallel(b *testing.B, g int, body func(o *ops)) {
	workers := g * runtime.GOMAXPROCS(0)
	grain := int64(min(max(b.N/(64*workers), 1), 10_000))
	var handed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { body(&ops{handed: &handed, n: int64(b.N), grain: grain}) })
	}
	wg.Wait()
}

// ops is one goroutine's share of a parallel benchmark's operations.
type ops struct {
	handed   *atomic.Int64 // operations handed out, to every goroutine
	n, grain int64
	left     int64 // operations handed to this goroutine and not done
}

// Next reports whether there is an operation left to do, and takes it.
func (o *ops) Next() bool {
	if o.left == 0 {
		end := o.handed.Add(o.grain)
		start := end - o.grain
		if start >= o.n {
			return false
		}
		o.left = min(end, o.n) - start
	}
	o.left--
	return true
}
