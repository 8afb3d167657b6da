// Command report runs the contention benchmarks of this module and prints
// markdown tables: the median ns/op and allocs/op of every store, and each
// peer's ratio to recstore (peer ns/op ÷ recstore ns/op; above 1, recstore
// is faster). A cell marked * varied by more than 25% of its median
// ((max-min)/median) across the -count runs.
//
// Run it inside bench/:
//
//	go run ./cmd/report                     # the full run: -count 5, -cpu 1,2 (about half an hour)
//	go run ./cmd/report -quick              # a smoke run of about 30 seconds
//	go run ./cmd/report -count 1 -g 32 -cpu 2 -only hit,miss,hot,zipf,memory
//	go run ./cmd/report -in old.txt         # tables from saved output (-raw writes it)
//
// Each group of benchmarks runs with the -benchtime it needs: miss and zipf
// grow the store with every operation, so they run a fixed number of
// operations (-miss, -zipf) so that every store faces the same data set;
// the others run for -benchtime; memory runs once.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// group is one set of benchmarks run with one -benchtime.
type group struct {
	key   string // the name -only uses
	bench string // -test.bench pattern of the first levels
	fixed func(*config) string
}

var groups = []group{
	{"hit", `^BenchmarkGetOrCreate$/^hit$`, nil},
	{"miss", `^BenchmarkGetOrCreate$/^miss$`, func(c *config) string { return fmt.Sprintf("%dx", c.missOps) }},
	{"hot", `^BenchmarkGetOrCreate$/^hot$`, nil},
	{"zipf", `^BenchmarkGetOrCreate$/^zipf$`, func(c *config) string { return fmt.Sprintf("%dx", c.zipfOps) }},
	{"get", `^BenchmarkGet$`, nil},
	{"filter", `^BenchmarkFilter$`, nil},
	{"snapshot", `^BenchmarkSnapshot$`, nil},
	{"memory", `^BenchmarkMemory$`, func(*config) string { return "1x" }},
}

type config struct {
	count     int
	cpu       string
	benchtime string
	missOps   int
	zipfOps   int
	only      string
	stores    string
	g         string
	short     bool
	quick     bool
	in        string
	raw       string
	verbose   bool
	seed      uint64
}

func main() {
	var c config
	flag.IntVar(&c.count, "count", 5, "runs of each benchmark (medians and spreads are over these)")
	flag.StringVar(&c.cpu, "cpu", "1,2", "GOMAXPROCS values, as go test -cpu")
	flag.StringVar(&c.benchtime, "benchtime", "1s", "-benchtime of the time-based groups (hit, hot, get, filter, snapshot)")
	flag.IntVar(&c.missOps, "miss", 100_000, "operations per miss benchmark (its store grows to this size)")
	flag.IntVar(&c.zipfOps, "zipf", 200_000, "operations per zipf benchmark")
	flag.StringVar(&c.only, "only", "", "comma-separated groups to run: "+groupKeys()+" (default all)")
	flag.StringVar(&c.stores, "stores", "", "comma-separated stores to run (default all; recstore is needed for ratios)")
	flag.StringVar(&c.g, "g", "", "comma-separated goroutines per GOMAXPROCS to run, of 1,4,32 (default all)")
	flag.BoolVar(&c.short, "short", false, "pass -short: skip the 1,000,000-record sizes, preload 10,000 records instead of 100,000")
	flag.BoolVar(&c.quick, "quick", false, "smoke run: -count 1 -benchtime 20ms -miss 2000 -zipf 20000 -short")
	flag.StringVar(&c.in, "in", "", "read benchmark output from this file instead of running the benchmarks")
	flag.StringVar(&c.raw, "raw", "", "also write the raw benchmark output to this file (for benchstat)")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the benchmarks' random draws")
	flag.BoolVar(&c.verbose, "v", false, "echo all benchmark output to stderr, not just result lines")
	flag.Parse()
	if c.quick {
		c.count, c.benchtime, c.missOps, c.zipfOps, c.short = 1, "20ms", 2000, 20000, true
	}
	if err := run(&c); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func groupKeys() string {
	keys := make([]string, len(groups))
	for i, g := range groups {
		keys[i] = g.key
	}
	return strings.Join(keys, ",")
}

func run(c *config) error {
	var raw bytes.Buffer
	if c.in != "" {
		b, err := os.ReadFile(c.in)
		if err != nil {
			return err
		}
		raw.Write(b)
	} else if err := runBenchmarks(c, &raw); err != nil {
		return err
	}
	if c.raw != "" {
		if err := os.WriteFile(c.raw, raw.Bytes(), 0o644); err != nil {
			return err
		}
	}
	out, err := parse(&raw)
	if err != nil {
		return err
	}
	if len(out.results) == 0 && len(out.failed) == 0 {
		return fmt.Errorf("no benchmark results")
	}
	render(os.Stdout, out, c)
	if len(out.failed) > 0 {
		return fmt.Errorf("%d benchmarks failed", len(out.failed))
	}
	return nil
}

func runBenchmarks(c *config, raw *bytes.Buffer) error {
	selected, err := selectGroups(c.only)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "recstore-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bench.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the benchmarks (run report inside bench/): %w", err)
	}
	for _, g := range selected {
		benchtime, count, cpu := c.benchtime, c.count, c.cpu
		if g.fixed != nil {
			benchtime = g.fixed(c)
		}
		if g.key == "memory" { // deterministic enough, and slow: once, at the largest GOMAXPROCS
			count = 1
			cpus := strings.Split(cpu, ",")
			cpu = cpus[len(cpus)-1]
		}
		args := []string{
			"-test.run", "^$",
			"-test.bench", pattern(g, c),
			"-test.benchtime", benchtime,
			"-test.count", strconv.Itoa(count),
			"-test.cpu", cpu,
			"-test.timeout", "0",
			"-test.v", // prints why benchmarks were skipped
			"-seed", strconv.FormatUint(c.seed, 10),
		}
		if c.short {
			args = append(args, "-test.short")
		}
		fmt.Fprintf(os.Stderr, "# %s: bench.test %s\n", g.key, strings.Join(args, " "))
		start := time.Now()
		cmd := exec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		echo(io.TeeReader(stdout, raw), c.verbose)
		err = cmd.Wait()
		fmt.Fprintf(os.Stderr, "# %s: %s\n", g.key, time.Since(start).Round(time.Second))
		if err != nil {
			// A failed benchmark (a store failing its gate) is reported
			// in the tables; carry on with the other groups.
			fmt.Fprintf(os.Stderr, "# %s: %v\n", g.key, err)
		}
	}
	return nil
}

