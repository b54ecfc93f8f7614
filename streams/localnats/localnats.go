// Package localnats runs an embedded NATS server with JetStream in the
// current process, for `parley dev` and for tests.
package localnats

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure an embedded server. The zero value of each field picks
// the default beside it.
type Options struct {
	Dir  string // JetStream store directory; required
	Host string // "": 127.0.0.1
	Port int    // 0: 4222; -1: a free port
	// SyncAlways makes the server fsync every write before acknowledging it.
	// false: the server's default (fsync every 2 minutes; a killed process
	// loses nothing, a power cut may lose the last interval).
	SyncAlways bool
}

// Start starts an embedded server and waits until it accepts clients.
func Start(o Options) (*server.Server, error) {
	if o.Dir == "" {
		return nil, errors.New("localnats: no store directory")
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = 4222
	}
	opts := &server.Options{
		ServerName: "parley-dev",
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.Dir,
		NoSigs:     true,
		NoLog:      true,
		SyncAlways: o.SyncAlways,
		// Leave room for large group fan-out bursts before a slow edge is cut.
		MaxPending: 256 << 20,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("localnats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("localnats: server not ready within 10s")
	}
	return s, nil
}
