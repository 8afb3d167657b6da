package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	gbtree "github.com/google/btree"
	"github.com/recstore/recstore/internal/btree"
	tbtree "github.com/tidwall/btree"
)

// The index tree, evidenced: recstore's internal/btree against the two
// maintained trees it could use instead, on recstore's index workload.
// Every tree holds the same *User records ordered by email, as a unique
// index holds them (the item is the record: no separate key), with nodes
// of at most 31 items (degree 16 in each library's terms, recstore's
// default). What differs is only the tree.

// orderedSet is one tree under test.
type orderedSet interface {
	set(u *User)
	get(email string) *User
	// ascend visits up to n records from the first not below from, and
	// descend up to n from the last not above it; both return how many.
	ascend(from string, n int) int
	descend(from string, n int) int
}

var treeImpls = []struct {
	name string
	make func() orderedSet
}{
	{"internal", func() orderedSet {
		return internalTree{btree.New(16, func(a, b *User) int { return strings.Compare(a.Email, b.Email) }), newCounter()}
	}},
	{"tidwall", func() orderedSet {
		t := tbtree.NewBTreeGOptions(ptrByEmail, tbtree.Options{Degree: 16, NoLocks: true})
		return &probeTree{
			probe: &User{},
			c:     newCounter(),
			put:   func(u *User) { t.Set(u) },
			find:  t.Get,
			up:    t.Ascend,
			down:  t.Descend,
		}
	}},
	{"google", func() orderedSet {
		t := gbtree.NewG(16, ptrByEmail)
		return &probeTree{
			probe: &User{},
			c:     newCounter(),
			put:   func(u *User) { t.ReplaceOrInsert(u) },
			find:  t.Get,
			up:    func(p *User, f func(*User) bool) { t.AscendGreaterOrEqual(p, f) },
			down:  func(p *User, f func(*User) bool) { t.DescendLessOrEqual(p, f) },
		}
	}},
}

func ptrByEmail(a, b *User) bool { return a.Email < b.Email }

// counter is an iterator that takes up to n items, one per tree and
// reused, so that no walk allocates for it.
type counter struct {
	seen, n int
	take    func(*User) bool
}

func newCounter() *counter {
	c := &counter{}
	c.take = func(*User) bool {
		c.seen++
		return c.seen < c.n
	}
	return c
}

func (c *counter) upTo(n int) func(*User) bool {
	c.seen, c.n = 0, n
	return c.take
}

type internalTree struct {
	t *btree.Tree[*User]
	c *counter
}

func (x internalTree) set(u *User) { x.t.Set(u, nil) }

func (x internalTree) get(email string) *User {
	u, _ := x.t.Find(emailProbe(email))
	return u
}

func (x internalTree) ascend(from string, n int) int {
	x.t.Ascend(emailProbe(from), nil, x.c.upTo(n))
	return x.c.seen
}

func (x internalTree) descend(from string, n int) int {
	x.t.Descend(emailProbe(from), nil, x.c.upTo(n))
	return x.c.seen
}

func emailProbe(email string) func(*User) int {
	return func(y *User) int { return strings.Compare(email, y.Email) }
}

// probeTree is a tree that searches with a probe record, as tidwall's and
// google's APIs ask: one per tree, reused, so that a search allocates
// nothing.
type probeTree struct {
	probe    *User
	c        *counter
	put      func(*User)
	find     func(*User) (*User, bool)
	up, down func(*User, func(*User) bool)
}

func (x *probeTree) set(u *User) { x.put(u) }

func (x *probeTree) get(email string) *User {
	x.probe.Email = email
	u, _ := x.find(x.probe)
	return u
}

func (x *probeTree) ascend(from string, n int) int { return x.walk(x.up, from, n) }

func (x *probeTree) descend(from string, n int) int { return x.walk(x.down, from, n) }

func (x *probeTree) walk(dir func(*User, func(*User) bool), from string, n int) int {
	x.probe.Email = from
	dir(x.probe, x.c.upTo(n))
	return x.c.seen
}

// treeRecords returns n records, in email order, and a random order of
// them (the same for every tree).
func treeRecords(n int) ([]*User, []*User) {
	recs := make([]*User, n)
	for i, k := range keysFor(n) {
		u := NewUser(k)
		recs[i] = &u
	}
	sorted := slices.Clone(recs)
	slices.SortFunc(sorted, func(a, b *User) int { return strings.Compare(a.Email, b.Email) })
	shuffled := make([]*User, n)
	copy(shuffled, recs)
	rand.New(rand.NewPCG(*seed, 7)).Shuffle(n, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	return sorted, shuffled
}

// BenchmarkTree/<workload>/<tree> runs each tree on the index's workload,
// over 1,000,000 records (10,000 with -short):
//
//   - insert_random, insert_rising: build the whole tree from empty, in
//     random or ascending email order; ns/record and B/record (the heap the
//     tree holds, beyond the records, after a collection).
//   - get: a point probe of a random stored email.
//   - range_1000, descend_1000: 1,000 records from a random email up or
//     down.
func BenchmarkTree(b *testing.B) {
	n := 1_000_000
	if smallRun() {
		n = 10_000
	}
	sorted, shuffled := treeRecords(n)
	build := func(b *testing.B, name string, recs []*User) {
		for _, impl := range treeImpls {
			b.Run(impl.name, func(b *testing.B) {
				var held float64
				for b.Loop() {
					b.StopTimer()
					before := heapBytes()
					b.StartTimer()
					t := impl.make()
					for _, u := range recs {
						t.set(u)
					}
					b.StopTimer()
					held = float64(heapBytes()-before) / float64(n)
					if got := t.ascend("", n+1); got != n {
						b.Fatalf("%s %s holds %d records, want %d", impl.name, name, got, n)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
				b.ReportMetric(held, "B/record")
			})
		}
	}
	b.Run("insert_random", func(b *testing.B) { build(b, "insert_random", shuffled) })
	b.Run("insert_rising", func(b *testing.B) { build(b, "insert_rising", sorted) })

	trees := make([]orderedSet, len(treeImpls))
	for i, impl := range treeImpls {
		trees[i] = impl.make()
		for _, u := range shuffled {
			trees[i].set(u)
		}
	}
	read := func(workload string, op func(t orderedSet, r *rand.Rand) bool) {
		b.Run(workload, func(b *testing.B) {
			for i, impl := range treeImpls {
				b.Run(impl.name, func(b *testing.B) {
					r := rand.New(rand.NewPCG(*seed, 11))
					b.ReportAllocs()
					for b.Loop() {
						if !op(trees[i], r) {
							b.Fatalf("%s: %s found the wrong records", impl.name, workload)
						}
					}
				})
			}
		})
	}
	span := min(1_000, n/2)
	read("get", func(t orderedSet, r *rand.Rand) bool {
		u := sorted[r.IntN(n)]
		return t.get(u.Email) == u
	})
	read(fmt.Sprintf("range_%d", span), func(t orderedSet, r *rand.Rand) bool {
		return t.ascend(sorted[r.IntN(n-span)].Email, span) == span
	})
	read(fmt.Sprintf("descend_%d", span), func(t orderedSet, r *rand.Rand) bool {
		return t.descend(sorted[span+r.IntN(n-span)].Email, span) == span
	})
}
