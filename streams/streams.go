package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-im/parley"
)

// Partitions is the number of conversation partitions. It is part of every
// conversation's subject and must never change.
const Partitions = 64

// Partition returns the fixed partition of a conversation id.
func Partition(cid string) int {
	h := fnv.New32a()
	h.Write([]byte(cid))
	return int(h.Sum32() % Partitions)
}

// Subject is a NATS subject named by this package.
type Subject string

func (s Subject) String() string { return string(s) }

// Headers set on published events.
const (
	HeaderKind     = "Parley-Kind"
	HeaderVersion  = "Parley-Version"
	HeaderSequence = "Nats-Sequence"      // on republished messages
	HeaderLastSeq  = "Nats-Last-Sequence" // on republished messages
)

// TicketBucket is the KV bucket that makes WebSocket tickets single use: a
// ticket's nonce is created there when the ticket is redeemed, and entries
// age out after TicketBucketTTL.
func (l Layout) TicketBucket() string { return l.name("ws_tickets") }

// TicketBucketTTL is how long a redeemed ticket's nonce is remembered; it
// must exceed the lifetime of a ticket.
const TicketBucketTTL = 2 * time.Minute

// Durable consumer names.
const (
	DurablePersist = "persist"
)

// Layout names the streams and subjects of one Parley installation. Prefix,
// when set, is prepended to every stream name and as a first token to every
// subject, so that several installations (or tests) can share one server.
// The zero value is the production layout.
type Layout struct {
	Prefix string
}

func (l Layout) subj(parts ...string) Subject {
	s := strings.Join(parts, ".")
	if l.Prefix != "" {
		s = l.Prefix + "." + s
	}
	return Subject(s)
}

func (l Layout) name(n string) string { return l.Prefix + n }

// ConvStream is the name of the stream of conversation events.
func (l Layout) ConvStream() string { return l.name("CONV") }

// UserStream is the name of the stream of per-user events.
func (l Layout) UserStream() string { return l.name("USER") }

// Conv is the stored subject of a conversation's events.
func (l Layout) Conv(cid string) Subject {
	return l.subj("conv", strconv.Itoa(Partition(cid)), cid)
}

// Live is the core subject on which a conversation's stored events are republished.
func (l Layout) Live(cid string) Subject {
	return l.subj("live", strconv.Itoa(Partition(cid)), cid)
}

// ConvAll matches every conversation's stored subject.
func (l Layout) ConvAll() Subject { return l.subj("conv", ">") }

// User is the stored subject of one user's events.
func (l Layout) User(uid string) Subject { return l.subj("user", uid) }

// UserLive is the core subject on which a user's stored events are republished.
func (l Layout) UserLive(uid string) Subject { return l.subj("ulive", uid) }

// Control announces a change to a conversation's membership or settings.
func (l Layout) Control(cid string) Subject { return l.subj("ctl", "conv", cid) }

// ControlAll matches every conversation's control subject.
func (l Layout) ControlAll() Subject { return l.subj("ctl", "conv", "*") }

// ConversationFromSubject returns the conversation id of a stored or live
// conversation subject.
func (l Layout) ConversationFromSubject(subject string) (string, bool) {
	if l.Prefix != "" {
		var ok bool
		if subject, ok = strings.CutPrefix(subject, l.Prefix+"."); !ok {
			return "", false
		}
	}
	parts := strings.Split(subject, ".")
	if len(parts) != 3 || (parts[0] != "conv" && parts[0] != "live") {
		return "", false
	}
	return parts[2], true
}

// MsgID is the Nats-Msg-Id of a message sent by sender to a conversation
// with clientID.
func MsgID(sender, cid, clientID string) string { return sender + ":" + cid + ":" + clientID }

// Config sizes the streams. The zero value of each field picks the default
// given beside it.
type Config struct {
	Replicas   int           // 0: 1
	MaxAge     time.Duration // 0: 72h; older history is served from Postgres
	MaxBytes   int64         // 0: no byte cap
	Duplicates time.Duration // 0: 2m; Postgres' unique keys guard beyond it
}

