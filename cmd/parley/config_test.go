package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

const hexKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // a substring of the error
	}{
		{"edge without database url", []string{"edge", "--nats-url", "nats://x", "--token-key", hexKey}, nil, "--database-url (or PARLEY_DATABASE_URL) is required"},
		{"edge without nats url", []string{"edge", "--database-url", "postgres://x", "--token-key", hexKey}, nil, "--nats-url (or PARLEY_NATS_URL) is required"},
		{"edge without token key", []string{"edge", "--database-url", "postgres://x", "--nats-url", "nats://x"}, nil, "--token-key (or PARLEY_TOKEN_KEY) is required"},
		{"edge with a short token key", []string{"edge", "--token-key", "c2hvcnQ="}, nil, "token key has 5 bytes"},
		{"edge with a token key that is no encoding", []string{"edge", "--token-key", "not a key!"}, nil, "neither hex nor base64"},
		{"bad key from env", []string{"edge"}, map[string]string{"PARLEY_TOKEN_KEY": "abcd"}, "PARLEY_TOKEN_KEY"},
		{"persist without urls", []string{"persist"}, nil, "--nats-url (or PARLEY_NATS_URL) is required"},
		{"persist with no workers", []string{"persist", "--nats-url", "n", "--database-url", "d", "--workers", "0"}, nil, "--workers must be at least 1"},
		{"migrate without database url", []string{"migrate"}, nil, "--database-url (or PARLEY_DATABASE_URL) is required"},
		{"migrate with 2 replicas", []string{"migrate", "--database-url", "d", "--stream-replicas", "2"}, nil, "--stream-replicas must be 1, 3 or 5"},
		{"dev with a bad address", []string{"dev", "--addr", "8080"}, nil, `--addr "8080" is not host:port`},
		{"dev with a zero story ttl", []string{"dev", "--story-ttl", "0s"}, nil, "--story-ttl must be positive"},
		{"dev with a bad duration from env", []string{"dev"}, map[string]string{"PARLEY_STORY_TTL": "soon"}, "PARLEY_STORY_TTL"},
		{"unknown command", []string{"serve"}, nil, `unknown command "serve"`},
		{"unknown flag", []string{"dev", "--nope"}, nil, "flag provided but not defined: -nope"},
		{"stray argument", []string{"dev", "extra"}, nil, `unexpected argument "extra"`},
		{"no command", nil, nil, "no command given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := run(ctx, tc.args, env(tc.env), &out, &errOut)
			if err == nil {
				t.Fatalf("run(%q) = nil, want an error containing %q", tc.args, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %q, want it to contain %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestParseEnvAndFlags(t *testing.T) {
	e := env(map[string]string{
		"PARLEY_ADDR":            "0.0.0.0:9000",
		"PARLEY_NATS_URL":        "nats://env:4222",
		"PARLEY_DATABASE_URL":    "postgres://env/db",
		"PARLEY_TOKEN_KEY":       hexKey,
		"PARLEY_ALLOWED_ORIGINS": "https://a.example, https://b.example",
		"PARLEY_LOG_JSON":        "true",
	})
	got, err := parseEdge([]string{"--nats-url", "nats://flag:4222", "--story-ttl", "1m"}, e, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := edgeConfig{
		Addr:           "0.0.0.0:9000",
		NATSURL:        "nats://flag:4222", // the flag wins over PARLEY_NATS_URL
		DatabaseURL:    "postgres://env/db",
		TokenKey:       mustDecode(t, hexKey),
		AllowedOrigins: []string{"https://a.example", "https://b.example"},
		StoryTTL:       time.Minute,
		Log:            logConfig{JSON: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseEdge (-want +got):\n%s", diff)
	}
}

func TestDevDefaults(t *testing.T) {
	got, err := parseDev(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := devConfig{Addr: "127.0.0.1:8080", Data: "./data", StoryTTL: 24 * time.Hour, Workers: 2, StreamMaxAge: 72 * time.Hour}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseDev defaults (-want +got):\n%s", diff)
	}
}

func TestDecodeKey(t *testing.T) {
	raw := mustDecode(t, hexKey)
	for _, s := range []string{
		hexKey,
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		" " + hexKey + "\n",
	} {
		got, err := decodeKey(s)
		if err != nil {
			t.Errorf("decodeKey(%q): %v", s, err)
			continue
		}
		if !bytes.Equal(got, raw) {
			t.Errorf("decodeKey(%q) = %x, want %x", s, got, raw)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"dev", "-h"}, env(nil), &out, &errOut); err != nil {
		t.Fatalf("dev -h: %v", err)
	}
	if !strings.Contains(errOut.String(), "PARLEY_SYNC_ALWAYS") {
		t.Errorf("dev -h does not name the environment variables:\n%s", errOut.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"version"}, env(nil), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "parley ") {
		t.Errorf("version printed %q", out.String())
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := decodeKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
