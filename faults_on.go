//go:build recstore_faults

package recstore

import (
	"slices"
	"sync/atomic"
)

var activeFaults [numFaults]atomic.Bool

func faultOn(f fault) bool { return activeFaults[f].Load() }

// setFault switches a fault on or off; tests built with the
// recstore_faults tag use it to prove the suite notices a broken guarantee.
func setFault(f fault, on bool) { activeFaults[f].Store(on) }

// tornTables is the fault faultTornPublish: each changed table with its
// new primary key tree and its old other trees.
func tornTables(old, new []any) []any {
	torn := slices.Clone(new)
	for id := range torn {
		if id < len(old) && old[id] != new[id] {
			torn[id] = new[id].(interface{ tornWith(any) any }).tornWith(old[id])
		}
	}
	return torn
}

func (s *tableState[T]) tornWith(old any) any {
	o := old.(*tableState[T])
	trees := slices.Clone(o.trees)
	trees[0] = s.trees[0]
	return &tableState[T]{sch: s.sch, trees: trees}
}
