package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkGetOrCreate/hit/recstore/g=1x   	 1000	      100.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkGetOrCreate/hit/recstore/g=1x-2 	 1000	      200 ns/op	       0 B/op	       1 allocs/op
BenchmarkGetOrCreate/hit/recstore/g=1x-2 	 1000	      260 ns/op	       0 B/op	       1 allocs/op
BenchmarkGetOrCreate/hit/recstore/g=1x-2 	 1000	      210 ns/op	       0 B/op	       1 allocs/op
BenchmarkGetOrCreate/hit/syncmap/g=1x-2  	 1000	      50 ns/op	       0 B/op	       0 allocs/op
BenchmarkGetOrCreate/zipf/recstore/g=32x-2 	 1	 5000 ns/op	 0.5000 creates/op	 10 B/op	 1 allocs/op
BenchmarkSnapshot/n=10000/recstore-2 	 1000	 200 ns/op	 0 B/op	 1 allocs/op
BenchmarkFilter/n=1000000/recstore/g=1x-2 	 1000	 20000 ns/op	 640 B/op	 9 allocs/op
BenchmarkFilter/n=1000000/btree/g=1x-2 	 1000	 5000 ns/op	 16 B/op	 1 allocs/op
BenchmarkSnapshot/n=10000/syncmap
    bench_test.go:239: sync.Map has no snapshot
--- SKIP: BenchmarkSnapshot/n=10000/syncmap
BenchmarkMemory/n=10000/recstore-2   	       1	 203030038 ns/op	       450.7 B/record
BenchmarkMemory/n=10000/btree-2      	       1	  19477354 ns/op	        91.97 B/record
--- FAIL: BenchmarkGetOrCreate/hit/sqlite
    bench_test.go:70: no figures for sqlite: gate failed
BenchmarkGetOrCreate/hit/sqlite
`

func TestParse(t *testing.T) {
	out, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.results) != 11 {
		t.Fatalf("%d results, want 11: %+v", len(out.results), out.results)
	}
	r := out.results[0]
	if r.name != "BenchmarkGetOrCreate/hit/recstore/g=1x" || r.procs != 1 || r.metrics["ns/op"] != 100 {
		t.Errorf("first result %+v", r)
	}
	if r := out.results[1]; r.procs != 2 || r.metrics["allocs/op"] != 1 {
		t.Errorf("second result %+v", r)
	}
	if r := out.results[5]; r.metrics["creates/op"] != 0.5 {
		t.Errorf("zipf result %+v", r)
	}
	if got := out.skipped["BenchmarkSnapshot/n=10000/syncmap"]; got != "sync.Map has no snapshot" {
		t.Errorf("skip reason %q", got)
	}
	if got := out.failed["BenchmarkGetOrCreate/hit/sqlite"]; got != "no figures for sqlite: gate failed" {
		t.Errorf("failure %q", got)
	}
}

func TestRender(t *testing.T) {
	out, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	render(&w, out, &config{count: 3})
	got := w.String()
	for _, want := range []string{
		"## GetOrCreate/hit, GOMAXPROCS=2",
		"| recstore | 210* | 1.00 | 1.00 |", // median of 200, 210, 260; spread 60/210 > 25%
		"| syncmap | 50.0 | 0 | 0.24 |",
		"| sqlite | FAIL |",
		"| syncmap | skip |",
		"| btree | 92.0 | 0.20 |",
		"- Snapshot/n=10000/syncmap: sync.Map has no snapshot",
		"## Filter/n=1000000, GOMAXPROCS=2",
		"| btree | 5000 | 1.00 | 0.25 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestStats(t *testing.T) {
	med, spread := stats([]map[string]float64{{"ns/op": 1}, {"ns/op": 3}, {"ns/op": 2}, {"ns/op": 10}}, "ns/op")
	if med != 2.5 || spread != 9/2.5 {
		t.Errorf("stats = %v, %v", med, spread)
	}
}

func TestPattern(t *testing.T) {
	c := &config{g: "32", stores: "recstore,btree"}
	for key, want := range map[string]string{
		"hit":      `^BenchmarkGetOrCreate$/^hit$/^(recstore|btree)$/^(g=32x)$`,
		"get":      `^BenchmarkGet$/^(recstore|btree)$/^(g=32x)$`,
		"snapshot": `^BenchmarkSnapshot$//^(recstore|btree)$`,
		"filter":   `^BenchmarkFilter$//^(recstore|btree)$/^(g=32x)$`,
	} {
		g, _ := selectGroups(key)
		if got := pattern(g[0], c); got != want {
			t.Errorf("pattern(%s) = %s, want %s", key, got, want)
		}
	}
	if got := pattern(groups[0], &config{g: "4"}); got != `^BenchmarkGetOrCreate$/^hit$//^(g=4x)$` {
		t.Errorf("pattern(hit, g=4) = %s", got)
	}
}
