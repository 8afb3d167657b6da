package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/recstore/recstore/bench"
)

// cell identifies one table cell's runs: a benchmark at one GOMAXPROCS.
type cell struct {
	group   string // "GetOrCreate/hit", "Get", "Filter/n=1000000", "Snapshot", "Memory"
	store   string
	variant string // "g=32x", "n=10000"
	procs   int
}

// where places a benchmark name in a table, or reports that it has no
// place (a name this report does not know).
func where(name string) (group, store, variant string, ok bool) {
	p := strings.Split(strings.TrimPrefix(name, "Benchmark"), "/")
	switch {
	case len(p) == 4 && (p[0] == "GetOrCreate" || p[0] == "Filter"):
		return p[0] + "/" + p[1], p[2], p[3], true
	case len(p) == 3 && p[0] == "Get":
		return p[0], p[1], p[2], true
	case len(p) == 3 && (p[0] == "Snapshot" || p[0] == "Memory"):
		return p[0], p[2], p[1], true
	}
	return "", "", "", false
}

// storeOf returns the table and store of a benchmark name that names a
// store, whether or not it goes down to a cell.
func storeOf(name string) (group, store string, ok bool) {
	p := strings.Split(strings.TrimPrefix(name, "Benchmark"), "/")
	switch {
	case len(p) >= 3 && (p[0] == "GetOrCreate" || p[0] == "Filter"):
		return p[0] + "/" + p[1], p[2], true
	case len(p) >= 2 && p[0] == "Get":
		return p[0], p[1], true
	case len(p) >= 3 && (p[0] == "Snapshot" || p[0] == "Memory"):
		return p[0], p[2], true
	}
	return "", "", false
}

var groupOrder = []string{"GetOrCreate/hit", "GetOrCreate/miss", "GetOrCreate/hot", "GetOrCreate/zipf", "Get", "Filter/n=1000000", "Filter/n=10000", "Snapshot", "Memory"}

var groupNotes = map[string]string{
	"GetOrCreate/hit":  "every call an existing key, 100,000 preloaded (10,000 with -short)",
	"GetOrCreate/miss": "every call a new key, from empty; a fixed number of calls",
	"GetOrCreate/hot":  "16 keys from empty; exactly 16 creates checked",
	"GetOrCreate/zipf": "1,000,000-key space, Zipf s=1.1, from empty; a fixed number of calls",
	"Get":              "Get by the unique key, 100,000 preloaded (10,000 with -short)",
	"Filter/n=1000000": "read a random range of 1,000 records by email, 1,000,000 preloaded; ns/op per range",
	"Filter/n=10000":   "read a random range of 1,000 records by email, 10,000 preloaded (-short); ns/op per range",
	"Snapshot":         "begin + end a read snapshot or transaction, GOMAXPROCS goroutines",
	"Memory":           "heap bytes per record after runtime.GC (SQLite: plus its off-heap memory)",
}