// echo copies benchmark output to stderr as it comes, so that a long run
// shows progress: result, skip and failure lines, or everything if all.
func echo(r io.Reader, all bool) {
	var line []byte
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		for _, ch := range buf[:n] {
			line = append(line, ch)
			if ch == '\n' {
				s := string(line)
				result := strings.HasPrefix(s, "Benchmark") && strings.Contains(s, "\t")
				if all || result || strings.Contains(s, "--- FAIL") || strings.HasPrefix(s, "FAIL") {
					os.Stderr.WriteString(s)
				}
				line = line[:0]
			}
		}
		if err != nil {
			return
		}
	}
}

func selectGroups(only string) ([]group, error) {
	if only == "" {
		return groups, nil
	}
	var sel []group
	for _, k := range strings.Split(only, ",") {
		found := false
		for _, g := range groups {
			if g.key == strings.TrimSpace(k) {
				sel, found = append(sel, g), true
			}
		}
		if !found {
			return nil, fmt.Errorf("-only: no group %q (have %s)", k, groupKeys())
		}
	}
	return sel, nil
}

// pattern builds the -test.bench pattern of group g, narrowed to the
// stores and parallelism levels that c selects.
func pattern(g group, c *config) string {
	p := g.bench
	levels := strings.Count(p, "/") + 1 // levels the group's pattern covers
	alt := func(list string, format string) string {
		var parts []string
		for _, s := range strings.Split(list, ",") {
			parts = append(parts, fmt.Sprintf(format, regexp.QuoteMeta(strings.TrimSpace(s))))
		}
		return "^(" + strings.Join(parts, "|") + ")$"
	}
	stores, gs := "", ""
	if c.stores != "" {
		stores = alt(c.stores, "%s")
	}
	if c.g != "" {
		gs = alt(c.g, "g=%sx")
	}
	switch {
	case levels == 2 && strings.Contains(p, "GetOrCreate"): // workload/store/g
		return joinLevels(p, stores, gs)
	case g.key == "get": // store/g
		return joinLevels(p, stores, gs)
	case g.key == "filter": // n/store/g
		return joinLevels(p, "", stores, gs)
	default: // Snapshot, Memory: n/store
		return joinLevels(p, "", stores)
	}
}

func joinLevels(p string, rest ...string) string {
	for len(rest) > 0 && rest[len(rest)-1] == "" {
		rest = rest[:len(rest)-1]
	}
	for _, r := range rest {
		p += "/" + r
	}
	return p
}
