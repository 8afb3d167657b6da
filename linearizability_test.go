package recstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

// The linearizability check of GetOrCreate and UpdateOrCreate (TESTING.md,
// item 1). Goroutines loop over a few keys doing GetOrCreate /
// UpdateOrCreate / Get / Delete; every GetOrCreate and UpdateOrCreate
// offers a value no other call offers (UpdateOrCreate writes it into the
// record it finds, or creates a record holding it), so the history says
// whose write won. Porcupine then looks for one order of the operations,
// consistent with their real-time intervals, in which a sequential store
// produces every result seen. Its model, per key: absent (0) or the value
// of the record.

// linOp is what one operation of the history asked.
type linOp uint8

const (
	linGetOrCreate linOp = iota
	linUpdateOrCreate
	linGet
	linDelete
)

func (o linOp) String() string {
	return [...]string{"GetOrCreate", "UpdateOrCreate", "Get", "Delete"}[o]
}

// offers reports whether the operation offers a value.
func (o linOp) offers() bool { return o == linGetOrCreate || o == linUpdateOrCreate }

type linInput struct {
	op    linOp
	key   int
	offer int64 // GetOrCreate, UpdateOrCreate: the value it would store
}

type linOutput struct {
	val     int64 // the value of the record returned; 0 for none
	created bool  // GetOrCreate, UpdateOrCreate: created is true
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
		case linUpdateOrCreate:
			// Created if absent, else updated: either way it holds the offer.
			return out.err == nil && out.created == (cur == 0) && out.val == in.offer, in.offer
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
		if in.op.offers() {
			return fmt.Sprintf("%v(k%d, offer %d) -> %s", in.op, in.key, in.offer, res)
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
	getOrCreate    func(k int, offer int64) (User, bool, error)
	updateOrCreate func(k int, offer int64) (User, bool, error)
	get            func(k int) (User, error)
	delete         func(k int) (User, error)
	val            func(u User) int64
	keyOf          func(u User) (int, bool) // the key a stored record answers, if any
	dump           func() []User
}

// linScenarios are the ways of reaching records by key: through the primary
// key (chosen by the caller, or on a table that auto-assigns it), through a
// unique secondary index with two primary keys competing for one unique
// value, through lookups no unique index covers, and through transactions
// racing plain calls.
func linScenarios() []linScenario {
	return []linScenario{
		{name: "primary key", open: openLinPrimaryKey},
		{name: "auto-assigned primary key", open: openLinAutoKey},
		{name: "unique email, competing primary keys", open: openLinUniqueEmail},
		{name: "uncovered lookup on unindexed name", open: openLinUncoveredName},
		{name: "uncovered lookup on plain-indexed age", open: openLinPlainAge},
		{name: "transactions racing plain calls", open: openLinInTransactions},
	}
}

// linLookupTable is a scenario whose calls all go through one lookup per
// key, lookup(k); create(k, offer) builds a record that matches it and
// holds the offer, set(u, offer) writes the offer into a found record.
func linLookupTable(t *testing.T, tbl *Table[User], lookup func(k int) Cond[User], create func(k int, offer int64) User,
	set func(u *User, offer int64), val func(u User) int64, keyOf func(u User) (int, bool)) linTable {
	return linTable{
		getOrCreate: func(k int, offer int64) (User, bool, error) {
			return tbl.GetOrCreate(lookup(k), func() (User, error) { return create(k, offer), nil })
		},
		updateOrCreate: func(k int, offer int64) (User, bool, error) {
			return tbl.UpdateOrCreate(lookup(k),
				func(u User) (User, error) { set(&u, offer); return u, nil },
				func() (User, error) { return create(k, offer), nil })
		},
		get:    func(k int) (User, error) { return tbl.Get(lookup(k)) },
		delete: func(k int) (User, error) { return tbl.Delete(lookup(k)) },
		val:    val,
		keyOf:  keyOf,
		dump:   func() []User { return dump(t, tbl) },
	}
}

// openLinPrimaryKey: a table keyed by a primary key the caller chooses;
// lookup id = k+1 (a primary key is never zero), the value is the record's Age.
func openLinPrimaryKey(t *testing.T) linTable {
	items := newUserItems(t, newTestDB(t))
	return linLookupTable(t, items,
		func(k int) Cond[User] { return uID.Eq(int64(k + 1)) },
		func(k int, offer int64) User { return User{ID: int64(k + 1), Age: int(offer)} },
		func(u *User, offer int64) { u.Age = int(offer) },
		func(u User) int64 { return int64(u.Age) },
		func(u User) (int, bool) { return int(u.ID) - 1, true })
}

// openLinAutoKey: the User table, whose primary key is auto-assigned; the
// lookup is id = 1000(k+1), the created record names its key itself, and
// plain inserts that take keys from the sequence race the calls: a stored
// key moves the sequence past it, so the inserts take keys between those
// of the lookups (a round makes far fewer than 999 of them) and never one
// that a lookup asks for. The value is the record's Age.
func openLinAutoKey(t *testing.T) linTable {
	_, users := newUsers(t)
	var noise atomic.Int64
	id := func(k int) int64 { return 1000 * int64(k+1) }
	tbl := linLookupTable(t, users,
		func(k int) Cond[User] { return uID.Eq(id(k)) },
		func(k int, offer int64) User {
			return User{ID: id(k), Age: int(offer), Email: fmt.Sprint(offer, "@offer"), Org: "o", Username: fmt.Sprint(offer)}
		},
		func(u *User, offer int64) { u.Age = int(offer) },
		func(u User) int64 { return int64(u.Age) },
		func(u User) (int, bool) { return int(u.ID/1000) - 1, u.Org == "o" })
	get := tbl.get
	tbl.get = func(k int) (User, error) {
		n := noise.Add(1)
		if _, err := users.Insert(User{Email: fmt.Sprint(n, "@noise"), Org: "noise", Username: fmt.Sprint(n)}); err != nil && !errors.Is(err, ErrUniqueViolation) {
			return User{}, err
		}
		return get(k)
	}
	return tbl
}

// openLinInTransactions: the unique email scenario, where every other call
// runs inside a write transaction (DB.Update, Get inside DB.View): a
// transaction's lookup and its create commit at its commit, which must
// fit among the plain calls' in real time.
func openLinInTransactions(t *testing.T) linTable {
	db, users := newUsers(t)
	plain := linEmailTable(t, users)
	var turn atomic.Uint64
	inTx := func(call func(tbl linTable) (User, bool, error)) (User, bool, error) {
		if turn.Add(1)%2 == 0 {
			return call(plain)
		}
		var u User
		var created bool
		err := db.Update(func(tx *Tx) error {
			var err error
			u, created, err = call(linEmailTable(t, users.In(tx)))
			return err
		})
		return u, created, err
	}
	return linTable{
		getOrCreate: func(k int, offer int64) (User, bool, error) {
			return inTx(func(tbl linTable) (User, bool, error) { return tbl.getOrCreate(k, offer) })
		},
		updateOrCreate: func(k int, offer int64) (User, bool, error) {
			return inTx(func(tbl linTable) (User, bool, error) { return tbl.updateOrCreate(k, offer) })
		},
		get: func(k int) (User, error) {
			if turn.Add(1)%2 == 0 {
				return plain.get(k)
			}
			var u User
			err := db.View(func(tx *Tx) error {
				var err error
				u, err = users.In(tx).Get(uEmail.Eq(linEmail(k)))
				return err
			})
			return u, err
		},
		delete: func(k int) (User, error) {
			u, _, err := inTx(func(tbl linTable) (User, bool, error) {
				u, err := tbl.delete(k)
				return u, false, err
			})
			return u, err
		},
		val:   plain.val,
		keyOf: plain.keyOf,
		dump:  plain.dump,
	}
}

func linEmail(k int) string { return fmt.Sprintf("k%d@example.com", k) }

// openLinUniqueEmail: lookup email = k's; every create offers its own
// primary key, so two different records race for one email. The value is
// the record's Age, which a create sets to its offer as well.
func openLinUniqueEmail(t *testing.T) linTable {
	_, users := newUsers(t)
	return linEmailTable(t, users)
}

// linEmailTable is the unique email scenario on users, which may be bound
// to a transaction.
func linEmailTable(t *testing.T, users *Table[User]) linTable {
	return linLookupTable(t, users,
		func(k int) Cond[User] { return uEmail.Eq(linEmail(k)) },
		func(k int, offer int64) User {
			return User{ID: offer, Age: int(offer), Email: linEmail(k), Org: "o", Username: fmt.Sprint("u", offer)}
		},
		func(u *User, offer int64) { u.Age = int(offer) },
		func(u User) int64 { return int64(u.Age) },
		func(u User) (int, bool) {
			var k int
			_, err := fmt.Sscanf(u.Email, "k%d@example.com", &k)
			return k, err == nil
		})
}

func linName(k int) string { return fmt.Sprint("name-", k) }

// openLinUncoveredName: lookup name = k's, a field no index covers, so only
// the stripe lock and the commit-time re-check keep creators apart. The
// value is the record's Age.
func openLinUncoveredName(t *testing.T) linTable {
	_, users := newUsers(t)
	return linLookupTable(t, users,
		func(k int) Cond[User] { return uName.Eq(linName(k)) },
		func(k int, offer int64) User {
			return User{Name: linName(k), Age: int(offer), Email: fmt.Sprint(offer, "@offer"), Org: "o", Username: fmt.Sprint("u", offer)}
		},
		func(u *User, offer int64) { u.Age = int(offer) },
		func(u User) int64 { return int64(u.Age) },
		func(u User) (int, bool) {
			var k int
			_, err := fmt.Sscanf(u.Name, "name-%d", &k)
			return k, err == nil
		})
}

// openLinPlainAge: lookup age = k, which only a plain (non-unique) index
// covers. The value is the offer, kept in Username.
func openLinPlainAge(t *testing.T) linTable {
	_, users := newUsers(t)
	return linLookupTable(t, users,
		func(k int) Cond[User] { return uAge.Eq(k) },
		func(k int, offer int64) User {
			return User{Age: k, Email: fmt.Sprint(offer, "@offer"), Org: "o", Username: fmt.Sprint(offer)}
		},
		func(u *User, offer int64) { u.Username = fmt.Sprint(offer) },
		func(u User) int64 {
			var v int64
			fmt.Sscan(u.Username, &v)
			return v
		},
		func(u User) (int, bool) { return u.Age, true })
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
				case p < 40:
					// Globally unique, never 0, and the same run to run.
					in.op, in.offer = linGetOrCreate, int64(1+c+cfg.clients*i)
				case p < 55:
					in.op, in.offer = linUpdateOrCreate, int64(1+c+cfg.clients*i)
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
				case linUpdateOrCreate:
					u, out.created, out.err = tbl.updateOrCreate(in.key, in.offer)
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
			case out.err != nil && !(out.notFound() && !in.op.offers()):
				res.unexpected = append(res.unexpected, linModel.DescribeOperation(in, out))
			case in.op.offers() && out.created:
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
		{"UpdateOrCreate creates an absent key, then updates it", []porcupine.Operation{
			op(0, 0, 1, linInput{op: linUpdateOrCreate, key: 1, offer: 7}, linOutput{val: 7, created: true}),
			op(1, 2, 3, linInput{op: linUpdateOrCreate, key: 1, offer: 8}, linOutput{val: 8}),
			op(0, 4, 5, goc(1, 9), linOutput{val: 8}),
		}, porcupine.Ok},
		{"UpdateOrCreate creates a present key", []porcupine.Operation{
			op(0, 0, 1, goc(1, 7), linOutput{val: 7, created: true}),
			op(1, 2, 3, linInput{op: linUpdateOrCreate, key: 1, offer: 8}, linOutput{val: 8, created: true}),
		}, porcupine.Illegal},
		{"an update lost", []porcupine.Operation{
			op(0, 0, 1, goc(1, 7), linOutput{val: 7, created: true}),
			op(1, 2, 3, linInput{op: linUpdateOrCreate, key: 1, offer: 8}, linOutput{val: 8}),
			op(0, 4, 5, linInput{op: linGet, key: 1}, linOutput{val: 7}),
		}, porcupine.Illegal},
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
		if in := op.Input.(linInput); in.op.offers() {
			asked[in.key] = true
		}
	}
	for k := range asked {
		if r.final[k] > 1 {
			t.Errorf("round %d key %d: %d records match the lookup", round, k, r.final[k])
		}
		if r.deleted == nil {
			if r.created[k] != 1 {
				t.Errorf("round %d key %d: no Delete, yet %d calls created (values %v)", round, k, r.created[k], r.winners[k])
			}
			continue
		}
		if r.created[k] != r.deleted[k]+r.final[k] {
			t.Errorf("round %d key %d: %d created, but %d deleted + %d left", round, k, r.created[k], r.deleted[k], r.final[k])
		}
	}
}

