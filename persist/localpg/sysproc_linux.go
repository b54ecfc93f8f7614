package localpg

import "syscall"

func sysProcAttr(acct account) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{
		// Keep a terminal's Ctrl-C away from the server: the owner stops it
		// after its own shutdown, which may still need the database.
		Setpgid: true,
		// Fast shutdown if the owner dies without calling Stop.
		Pdeathsig: syscall.SIGINT,
	}
	if acct.drop {
		a.Credential = &syscall.Credential{Uid: acct.uid, Gid: acct.gid, Groups: []uint32{}}
	}
	return a
}
