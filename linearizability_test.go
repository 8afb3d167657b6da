package recstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

// The linearizability check of GetOrCreate (TESTING.md, item 1). Goroutines
// loop over a few keys doing GetOrCreate / Get / Delete; every GetOrCreate
// offers a value no other call offers, so the history says whose record
// won. Porcupine then looks for one order of the operations, consistent
// with their real-time intervals, in which a sequential store produces
// every result seen. Its model, per key: absent (0) or the winning value.

// linOp is what one operation of the history asked.
type linOp uint8

const (
	linGetOrCreate linOp = iota
	linGet
	linDelete
)

func (o linOp) String() string {
	return [...]string{"GetOrCreate", "Get", "Delete"}[o]
}

type linInput struct {
	op    linOp
	key   int
	offer int64 // GetOrCreate: the value its create callback would store
}

type linOutput struct {
	val     int64 // the value of the record returned; 0 for none
	created bool  // GetOrCreate: created is true
	err     error // nil, a not-found error (Get, Delete), or anything else
}

// found reports whether the call returned a record.
func (o linOutput) found() bool { return o.err == nil }

// notFound reports whether the call failed only because no record matched.
func (o linOutput) notFound() bool { return errors.Is(o.err, ErrNotFound) }

// linModel is the sequential specification: one key's state is the value
// of its record, 0 while it has none.
var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[int][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(linInput).key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]int, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		cur, in, out := state.(int64), input.(linInput), output.(linOutput)
		switch in.op {
		case linGetOrCreate:
			if out.err != nil {
				return false, cur // GetOrCreate on a valid lookup never fails
			}
			if cur == 0 {
				return out.created && out.val == in.offer, in.offer
			}
			return !out.created && out.val == cur, cur
		case linGet:
			if cur == 0 {
				return out.notFound(), cur
			}
			return out.found() && out.val == cur, cur
		default: // linDelete
			if cur == 0 {
				return out.notFound(), cur
			}
			return out.found() && out.val == cur, int64(0)
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		var res string
		switch {
		case out.err != nil && !out.notFound():
			res = "error: " + out.err.Error()
		case out.err != nil:
			res = "not found"
		case out.created:
			res = fmt.Sprintf("%d (created)", out.val)
		default:
			res = fmt.Sprint(out.val)
		}
		if in.op == linGetOrCreate {
			return fmt.Sprintf("GetOrCreate(k%d, offer %d) -> %s", in.key, in.offer, res)
		}
		return fmt.Sprintf("%v(k%d) -> %s", in.op, in.key, res)
	},
	DescribeState: func(state any) string {
		if state.(int64) == 0 {
			return "absent"
		}
		return fmt.Sprint(state.(int64))
	},
}

// linScenario is one way of reaching records by key.
type linScenario struct {
	name string
	// open returns a fresh table and the three operations on key k; the
	// value of a record is what val extracts.
	open func(t *testing.T) linTable
}

type linTable struct {
	getOrCreate func(k int, offer int64) (User, bool, error)
	get         func(k int) (User, error)
	delete      func(k int) (User, error)
	val         func(u User) int64
	keyOf       func(u User) (int, bool) // the key a stored record answers, if any
	dump        func() []User
}

// linScenarios are the three required ones: through the primary key, through
// a unique secondary index with two primary keys competing for one unique
// value, and through a lookup no unique index covers.
func linScenarios() []linScenario {
	return []linScenario{
		{name: "primary key", open: openLinPrimaryKey},
		{name: "unique email, competing primary keys", open: openLinUniqueEmail},
		{name: "uncovered lookup on unindexed name", open: openLinUncoveredName},
		{name: "uncovered lookup on plain-indexed age", open: openLinPlainAge},
	}
}

// openLinPrimaryKey: a table keyed by a primary key the caller chooses;
// lookup id = k+1 (a primary key is never zero), the value is the record's Age.
func openLinPrimaryKey(t *testing.T) linTable {
	items := newUserItems(t, newTestDB(t))
	return linTable{
		getOrCreate: func(k int, offer int64) (User, bool, error) {
			return items.GetOrCreate(uID.Eq(int64(k+1)), func() (User, error) {
				return User{ID: int64(k + 1), Age: int(offer)}, nil
			})
		},
		get:    func(k int) (User, error) { return items.Get(uID.Eq(int64(k + 1))) },
		delete: func(k int) (User, error) { return items.Delete(uID.Eq(int64(k + 1))) },
		val:    func(u User) int64 { return int64(u.Age) },
		keyOf:  func(u User) (int, bool) { return int(u.ID) - 1, true },
		dump:   func() []User { return dump(t, items) },
	}
}

