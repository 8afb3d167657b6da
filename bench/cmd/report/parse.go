package main

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// result is one line of benchmark output.
type result struct {
	name    string // without the -GOMAXPROCS suffix
	procs   int
	metrics map[string]float64 // unit -> value: "ns/op", "allocs/op", "B/record", …
}

// outcome is what a run of the benchmarks printed: results and, for the
// benchmarks that did not produce any, why.
type outcome struct {
	results []result
	skipped map[string]string // benchmark name -> reason
	failed  map[string]string // benchmark name -> message
}

var procsSuffix = regexp.MustCompile(`-(\d+)$`)

// parseLine parses one result line of the standard benchmark format:
//
//	BenchmarkName-8   1000   1234 ns/op   0 B/op   0 allocs/op
//
// The suffix -N is GOMAXPROCS; the testing package leaves it out when it
// is 1.
func parseLine(line string) (result, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 || !strings.HasPrefix(f[0], "Benchmark") {
		return result{}, false
	}
	if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
		return result{}, false
	}
	r := result{name: f[0], procs: 1, metrics: map[string]float64{}}
	if m := procsSuffix.FindStringSubmatch(f[0]); m != nil {
		r.procs, _ = strconv.Atoi(m[1])
		r.name = strings.TrimSuffix(f[0], m[0])
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return result{}, false
		}
		r.metrics[f[i+1]] = v
	}
	return r, true
}

// parse reads benchmark output: result lines, and the "--- SKIP:" and
// "--- FAIL:" lines with their messages, the indented lines before them
// (go test -v) or after them (without -v).
func parse(rd io.Reader) (outcome, error) {
	out := outcome{skipped: map[string]string{}, failed: map[string]string{}}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var before []string           // indented lines since the last other line
	var pending map[string]string // where indented lines after a SKIP or FAIL go
	var pendingName string
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		isSkip, isFail := strings.HasPrefix(trimmed, "--- SKIP: "), strings.HasPrefix(trimmed, "--- FAIL: ")
		switch {
		case isSkip || isFail:
			pending = out.skipped
			if isFail {
				pending = out.failed
			}
			pendingName = procsSuffix.ReplaceAllString(strings.Fields(trimmed[len("--- SKIP: "):])[0], "")
			if _, ok := pending[pendingName]; !ok || pending[pendingName] == "" {
				pending[pendingName] = strings.Join(before, "; ")
			}
			before = nil
		case strings.HasPrefix(line, "    ") && trimmed != "":
			msg := message(trimmed)
			if pending != nil {
				if pending[pendingName] == "" {
					pending[pendingName] = msg
				}
			} else {
				before = append(before, msg)
			}
		default:
			pending, before = nil, nil
			if r, ok := parseLine(line); ok {
				out.results = append(out.results, r)
			}
		}
	}
	return out, sc.Err()
}

// message drops the "file.go:123: " prefix of a test log line.
func message(line string) string {
	if file, msg, ok := strings.Cut(line, ": "); ok && strings.Contains(file, ".go:") && !strings.Contains(file, " ") {
		return msg
	}
	return line
}