// TestTable_GetOrCreate_ZeroAutoKeyLookup: a lookup of an auto-assigned
// primary key's zero value, or a Where over it, never matches the record
// created for it once the table has assigned its key. However many callers
// race on it, each gets a *LookupError and nothing is stored (a record was
// created on every call before).
func TestTable_GetOrCreate_ZeroAutoKeyLookup(t *testing.T) {
	_, users := newUsers(t)
	lookups := map[string]Cond[User]{
		"id = 0":          uID.Eq(0),
		"Where(id == 0)":  Where(func(u *User) bool { return u.ID == 0 }),
		"id = 0 and name": And(uID.Eq(0), uName.Eq("zero")),
	}
	for name, lookup := range lookups {
		t.Run(name, func(t *testing.T) {
			errs := make([]error, 8)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() {
					create := func() (User, error) { return User{Name: "zero", Email: fmt.Sprint("zero", i)}, nil }
					if i%2 == 0 {
						_, _, errs[i] = users.GetOrCreate(lookup, create)
					} else {
						_, _, errs[i] = users.UpdateOrCreate(lookup, func(u User) (User, error) { return u, nil }, create)
					}
				})
			}
			wg.Wait()
			for i, err := range errs {
				require.ErrorIs(t, err, ErrInvalidLookup, "caller %d", i)
				var le *LookupError
				require.ErrorAs(t, err, &le)
				require.Contains(t, le.Reason, "once its primary key is assigned", "caller %d", i)
			}
			require.Zero(t, users.Len(), "nothing is stored")
		})
	}
}
