//go:build recstore_faults

package recstore

import "sync/atomic"

var activeFaults [numFaults]atomic.Bool

func faultOn(f fault) bool { return activeFaults[f].Load() }

// setFault switches a fault on or off; tests built with the
// recstore_faults tag use it to prove the suite notices a broken guarantee.
func setFault(f fault, on bool) { activeFaults[f].Store(on) }
