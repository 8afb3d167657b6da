package recstore

import (
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzTxnSequence (TESTING.md §3) decodes its input into a sequence of
// steps on one store and on the reference store of model_ref_test.go: begin a
// write or read-only transaction into one of three slots, commit or roll
// back a slot, insert, update, delete, get, get-or-create, upsert,
// update-or-create, insert-many and Filter verbs (through a slot's
// transaction or autocommit), savepoints in a slot's transaction, managed
// db.Update and db.View blocks. Transactions may stay open while other
// writes commit, so commits may conflict; callbacks and transaction
// functions may fail or panic; a slot keeps its transaction after it ends,
// so later steps on it use an ended transaction.
//
// After every step the result (records, flags, error class and message)
// must be the model's; the committed records and what each slot's
// transaction sees must be the model's; the invariant checker must pass;
// and a step that failed (an error, or a recovered panic) must have changed
// nothing: neither the committed records (but what its operations that
// run outside its transaction committed) nor any transaction's view (but
// the one a failed Commit ended).
//
// Input format: chunks of tfChunk bytes, one per step. The first byte picks
// the step (byte % tfNumSteps) and the slot (byte / tfNumSteps % 4; 0 means
// no transaction: autocommit); the generator of model_gen_test.go draws every
// other choice (records, lookups, callbacks' behaviour, how blocks end) from
// the chunk's other bytes, then from a PCG seeded with them.
//
// Plain go test replays the f.Add seeds and testdata/fuzz/FuzzTxnSequence.
// Fuzz with:
//
//	go test -run '^$' -fuzz FuzzTxnSequence -fuzztime 10m -fuzzminimizetime 5s .
//
// With the default -fuzzminimizetime, 60s, a short run spends most of its
// time minimizing new inputs: 2 minutes with 5s ran more executions than 5
// minutes with the default.
func FuzzTxnSequence(f *testing.F) {
	for i, steps := range tfSeeds {
		f.Add(tfInput(uint64(i), steps...))
	}
	f.Fuzz(tfRun)
}

const (
	tfChunk    = 16
	tfMaxSteps = 48
)

// The steps.
const (
	tfBegin = iota
	tfBeginReadOnly
	tfCommit
	tfRollback
	tfInsert
	tfUpdate
	tfDelete
	tfGetOrCreate
	tfGet
	tfUpsert
	tfUpdateOrCreate
	tfInsertMany
	tfQuery
	tfSavepoint
	tfManaged
	tfView
	tfNumSteps
)

var tfStepNames = [tfNumSteps]string{"Begin(true)", "Begin(false)", "Commit", "Rollback", "Insert", "Update", "Delete",
	"GetOrCreate", "Get", "Upsert", "UpdateOrCreate", "InsertMany", "query", "Savepoint", "db.Update", "db.View"}

// tfRolls are the generator's rolls (see mdlGen.build) of the operation
// steps.
var tfRolls = map[int][2]int{
	tfInsert: mdlRollInsert, tfUpdate: mdlRollUpdate, tfDelete: mdlRollDelete, tfGetOrCreate: mdlRollGetOrCreate,
	tfGet: mdlRollGet, tfUpsert: mdlRollUpsert, tfUpdateOrCreate: mdlRollUpdateOrCreate,
	tfInsertMany: mdlRollInsertMany, tfQuery: mdlRollQuery,
}

// tfDomain keeps values few, so that transactions collide.
var tfDomain = mdlDomain{ids: 6, emails: 4, usernames: 3, auto: true}

// tfSlot holds a transaction of the store and the model's same one.
type tfSlot struct {
	s, m     mdlAPI
	writable bool
}

func tfRun(t *testing.T, data []byte) {
	db, users := newUsers(t)
	store := &mdlStore{db: db, t: users}
	mdb := newMdlDB()
	model := &mdlModel{db: mdb}
	g := &mdlGen{dom: tfDomain, db: mdb}
	var slots [4]tfSlot // slots[0] is never used
	var trail []string
	for step := 0; step < tfMaxSteps && len(data) > 0; step++ {
		chunk := data[:min(tfChunk, len(data))]
		data = data[len(chunk):]
		kind, k := int(chunk[0])%tfNumSteps, int(chunk[0])/tfNumSteps%4
		h := fnv.New64a()
		h.Write(chunk)
		g.rng = rand.New(&fuzzSource{b: chunk[1:], pcg: rand.NewPCG(h.Sum64(), uint64(step))})

		before := tfStates(t, store, &slots)
		sh, mh, ctx := mdlAPI(store), mdlAPI(model), ctxTop
		if slots[k].s != nil {
			sh, mh, ctx = slots[k].s, slots[k].m, ctxTx
		}
		desc := tfStepNames[kind]
		var got, want string
		outside := false // an operation of the step committed outside its transaction
		switch kind {
		case tfBegin, tfBeginReadOnly:
			k = max(k, 1)
			writable := kind == tfBegin
			s, err := store.Begin(writable)
			require.NoError(t, err)
			m, _ := model.Begin(writable)
			slots[k] = tfSlot{s: s, m: m, writable: writable}
			got, want = "begun", "begun"
		case tfCommit, tfRollback:
			if slots[k].s == nil {
				got, want = "no transaction", "no transaction"
				break
			}
			end := func(h mdlAPI) string {
				if kind == tfCommit {
					return tfResult(h.Commit())
				}
				return tfResult(h.Rollback())
			}
			got, want = end(sh), end(mh)
		case tfSavepoint:
			if slots[k].s == nil {
				got, want = "no transaction", "no transaction"
				break
			}
			op := g.block(mkSavepoint, ctxSavepoint, 1+g.rng.IntN(3))
			desc = op.String()
			got, want = mdlRun(sh, op, true), mdlRun(mh, op, true)
		case tfManaged, tfView:
			op := g.block(mkTx, ctxTx, 1+g.rng.IntN(4))
			if kind == tfView {
				op = g.block(mkView, ctxView, 1+g.rng.IntN(3))
			}
			desc = op.String()
			outside = slices.ContainsFunc(op.subs, func(s *mdlOp) bool { return s.outside })
			got, want = mdlRun(store, op, true), mdlRun(model, op, true)
		default:
			op := g.build(g.roll(tfRolls[kind]), ctx)
			desc = op.String()
			got, want = mdlRun(sh, op, true), mdlRun(mh, op, true)
		}
		if k > 0 && slots[k].s != nil {
			desc = "tx" + string(rune('0'+k)) + ": " + desc
		}
		trail = append(trail, desc+"\n      -> "+got)
		if got != want {
			t.Fatalf("step %d: %s\n  got: %s\nmodel: %s\nsteps:\n  %s", step, desc, got, want, strings.Join(trail, "\n  "))
		}

		after := tfStates(t, store, &slots)
		require.Equal(t, tfStates(t, model, &slots), after, "after step %d: %s\nsteps:\n  %s", step, desc, strings.Join(trail, "\n  "))
		require.NoError(t, checkInvariants(users), "after step %d: %s", step, desc)
		if strings.HasPrefix(got, "error") || strings.HasPrefix(got, "panic") {
			for i := range after {
				if i == k && kind == tfCommit { // a failed Commit ends the transaction
					continue
				}
				if i == 0 && outside { // what ran outside committed
					continue
				}
				require.Equal(t, before[i], after[i], "step %d failed (%s) but changed %s\nsteps:\n  %s", step, got, tfStateName(i), strings.Join(trail, "\n  "))
			}
		}
	}
}

// tfStates returns the committed records (through autocommit, or the
// model's) and what each slot's transaction sees, noting no read.
func tfStates(t *testing.T, auto mdlAPI, slots *[4]tfSlot) []string {
	t.Helper()
	states := make([]string, 4)
	for i := range states {
		h := auto
		if i > 0 {
			if slots[i].s == nil {
				continue
			}
			h = slots[i].m
			if _, ok := auto.(*mdlStore); ok {
				h = slots[i].s
			}
		}
		recs, err := h.records()
		states[i] = tfResult(err) + " " + mdlUsers(recs)
	}
	return states
}

func tfStateName(i int) string {
	if i == 0 {
		return "the committed records"
	}
	return "the records transaction " + string(rune('0'+i)) + " sees"
}

func tfResult(err error) string {
	if err == nil {
		return "ok"
	}
	return mdlErr(err)
}

// tfStep is the first byte of a step.
func tfStep(kind, slot int) byte { return byte(kind + tfNumSteps*slot) }

// tfInput builds an input of the given steps, each followed by parameter
// bytes from a PCG seeded with seed.
func tfInput(seed uint64, steps ...byte) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x7478))
	var b []byte
	for _, s := range steps {
		b = append(b, s)
		for range tfChunk - 1 {
			b = append(b, byte(rng.Uint32()))
		}
	}
	return b
}

