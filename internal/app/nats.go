package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-im/parley/streams"
)

// DrainTimeout bounds how long Drain waits for in-flight messages.
const DrainTimeout = 10 * time.Second

// Connect opens the one NATS connection of a component. It reconnects
// forever (a component outlives any NATS node), buffers up to 32 MiB of
// publishes while reconnecting, and logs every disconnect, reconnect and
// asynchronous error. Close it with Drain.
func Connect(servers, name string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(servers,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.ReconnectBufSize(32<<20),
		nats.PingInterval(20*time.Second),
		nats.DrainTimeout(DrainTimeout),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "conn", name, "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "conn", name, "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Error("nats async error", "conn", name, "subject", subj, "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", Redact(servers), err)
	}
	return nc, nil
}

// Drain drains nc (subscriptions first, then pending publishes) and waits
// until it is closed, at most DrainTimeout plus a second.
func Drain(nc *nats.Conn) error {
	if err := nc.Drain(); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
		return fmt.Errorf("drain nats: %w", err)
	}
	deadline := time.Now().Add(DrainTimeout + time.Second)
	for !nc.IsClosed() {
		if time.Now().After(deadline) {
			nc.Close()
			return errors.New("drain nats: timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// CheckStreams fails with advice when the streams of layout do not exist
// yet, so that an edge or worker started before `parley migrate` says so
// instead of failing on its first publish.
func CheckStreams(ctx context.Context, js jetstream.JetStream, layout streams.Layout) error {
	for _, name := range []string{layout.ConvStream(), layout.UserStream()} {
		if _, err := js.Stream(ctx, name); err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("stream %s does not exist: run `parley migrate --database-url URL --nats-url URL` first", name)
			}
			return fmt.Errorf("look up stream %s: %w", name, err)
		}
	}
	return nil
}

// Redact hides the passwords of a URL, or of a comma-separated list of
// URLs, for logs and errors.
func Redact(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable url)"
			continue
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}
