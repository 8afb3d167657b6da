package bench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
)

// Goroutines per GOMAXPROCS (see parallel) in the GetOrCreate, Get and
// Filter benchmarks.
var parallelism = []int{1, 4, 32}

// workload runs one GetOrCreate workload on the named store with g
// goroutines per GOMAXPROCS.
type workload struct {
	name     string
	fixedOps bool // needs -benchtime=Nx: its data set grows with b.N
	run      func(b *testing.B, store string, g int)
}

var workloads = []workload{
	{"hit", false, benchHit},
	{"miss", true, benchMiss},
	{"hot", false, benchHot},
	{"zipf", true, benchZipf},
}

// BenchmarkGetOrCreate/<workload>/<store>/g=<1x|4x|32x>:
//
//   - hit: 100,000 records preloaded (10,000 under -short or -race), every
//     call a random existing key.
//   - miss: every call a new key, from an empty store.
//   - hot: 16 keys hammered from an empty store; exactly 16 creates.
//   - zipf: keys drawn from a 1,000,000-key space by rand.Zipf (s = 1.1),
//     from an empty store; creates/op is the share of calls that created.
//
// miss and zipf grow the store with b.N, so they run only with a fixed
// operation count (-benchtime=Nx): a faster store must not face a bigger
// data set.
func BenchmarkGetOrCreate(b *testing.B) {
	for _, w := range workloads {
		b.Run(w.name, func(b *testing.B) {
			if w.fixedOps && !fixedOps() {
				b.Skipf("%s grows the store with b.N: run it with -benchtime=Nx so every store faces the same data set", w.name)
			}
			for _, name := range Names() {
				b.Run(name, func(b *testing.B) {
					requireGate(b, name)
					for _, g := range parallelism {
						b.Run(fmt.Sprintf("g=%dx", g), func(b *testing.B) {
							b.ReportAllocs()
							w.run(b, name, g)
						})
					}
				})
			}
		})
	}
}

func benchHit(b *testing.B, name string, g int) {
	n := preloadSize()
	s := preloaded(b, name, n)
	keys := keysFor(n)
	var gid atomic.Uint64
	var bad atomic.Int64
	b.ResetTimer()
	parallel(b, g, func(pb *ops) {
		src := rand.NewPCG(*seed, gid.Add(1))
		for pb.Next() {
			if _, created, err := s.GetOrCreate(keys[uniform(src, n)], NewUser); err != nil || created {
				bad.Add(1)
			}
		}
	})
	b.StopTimer()
	if k := bad.Load(); k > 0 {
		b.Fatalf("%d calls on existing keys failed or created", k)
	}
}

func benchMiss(b *testing.B, name string, g int) {
	s := newStore(b, name)
	keys := keysFor(b.N)
	var next atomic.Int64
	var bad atomic.Int64
	b.ResetTimer()
	parallel(b, g, func(pb *ops) {
		for pb.Next() {
			if _, created, err := s.GetOrCreate(keys[next.Add(1)-1], NewUser); err != nil || !created {
				bad.Add(1)
			}
		}
	})
	b.StopTimer()
	if k := bad.Load(); k > 0 {
		b.Fatalf("%d calls on new keys failed or did not create", k)
	}
	if got := s.Len(); got != b.N {
		b.Fatalf("Len() = %d after %d creates", got, b.N)
	}
}

const hotKeys = 16

func benchHot(b *testing.B, name string, g int) {
	s := newStore(b, name)
	keys := keysFor(hotKeys)
	var gid, creates atomic.Int64
	var failed firstErr
	b.ResetTimer()
	parallel(b, g, func(pb *ops) {
		i := int(gid.Add(1)) * 5 // goroutines start on different keys
		c := int64(0)
		for pb.Next() {
			_, created, err := s.GetOrCreate(keys[i%hotKeys], NewUser)
			if err != nil {
				failed.set(err)
			}
			if created {
				c++
			}
			i++
		}
		creates.Add(c)
	})
	b.StopTimer()
	if err := failed.get(); err != nil {
		b.Fatal(err)
	}
	// Visit every key once more, so that exactly 16 creates are due
	// whatever b.N was.
	for _, k := range keys {
		if _, created, err := s.GetOrCreate(k, NewUser); err != nil {
			b.Fatal(err)
		} else if created {
			creates.Add(1)
		}
	}
	if c := creates.Load(); c != hotKeys {
		b.Fatalf("%d creates reported for %d hot keys, want exactly %d", c, hotKeys, hotKeys)
	}
	if n := s.Len(); n != hotKeys {
		b.Fatalf("Len() = %d for %d hot keys", n, hotKeys)
	}
}