func render(w io.Writer, out outcome, c *config) {
	runs := map[cell][]map[string]float64{}
	variants := map[string][]string{}
	procsOf := map[string][]int{}
	storesIn := map[string]map[string]bool{} // group -> stores with a row
	addStore := func(g, s string) {
		if storesIn[g] == nil {
			storesIn[g] = map[string]bool{}
		}
		storesIn[g][s] = true
	}
	for _, r := range out.results {
		g, s, v, ok := where(r.name)
		if !ok {
			continue
		}
		k := cell{g, s, v, r.procs}
		runs[k] = append(runs[k], r.metrics)
		if !slices.Contains(variants[g], v) {
			variants[g] = append(variants[g], v)
		}
		if !slices.Contains(procsOf[g], r.procs) {
			procsOf[g] = append(procsOf[g], r.procs)
		}
		addStore(g, s)
	}
	for _, m := range []map[string]string{out.failed, out.skipped} {
		for name := range m {
			if g, s, ok := storeOf(name); ok {
				addStore(g, s)
			}
		}
	}

	fmt.Fprintf(w, "# recstore contention benchmarks\n\n")
	fmt.Fprintf(w, "Median of %s; ×rec = peer ÷ recstore (above 1: recstore is faster; for Memory, uses more). "+
		"* = spread (max−min)/median over 25%% across the runs. g = goroutines per GOMAXPROCS.\n\n", runsNote(c))
	for _, g := range groupOrder {
		if len(variants[g]) == 0 {
			continue
		}
		var stores []string
		for _, s := range bench.Names() {
			if storesIn[g][s] {
				stores = append(stores, s)
			}
		}
		vs := variants[g]
		sort.SliceStable(vs, func(i, j int) bool { return variantLess(vs[i], vs[j]) })
		procs := procsOf[g]
		slices.Sort(procs)
		metric := "ns/op"
		if g == "Memory" {
			metric = "B/record"
		}
		for _, p := range procs {
			title := g
			if g != "Memory" {
				title += fmt.Sprintf(", GOMAXPROCS=%d", p)
			}
			fmt.Fprintf(w, "## %s\n\n%s.\n\n", title, groupNotes[g])
			header := []string{"store"}
			for _, v := range vs {
				header = append(header, v+" "+metric)
				if g != "Memory" {
					header = append(header, "allocs/op")
				}
				header = append(header, "×rec")
			}
			fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
			for _, s := range stores {
				row := []string{s}
				for _, v := range vs {
					ms := runs[cell{g, s, v, p}]
					base := runs[cell{g, "recstore", v, p}]
					if len(ms) == 0 {
						row = append(row, why(out, g, s, v), "")
						if g != "Memory" {
							row = append(row, "")
						}
						continue
					}
					med, spread := stats(ms, metric)
					mark := ""
					if spread > 0.25 {
						mark = "*"
					}
					row = append(row, num(med)+mark)
					if g != "Memory" {
						a, _ := stats(ms, "allocs/op")
						row = append(row, num(a))
					}
					if b, _ := stats(base, metric); len(base) > 0 && b > 0 {
						row = append(row, fmt.Sprintf("%.2f", med/b))
					} else {
						row = append(row, "—")
					}
				}
				fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
			}
			fmt.Fprintln(w)
		}
	}
	if len(out.failed) > 0 {
		fmt.Fprintf(w, "## Failed\n\n")
		for _, name := range sortedKeys(out.failed) {
			fmt.Fprintf(w, "- %s: %s\n", name, out.failed[name])
		}
		fmt.Fprintln(w)
	}
	var reasons []string
	for _, name := range sortedKeys(out.skipped) {
		if out.skipped[name] != "" {
			reasons = append(reasons, fmt.Sprintf("- %s: %s", strings.TrimPrefix(name, "Benchmark"), out.skipped[name]))
		}
	}
	if len(reasons) > 0 {
		fmt.Fprintf(w, "## Skipped\n\n%s\n", strings.Join(slices.Compact(reasons), "\n"))
	}
}

func runsNote(c *config) string {
	if c.in != "" {
		return "the runs in " + c.in
	}
	if c.count == 1 {
		return "1 run"
	}
	return fmt.Sprintf("%d runs", c.count)
}

// why returns the cell text of a benchmark with no result: FAIL or skip
// if it, or a benchmark it belongs to, failed or was skipped.
func why(out outcome, group, store, variant string) string {
	name := "Benchmark" + group + "/" + store + "/" + variant
	if group == "Snapshot" || group == "Memory" {
		name = "Benchmark" + group + "/" + variant + "/" + store
	}
	covers := func(parent string) bool { return name == parent || strings.HasPrefix(name, parent+"/") }
	for parent := range out.failed {
		if covers(parent) {
			return "FAIL"
		}
	}
	for parent := range out.skipped {
		if covers(parent) {
			return "skip"
		}
	}
	return "—"
}

// stats returns the median of metric over runs and its spread,
// (max-min)/median.
func stats(runs []map[string]float64, metric string) (median, spread float64) {
	var vs []float64
	for _, m := range runs {
		if v, ok := m[metric]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, 0
	}
	slices.Sort(vs)
	n := len(vs)
	median = vs[n/2]
	if n%2 == 0 {
		median = (vs[n/2-1] + vs[n/2]) / 2
	}
	if median != 0 {
		spread = (vs[n-1] - vs[0]) / median
	}
	return median, spread
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return thousands(fmt.Sprintf("%.0f", v))
}

func thousands(s string) string {
	if len(s) <= 4 {
		return s
	}
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return b.String()
}

// variantLess orders g=1x < g=4x < g=32x and n=10000 < n=1000000.
func variantLess(a, b string) bool {
	na, nb := variantNum(a), variantNum(b)
	if na != nb {
		return na < nb
	}
	return a < b
}

func variantNum(v string) int {
	_, s, _ := strings.Cut(v, "=")
	s = strings.TrimSuffix(s, "x")
	n := 0
	for _, ch := range s {
		if ch < '0' || ch > '9' {
			return 0
		}
		n = n*10 + int(ch-'0')
	}
	return n
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
