package bench

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
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
