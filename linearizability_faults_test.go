//go:build recstore_faults

package recstore

import (
	"fmt"
	"os"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

// These tests prove that the GetOrCreate checks can fail: each switches on
// a fault that breaks one guarantee and requires the check to reject it.
//
// Run with: go test -race -tags recstore_faults -run Fault ./...

// TestTable_GetOrCreate_LinearizableFaultCheckThenAct: with GetOrCreate a
// plain check-then-act (no stripe lock, no re-check, no commit-time
// re-validation), two callers that both miss both create. Through an
// uncovered lookup nothing else stops them; through a unique index the
// second fails with a *UniqueViolationError instead of returning the
// winner. Porcupine must call some round Illegal, and for the uncovered
// lookups the direct count must see the duplicate creations.
func TestTable_GetOrCreate_LinearizableFaultCheckThenAct(t *testing.T) {
	linFaultRejected(t, faultCheckThenAct)
}

// TestTable_GetOrCreate_LinearizableFaultSkipRecheck: the stripe lock alone,
// without the re-check under it and in the commit, serialises the creators
// but lets each create again.
func TestTable_GetOrCreate_LinearizableFaultSkipRecheck(t *testing.T) {
	linFaultRejected(t, faultSkipRecheck)
}

func linFaultRejected(t *testing.T, f fault) {
	setFault(f, true)
	t.Cleanup(func() { setFault(f, false) })

	seed := testSeed(t)
	cfg := linDefault
	const maxRounds = 100
	for _, sc := range linScenarios() {
		uncovered := sc.name == "uncovered lookup on unindexed name" || sc.name == "uncovered lookup on plain-indexed age"
		t.Run(sc.name, func(t *testing.T) {
			illegalAt, duplicatesAt := -1, -1
			var ok, unknown int
			var path string
			for round := 0; round < maxRounds && (illegalAt < 0 || uncovered && duplicatesAt < 0); round++ {
				var r linRound
				t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
					r = runLinRound(t, sc.open(t), cfg, seed, round)
				})
				if duplicatesAt < 0 && linDuplicates(r) {
					duplicatesAt = round
				}
				if illegalAt >= 0 {
					continue
				}
				var res porcupine.CheckResult
				res, path = linCheck(t, r.history, cfg.timeout, t.TempDir)
				switch res {
				case porcupine.Illegal:
					illegalAt = round
				case porcupine.Ok:
					ok++
				default:
					unknown++
				}
			}
			t.Logf("with the fault on: first Illegal in round %d, first duplicate creation in round %d (%d rounds Ok, %d Unknown before the first Illegal)", illegalAt, duplicatesAt, ok, unknown)
			require.GreaterOrEqual(t, illegalAt, 0, "porcupine accepted %d rounds of a broken GetOrCreate: the check cannot fail", maxRounds)
			if uncovered {
				require.GreaterOrEqual(t, duplicatesAt, 0, "the direct count saw no duplicate creation in %d rounds", maxRounds)
			}
			fi, err := os.Stat(path)
			require.NoError(t, err, "the Illegal verdict must leave its visualisation")
			require.Positive(t, fi.Size())
		})
	}
}

// TestTable_GetOrCreate_FaultLeakStripe: when the stripe lock is not
// released after create panics (and the panic is swallowed on the way), the
// probe that TestTable_GetOrCreate_CreatePanics relies on notices both.
func TestTable_GetOrCreate_FaultLeakStripe(t *testing.T) {
	setFault(faultLeakStripe, true)
	t.Cleanup(func() { setFault(faultLeakStripe, false) })

	_, users := newUsers(t)
	lookup := uEmail.Eq(gocCarol.Email)
	panicked, released := gocPanicInCreate(users, lookup)
	mu := memTableOf(users).stripeFor(&lookup)
	if !released {
		mu.Unlock() // free the leaked lock so nothing outlives the test
	}
	require.False(t, released && panicked == (gocPanic{"create"}), "the probe accepted a GetOrCreate that leaks its stripe lock")
	require.False(t, released, "the leaked stripe lock went unnoticed")
}

// linDuplicates reports whether the round's results show a creation that
// the deletes and the final state do not explain, or a lookup left matching
// several records.
func linDuplicates(r linRound) bool {
	for k, n := range r.created {
		if r.final[k] > 1 {
			return true
		}
		if r.deleted == nil && n > 1 || r.deleted != nil && n != r.deleted[k]+r.final[k] {
			return true
		}
	}
	return false
}