func linEmail(k int) string { return fmt.Sprintf("k%d@example.com", k) }

// openLinUniqueEmail: lookup email = k's; every create offers its own
// primary key, so two different records race for one email. The value is
// the record's ID.
func openLinUniqueEmail(t *testing.T) linTable {
	_, users := newUsers(t)
	return linTable{
		getOrCreate: func(k int, offer int64) (User, bool, error) {
			return users.GetOrCreate(uEmail.Eq(linEmail(k)), func() (User, error) {
				return User{ID: offer, Email: linEmail(k), Org: "o", Username: fmt.Sprint("u", offer)}, nil
			})
		},
		get:    func(k int) (User, error) { return users.Get(uEmail.Eq(linEmail(k))) },
		delete: func(k int) (User, error) { return users.Delete(uEmail.Eq(linEmail(k))) },
		val:    func(u User) int64 { return u.ID },
		keyOf: func(u User) (int, bool) {
			var k int
			_, err := fmt.Sscanf(u.Email, "k%d@example.com", &k)
			return k, err == nil
		},
		dump: func() []User { return dump(t, users) },
	}
}

func linName(k int) string { return fmt.Sprint("name-", k) }

// openLinUncoveredName: lookup name = k's, a field no index covers, so only
// the stripe lock and the commit-time re-check keep creators apart. The
// value is the record's Age.
func openLinUncoveredName(t *testing.T) linTable {
	_, users := newUsers(t)
	return linTable{
		getOrCreate: func(k int, offer int64) (User, bool, error) {
			return users.GetOrCreate(uName.Eq(linName(k)), func() (User, error) {
				return User{Name: linName(k), Age: int(offer), Email: fmt.Sprint(offer, "@offer"), Org: "o", Username: fmt.Sprint("u", offer)}, nil
			})
		},
		get:    func(k int) (User, error) { return users.Get(uName.Eq(linName(k))) },
		delete: func(k int) (User, error) { return users.Delete(uName.Eq(linName(k))) },
		val:    func(u User) int64 { return int64(u.Age) },
		keyOf: func(u User) (int, bool) {
			var k int
			_, err := fmt.Sscanf(u.Name, "name-%d", &k)
			return k, err == nil
		},
		dump: func() []User { return dump(t, users) },
	}
}

// openLinPlainAge: lookup age = k, which only a plain (non-unique) index
// covers. The value is the offer, kept in Username.
func openLinPlainAge(t *testing.T) linTable {
	_, users := newUsers(t)
	return linTable{
		getOrCreate: func(k int, offer int64) (User, bool, error) {
			return users.GetOrCreate(uAge.Eq(k), func() (User, error) {
				return User{Age: k, Email: fmt.Sprint(offer, "@offer"), Org: "o", Username: fmt.Sprint(offer)}, nil
			})
		},
		get:    func(k int) (User, error) { return users.Get(uAge.Eq(k)) },
		delete: func(k int) (User, error) { return users.Delete(uAge.Eq(k)) },
		val: func(u User) int64 {
			var v int64
			fmt.Sscan(u.Username, &v)
			return v
		},
		keyOf: func(u User) (int, bool) { return u.Age, true },
		dump:  func() []User { return dump(t, users) },
	}
}

// linConfig sizes one run of the check.
type linConfig struct {
	rounds     int
	clients    int
	opsPerCli  int
	minKeys    int // keys per round vary in [minKeys, maxKeys]
	maxKeys    int
	noDeleteIn int // every noDeleteIn-th round does no Delete
	timeout    time.Duration
}

var linDefault = linConfig{rounds: 30, clients: 8, opsPerCli: 200, minKeys: 4, maxKeys: 8, noDeleteIn: 3, timeout: 10 * time.Second}

// linRound is the outcome of one round.
type linRound struct {
	history    []porcupine.Operation
	created    map[int]int     // created == true results per key
	deleted    map[int]int     // successful Deletes per key
	final      map[int]int     // records per key at the end
	unexpected []string        // errors no operation should return
	winners    map[int][]int64 // values created per key, in no order
}

