package recstore

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Reader latency under the biggest writes (TESTING.md §9): while one huge
// write runs (a Query.Delete of every record of a big table, an InsertMany
// of as many, an AddIndex over them), readers of the same table and of
// another table keep measuring how long each point read, Filter and View
// begin takes. Readers never wait for writers, so the worst of them must
// not grow with the write: a reader that waited for the batch would take
// as long as the write.

// latencyKinds are the reads measured, each on the big table ("same") and
// on a small one ("other").
var latencyKinds = []string{"Get same", "Get other", "Filter same", "Filter other", "View begin"}

// latencyResult is the worst latency of each kind of read during one
// write, and how long the write took.
type latencyResult struct {
	write string
	took  time.Duration
	worst map[string]time.Duration
	reads int64
}

// latencyUnder declares a big table and a small one in db, fills the small
// one, lets setup fill the big one, then runs write while a reader
// goroutine per kind of read measures each read.
func latencyUnder(tb testing.TB, db *DB, name string, write func(big *Table[User]) error, setup func(big *Table[User])) latencyResult {
	tb.Helper()
	big := newUsersIn(tb, db)
	other, err := NewTable(db, "Other", PrimaryKey(uID), Unique("other_email", uEmail), Index("other_age", uAge))
	require.NoError(tb, err)
	for i := range 100 {
		_, err := other.Insert(User{ID: int64(i + 1), Email: fmt.Sprint("o", i), Age: i % 10})
		require.NoError(tb, err)
	}
	// One record of the big table that no write below touches.
	keep, err := big.Insert(User{Email: "keep", Org: "keep", Username: "keep", Age: -1})
	require.NoError(tb, err)
	if setup != nil {
		setup(big)
	}

	reads := map[string]func() error{
		"Get same":  func() error { _, err := big.Get(uEmail.Eq(keep.Email)); return err },
		"Get other": func() error { _, err := other.Get(uEmail.Eq("o7")); return err },
		"Filter same": func() error {
			_, err := big.Filter(uAge.Eq(-1)).Limit(10).Collect()
			return err
		},
		"Filter other": func() error {
			_, err := other.Filter(uAge.Eq(3)).Limit(10).Collect()
			return err
		},
		"View begin": func() error {
			tx, err := db.Begin(false)
			if err != nil {
				return err
			}
			return tx.Rollback()
		},
	}
	res := latencyResult{write: name, worst: map[string]time.Duration{}}
	var mu sync.Mutex
	var total atomic.Int64
	var failed atomic.Pointer[error]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, kind := range latencyKinds {
		read := reads[kind]
		wg.Go(func() {
			var worst time.Duration
			for {
				select {
				case <-stop:
					mu.Lock()
					res.worst[kind] = worst
					mu.Unlock()
					return
				default:
				}
				start := time.Now()
				if err := read(); err != nil {
					failed.CompareAndSwap(nil, &err)
				}
				worst = max(worst, time.Since(start))
				total.Add(1)
				time.Sleep(100 * time.Microsecond) // leave the cores to the write
			}
		})
	}
	time.Sleep(10 * time.Millisecond) // the readers are running
	start := time.Now()
	werr := write(big)
	res.took = time.Since(start)
	close(stop)
	wg.Wait()
	require.NoError(tb, werr)
	if p := failed.Load(); p != nil {
		require.NoError(tb, *p)
	}
	res.reads = total.Load()
	return res
}

// latencyWrites are the big writes, over n records.
func latencyWrites(n int) []struct {
	name  string
	setup func(big *Table[User])
	write func(big *Table[User]) error
} {
	recs := func() []User {
		out := make([]User, n)
		for i := range out {
			out[i] = User{Email: fmt.Sprint("e", i), Org: "big", Username: fmt.Sprint(i), Age: i % 100}
		}
		return out
	}
	fill := func(big *Table[User]) {
		if _, err := big.InsertMany(recs(), OnConflict[User]{}); err != nil {
			panic(err)
		}
	}
	return []struct {
		name  string
		setup func(big *Table[User])
		write func(big *Table[User]) error
	}{
		{"Query.Delete", fill, func(big *Table[User]) error {
			k, err := big.Filter(uAge.Ge(0)).Delete()
			if err == nil && k != n {
				err = fmt.Errorf("deleted %d of %d", k, n)
			}
			return err
		}},
		{"InsertMany", nil, func(big *Table[User]) error {
			_, err := big.InsertMany(recs(), OnConflict[User]{})
			return err
		}},
		{"AddIndex", fill, func(big *Table[User]) error { return big.AddIndex(Index("user_name", uName, uAge)) }},
	}
}

// TestReaders_Latency_UnderBigWrites: during each big write, the worst
// latency of every kind of read stays far below the write's duration. A
// reader that waits for the write is that slow at every run; one that a
// busy machine left unscheduled for a while rarely twice: a write whose
// readers are too slow is measured once more, on a new DB, and fails only
// if they are too slow again.
func TestReaders_Latency_UnderBigWrites(t *testing.T) {
	n := 200_000
	if raceEnabled {
		n = 100_000
	}
	for _, w := range latencyWrites(n) {
		t.Run(w.name, func(t *testing.T) {
			slow := ""
			for try := range 2 {
				res := latencyUnder(t, newTestDB(t), w.name, w.write, w.setup)
				t.Logf("%s of %d records took %v; %d reads; worst: %v", w.name, n, res.took, res.reads, res.worst)
				if slow = latencyTooSlow(res); slow == "" {
					return
				}
				t.Logf("run %d: %s", try+1, slow)
			}
			t.Errorf("too slow in two runs in a row: %s", slow)
		})
	}
}

// latencyTooSlow says which reads of res took too long, or "". A reader
// that waited for the write would take about as long as it; scheduling on
// a busy machine and the GC take up to a few milliseconds.
func latencyTooSlow(res latencyResult) string {
	bound := max(25*time.Millisecond, res.took/4)
	var slow []string
	for _, kind := range latencyKinds {
		if res.worst[kind] >= bound {
			slow = append(slow, fmt.Sprintf("%s took %v during a %s of %v", kind, res.worst[kind], res.write, res.took))
		}
	}
	return strings.Join(slow, "; ")
}

// BenchmarkReaders_LatencyUnderBigWrites reports, for each big write over
// 1,000,000 records, its duration and the worst latency of each kind of
// read meanwhile, in µs.
func BenchmarkReaders_LatencyUnderBigWrites(b *testing.B) {
	const n = 1_000_000
	for _, w := range latencyWrites(n) {
		b.Run(w.name, func(b *testing.B) {
			worst := map[string][]time.Duration{}
			var took []time.Duration
			for range b.N {
				res := latencyUnder(b, newTestDB(b), w.name, w.write, w.setup)
				took = append(took, res.took)
				for k, d := range res.worst {
					worst[k] = append(worst[k], d)
				}
			}
			b.ReportMetric(float64(slices.Max(took).Microseconds()), "write-µs")
			for _, kind := range latencyKinds {
				b.ReportMetric(float64(slices.Max(worst[kind]).Microseconds()), "worst-"+kindMetric(kind)+"-µs")
			}
		})
	}
}

// kindMetric is a read kind as a benchmark metric's unit.
func kindMetric(kind string) string {
	b := []byte(kind)
	for i, c := range b {
		if c == ' ' {
			b[i] = '-'
		}
	}
	return string(b)
}
