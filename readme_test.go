package recstore

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADME_QuickStart keeps README's quick start identical to
// examples/quickstart/main.go, which make test builds and runs.
func TestREADME_QuickStart(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	code, err := os.ReadFile("examples/quickstart/main.go")
	require.NoError(t, err)
	require.True(t, strings.Contains(string(readme), "```go\n"+string(code)+"```"),
		"README's quick start differs from examples/quickstart/main.go")
}
