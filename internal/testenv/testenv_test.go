package testenv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-im/parley/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestEnvServesThroughEveryEdge(t *testing.T) {
	env := testenv.Start(t, testenv.WithEdges(2), testenv.WithWorkers(2))
	if len(env.Edges) != 2 || len(env.Workers) != 2 {
		t.Fatalf("%d edges and %d workers, want 2 and 2", len(env.Edges), len(env.Workers))
	}
	if !strings.HasPrefix(env.Layout.ConvStream(), "T") || env.Layout.Prefix == "" {
		t.Errorf("layout %+v has no prefix of its own", env.Layout)
	}
	register(t, env.Edges[0].URL, "alice")
	login(t, env.Edges[1].URL, "alice") // the account is shared: one database

	var n int
	if err := env.DB.QueryRow(context.Background(), "SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d users in the database, want 1", n)
	}
	if _, err := env.JS.Stream(context.Background(), env.Layout.ConvStream()); err != nil {
		t.Errorf("stream %s: %v", env.Layout.ConvStream(), err)
	}
}

// Kill cuts sockets without a going-away; Stop sends one.
func TestKillAndStopEdges(t *testing.T) {
	env := testenv.Start(t, testenv.WithEdges(2))
	tok := register(t, env.Edges[0].URL, "bob")

	killed := dial(t, env.Edges[0].URL, tok)
	stopped := dial(t, env.Edges[1].URL, tok)

	env.Edges[0].Kill()
	err := readUntilError(killed)
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
		t.Errorf("socket of a killed edge ended with close frame %d; want no close frame", ce.Code)
	}
	if _, err := http.Get(env.Edges[0].URL + "/healthz"); err == nil {
		t.Errorf("a killed edge still answers")
	}

	env.Edges[1].Stop()
	err = readUntilError(stopped)
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("socket of a stopped edge ended with %v; want going-away (1001)", err)
	}

	// A new edge serves the same installation.
	e := env.AddEdge()
	login(t, e.URL, "bob")
	if len(env.Edges) != 3 {
		t.Errorf("%d edges after AddEdge, want 3", len(env.Edges))
	}
}

func TestKillAndStartWorkers(t *testing.T) {
	env := testenv.Start(t, testenv.WithWorkers(1))
	env.Workers[0].Kill()
	env.Workers[0].Kill() // twice is fine
	w := env.StartWorker()
	if !w.NC.IsConnected() {
		t.Errorf("new worker's connection is not connected")
	}
	if len(env.Workers) != 2 {
		t.Errorf("%d workers after StartWorker, want 2", len(env.Workers))
	}
}

func readUntilError(ws *websocket.Conn) error {
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return err
		}
	}
}

func dial(t *testing.T, base, token string) *websocket.Conn {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + token}}
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/v1/ws", h)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", base, err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	// Wait for the answer to a first resume, so that the socket is served.
	if err := ws.WriteJSON(map[string]any{"type": "resume"}); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var f struct{ Type string }
		if err := ws.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for resumed: %v", err)
		}
		if f.Type == "resumed" {
			return ws
		}
	}
}

func register(t *testing.T, base, username string) string {
	t.Helper()
	return auth(t, base+"/v1/auth/register", username, http.StatusCreated)
}

func login(t *testing.T, base, username string) string {
	t.Helper()
	return auth(t, base+"/v1/auth/login", username, http.StatusOK)
}

func auth(t *testing.T, url, username string, want int) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": "password of " + username})
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s = %d %s, want %d", url, resp.StatusCode, raw, want)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.AccessToken == "" {
		t.Fatalf("POST %s: no access token in %s", url, raw)
	}
	return out.AccessToken
}
