package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// child is a child process of the harness: it got its job as the first
// JSON line of its stdin, and answers with JSON lines on its stdout.
type child struct {
	role  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan []byte   // stdout lines; closed at EOF
	done  chan struct{} // closed when the process has exited
	mu    sync.Mutex    // serializes writes to stdin
	once  sync.Once
}

// startChild re-executes this binary as role with job.
func startChild(role string, job any) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "--role", role)
	// The child dies with the harness, whatever kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: false}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", role, err)
	}
	c := &child{role: role, cmd: cmd, stdin: stdin, lines: make(chan []byte, 64), done: make(chan struct{})}
	go func() {
		defer close(c.lines)
		r := bufio.NewReaderSize(stdout, 1<<16)
		for {
			b, err := r.ReadBytes('\n')
			if len(b) > 0 {
				c.lines <- b
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		cmd.Wait()
		close(c.done)
	}()
	if err := c.send(job); err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// send writes v as one JSON line to the child's stdin.
func (c *child) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("%s: write: %w", c.role, err)
	}
	return nil
}

// recv reads the child's next line into v.
func (c *child) recv(ctx context.Context, v any) error {
	select {
	case b, ok := <-c.lines:
		if !ok {
			<-c.done
			return fmt.Errorf("%s (pid %d) exited: %v", c.role, c.cmd.Process.Pid, c.cmd.ProcessState)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%s: bad line %q: %w", c.role, b, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop closes the child's stdin, which asks it to stop, and kills it if it
// has not exited within timeout.
func (c *child) stop(timeout time.Duration) {
	c.once.Do(func() {
		c.mu.Lock()
		c.stdin.Close()
		c.mu.Unlock()
		select {
		case <-c.done:
		case <-time.After(timeout):
			c.kill()
		}
	})
}

func (c *child) kill() {
	c.cmd.Process.Kill()
	<-c.done
}

// childIO is a child's side of the pipe: the job, then commands, on stdin;
// answers on stdout.
type childIO struct {
	in  *bufio.Reader
	mu  sync.Mutex
	out *json.Encoder
}

func newChildIO() *childIO {
	return &childIO{in: bufio.NewReaderSize(os.Stdin, 1<<20), out: json.NewEncoder(os.Stdout)}
}

// read reads the next JSON line of stdin into v; io.EOF when the harness
// closed it.
func (c *childIO) read(v any) error {
	b, err := c.in.ReadBytes('\n')
	if len(b) == 0 && err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("bad line: %w", err)
	}
	return nil
}

func (c *childIO) write(v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.Encode(v)
}

// runChild runs a child role and returns the exit code.
func runChild(role string) int {
	cio := newChildIO()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var err error
	switch role {
	case "server":
		err = runServer(ctx, cio)
	case "edge":
		err = runEdgeChild(ctx, cio)
	case "clients":
		err = runClientsChild(ctx, cio)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "bench %s (pid %d): %v\n", role, os.Getpid(), err)
		return 1
	}
	return 0
}

// command is a line the harness sends a child after its job.
type command struct {
	Cmd  string `json:"cmd"`
	File string `json:"file,omitempty"`
}
