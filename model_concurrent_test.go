package recstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The concurrent variant of the model-based test (TESTING.md §2 and §4).
//
// Several writers run random operations and transactions, each on its own
// key range: its own ids, emails and orgs, with every lookup and query
// scoped to its ids (mdlDomain.scope), so that no two writers' operations
// can affect each other and each writer's own model predicts every result
// exactly, whatever the interleaving. After each operation a writer
// publishes its model's records (mcPub).
//
// Readers open db.View and read a writer's range, or every writer's,
// through three indexes (primary key range, email prefix, org prefix),
// count it and look some of its records up by primary key, email and (org,
// username), some Views again after sleeping while writers commit. Every
// read of a range in one View must give the same records, and those records
// must be one of the states the writer published between the last one
// before the View began and the first one after: a View sees whole
// operations (a transaction's writes all or none) and never changes under
// the reader. Readers check a View once the writer has published the
// operation after it, without waiting for it.

// mcPub is a writer's published model states: the state after each
// operation, the same state stored once for a run of operations.
type mcPub struct {
	mu     sync.Mutex
	count  int      // operations published
	firsts []int    // firsts[j] is the count at which states[j] began
	states []string // states[0] is the empty range
	done   bool
}

func newMcPub() *mcPub { return &mcPub{firsts: []int{0}, states: []string{mdlUsers(nil)}} }

func (p *mcPub) publish(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count++
	if p.states[len(p.states)-1] != s {
		p.firsts = append(p.firsts, p.count)
		p.states = append(p.states, s)
	}
}

func (p *mcPub) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

func (p *mcPub) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
}

// window returns the states after operations from..to, and false if the
// writer has not yet published operation to (nor finished).
func (p *mcPub) window(from, to int) ([]string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.count < to && !p.done {
		return nil, false
	}
	at := func(n int) int { // the state after operation n
		j, _ := slices.BinarySearch(p.firsts, n+1)
		return j - 1
	}
	return p.states[at(from) : at(min(to, p.count))+1], true
}

// mcCheck is a View's read of writer w's range, to check once the writer
// published the operation after the View began.
type mcCheck struct {
	w            int
	before, next int // the View began after operation before, and before operation next was published
	got          string
}

// resolve checks c if it can and reports whether it did.
func (c mcCheck) resolve(pubs []*mcPub, fail func(string, ...any)) bool {
	window, ok := pubs[c.w].window(c.before, c.next)
	if !ok {
		return false
	}
	if !slices.Contains(window, c.got) {
		fail("a View of writer %d's range matches none of the states after its operations %d..%d, around the View:\n  view: %s\nbefore: %s\n after: %s",
			c.w, c.before, c.next, c.got, window[0], window[len(window)-1])
	}
	return true
}

// mcDomain is writer w's key range.
func mcDomain(w int) mdlDomain {
	lo := int64(w+1) * 100_000
	const ids = 60
	scope := mdlCond{oper: moBetween, f: mdlFID, n: []int64{lo + 1, lo + ids}}
	return mdlDomain{prefix: fmt.Sprintf("w%d-", w), idLo: lo, ids: ids, emails: 30, usernames: 15, scope: &scope, noLen: true, whole: true}
}

// TestModel_Concurrent runs writers on disjoint key ranges, each checked
// against its own model, and readers that check every View against the
// states the writers published around it.
func TestModel_Concurrent(t *testing.T) {
	seed := testSeed(t)
	failure, stats := mcRun(t, seed, 2500*time.Millisecond)
	require.Empty(t, failure)
	t.Log(stats)
}

// mcRun runs the concurrent model test for about d and returns its first
// failure, or "", and what it did.
func mcRun(t *testing.T, seed uint64, d time.Duration) (failure, stats string) {
	const (
		writers = 4
		readers = 3
	)
	db, users := newUsers(t)
	pubs := make([]*mcPub, writers)
	for w := range pubs {
		pubs[w] = newMcPub()
	}
	var failed atomic.Pointer[string]
	fail := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		failed.CompareAndSwap(nil, &s)
	}

	deadline := time.Now().Add(d)
	var wg, rwg sync.WaitGroup
	ops := make([]int, writers)
	models := make([]*mdlDB, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pubs[w].finish()
			g := &mdlGen{rng: rand.New(rand.NewPCG(seed, uint64(w)+1)), dom: mcDomain(w), db: newMdlDB()}
			models[w] = g.db
			m := &mdlModel{db: g.db}
			api := &mdlStore{db: db, t: users}
			for ; time.Now().Before(deadline) && failed.Load() == nil; ops[w]++ {
				op := g.op(ctxTop)
				want := mdlRun(m, op, true)
				if got := mdlRun(api, op, true); got != want {
					fail("writer %d, op %d: %s\n got: %s\nmodel: %s", w, ops[w], op, got, want)
					return
				}
				pubs[w].publish(mdlUsers(g.db.cur.all()))
			}
		}()
	}

	var views, reads, longViews atomic.Int64
	stop := make(chan struct{})
	for r := range readers {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(1000+r)))
			var pending []mcCheck
			defer func() {
				<-stop // the writers have finished: every check can be resolved
				for _, c := range pending {
					c.resolve(pubs, fail)
				}
			}()
			for failed.Load() == nil {
				select {
				case <-stop:
					return
				default:
				}
				pending = append(pending, mcView(db, users, pubs, rng, fail, &reads, &longViews)...)
				views.Add(1)
				pending = slices.DeleteFunc(pending, func(c mcCheck) bool { return c.resolve(pubs, fail) })
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	if f := failed.Load(); f != nil {
		return *f, ""
	}

	total := 0
	for w := range writers {
		total += ops[w]
		d := mcDomain(w)
		recs, err := users.Filter(d.scope.build()).Collect()
		require.NoError(t, err)
		require.Equal(t, mdlUsers(models[w].cur.all()), mdlUsers(recs), "writer %d's records at the end", w)
	}
	require.Positive(t, views.Load())
	return "", fmt.Sprintf("%d writers ran %d operations (%v); %d readers checked %d views (%d held while writers committed), %d range reads",
		writers, total, ops, readers, views.Load(), longViews.Load(), reads.Load())
}

