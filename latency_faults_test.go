//go:build recstore_faults

package recstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFault_ReadersWait: readers that wait for the committer's batches, as
// they did when one DB-wide window covered each batch, take as long as the
// biggest write; the latency test notices.
func TestFault_ReadersWait(t *testing.T) {
	w := latencyWrites(100_000)[0] // Query.Delete
	res := latencyUnder(t, newTestDB(t), w.name, w.write, w.setup)
	require.Empty(t, latencyTooSlow(res), "the check fails without the fault")

	faultsOn(t, faultReadersWait)
	// Without the invariant checker at cleanup: it reads a version while
	// it holds the committer's gate, which the fault makes readers wait for.
	res = latencyUnder(t, newUncheckedDB(), w.name, w.write, w.setup)
	slow := latencyTooSlow(res)
	t.Logf("with the fault on: %s", slow)
	require.NotEmpty(t, slow, "readers waited for the write and the latency test did not notice")
}
