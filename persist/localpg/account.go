package localpg

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// account is the user the server runs as. drop is false when the process is
// not root: the server then runs as the current user.
type account struct {
	drop     bool
	name     string
	uid, gid uint32
}

func lookupAccount() (account, error) {
	if os.Geteuid() != 0 {
		return account{}, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return account{drop: true, name: name, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return account{}, fmt.Errorf("localpg: running as root and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

// prepareDir creates dir, hands it to acct and checks that acct can reach it.
func prepareDir(dir string, acct account) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	if !acct.drop {
		return nil
	}
	if err := checkTraversable(dir, acct); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == acct.uid {
		return nil
	}
	// The directory was made by root (first run, or a run before this
	// rule): give all of it to the server's user.
	err = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(acct.uid), int(acct.gid))
	})
	if err != nil {
		return fmt.Errorf("localpg: hand %s to user %s: %w", dir, acct.name, err)
	}
	return nil
}

// checkTraversable fails unless acct may search every parent of dir.
func checkTraversable(dir string, acct account) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("localpg: %w", err)
		}
		if !searchable(fi, acct) {
			return fmt.Errorf("localpg: PostgreSQL runs as user %s, which cannot reach %s: "+
				"%s is not traversable by it (make it so with: chmod o+x %s, or choose a data directory under /tmp)",
				acct.name, dir, p, p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func searchable(fi os.FileInfo, acct account) bool {
	m := fi.Mode().Perm()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return m&0o001 != 0
	}
	switch {
	case st.Uid == acct.uid:
		return m&0o100 != 0
	case st.Gid == acct.gid:
		return m&0o010 != 0
	default:
		return m&0o001 != 0
	}
}
