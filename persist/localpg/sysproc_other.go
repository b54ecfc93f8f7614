//go:build unix && !linux

package localpg

import "syscall"

func sysProcAttr(acct account) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if acct.drop {
		a.Credential = &syscall.Credential{Uid: acct.uid, Gid: acct.gid, Groups: []uint32{}}
	}
	return a
}
