package recstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADME_QuickStart keeps README's quick start identical to
// examples/quickstart/main.go, and the output README shows identical to
// what that program's Example checks it prints.
func TestREADME_QuickStart(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	code, err := os.ReadFile("examples/quickstart/main.go")
	require.NoError(t, err)
	require.True(t, strings.Contains(string(readme), "```go\n"+string(code)+"```"),
		"README's quick start differs from examples/quickstart/main.go")

	example, err := os.ReadFile("examples/quickstart/main_test.go")
	require.NoError(t, err)
	_, out, ok := strings.Cut(string(example), "// Output:\n")
	require.True(t, ok, "the quick start's Example has no output")
	var want strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(out, "}\n"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			want.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "//"), " ") + "\n")
		}
	}
	require.True(t, strings.Contains(string(readme), "```\n"+want.String()+"```"),
		"README's quick start output differs from what the program prints:\n%s", want.String())
}

// TestREADME_Tour keeps the tour honest: every line of its Go snippets is
// a line of one of the package's Examples, whose output go test checks.
func TestREADME_Tour(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, tour, ok := strings.Cut(string(readme), "\n## A tour\n")
	require.True(t, ok, "README has no tour")
	tour, _, _ = strings.Cut(tour, "\n## ")

	files, err := filepath.Glob("example*_test.go")
	require.NoError(t, err)
	lines := map[string]bool{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, l := range strings.Split(string(src), "\n") {
			lines[strings.TrimSpace(l)] = true
		}
	}
	blocks := strings.Split(tour, "```go\n")[1:]
	require.NotEmpty(t, blocks)
	for _, b := range blocks {
		code, _, ok := strings.Cut(b, "```")
		require.True(t, ok, "an unclosed snippet")
		for _, l := range strings.Split(code, "\n") {
			require.True(t, lines[strings.TrimSpace(l)], "README's tour has a line no Example holds: %q", l)
		}
	}
}
