package gateway_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/gatewaykit/gateway"

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	path, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	out, err := exec.Command(path, append([]string{"list"}, args...)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return strings.Fields(string(out))
}

// TestRootDependencies holds DESIGN.md's promise: a binary that imports the
// root package compiles only router, upstream, middleware and internal
// packages of this module, and no heavy third-party dependency.
func TestRootDependencies(t *testing.T) {
	t.Parallel()
	deps := goList(t, "-deps", module)
	allowedOurs := []string{module, module + "/router", module + "/upstream", module + "/middleware", module + "/internal/"}
	for _, d := range deps {
		if strings.HasPrefix(d, module) {
			ok := false
			for _, a := range allowedOurs {
				if d == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(d, a)) || strings.HasPrefix(d, a+"/internal/") {
					ok = true
				}
			}
			assert.True(t, ok, "root package depends on %s", d)
			continue
		}
		for _, heavy := range []string{"github.com/redis/", "go.etcd.io/", "github.com/hashicorp/", "google.golang.org/grpc", "github.com/golang-jwt/", "github.com/failsafe-go/", "go.opentelemetry.io/"} {
			assert.False(t, strings.HasPrefix(d, heavy), "root package pulls in %s", d)
		}
	}
}

// TestSubpackagesDoNotImportRoot checks that no package below the root
// imports it, so that the import graph only points downward.
func TestSubpackagesDoNotImportRoot(t *testing.T) {
	t.Parallel()
	pkgs := goList(t, "-f", "{{.ImportPath}}:{{join .Imports \",\"}}", module+"/...")
	for _, line := range pkgs {
		pkg, imports, _ := strings.Cut(line, ":")
		if pkg == module || strings.HasPrefix(pkg, module+"/examples/") || strings.HasPrefix(pkg, module+"/bench/") ||
			strings.HasPrefix(pkg, module+"/config") || strings.HasPrefix(pkg, module+"/admin") {
			continue
		}
		for _, imp := range strings.Split(imports, ",") {
			assert.NotEqual(t, module, imp, "%s imports the root package", pkg)
		}
	}
}