func (c Config) withDefaults() Config {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxAge == 0 {
		c.MaxAge = 72 * time.Hour
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = -1
	}
	if c.Duplicates == 0 {
		c.Duplicates = 2 * time.Minute
	}
	return c
}

// Setup creates or updates the streams and the persist consumer. It fails
// on an incompatible change and never deletes a stream.
func (l Layout) Setup(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	cfg = cfg.withDefaults()
	for _, sc := range []jetstream.StreamConfig{
		{
			Name:        l.ConvStream(),
			Description: "Parley conversation events",
			Subjects:    []string{string(l.subj("conv", "*", "*"))},
			RePublish:   &jetstream.RePublish{Source: string(l.subj("conv", ">")), Destination: string(l.subj("live", ">"))},
			Duplicates:  cfg.Duplicates,
		},
		{
			Name:        l.UserStream(),
			Description: "Parley per-user events",
			Subjects:    []string{string(l.subj("user", "*"))},
			RePublish:   &jetstream.RePublish{Source: string(l.subj("user", ">")), Destination: string(l.subj("ulive", ">"))},
			Duplicates:  cfg.Duplicates,
		},
	} {
		sc.Retention = jetstream.LimitsPolicy
		sc.Storage = jetstream.FileStorage
		sc.Replicas = cfg.Replicas
		sc.MaxAge = cfg.MaxAge
		sc.MaxBytes = cfg.MaxBytes
		sc.Discard = jetstream.DiscardOld
		sc.AllowDirect = true
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("create or update stream %s: %w", sc.Name, err)
		}
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   l.TicketBucket(),
		TTL:      TicketBucketTTL,
		Replicas: cfg.Replicas,
		Storage:  jetstream.FileStorage,
	}); err != nil {
		return fmt.Errorf("create or update bucket %s: %w", l.TicketBucket(), err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, l.ConvStream(), l.PersistConsumer()); err != nil {
		return fmt.Errorf("create or update consumer %s: %w", DurablePersist, err)
	}
	return nil
}

// PersistConsumer is the configuration of the durable that writes Postgres.
func (l Layout) PersistConsumer() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       DurablePersist,
		Description:   "writes conversation events to Postgres",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    20,
		MaxAckPending: 50000,
		MaxWaiting:    512,
	}
}

// Envelope is the payload of every stored event, version 1.
type Envelope struct {
	V int `json:"v"`
	parley.Event
}

// EnvelopeVersion is the envelope version this package writes.
const EnvelopeVersion = 1

// ErrUnknownVersion is returned for an envelope of a version this build does not know.
var ErrUnknownVersion = errors.New("unknown envelope version")

// Encode returns the payload of ev.
func Encode(ev *parley.Event) ([]byte, error) {
	return json.Marshal(Envelope{V: EnvelopeVersion, Event: *ev})
}

// Decode parses a payload written by Encode.
func Decode(data []byte) (*parley.Event, error) {
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	if env.V != EnvelopeVersion {
		return nil, fmt.Errorf("envelope v%d: %w", env.V, ErrUnknownVersion)
	}
	if env.Kind == "" {
		return nil, errors.New("decode envelope: no kind")
	}
	if env.Kind == parley.EventMessageNew && env.Message == nil {
		return nil, errors.New("decode envelope: message.new without message")
	}
	return &env.Event, nil
}

// NewMsg builds the message that publishes ev to subject.
func NewMsg(subject Subject, ev *parley.Event, msgID string) (*nats.Msg, error) {
	data, err := Encode(ev)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(string(subject))
	m.Data = data
	m.Header.Set(HeaderKind, string(ev.Kind))
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	return m, nil
}

// LiveSeq returns the stream sequence and previous-on-subject sequence of a
// republished message.
func LiveSeq(h nats.Header) (seq, prev uint64, err error) {
	seq, err = strconv.ParseUint(h.Get(HeaderSequence), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("republished message without %s: %w", HeaderSequence, err)
	}
	prev, err = strconv.ParseUint(h.Get(HeaderLastSeq), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("republished message without %s: %w", HeaderLastSeq, err)
	}
	return seq, prev, nil
}