const (
	zipfKeys = 1_000_000
	zipfS    = 1.1
)

func benchZipf(b *testing.B, name string, g int) {
	s := newStore(b, name)
	keys := keysFor(zipfKeys)
	var gid, creates atomic.Int64
	var failed firstErr
	b.ResetTimer()
	parallel(b, g, func(pb *ops) {
		z := rand.NewZipf(rand.New(rand.NewPCG(*seed, uint64(gid.Add(1)))), zipfS, 1, zipfKeys-1)
		c := int64(0)
		for pb.Next() {
			_, created, err := s.GetOrCreate(keys[z.Uint64()], NewUser)
			if err != nil {
				failed.set(err)
			}
			if created {
				c++
			}
		}
		creates.Add(c)
	})
	b.StopTimer()
	if err := failed.get(); err != nil {
		b.Fatal(err)
	}
	if c, n := creates.Load(), s.Len(); int64(n) != c {
		b.Fatalf("%d creates reported, Len() = %d", c, n)
	}
	b.ReportMetric(float64(creates.Load())/float64(b.N), "creates/op")
}

// BenchmarkGet/<store>/g=<1x|4x|32x>: Get by the unique key, random
// existing keys, 100,000 records preloaded (10,000 under -short or -race).
func BenchmarkGet(b *testing.B) {
	n := preloadSize()
	keys := keysFor(n)
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			requireGate(b, name)
			for _, g := range parallelism {
				b.Run(fmt.Sprintf("g=%dx", g), func(b *testing.B) {
					b.ReportAllocs()
					s := preloaded(b, name, n)
					var gid atomic.Uint64
					var bad atomic.Int64
					b.ResetTimer()
					parallel(b, g, func(pb *ops) {
						src := rand.NewPCG(*seed, gid.Add(1))
						for pb.Next() {
							if _, ok, err := s.Get(keys[uniform(src, n)]); err != nil || !ok {
								bad.Add(1)
							}
						}
					})
					b.StopTimer()
					if k := bad.Load(); k > 0 {
						b.Fatalf("%d Gets of existing keys failed or found nothing", k)
					}
				})
			}
		})
	}
}

// Why the stores without Range have none.
var noRange = map[string]string{
	"syncmap": "sync.Map is unordered: a range is a scan of every record",
	"xsync":   "xsync.Map is unordered: a range is a scan of every record",
	"rwmap":   "a Go map is unordered: a range is a scan of every record",
}

// rangeLen is the number of records BenchmarkFilter reads per call.
const rangeLen = 1000

// BenchmarkFilter/n=<records>/<store>/g=<1x|4x|32x>: read every record of
// a random range of 1,000 emails (lo <= email < hi) out of 1,000,000
// preloaded (10,000 under -short or -race), through each store's ordered
// index: recstore Filter(Ge, Lt) through the unique email index, tidwall
// Ascend under the read lock, go-memdb LowerBound, buntdb AscendRange,
// SQLite a range SELECT. ns/op is per range of 1,000 records.
func BenchmarkFilter(b *testing.B) {
	n := 1_000_000
	if smallRun() {
		n = 10_000
	}
	keys := keysFor(n)
	b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
		for _, name := range Names() {
			b.Run(name, func(b *testing.B) {
				if why, ok := noRange[name]; ok {
					b.Skip(why)
				}
				requireGate(b, name)
				r, ok := preloaded(b, name, n).(Ranger)
				if !ok {
					b.Fatalf("%s has neither a Range method nor a reason in noRange", name)
				}
				for _, g := range parallelism {
					b.Run(fmt.Sprintf("g=%dx", g), func(b *testing.B) {
						b.ReportAllocs()
						var gid atomic.Uint64
						var bad atomic.Int64
						var failed firstErr
						b.ResetTimer()
						parallel(b, g, func(pb *ops) {
							src := rand.NewPCG(*seed, gid.Add(1))
							for pb.Next() {
								lo := uniform(src, n-rangeLen)
								got, err := r.Range(keys[lo], keys[lo+rangeLen])
								if err != nil {
									failed.set(err)
								} else if got != rangeLen {
									bad.Add(1)
								}
							}
						})
						b.StopTimer()
						if err := failed.get(); err != nil {
							b.Fatal(err)
						}
						if k := bad.Load(); k > 0 {
							b.Fatalf("%d ranges did not hold %d records", k, rangeLen)
						}
					})
				}
			})
		}
	})
}

