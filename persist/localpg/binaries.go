package localpg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
)

// ErrNoBinaries is returned (wrapped, with the install command) when no
// PostgreSQL server binaries are installed.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found")

// installHint says how to install the server binaries on common systems.
const installHint = "install them with: apt-get install -y postgresql (Debian/Ubuntu), " +
	"dnf install -y postgresql-server (Fedora/RHEL), apk add postgresql (Alpine), " +
	"brew install postgresql (macOS); or pass --database-url to use a running server"

// findBinaries returns the directory holding initdb and postgres.
func findBinaries(binDir string) (string, error) {
	if binDir != "" {
		if hasServer(binDir) {
			return binDir, nil
		}
		return "", fmt.Errorf("localpg: %w in %s; %s", ErrNoBinaries, binDir, installHint)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(p); hasServer(dir) {
			return dir, nil
		}
	}
	// Debian and Ubuntu keep the server binaries off PATH, one directory
	// per major version.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	type cand struct {
		dir string
		v   float64
	}
	var cs []cand
	for _, d := range dirs {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		if err == nil && hasServer(d) {
			cs = append(cs, cand{d, v})
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].v > cs[j].v })
	if len(cs) > 0 {
		return cs[0].dir, nil
	}
	return "", fmt.Errorf("localpg: %w on PATH or under /usr/lib/postgresql/*/bin; %s", ErrNoBinaries, installHint)
}

func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}
