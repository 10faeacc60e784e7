// Command rdpeer is the Go side of clusternet-tunnel's interoperability tests: a hub or an
// agent built on github.com/rancher/remotedialer v0.3.0, the library Go Clusternet uses on both
// ends. It is driven by tunnel/tests/interop.rs and is not part of any product binary.
//
//	rdpeer hub -echo ADDR -slow ADDR -closed ADDR -denied ADDR
//	    serves /connect/<id> (Bearer interop-token), prints "LISTEN <addr>", waits for the
//	    agent "cluster-1", runs its checks through the tunnel, prints "OK" (or "FAIL: ...").
//	rdpeer agent -url ws://.../<id> -token T
//	    connects like Clusternet's agent (allow every address) and serves until the hub closes.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rancher/remotedialer"
	"github.com/sirupsen/logrus"
)

const token = "interop-token"
const clusterID = "cluster-1"

func main() {
	logrus.SetOutput(os.Stderr)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rdpeer hub|agent ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "hub":
		err = hub(os.Args[2:])
	case "agent":
		err = agent(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("OK")
}

func agent(args []string) error {
	fs := flag.NewFlagSet("agent", flag.ExitOnError)
	url := fs.String("url", "", "websocket URL")
	tok := fs.String("token", token, "bearer token")
	_ = fs.Parse(args)
	headers := http.Header{}
	headers.Set("Authorization", "Bearer "+*tok)
	// As clusternet's socket controller: allow every proto/address, no onConnect.
	return remotedialer.ConnectToProxy(context.Background(), *url, headers,
		func(string, string) bool { return true }, nil, nil)
}

func hub(args []string) error {
	fs := flag.NewFlagSet("hub", flag.ExitOnError)
	echo := fs.String("echo", "", "echo server address (reached through the agent)")
	slow := fs.String("slow", "", "server that sends 16 MiB as soon as it is connected")
	closed := fs.String("closed", "", "address nobody listens on")
	denied := fs.String("denied", "", "address the agent's policy refuses")
	_ = fs.Parse(args)

	authorizer := func(req *http.Request) (string, bool, error) {
		id := strings.TrimPrefix(req.URL.Path, "/connect/")
		return id, req.Header.Get("Authorization") == "Bearer "+token, nil
	}
	server := remotedialer.New(authorizer, remotedialer.DefaultErrorWriter)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(ln, server)
	fmt.Printf("LISTEN %s\n", ln.Addr())

	deadline := time.Now().Add(30 * time.Second)
	for !server.HasSession(clusterID) {
		if time.Now().After(deadline) {
			return fmt.Errorf("agent never connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	dial := server.Dialer(clusterID)
	ctx := context.Background()

	// 1. Many concurrent echo streams.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := echoRoundTrip(ctx, dial, *echo, 1000+i*30011, int64(i)); err != nil {
				errs <- fmt.Errorf("echo stream %d: %w", i, err)
			}
		}(i)
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}

	// 2. Bulk both ways on one stream.
	if err := echoRoundTrip(ctx, dial, *echo, 32<<20, 99); err != nil {
		return fmt.Errorf("bulk: %w", err)
	}

	// 3. A stream we do not read fills our 2 MiB buffer, so remotedialer sends Pause to the
	// agent; another stream must still work meanwhile. Then read it all.
	slowConn, err := dial(ctx, "tcp", *slow)
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	if err := echoRoundTrip(ctx, dial, *echo, 1<<20, 7); err != nil {
		return fmt.Errorf("echo while another stream is paused: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, slowConn)
	if err != nil {
		return fmt.Errorf("slow stream: %w", err)
	}
	slowConn.Close()
	want := sha256.Sum256(pattern(16<<20, 42))
	if n != 16<<20 || !bytes.Equal(h.Sum(nil), want[:]) {
		return fmt.Errorf("slow stream: got %d bytes, checksum mismatch=%v", n, !bytes.Equal(h.Sum(nil), want[:]))
	}

	// 4. Dial errors come back as the stream's error.
	c, err := dial(ctx, "tcp", *closed)
	if err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 1))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		return fmt.Errorf("closed port: want a refused error, got %v", err)
	}
	c.Close()
	c, err = dial(ctx, "tcp", *denied)
	if err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 1))
	if err == nil || err.Error() != "connect not allowed" {
		return fmt.Errorf("denied address: want 'connect not allowed', got %v", err)
	}
	c.Close()

	// 5. The session survived all of that.
	if err := echoRoundTrip(ctx, dial, *echo, 4096, 5); err != nil {
		return fmt.Errorf("after errors: %w", err)
	}
	return nil
}

// pattern is the byte stream the Rust side's "slow" server sends.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func echoRoundTrip(ctx context.Context, dial remotedialer.Dialer, addr string, size int, seed int64) error {
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	payload := make([]byte, size)
	rand.New(rand.NewSource(seed)).Read(payload)
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(payload)
		werr <- err
	}()
	got := make([]byte, size)
	if _, err := io.ReadFull(conn, got); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("echo mismatch")
	}
	return nil
}
