package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDevRestart runs `parley dev` in a fresh data directory, uses it over
// HTTP, stops it as Ctrl-C would, starts it again on the same directory and
// finds everything still there.
func TestDevRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres")
	}
	// Not t.TempDir: its parent is 0700, and Postgres, run as an
	// unprivileged user when the tests run as root, must traverse it.
	data, err := os.MkdirTemp("", "parley-dev-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	goroutines := runtime.NumGoroutine()

	dev := startDev(t, data)
	alice := dev.post(t, "/v1/auth/register", "", map[string]any{"username": "alice", "password": "correct horse"}, http.StatusCreated)
	bob := dev.post(t, "/v1/auth/register", "", map[string]any{"username": "bob", "password": "battery staple"}, http.StatusCreated)
	aliceTok := alice["access_token"].(string)
	bobID := bob["user"].(map[string]any)["id"].(string)
	conv := dev.post(t, "/v1/conversations", aliceTok, map[string]any{"type": "direct", "members": []string{bobID}}, http.StatusCreated)
	cid := conv["conversation"].(map[string]any)["id"].(string)
	dev.post(t, "/v1/conversations/"+cid+"/messages", aliceTok, map[string]any{"client_id": "c1", "body": "hello before the restart"}, http.StatusCreated)
	dev.stop(t)

	if _, err := os.Stat(filepath.Join(data, "token.key")); err != nil {
		t.Errorf("token key not kept: %v", err)
	}

	dev = startDev(t, data)
	login := dev.post(t, "/v1/auth/login", "", map[string]any{"username": "bob", "password": "battery staple"}, http.StatusOK)
	bobTok := login["access_token"].(string)
	// An access token from the first run stays valid: the key was kept.
	msgs := dev.get(t, "/v1/conversations/"+cid+"/messages", aliceTok)
	if !strings.Contains(fmt.Sprint(msgs["messages"]), "hello before the restart") {
		t.Errorf("history after restart = %v, want the message sent before it", msgs)
	}
	dev.post(t, "/v1/conversations/"+cid+"/messages", bobTok, map[string]any{"client_id": "c2", "body": "hello after"}, http.StatusCreated)
	dev.stop(t)

	// Every goroutine the two runs started has an owner that ended it.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after both runs stopped:\n%s", goroutines, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestDevRefusesATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run(context.Background(), []string{"dev", "--addr", ln.Addr().String(), "--data", t.TempDir()}, env(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("dev on a taken port: %v, want a listen error", err)
	}
}

type devProcess struct {
	url    string
	cancel context.CancelFunc
	done   chan error
	log    *lockedBuffer
}

// startDev runs `parley dev` on a free port and waits for /healthz.
func startDev(t *testing.T, data string) *devProcess {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	d := &devProcess{url: "http://" + addr, cancel: cancel, done: make(chan error, 1), log: &lockedBuffer{}}
	go func() {
		d.done <- run(ctx, []string{"dev", "--addr", addr, "--data", data}, env(nil), io.Discard, d.log)
	}()
	t.Cleanup(func() {
		if d.cancel != nil {
			d.stop(t)
		}
		if t.Failed() {
			t.Logf("parley dev log:\n%s", d.log.String())
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-d.done:
			d.cancel = nil
			t.Fatalf("parley dev stopped at start: %v\n%s", err, d.log.String())
		default:
		}
		resp, err := http.Get(d.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("parley dev not healthy within 90s (last: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop cancels dev's context, as SIGINT does, and checks it stops cleanly.
func (d *devProcess) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	d.cancel = nil
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("parley dev stopped with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("parley dev did not stop within 60s")
	}
}

func (d *devProcess) post(t *testing.T, path, token string, body any, want int) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, d.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return d.do(t, req, token, want)
}

func (d *devProcess) get(t *testing.T, path, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.url+path, nil)
	return d.do(t, req, token, http.StatusOK)
}

func (d *devProcess) do(t *testing.T, req *http.Request, token string, want int) map[string]any {
	t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", req.Method, req.URL.Path, resp.StatusCode, raw, want)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %v in %s", req.Method, req.URL.Path, err, raw)
	}
	return out
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
