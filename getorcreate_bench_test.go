package recstore

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// BenchmarkGetOrCreate measures the contention hot path on the User table
// (auto primary key, two unique indexes, a plain index), with b.RunParallel
// at 1×, 4× and 32× GOMAXPROCS goroutines. bench/ compares it with peers.
//
//	go test -run '^$' -bench GetOrCreate -cpu 1,2 -benchtime 200000x
func BenchmarkGetOrCreate(b *testing.B) {
	for _, w := range []struct {
		name string
		run  func(b *testing.B, par int)
	}{
		{"hit", benchHit},
		{"miss", benchMiss},
		{"hot", benchHot},
		{"zipf", benchZipf},
	} {
		for _, mult := range []int{1, 4, 32} {
			b.Run(fmt.Sprintf("%s/g=%dx", w.name, mult), func(b *testing.B) {
				b.ReportAllocs()
				w.run(b, mult)
			})
		}
	}
}

func benchEmails(n int, prefix string) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%d@example.com", prefix, i)
	}
	return keys
}

func benchUser(email string) func() (User, error) {
	return func() (User, error) { return User{Email: email, Org: "bench", Username: email}, nil }
}

// benchLoop runs GetOrCreate in parallel on keys; each goroutine draws
// key indexes from its own generator made by draws.
func benchLoop(b *testing.B, users *Table[User], par int, keys []string, draws func(r *rand.Rand) func() int) {
	b.SetParallelism(par)
	var seed atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		next := draws(rand.New(rand.NewPCG(seed.Add(1), 7)))
		for pb.Next() {
			k := keys[next()]
			if _, _, err := users.GetOrCreate(uEmail.Eq(k), benchUser(k)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchHit(b *testing.B, par int) {
	_, users := newUsers(b)
	keys := benchEmails(100_000, "hit")
	for _, k := range keys {
		if _, err := users.Insert(User{Email: k, Org: "bench", Username: k}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	benchLoop(b, users, par, keys, uniform(len(keys)))
}

// benchMiss creates a new key on every call; run it with -benchtime Nx so
// that every store faces the same data set.
func benchMiss(b *testing.B, par int) {
	_, users := newUsers(b)
	keys := benchEmails(b.N, "miss")
	var n atomic.Int64
	b.ResetTimer()
	benchLoop(b, users, par, keys, func(*rand.Rand) func() int {
		return func() int { return int(n.Add(1) - 1) }
	})
	b.StopTimer()
	if users.Len() != b.N {
		b.Fatalf("%d records after %d creates", users.Len(), b.N)
	}
}

func benchHot(b *testing.B, par int) {
	_, users := newUsers(b)
	keys := benchEmails(16, "hot")
	benchLoop(b, users, par, keys, uniform(len(keys)))
	b.StopTimer()
	if n := users.Len(); n != min(16, b.N) && b.N >= 1000 {
		b.Fatalf("%d records, want 16", n)
	}
}

// benchZipf draws from a 1,000,000-key space with s=1.1 from an empty table.
func benchZipf(b *testing.B, par int) {
	_, users := newUsers(b)
	keys := benchEmails(1_000_000, "zipf")
	b.ResetTimer()
	benchLoop(b, users, par, keys, zipfNext(len(keys)))
}

func uniform(n int) func(r *rand.Rand) func() int {
	return func(r *rand.Rand) func() int {
		return func() int { return r.IntN(n) }
	}
}

func zipfNext(n int) func(r *rand.Rand) func() int {
	return func(r *rand.Rand) func() int {
		z := rand.NewZipf(r, 1.1, 1, uint64(n-1))
		return func() int { return int(z.Uint64()) }
	}
}