// tfSeeds are the f.Add seeds: the scenarios the fuzzer starts from.
var tfSeeds = [][]byte{
	// Commit, then use after end: Commit, Rollback and writes give ErrTxDone.
	{tfStep(tfBegin, 1), tfStep(tfInsert, 1), tfStep(tfInsert, 1), tfStep(tfCommit, 1), tfStep(tfCommit, 1),
		tfStep(tfInsert, 1), tfStep(tfGet, 1), tfStep(tfRollback, 1), tfStep(tfGet, 0)},
	// A read, then a concurrent write, then the commit: a conflict.
	{tfStep(tfBegin, 1), tfStep(tfQuery, 1), tfStep(tfGet, 1), tfStep(tfInsert, 0), tfStep(tfUpdate, 0),
		tfStep(tfGetOrCreate, 1), tfStep(tfInsert, 1), tfStep(tfCommit, 1)},
	// Writes in a read-only transaction.
	{tfStep(tfInsert, 0), tfStep(tfBeginReadOnly, 2), tfStep(tfInsert, 2), tfStep(tfUpdate, 2), tfStep(tfDelete, 2),
		tfStep(tfGetOrCreate, 2), tfStep(tfGet, 2), tfStep(tfSavepoint, 2), tfStep(tfCommit, 2), tfStep(tfRollback, 2)},
	// Savepoints that commit, fail or panic.
	{tfStep(tfBegin, 1), tfStep(tfInsert, 1), tfStep(tfSavepoint, 1), tfStep(tfSavepoint, 1), tfStep(tfSavepoint, 1),
		tfStep(tfUpdate, 1), tfStep(tfCommit, 1)},
	// Managed transactions and views.
	{tfStep(tfManaged, 0), tfStep(tfManaged, 0), tfStep(tfView, 0), tfStep(tfManaged, 0), tfStep(tfView, 0)},
	// Two transactions writing the same keys.
	{tfStep(tfBegin, 1), tfStep(tfBegin, 2), tfStep(tfInsert, 1), tfStep(tfInsert, 2), tfStep(tfUpsert, 1),
		tfStep(tfDelete, 2), tfStep(tfCommit, 2), tfStep(tfCommit, 1)},
	// Rollback, then the same keys again.
	{tfStep(tfInsert, 0), tfStep(tfBegin, 3), tfStep(tfInsert, 3), tfStep(tfUpdate, 3), tfStep(tfDelete, 3),
		tfStep(tfRollback, 3), tfStep(tfInsert, 0), tfStep(tfGetOrCreate, 0)},
	// An abandoned transaction and a new one in its slot.
	{tfStep(tfBegin, 1), tfStep(tfInsert, 1), tfStep(tfBegin, 1), tfStep(tfUpdateOrCreate, 1), tfStep(tfCommit, 1)},
	// Bulk writes and queries in and out of a transaction.
	{tfStep(tfInsertMany, 0), tfStep(tfBegin, 1), tfStep(tfInsertMany, 1), tfStep(tfQuery, 1), tfStep(tfQuery, 0),
		tfStep(tfQuery, 1), tfStep(tfInsertMany, 0), tfStep(tfCommit, 1)},
	// Upserts and update-or-create racing a transaction.
	{tfStep(tfUpsert, 0), tfStep(tfBegin, 2), tfStep(tfUpdateOrCreate, 2), tfStep(tfUpsert, 0), tfStep(tfUpdateOrCreate, 0),
		tfStep(tfUpdateOrCreate, 2), tfStep(tfCommit, 2), tfStep(tfGet, 0)},
}