// runLinRound runs one round: cfg.clients goroutines released together,
// each doing cfg.opsPerCli operations chosen by its own seeded generator.
func runLinRound(t *testing.T, tbl linTable, cfg linConfig, seed uint64, round int) linRound {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(round)))
	keys := cfg.minKeys + rng.IntN(cfg.maxKeys-cfg.minKeys+1)
	deletes := cfg.noDeleteIn <= 0 || round%cfg.noDeleteIn != 0

	base := time.Now() // time.Since reads the monotonic clock
	histories := make([][]porcupine.Operation, cfg.clients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := range cfg.clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed^uint64(round)<<20, uint64(c)))
			ops := make([]porcupine.Operation, 0, cfg.opsPerCli)
			<-start
			for i := range cfg.opsPerCli {
				in := linInput{key: r.IntN(keys)}
				switch p := r.IntN(100); {
				case p < 55:
					// Globally unique, never 0, and the same run to run.
					in.op, in.offer = linGetOrCreate, int64(1+c+cfg.clients*i)
				case p < 80 || !deletes:
					in.op = linGet
				default:
					in.op = linDelete
				}
				call := time.Since(base).Nanoseconds()
				var u User
				var out linOutput
				switch in.op {
				case linGetOrCreate:
					u, out.created, out.err = tbl.getOrCreate(in.key, in.offer)
				case linGet:
					u, out.err = tbl.get(in.key)
				case linDelete:
					u, out.err = tbl.delete(in.key)
				}
				ret := time.Since(base).Nanoseconds()
				if out.err == nil {
					out.val = tbl.val(u)
				}
				ops = append(ops, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
			}
			histories[c] = ops
		})
	}
	close(start)
	wg.Wait()

	res := linRound{created: map[int]int{}, deleted: map[int]int{}, final: map[int]int{}, winners: map[int][]int64{}}
	for _, h := range histories {
		for _, op := range h {
			in, out := op.Input.(linInput), op.Output.(linOutput)
			switch {
			case out.err != nil && !(out.notFound() && in.op != linGetOrCreate):
				res.unexpected = append(res.unexpected, linModel.DescribeOperation(in, out))
			case in.op == linGetOrCreate && out.created:
				res.created[in.key]++
				res.winners[in.key] = append(res.winners[in.key], out.val)
			case in.op == linDelete && out.err == nil:
				res.deleted[in.key]++
			}
		}
		res.history = append(res.history, h...)
	}
	for _, u := range tbl.dump() {
		if k, ok := tbl.keyOf(u); ok {
			res.final[k]++
		}
	}
	if !deletes {
		res.deleted = nil // marks a round without Delete
	}
	return res
}

// linCheck is the porcupine verdict on one round; on Illegal it writes the
// visualisation into dir and returns its path.
func linCheck(t *testing.T, h []porcupine.Operation, timeout time.Duration, dir func() string) (porcupine.CheckResult, string) {
	t.Helper()
	res, info := porcupine.CheckOperationsVerbose(linModel, h, timeout)
	if res != porcupine.Illegal {
		return res, ""
	}
	path := filepath.Join(dir(), fmt.Sprintf("linearizability-%d.html", time.Now().UnixNano()))
	if err := porcupine.VisualizePath(linModel, info, path); err != nil {
		t.Errorf("writing the visualisation: %v", err)
		return res, ""
	}
	return res, path
}

// linKeepDir makes the directory where a failing check leaves its
// visualisation: unlike t.TempDir, it outlives the test, so the path the
// failure logs can be opened afterwards.
func linKeepDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "recstore-linearizability-")
	require.NoError(t, err)
	return dir
}

func TestTable_GetOrCreate_Linearizable(t *testing.T) {
	seed := testSeed(t)
	cfg := linDefault
	if testing.Short() {
		cfg.rounds = 8
	}
	for _, sc := range linScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			var ok, unknown, illegal int
			dir := func() string { return linKeepDir(t) }
			for round := range cfg.rounds {
				var r linRound
				t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
					r = runLinRound(t, sc.open(t), cfg, seed, round)
				})
				for _, e := range r.unexpected {
					t.Errorf("round %d: unexpected error: %s", round, e)
				}
				checkLinCounts(t, round, r)

				res, path := linCheck(t, r.history, cfg.timeout, dir)
				switch res {
				case porcupine.Ok:
					ok++
				case porcupine.Unknown:
					unknown++
					t.Logf("round %d: porcupine timed out after %v: Unknown, not counted as a pass", round, cfg.timeout)
				default:
					illegal++
					t.Errorf("round %d: history of %d operations is not linearizable; visualisation: %s", round, len(r.history), path)
				}
			}
			t.Logf("%d rounds × %d goroutines × %d ops: %d Ok, %d Unknown, %d Illegal", cfg.rounds, cfg.clients, cfg.opsPerCli, ok, unknown, illegal)
			if ok == 0 {
				t.Errorf("no round was proven linearizable (%d Unknown, %d Illegal)", unknown, illegal)
			}
		})
	}
}