// mcView opens one View and checks writers' ranges in it: mostly one
// writer's, read once through three indexes; now and then every writer's,
// with lookups, read again after sleeping while writers commit.
func mcView(db *DB, users *Table[User], pubs []*mcPub, rng *rand.Rand, fail func(string, ...any), reads, longViews *atomic.Int64) []mcCheck {
	ws := []int{rng.IntN(len(pubs))}
	full := rng.IntN(4) == 0
	if full {
		ws = ws[:0]
		for w := range pubs {
			ws = append(ws, w)
		}
	}
	before := make([]int, len(pubs))
	for _, w := range ws {
		before[w] = pubs[w].len()
	}
	inside := make([]int, len(pubs))
	got := make([]string, len(pubs))
	err := db.View(func(tx *Tx) error {
		for _, w := range ws {
			inside[w] = pubs[w].len()
		}
		ut := users.In(tx)
		rounds := 1
		if full && rng.IntN(2) == 0 {
			rounds = 2 + rng.IntN(3)
			longViews.Add(1)
		}
		for round := range rounds {
			if round > 0 {
				time.Sleep(time.Duration(1+rng.IntN(3)) * time.Millisecond)
			}
			for _, w := range ws {
				s, err := mcReadRange(ut, w, full, rng)
				reads.Add(1)
				if err != nil {
					return fmt.Errorf("writer %d's range: %w", w, err)
				}
				if round == 0 {
					got[w] = s
				} else if s != got[w] {
					return fmt.Errorf("non-repeatable read of writer %d's range in one View:\nfirst: %s\n then: %s", w, got[w], s)
				}
			}
		}
		return nil
	})
	if err != nil {
		fail("%v", err)
		return nil
	}
	checks := make([]mcCheck, len(ws))
	for i, w := range ws {
		checks[i] = mcCheck{w: w, before: before[w], next: inside[w] + 1, got: got[w]}
	}
	return checks
}

// mcReadRange reads writer w's range through the primary key, the email
// index and the (org, username) index, counts it and, with lookups, looks
// up a few of its records by each unique index; every read must agree. It
// returns the records.
func mcReadRange(ut *Table[User], w int, lookups bool, rng *rand.Rand) (string, error) {
	d := mcDomain(w)
	byID, err := ut.Filter(d.scope.build()).Collect()
	if err != nil {
		return "", err
	}
	byEmail, err := ut.Filter(uEmail.Prefix(d.prefix)).OrderBy(uID.Asc()).Collect()
	if err != nil {
		return "", err
	}
	byOrg, err := ut.Filter(uOrg.Prefix(d.prefix)).OrderBy(uID.Asc()).Collect()
	if err != nil {
		return "", err
	}
	n, err := ut.Filter(d.scope.build()).Count()
	if err != nil {
		return "", err
	}
	s := mdlUsers(byID)
	if e, o := mdlUsers(byEmail), mdlUsers(byOrg); e != s || o != s || n != len(byID) {
		return "", fmt.Errorf("one View, three indexes:\n   id: %s\nemail: %s\n  org: %s\ncount: %d", s, e, o, n)
	}
	for range min(4, len(byID)) {
		if !lookups {
			break
		}
		u := byID[rng.IntN(len(byID))]
		for _, lookup := range [][]Cond[User]{{uID.Eq(u.ID)}, {uEmail.Eq(u.Email)}, {uOrg.Eq(u.Org), uUsername.Eq(u.Username)}} {
			r, err := ut.Get(lookup...)
			if err != nil || r != u {
				return "", fmt.Errorf("record %s read by a range, then by a lookup: %s, %v", mdlUser(u), mdlUser(r), err)
			}
		}
	}
	return s, nil
}
