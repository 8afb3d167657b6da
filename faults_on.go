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
func tornTables(old, new tableList) tableList {
	torn := new
	for id := range new.len() {
		if id < old.len() && old.get(id) != new.get(id) {
			torn = torn.with(id, new.get(id).(interface{ tornWith(any) versioned }).tornWith(old.get(id)))
		}
	}
	return torn
}

func (v *tableVersion[T]) tornWith(old any) versioned {
	o := old.(*tableVersion[T])
	trees := slices.Clone(o.trees)
	trees[0] = v.trees[0]
	return &tableVersion[T]{sch: v.sch, trees: trees}
}