// TestLinModel_Check_Verdicts pins the model itself: histories a correct
// GetOrCreate can and cannot produce, so that an accepting model cannot
// hide behind a passing test.
func TestLinModel_Check_Verdicts(t *testing.T) {
	op := func(client int, call, ret int64, in linInput, out linOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
	}
	goc := func(k int, offer int64) linInput { return linInput{op: linGetOrCreate, key: k, offer: offer} }
	notFound := &NotFoundError{Table: "User"}
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    porcupine.CheckResult
	}{
		{"concurrent creators, one wins", []porcupine.Operation{
			op(0, 0, 10, goc(1, 7), linOutput{val: 7, created: true}),
			op(1, 1, 11, goc(1, 8), linOutput{val: 7}),
		}, porcupine.Ok},
		{"concurrent creators, both create", []porcupine.Operation{
			op(0, 0, 10, goc(1, 7), linOutput{val: 7, created: true}),
			op(1, 1, 11, goc(1, 8), linOutput{val: 8, created: true}),
		}, porcupine.Illegal},
		{"a hit on the value of the loser", []porcupine.Operation{
			op(0, 0, 10, goc(1, 7), linOutput{val: 7, created: true}),
			op(1, 11, 12, goc(1, 8), linOutput{val: 8}),
		}, porcupine.Illegal},
		{"delete then create again", []porcupine.Operation{
			op(0, 0, 1, goc(1, 7), linOutput{val: 7, created: true}),
			op(1, 2, 3, linInput{op: linDelete, key: 1}, linOutput{val: 7}),
			op(0, 4, 5, goc(1, 9), linOutput{val: 9, created: true}),
			op(1, 6, 7, linInput{op: linGet, key: 1}, linOutput{val: 9}),
		}, porcupine.Ok},
		{"a stale read after the create returned", []porcupine.Operation{
			op(0, 0, 1, goc(1, 7), linOutput{val: 7, created: true}),
			op(1, 2, 3, linInput{op: linGet, key: 1}, linOutput{err: notFound}),
		}, porcupine.Illegal},
		{"keys are independent", []porcupine.Operation{
			op(0, 0, 1, goc(1, 7), linOutput{val: 7, created: true}),
			op(1, 2, 3, goc(2, 8), linOutput{val: 8, created: true}),
		}, porcupine.Ok},
		{"an unexpected error", []porcupine.Operation{
			op(0, 0, 1, goc(1, 7), linOutput{err: &MultipleReturnedError{Table: "User", Count: 2}}),
		}, porcupine.Illegal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := porcupine.CheckOperationsVerbose(linModel, tt.history, time.Second)
			require.Equal(t, tt.want, res)
		})
	}
}

// checkLinCounts asserts, without porcupine, that every creation is
// accounted for: per key, creations = successful deletes + records left,
// at most one record is left, and a round without Delete created exactly
// one record per key that any GetOrCreate asked for.
func checkLinCounts(t *testing.T, round int, r linRound) {
	t.Helper()
	asked := map[int]bool{}
	for _, op := range r.history {
		if in := op.Input.(linInput); in.op == linGetOrCreate {
			asked[in.key] = true
		}
	}
	for k := range asked {
		if r.final[k] > 1 {
			t.Errorf("round %d key %d: %d records match the lookup", round, k, r.final[k])
		}
		if r.deleted == nil {
			if r.created[k] != 1 {
				t.Errorf("round %d key %d: no Delete, yet %d GetOrCreate calls created (values %v)", round, k, r.created[k], r.winners[k])
			}
			continue
		}
		if r.created[k] != r.deleted[k]+r.final[k] {
			t.Errorf("round %d key %d: %d created, but %d deleted + %d left", round, k, r.created[k], r.deleted[k], r.final[k])
		}
	}
}