// Why the stores without Snapshot have none.
var noSnapshot = map[string]string{
	"syncmap": "sync.Map has no snapshot: a consistent view costs a full copy under a lock it does not have",
	"xsync":   "xsync.Map has no snapshot: Range is not a consistent view, and a copy is O(n)",
	"rwmap":   "a map behind a RWMutex has no snapshot but holding the read lock (blocking writers) or an O(n) copy",
}

// BenchmarkSnapshot/n=<records>/<store>: begin and end a read snapshot or
// transaction, from GOMAXPROCS goroutines: recstore db.View, go-memdb
// Txn(false), tidwall/btree Copy (under the write lock, since Copy writes
// the tree), buntdb a read transaction (a read lock, not a snapshot),
// SQLite BEGIN + one point read + COMMIT (table read locks, not a
// snapshot). The 1,000,000-record size is skipped under -short and -race.
func BenchmarkSnapshot(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			skipLarge(b, n)
			for _, name := range Names() {
				b.Run(name, func(b *testing.B) {
					if why, ok := noSnapshot[name]; ok {
						b.Skip(why)
					}
					requireGate(b, name)
					b.ReportAllocs()
					s, ok := preloaded(b, name, n).(Snapshotter)
					if !ok {
						b.Fatalf("%s has neither a Snapshot method nor a reason in noSnapshot", name)
					}
					var failed firstErr
					b.ResetTimer()
					parallel(b, 1, func(pb *ops) {
						for pb.Next() {
							if err := s.Snapshot(); err != nil {
								failed.set(err)
							}
						}
					})
					b.StopTimer()
					if err := failed.get(); err != nil {
						b.Fatal(err)
					}
				})
			}
		})
	}
}

// BenchmarkMemory/n=<records>/<store> reports B/record: the heap (plus,
// for SQLite, its page cache outside the Go heap) that a store of n
// records holds, after runtime.GC, per record. Each record's email is a
// fresh string, so a store that keeps it pays for it and one that copies
// it does not keep it alive. ns/op is the time to fill the store, from
// GOMAXPROCS goroutines (SQLite: in transactions of 10,000). The
// 1,000,000-record size is skipped under -short and -race.
func BenchmarkMemory(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			skipLarge(b, n)
			benchMemoryAt(b, n)
		})
	}
}

// BenchmarkMemoryCurve/n=<records>/<store> is BenchmarkMemory at sizes
// from 100,000 to 1,500,000 records: a hash table's memory per record
// swings with where its size falls between two growths, so one size can
// flatter or wrong a store, and a change of growth policy must be judged
// on the curve. It is skipped under -short and -race (BenchmarkMemory
// runs the same measurement there); cmd/report does not run it.
func BenchmarkMemoryCurve(b *testing.B) {
	if smallRun() {
		b.Skip("100,000 records and more: skipped under -short and -race")
	}
	for _, n := range []int{100_000, 250_000, 400_000, 550_000, 700_000, 850_000, 1_000_000, 1_200_000, 1_500_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) { benchMemoryAt(b, n) })
	}
}

// benchMemoryAt reports every store's B/record at n records.
func benchMemoryAt(b *testing.B, n int) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			requireGate(b, name)
			var total float64
			for range b.N {
				total += heapPerRecord(b, name, n)
			}
			b.ReportMetric(total/float64(b.N), "B/record")
		})
	}
}

func heapPerRecord(b *testing.B, name string, n int) float64 {
	b.StopTimer()
	before := heapBytes()
	emails := Emails(n) // fresh strings; the slice itself is dropped below
	s, err := New(name)
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	err = fill(s, emails)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	emails = nil
	after := heapBytes()
	if m, ok := s.(MemoryReporter); ok {
		after += m.OffHeapBytes()
	}
	if got := s.Len(); got != n {
		b.Fatalf("Len() = %d after filling %d", got, n)
	}
	runtime.KeepAlive(s)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	return float64(after-before) / float64(n)
}

// heapBytes returns the live Go heap after a collection.
func heapBytes() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
