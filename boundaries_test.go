package parley_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type goPackage struct {
	ImportPath string
	Name       string
	Doc        string
	Deps       []string
	Imports    []string
	GoFiles    []string
}

// listPackages returns every package of the module, as `go list` sees it.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(out)
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// Every package says what it is for.
func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) > 0 && strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}

// The adapters stay adapters: the domain imports only the standard library,
// the edge never talks SQL, persist never speaks HTTP, and production code
// never links test support.
func TestImportBoundaries(t *testing.T) {
	const mod = "github.com/parley-im/parley"
	forbidden := map[string][]string{
		mod:              {"github.com/", "golang.org/x/"},
		mod + "/edge":    {"github.com/jackc/pgx"},
		mod + "/client":  {"github.com/jackc/pgx", "github.com/labstack/echo", "github.com/nats-io/"},
		mod + "/persist": {"github.com/labstack/echo", "github.com/gorilla/websocket"},
		mod + "/streams": {"github.com/jackc/pgx", "github.com/labstack/echo"},
	}
	for _, p := range listPackages(t) {
		for _, bad := range forbidden[p.ImportPath] {
			for _, d := range p.Deps {
				if strings.HasPrefix(d, bad) {
					t.Errorf("%s depends on %s", p.ImportPath, d)
				}
			}
		}
		testSupport := strings.HasSuffix(p.ImportPath, "/pgtest") || strings.Contains(p.ImportPath, "/internal/testenv") || strings.Contains(p.ImportPath, "/internal/acceptance")
		if testSupport || p.Name == "main" && strings.HasSuffix(p.ImportPath, "/bench") {
			continue
		}
		for _, d := range p.Deps {
			if d == "testing" || d == "net/http/httptest" || strings.HasSuffix(d, "/pgtest") || strings.HasSuffix(d, "/internal/testenv") {
				t.Errorf("production package %s depends on %s", p.ImportPath, d)
			}
		}
	}
}
