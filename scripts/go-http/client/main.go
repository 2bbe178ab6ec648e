// Go's HTTP stack as a client of `wirestate serve`, for
// scripts/interop-go-http.sh: net/http (HTTP/1.1), x/net/http2 (h2c with
// prior knowledge) and gorilla/websocket, all from Debian's packages.
//
//	client --addr 127.0.0.1:PORT --cases h1,h2,ws|slow_h2 [--label L]
//
// One line per case, `PASS <label> <case>` or `FAIL <label> <case>: why`;
// exit 1 on any failure. The routes are those of examples/src/routes.rs:
// GET/HEAD /, POST /echo (the body streamed back), GET /stream?n=N (N lines
// `line i\n`), GET /ws (WebSocket echo), and gRPC's EmptyCall for response
// trailers over HTTP/2.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	neturl "net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/net/http2"
)

var (
	addr  = flag.String("addr", "127.0.0.1:8080", "the server, HOST:PORT")
	cases = flag.String("cases", "h1,h2,ws", "groups to run: h1, h2, ws, slow_h2")
	label = flag.String("label", "go", "prefix of every PASS/FAIL line")
)

var failed bool

// run runs one case with a deadline of its own and prints its line.
func run(name string, f func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- f(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(35 * time.Second):
		err = errors.New("hung past 35 s")
	}
	if err != nil {
		failed = true
		fmt.Printf("FAIL %s %s: %v\n", *label, name, err)
	} else {
		fmt.Printf("PASS %s %s (%.0f ms)\n", *label, name, float64(time.Since(start).Microseconds())/1000)
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// countingDialer counts the TCP connections a transport opens.
type countingDialer struct{ n atomic.Int64 }

func (d *countingDialer) dial(ctx context.Context, network, a string) (net.Conn, error) {
	d.n.Add(1)
	var nd net.Dialer
	return nd.DialContext(ctx, network, a)
}

func url(path string) string { return "http://" + *addr + path }

// do sends a request and reads its whole body.
func do(ctx context.Context, c *http.Client, method, path string, body io.Reader) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url(path), body)
	if err != nil {
		return nil, nil, err
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

func expect(res *http.Response, body []byte, status int, want []byte) error {
	if res.StatusCode != status {
		return fmt.Errorf("status %d, want %d (body %q)", res.StatusCode, status, trunc(body))
	}
	if want != nil && !bytes.Equal(body, want) {
		return fmt.Errorf("body of %d bytes differs from the %d expected (%q...)", len(body), len(want), trunc(body))
	}
	return nil
}

func trunc(b []byte) string {
	if len(b) > 60 {
		return string(b[:60])
	}
	return string(b)
}

func lines(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.Bytes()
}

// chunkedBody is a body of unknown length (so sent chunked over HTTP/1.1,
// as DATA frames without content-length over HTTP/2), written piece by
// piece from a goroutine.
func chunkedBody(pieces [][]byte) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for _, p := range pieces {
			if _, err := pw.Write(p); err != nil {
				return
			}
		}
		pw.Close()
	}()
	return pr
}

func pieces(n, size int) ([][]byte, []byte) {
	var all []byte
	var ps [][]byte
	for i := 0; i < n; i++ {
		p := random(1 + (i*7919)%size)
		ps = append(ps, p)
		all = append(all, p...)
	}
	return ps, all
}

// ---------------------------------------------------------------- HTTP/1.1

func h1Cases() {
	dialer := &countingDialer{}
	tr := &http.Transport{
		DialContext:           dialer.dial,
		ForceAttemptHTTP2:     false,
		MaxIdleConnsPerHost:   16,
		ExpectContinueTimeout: 5 * time.Second,
		DisableCompression:    true,
	}
	c := &http.Client{Transport: tr}
	run("h1_get", func(ctx context.Context) error {
		res, b, err := do(ctx, c, "GET", "/", nil)
		if err != nil {
			return err
		}
		if res.Proto != "HTTP/1.1" {
			return fmt.Errorf("proto %s", res.Proto)
		}
		return expect(res, b, 200, []byte("hello"))
	})
	run("h1_head", func(ctx context.Context) error {
		res, b, err := do(ctx, c, "HEAD", "/", nil)
		if err != nil {
			return err
		}
		if len(b) != 0 {
			return fmt.Errorf("HEAD got %d body bytes", len(b))
		}
		// The next request on the same connection must still parse.
		res2, b2, err := do(ctx, c, "GET", "/stream?n=3", nil)
		if err != nil {
			return fmt.Errorf("GET after HEAD: %v", err)
		}
		if err := expect(res2, b2, 200, lines(3)); err != nil {
			return err
		}
		return expect(res, b, 200, nil)
	})
	run("h1_not_found", func(ctx context.Context) error {
		res, b, err := do(ctx, c, "GET", "/nope", nil)
		if err != nil {
			return err
		}
		return expect(res, b, 404, nil)
	})
	run("h1_echo_small", func(ctx context.Context) error {
		res, b, err := do(ctx, c, "POST", "/echo", strings.NewReader("hello, wirestate"))
		if err != nil {
			return err
		}
		return expect(res, b, 200, []byte("hello, wirestate"))
	})
	run("h1_echo_empty", func(ctx context.Context) error {
		res, b, err := do(ctx, c, "POST", "/echo", http.NoBody)
		if err != nil {
			return err
		}
		return expect(res, b, 200, []byte{})
	})
	run("h1_echo_1mib", func(ctx context.Context) error {
		body := random(1 << 20)
		res, b, err := do(ctx, c, "POST", "/echo", bytes.NewReader(body))
		if err != nil {
			return err
		}
		return expect(res, b, 200, body)
	})
	run("h1_echo_chunked", func(ctx context.Context) error {
		ps, all := pieces(300, 9000)
		req, _ := http.NewRequestWithContext(ctx, "POST", url("/echo"), chunkedBody(ps))
		req.ContentLength = -1
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		return expect(res, b, 200, all)
	})
	run("h1_echo_chunked_trailers", func(ctx context.Context) error {
		ps, all := pieces(20, 3000)
		req, _ := http.NewRequestWithContext(ctx, "POST", url("/echo"), chunkedBody(ps))
		req.ContentLength = -1
		req.Trailer = http.Header{"X-Checksum": {"abc123"}}
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		return expect(res, b, 200, all)
	})
	run("h1_stream", func(ctx context.Context) error {
		res, b, err := do(ctx, c, "GET", "/stream?n=20000", nil)
		if err != nil {
			return err
		}
		if len(res.TransferEncoding) != 1 || res.TransferEncoding[0] != "chunked" {
			return fmt.Errorf("transfer-encoding %v, want chunked", res.TransferEncoding)
		}
		return expect(res, b, 200, lines(20000))
	})
	run("h1_head_stream", func(ctx context.Context) error {
		res, b, err := do(ctx, c, "HEAD", "/stream?n=5", nil)
		if err != nil {
			return err
		}
		if len(b) != 0 {
			return fmt.Errorf("HEAD got %d body bytes", len(b))
		}
		return expect(res, b, 200, nil)
	})
	run("h1_bad_stream_param", func(ctx context.Context) error {
		res, b, err := do(ctx, c, "GET", "/stream?n=x", nil)
		if err != nil {
			return err
		}
		return expect(res, b, 400, nil)
	})
	run("h1_keepalive_reuse", func(ctx context.Context) error {
		// A transport of its own: 300 requests one after another, a mix of
		// GET, HEAD and POST, must share one connection.
		d := &countingDialer{}
		c := &http.Client{Transport: &http.Transport{DialContext: d.dial, DisableCompression: true}}
		reused := 0
		for i := 0; i < 300; i++ {
			trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
				if info.Reused {
					reused++
				}
			}}
			tctx := httptrace.WithClientTrace(ctx, trace)
			var (
				res *http.Response
				b   []byte
				err error
			)
			switch i % 3 {
			case 0:
				res, b, err = do(tctx, c, "GET", "/", nil)
				if err == nil {
					err = expect(res, b, 200, []byte("hello"))
				}
			case 1:
				res, b, err = do(tctx, c, "HEAD", "/stream?n=4", nil)
				if err == nil {
					err = expect(res, b, 200, []byte{})
				}
			default:
				body := []byte(fmt.Sprintf("request %d", i))
				res, b, err = do(tctx, c, "POST", "/echo", bytes.NewReader(body))
				if err == nil {
					err = expect(res, b, 200, body)
				}
			}
			if err != nil {
				return fmt.Errorf("request %d: %v", i, err)
			}
		}
		if n := d.n.Load(); n != 1 || reused != 299 {
			return fmt.Errorf("%d connections, %d reused, want 1 and 299", n, reused)
		}
		return nil
	})
	run("h1_expect_100_continue", func(ctx context.Context) error {
		var got100 atomic.Bool
		trace := &httptrace.ClientTrace{Got100Continue: func() { got100.Store(true) }}
		body := random(256 << 10)
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "POST", url("/echo"), bytes.NewReader(body))
		req.Header.Set("Expect", "100-continue")
		start := time.Now()
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		if !got100.Load() {
			return errors.New("no 100 Continue before the body")
		}
		if el := time.Since(start); el > 3*time.Second {
			return fmt.Errorf("took %v: the client waited out its ExpectContinueTimeout", el)
		}
		return expect(res, b, 200, body)
	})
	run("h1_concurrent", func(ctx context.Context) error {
		// 64 requests at once over at most 8 connections.
		d := &countingDialer{}
		c := &http.Client{Transport: &http.Transport{DialContext: d.dial, MaxConnsPerHost: 8, MaxIdleConnsPerHost: 8}}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				body := random(1000 + i*997)
				res, b, err := do(ctx, c, "POST", "/echo", bytes.NewReader(body))
				if err == nil {
					err = expect(res, b, 200, body)
				}
				if err == nil && i%4 == 0 {
					res, b, err = do(ctx, c, "GET", "/stream?n=500", nil)
					if err == nil {
						err = expect(res, b, 200, lines(500))
					}
				}
				if err != nil {
					errs <- fmt.Errorf("request %d: %v", i, err)
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return err
		}
		if n := d.n.Load(); n > 8 {
			return fmt.Errorf("%d connections for MaxConnsPerHost 8", n)
		}
		return nil
	})
	run("h1_connection_close", func(ctx context.Context) error {
		// A request with Connection: close: the response ends the
		// connection, which net/http sees as EOF on its next read.
		req, _ := http.NewRequestWithContext(ctx, "GET", url("/"), nil)
		req.Close = true
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		if !res.Close {
			return errors.New("the response does not say the connection closes")
		}
		return expect(res, b, 200, []byte("hello"))
	})
	run("h1_unread_body_then_reuse", func(ctx context.Context) error {
		// POST with 1 MiB bodies to a route that reads none of it (404):
		// the server must skip the body (or close) before the next request
		// on the connection, never parse the body as a request.
		d := &countingDialer{}
		c := &http.Client{Transport: &http.Transport{DialContext: d.dial}}
		for i := 0; i < 5; i++ {
			res, b, err := do(ctx, c, "POST", "/nope", bytes.NewReader(bytes.Repeat([]byte("GET / HTTP/1.1\r\n\r\n"), (1<<20)/18)))
			if err != nil {
				return fmt.Errorf("post %d: %v", i, err)
			}
			if err := expect(res, b, 404, nil); err != nil {
				return err
			}
			res, b, err = do(ctx, c, "GET", "/", nil)
			if err != nil {
				return fmt.Errorf("get after post %d: %v", i, err)
			}
			if err := expect(res, b, 200, []byte("hello")); err != nil {
				return err
			}
		}
		fmt.Fprintf(os.Stderr, "h1_unread_body_then_reuse: %d connections for 10 requests\n", d.n.Load())
		return nil
	})
	run("h1_pipelining", func(ctx context.Context) error {
		// Three requests written at once on a raw connection: three
		// responses, in order (RFC 9112 §9.3.2).
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", *addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		reqs := "GET /stream?n=2 HTTP/1.1\r\nHost: x\r\n\r\n" +
			"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
			"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
		if _, err := io.WriteString(conn, reqs); err != nil {
			return err
		}
		br := bufio.NewReader(conn)
		for i, want := range []string{"line 0\nline 1\n", "hello", "hello"} {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				return fmt.Errorf("response %d: %v", i, err)
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				return fmt.Errorf("response %d: %v", i, err)
			}
			if string(b) != want {
				return fmt.Errorf("response %d: %q, want %q", i, b, want)
			}
		}
		return nil
	})
	run("h1_http10", func(ctx context.Context) error {
		// An HTTP/1.0 request without keep-alive: the response is
		// complete and the server closes.
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", *addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, "GET /stream?n=3 HTTP/1.0\r\n\r\n"); err != nil {
			return err
		}
		all, err := io.ReadAll(conn)
		if err != nil {
			return err
		}
		res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(all)), nil)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		if len(res.TransferEncoding) != 0 {
			return fmt.Errorf("chunked to an HTTP/1.0 client: %q", all)
		}
		return expect(res, b, 200, lines(3))
	})
	run("h1_large_headers", func(ctx context.Context) error {
		// 8 KB of headers are served; 200 KB are refused with 431 (or
		// the connection closed), not a hang.
		req, _ := http.NewRequestWithContext(ctx, "GET", url("/"), nil)
		req.Header.Set("x-big", strings.Repeat("v", 8000))
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if err := expect(res, b, 200, []byte("hello")); err != nil {
			return fmt.Errorf("8 KB: %v", err)
		}
		req, _ = http.NewRequestWithContext(ctx, "GET", url("/"), nil)
		req.Header.Set("x-big", strings.Repeat("v", 200000))
		res, err = c.Do(req)
		if err != nil {
			fmt.Fprintf(os.Stderr, "h1_large_headers: 200 KB: %v\n", err)
			return nil
		}
		res.Body.Close()
		if res.StatusCode != 431 {
			return fmt.Errorf("200 KB of headers: status %d, want 431", res.StatusCode)
		}
		return nil
	})
	run("h1_expect_100_refused", func(ctx context.Context) error {
		// Expect: 100-continue to a route that answers 404 without
		// reading: the final status comes at once (no 100, no waiting out
		// the 5 s ExpectContinueTimeout), and the next request works.
		var got100 atomic.Bool
		trace := &httptrace.ClientTrace{Got100Continue: func() { got100.Store(true) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "POST", url("/nope"), bytes.NewReader(random(1<<20)))
		req.Header.Set("Expect", "100-continue")
		start := time.Now()
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if el := time.Since(start); el > 3*time.Second {
			return fmt.Errorf("took %v", el)
		}
		if got100.Load() {
			return errors.New("100 Continue sent for a request answered 404 unread")
		}
		if err := expect(res, b, 404, nil); err != nil {
			return err
		}
		res, b, err = do(ctx, c, "GET", "/", nil)
		if err != nil {
			return err
		}
		return expect(res, b, 200, []byte("hello"))
	})
	run("h1_absolute_form", func(ctx context.Context) error {
		// A Go client told to use our server as its HTTP proxy sends the
		// absolute form (GET http://host/path), which a server MUST
		// accept (RFC 9112 §3.2.2).
		proxy, _ := neturl.Parse("http://" + *addr)
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://origin.example/echo", strings.NewReader("via absolute form"))
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		return expect(res, b, 200, []byte("via absolute form"))
	})
	run("h1_options_star_and_connect", func(ctx context.Context) error {
		// OPTIONS * and CONNECT on a raw connection: each answered with
		// a status (no hang, no crash); after OPTIONS the connection
		// still serves.
		for _, head := range []string{"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "CONNECT origin.example:443 HTTP/1.1\r\nHost: origin.example:443\r\n\r\n"} {
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", *addr)
			if err != nil {
				return err
			}
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(conn)
			if _, err := io.WriteString(conn, head); err != nil {
				conn.Close()
				return err
			}
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				conn.Close()
				return fmt.Errorf("%q: %v", strings.Fields(head)[0], err)
			}
			io.ReadAll(res.Body)
			res.Body.Close()
			fmt.Fprintf(os.Stderr, "h1_options_star_and_connect: %s -> %d\n", strings.Fields(head)[0], res.StatusCode)
			if res.StatusCode < 400 && strings.HasPrefix(head, "CONNECT") {
				conn.Close()
				return fmt.Errorf("CONNECT answered %d by a server that tunnels nothing", res.StatusCode)
			}
			if strings.HasPrefix(head, "OPTIONS") && !res.Close {
				io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					conn.Close()
					return fmt.Errorf("GET after OPTIONS *: %v", err)
				}
				b, _ := io.ReadAll(res.Body)
				if err := expect(res, b, 200, []byte("hello")); err != nil {
					conn.Close()
					return err
				}
			}
			conn.Close()
		}
		return nil
	})
	run("h1_early_close_mid_body", func(ctx context.Context) error {
		// The client hangs up in the middle of a long stream; the server
		// must go on serving others.
		cctx, cancel := context.WithCancel(ctx)
		req, _ := http.NewRequestWithContext(cctx, "GET", url("/stream?n=5000000"), nil)
		res, err := c.Do(req)
		if err != nil {
			cancel()
			return err
		}
		buf := make([]byte, 64<<10)
		if _, err := io.ReadFull(res.Body, buf); err != nil {
			cancel()
			return err
		}
		cancel()
		res.Body.Close()
		res2, b, err := do(ctx, c, "GET", "/", nil)
		if err != nil {
			return err
		}
		return expect(res2, b, 200, []byte("hello"))
	})
}

// ---------------------------------------------------------------- h2c

// h2Transport speaks HTTP/2 with prior knowledge over plain TCP, the
// documented h2c recipe for x/net/http2's Transport.
func h2Transport(d *countingDialer) *http2.Transport {
	return &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
			return d.dial(ctx, network, a)
		},
		DisableCompression: true,
	}
}

func h2Cases() {
	d := &countingDialer{}
	c := &http.Client{Transport: h2Transport(d)}
	run("h2_get", func(ctx context.Context) error {
		res, b, err := do(ctx, c, "GET", "/", nil)
		if err != nil {
			return err
		}
		if res.ProtoMajor != 2 {
			return fmt.Errorf("proto %s", res.Proto)
		}
		return expect(res, b, 200, []byte("hello"))
	})
	run("h2_head", func(ctx context.Context) error {
		res, b, err := do(ctx, c, "HEAD", "/stream?n=10", nil)
		if err != nil {
			return err
		}
		if len(b) != 0 {
			return fmt.Errorf("HEAD got %d body bytes", len(b))
		}
		return expect(res, b, 200, nil)
	})
	run("h2_echo_small", func(ctx context.Context) error {
		res, b, err := do(ctx, c, "POST", "/echo", strings.NewReader("hello over h2c"))
		if err != nil {
			return err
		}
		return expect(res, b, 200, []byte("hello over h2c"))
	})
	run("h2_download_large", func(ctx context.Context) error {
		// ~5.9 MB, far past the 64 KiB initial windows.
		res, b, err := do(ctx, c, "GET", "/stream?n=500000", nil)
		if err != nil {
			return err
		}
		return expect(res, b, 200, lines(500000))
	})
	run("h2_echo_16mib", func(ctx context.Context) error {
		// Up and back at once: the echo streams the body back as it
		// arrives, so both directions' flow control must keep moving.
		body := random(16 << 20)
		res, b, err := do(ctx, c, "POST", "/echo", bytes.NewReader(body))
		if err != nil {
			return err
		}
		return expect(res, b, 200, body)
	})
	run("h2_echo_unknown_length", func(ctx context.Context) error {
		ps, all := pieces(400, 20000)
		req, _ := http.NewRequestWithContext(ctx, "POST", url("/echo"), chunkedBody(ps))
		req.ContentLength = -1
		req.Trailer = http.Header{"X-Checksum": {"abc123"}}
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		return expect(res, b, 200, all)
	})
	run("h2_concurrent_streams", func(ctx context.Context) error {
		// 300 requests at once on one connection: more than the server's
		// SETTINGS_MAX_CONCURRENT_STREAMS (100), which x/net/http2 queues
		// with StrictMaxConcurrentStreams (by default it opens another
		// connection instead, as its doc comment says).
		d := &countingDialer{}
		t := h2Transport(d)
		t.StrictMaxConcurrentStreams = true
		c := &http.Client{Transport: t}
		var wg sync.WaitGroup
		errs := make(chan error, 300)
		for i := 0; i < 300; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				var err error
				if i%2 == 0 {
					var res *http.Response
					var b []byte
					res, b, err = do(ctx, c, "GET", fmt.Sprintf("/stream?n=%d", 100+i), nil)
					if err == nil {
						err = expect(res, b, 200, lines(100+i))
					}
				} else {
					body := random(10000 + 100*i)
					var res *http.Response
					var b []byte
					res, b, err = do(ctx, c, "POST", "/echo", bytes.NewReader(body))
					if err == nil {
						err = expect(res, b, 200, body)
					}
				}
				if err != nil {
					errs <- fmt.Errorf("stream %d: %v", i, err)
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return err
		}
		if n := d.n.Load(); n != 1 {
			return fmt.Errorf("%d connections, want 1", n)
		}
		return nil
	})
	run("h2_response_trailers", func(ctx context.Context) error {
		// A gRPC EmptyCall: the status comes in trailers (HEADERS with
		// END_STREAM after the DATA), read by net/http into res.Trailer.
		msg := []byte{0, 0, 0, 0, 0}
		req, _ := http.NewRequestWithContext(ctx, "POST", url("/grpc.testing.TestService/EmptyCall"), bytes.NewReader(msg))
		req.Header.Set("content-type", "application/grpc")
		req.Header.Set("te", "trailers")
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		if !bytes.Equal(b, msg) {
			return fmt.Errorf("body %x, want one empty message", b)
		}
		if got := res.Trailer.Get("grpc-status"); got != "0" {
			return fmt.Errorf("trailer grpc-status %q (trailers %v, headers %v)", got, res.Trailer, res.Header)
		}
		return nil
	})
	run("h2_cancel_mid_download", func(ctx context.Context) error {
		// 100 downloads cancelled mid-body (RST_STREAM CANCEL from the
		// client), one after another on one connection, as a user's
		// timeouts would; the connection must stay usable.
		d := &countingDialer{}
		c := &http.Client{Transport: h2Transport(d)}
		for i := 0; i < 100; i++ {
			cctx, cancel := context.WithCancel(ctx)
			req, _ := http.NewRequestWithContext(cctx, "GET", url("/stream?n=5000000"), nil)
			res, err := c.Do(req)
			if err != nil {
				cancel()
				return fmt.Errorf("download %d: %v", i, err)
			}
			buf := make([]byte, 32<<10)
			_, err = io.ReadFull(res.Body, buf)
			cancel()
			res.Body.Close()
			if err != nil {
				return fmt.Errorf("download %d: %v", i, err)
			}
		}
		res, b, err := do(ctx, c, "GET", "/", nil)
		if err != nil {
			return fmt.Errorf("after the cancels: %v", err)
		}
		if n := d.n.Load(); n != 1 {
			return fmt.Errorf("%d connections, want 1 (the server dropped the connection?)", n)
		}
		return expect(res, b, 200, []byte("hello"))
	})
	run("h2_cancel_mid_upload", func(ctx context.Context) error {
		// An upload cancelled before its body ends; then a request on the
		// same connection.
		d := &countingDialer{}
		c := &http.Client{Transport: h2Transport(d)}
		pr, pw := io.Pipe()
		cctx, cancel := context.WithCancel(ctx)
		req, _ := http.NewRequestWithContext(cctx, "POST", url("/echo"), pr)
		req.ContentLength = -1
		go func() {
			pw.Write(random(100 << 10))
		}()
		res, err := c.Do(req)
		if err != nil {
			cancel()
			return err
		}
		buf := make([]byte, 50<<10)
		_, err = io.ReadFull(res.Body, buf)
		cancel()
		res.Body.Close()
		pw.CloseWithError(errors.New("cancelled"))
		if err != nil {
			return err
		}
		res2, b, err := do(ctx, c, "POST", "/echo", strings.NewReader("after"))
		if err != nil {
			return err
		}
		if n := d.n.Load(); n != 1 {
			return fmt.Errorf("%d connections, want 1", n)
		}
		return expect(res2, b, 200, []byte("after"))
	})
	run("h2_large_header", func(ctx context.Context) error {
		// A 12 KB header value: HPACK past a 4 KiB table, likely across a
		// CONTINUATION with x/net/http2's 16 KiB frames.
		req, _ := http.NewRequestWithContext(ctx, "POST", url("/echo"), strings.NewReader("x"))
		req.Header.Set("x-big", strings.Repeat("v", 12000))
		for i := 0; i < 50; i++ {
			req.Header.Set(fmt.Sprintf("x-h%d", i), fmt.Sprintf("value %d", i))
		}
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		return expect(res, b, 200, []byte("x"))
	})
	run("h2_not_found", func(ctx context.Context) error {
		res, b, err := do(ctx, c, "GET", "/nope", nil)
		if err != nil {
			return err
		}
		return expect(res, b, 404, nil)
	})
	run("h2_unread_bodies_then_reuse", func(ctx context.Context) error {
		// 40 POSTs of 256 KiB to a route that reads none of it (404) on
		// one connection: the unread DATA must not use up the connection
		// window (10 MiB in all, past any window), and a GET must then
		// be answered on the same connection.
		d := &countingDialer{}
		c := &http.Client{Transport: h2Transport(d)}
		for i := 0; i < 40; i++ {
			res, b, err := do(ctx, c, "POST", "/nope", bytes.NewReader(random(256<<10)))
			if err != nil {
				return fmt.Errorf("post %d: %v", i, err)
			}
			if err := expect(res, b, 404, nil); err != nil {
				return err
			}
		}
		res, b, err := do(ctx, c, "GET", "/", nil)
		if err != nil {
			return err
		}
		if n := d.n.Load(); n != 1 {
			return fmt.Errorf("%d connections, want 1", n)
		}
		return expect(res, b, 200, []byte("hello"))
	})
	run("h2_idle_health_pings", func(ctx context.Context) error {
		// x/net/http2's health check: a PING after ReadIdleTimeout without
		// frames, here every 300 ms over 3 s of idleness; the connection
		// must survive it.
		d := &countingDialer{}
		t := h2Transport(d)
		t.ReadIdleTimeout = 300 * time.Millisecond
		t.PingTimeout = time.Second
		c := &http.Client{Transport: t}
		for i := 0; i < 2; i++ {
			res, b, err := do(ctx, c, "GET", "/", nil)
			if err != nil {
				return fmt.Errorf("request %d: %v", i, err)
			}
			if err := expect(res, b, 200, []byte("hello")); err != nil {
				return err
			}
			if i == 0 {
				time.Sleep(3 * time.Second)
			}
		}
		// Else its pings go on for the rest of the run.
		t.CloseIdleConnections()
		if n := d.n.Load(); n != 1 {
			return fmt.Errorf("%d connections, want 1 (the idle connection was closed)", n)
		}
		return nil
	})
	run("h2_hpack_table_sizes", func(ctx context.Context) error {
		// The HPACK dynamic table as the client sizes it: SETTINGS_HEADER_
		// TABLE_SIZE 1 (our encoder must not index anything) and 64 KiB,
		// each over 50 requests with repeated and changing headers both
		// ways (x/net/http2's decoder fails the connection on an entry
		// or a size update past what it announced).
		for _, size := range []uint32{1, 65536} {
			d := &countingDialer{}
			t := h2Transport(d)
			t.MaxDecoderHeaderTableSize = size
			t.MaxEncoderHeaderTableSize = size
			c := &http.Client{Transport: t}
			for i := 0; i < 50; i++ {
				req, _ := http.NewRequestWithContext(ctx, "POST", url("/echo"), strings.NewReader(fmt.Sprint(i)))
				req.Header.Set("x-same", "the same value on every request")
				// No space at either end: RFC 9113 §8.2.1 makes such a
				// value malformed (our server resets the stream; x/net/http2
				// sends it as given).
				req.Header.Set("x-changing", fmt.Sprintf("value-%d-%s", i, strings.Repeat("z", i*20)))
				res, err := c.Do(req)
				if err != nil {
					return fmt.Errorf("table %d, request %d: %v", size, i, err)
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil {
					return fmt.Errorf("table %d, request %d: %v", size, i, err)
				}
				if err := expect(res, b, 200, []byte(fmt.Sprint(i))); err != nil {
					return fmt.Errorf("table %d: %v", size, err)
				}
			}
			if n := d.n.Load(); n != 1 {
				return fmt.Errorf("table %d: %d connections, want 1", size, n)
			}
		}
		return nil
	})
	run("h2_ping", func(ctx context.Context) error {
		// A raw connection: preface, SETTINGS, then 10 PINGs each after
		// the last ACK (a keep-alive pattern): every one ACKed with its
		// data.
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", *addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
			return err
		}
		fr := http2.NewFramer(conn, conn)
		if err := fr.WriteSettings(); err != nil {
			return err
		}
		for i := 0; i < 10; i++ {
			data := [8]byte{'p', 'i', 'n', 'g', byte(i)}
			if err := fr.WritePing(false, data); err != nil {
				return err
			}
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					return fmt.Errorf("ping %d: %v", i, err)
				}
				if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
					if p.Data != data {
						return fmt.Errorf("ACK of %x, want %x", p.Data, data)
					}
					break
				}
				if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
					if err := fr.WriteSettingsAck(); err != nil {
						return err
					}
				}
				if g, ok := f.(*http2.GoAwayFrame); ok {
					return fmt.Errorf("GOAWAY %v at ping %d", g.ErrCode, i)
				}
			}
		}
		return nil
	})
	fmt.Fprintf(os.Stderr, "h2: %d connections for the shared transport\n", d.n.Load())
}

// slowH2 downloads one long stream slowly, for the graceful-shutdown
// check: the script sends serve Ctrl-C while it runs; the stream must end
// complete (the server's GOAWAY lets it finish), and a new request on the
// transport afterwards must not be sent on the old connection.
func slowH2() {
	d := &countingDialer{}
	c := &http.Client{Transport: h2Transport(d)}
	run("h2_stream_across_graceful_shutdown", func(ctx context.Context) error {
		const n = 200000
		req, _ := http.NewRequestWithContext(ctx, "GET", url(fmt.Sprintf("/stream?n=%d", n)), nil)
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		r := bufio.NewReaderSize(res.Body, 1024)
		var got bytes.Buffer
		buf := make([]byte, 4096)
		for {
			k, err := r.Read(buf)
			got.Write(buf[:k])
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("after %d bytes: %v", got.Len(), err)
			}
			// About 2 s in all: the window fills and the server waits.
			time.Sleep(time.Millisecond * 2 * time.Duration(k) / 4096)
		}
		return expect(res, got.Bytes(), 200, lines(n))
	})
}

// ---------------------------------------------------------------- WebSocket

func wsDial(ctx context.Context, compress bool) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{
		EnableCompression: compress,
		ReadBufferSize:    4096,
		WriteBufferSize:   512, // small: a long message leaves in many fragments
		HandshakeTimeout:  5 * time.Second,
	}
	return d.DialContext(ctx, "ws://"+*addr+"/ws", nil)
}

func echoOne(ws *websocket.Conn, kind int, msg []byte) error {
	if err := ws.WriteMessage(kind, msg); err != nil {
		return err
	}
	k, got, err := ws.ReadMessage()
	if err != nil {
		return err
	}
	if k != kind {
		return fmt.Errorf("message type %d, want %d", k, kind)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo of %d bytes differs from the %d sent", len(got), len(msg))
	}
	return nil
}

// closeWith sends a close frame and reads until the server's answer.
func closeWith(ws *websocket.Conn, code int, reason string) (int, error) {
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(5*time.Second)); err != nil {
		return 0, err
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

func wsCases() {
	run("ws_text_binary", func(ctx context.Context) error {
		ws, _, err := wsDial(ctx, false)
		if err != nil {
			return err
		}
		defer ws.Close()
		if err := echoOne(ws, websocket.TextMessage, []byte("héllo, wörld ☺")); err != nil {
			return err
		}
		if err := echoOne(ws, websocket.BinaryMessage, random(1000)); err != nil {
			return err
		}
		if err := echoOne(ws, websocket.TextMessage, []byte{}); err != nil {
			return fmt.Errorf("empty text: %v", err)
		}
		code, err := closeWith(ws, websocket.CloseNormalClosure, "bye")
		if err != nil {
			return err
		}
		if code != websocket.CloseNormalClosure {
			return fmt.Errorf("close answered with %d", code)
		}
		return nil
	})
	run("ws_1mib_fragmented", func(ctx context.Context) error {
		// 512-byte write buffer: gorilla sends each message as ~2,000
		// continuation frames.
		ws, _, err := wsDial(ctx, false)
		if err != nil {
			return err
		}
		defer ws.Close()
		if err := echoOne(ws, websocket.BinaryMessage, random(1<<20)); err != nil {
			return err
		}
		text := bytes.Repeat([]byte("ünïcödé text "), (1<<20)/15)
		if err := echoOne(ws, websocket.TextMessage, text); err != nil {
			return err
		}
		_, err = closeWith(ws, websocket.CloseNormalClosure, "")
		return err
	})
	run("ws_pipelined_1000", func(ctx context.Context) error {
		ws, _, err := wsDial(ctx, false)
		if err != nil {
			return err
		}
		defer ws.Close()
		go func() {
			for i := 0; i < 1000; i++ {
				if ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("message %d", i))) != nil {
					return
				}
			}
		}()
		for i := 0; i < 1000; i++ {
			_, got, err := ws.ReadMessage()
			if err != nil {
				return fmt.Errorf("message %d: %v", i, err)
			}
			if string(got) != fmt.Sprintf("message %d", i) {
				return fmt.Errorf("got %q as message %d", got, i)
			}
		}
		return nil
	})
	run("ws_ping_pong", func(ctx context.Context) error {
		ws, _, err := wsDial(ctx, false)
		if err != nil {
			return err
		}
		defer ws.Close()
		pongs := make(chan string, 10)
		ws.SetPongHandler(func(data string) error { pongs <- data; return nil })
		for i := 0; i < 3; i++ {
			if err := ws.WriteControl(websocket.PingMessage, []byte(fmt.Sprintf("ping %d", i)), time.Now().Add(time.Second)); err != nil {
				return err
			}
		}
		// The pongs are read while waiting for this echo.
		if err := echoOne(ws, websocket.TextMessage, []byte("after the pings")); err != nil {
			return err
		}
		for i := 0; i < 3; i++ {
			select {
			case p := <-pongs:
				if p != fmt.Sprintf("ping %d", i) {
					return fmt.Errorf("pong %q, want %q", p, fmt.Sprintf("ping %d", i))
				}
			default:
				return fmt.Errorf("%d pongs before the echo, want 3", i)
			}
		}
		return nil
	})
	run("ws_ping_mid_fragments", func(ctx context.Context) error {
		// A ping between two fragments of one message (RFC 6455 §5.4):
		// gorilla writes control frames while a NextWriter is open.
		ws, _, err := wsDial(ctx, false)
		if err != nil {
			return err
		}
		defer ws.Close()
		pong := make(chan string, 1)
		ws.SetPongHandler(func(data string) error { pong <- data; return nil })
		w, err := ws.NextWriter(websocket.TextMessage)
		if err != nil {
			return err
		}
		first := bytes.Repeat([]byte("a"), 2000) // past the 512-byte buffer: frames go out now
		w.Write(first)
		if err := ws.WriteControl(websocket.PingMessage, []byte("mid"), time.Now().Add(time.Second)); err != nil {
			return err
		}
		w.Write([]byte("end"))
		if err := w.Close(); err != nil {
			return err
		}
		_, got, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		if string(got) != string(first)+"end" {
			return fmt.Errorf("echo of %d bytes, want %d", len(got), len(first)+3)
		}
		select {
		case p := <-pong:
			if p != "mid" {
				return fmt.Errorf("pong %q", p)
			}
		default:
			return errors.New("no pong")
		}
		return nil
	})
	run("ws_close_code_4000", func(ctx context.Context) error {
		// RFC 6455 §5.5.1: the answering close typically echoes the code.
		ws, _, err := wsDial(ctx, false)
		if err != nil {
			return err
		}
		defer ws.Close()
		code, err := closeWith(ws, 4000, "application reason")
		if err != nil {
			return err
		}
		if code != 4000 && code != websocket.CloseNormalClosure {
			return fmt.Errorf("close answered with %d", code)
		}
		fmt.Fprintf(os.Stderr, "ws: close 4000 answered with %d\n", code)
		return nil
	})
	run("ws_invalid_utf8_is_1007", func(ctx context.Context) error {
		ws, _, err := wsDial(ctx, false)
		if err != nil {
			return err
		}
		defer ws.Close()
		if err := ws.WriteMessage(websocket.TextMessage, []byte{'o', 'k', 0xff, 0xfe}); err != nil {
			return err
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err = ws.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseInvalidFramePayloadData {
			return fmt.Errorf("got %v, want close 1007", err)
		}
		return nil
	})
	run("ws_bad_close_code_is_1002", func(ctx context.Context) error {
		// 1005 must never be sent on the wire (RFC 6455 §7.4.1). Written
		// by hand: gorilla's FormatCloseMessage turns 1005 into an empty
		// close payload.
		ws, _, err := wsDial(ctx, false)
		if err != nil {
			return err
		}
		defer ws.Close()
		if err := ws.WriteControl(websocket.CloseMessage, []byte{0x03, 0xed}, time.Now().Add(5*time.Second)); err != nil {
			return err
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		code := 0
		for {
			_, _, err := ws.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				code = ce.Code
				break
			}
			if err != nil {
				return err
			}
		}
		if code != websocket.CloseProtocolError {
			return fmt.Errorf("close answered with %d, want 1002", code)
		}
		return nil
	})
	run("ws_deflate", func(ctx context.Context) error {
		ws, res, err := wsDial(ctx, true)
		if err != nil {
			return err
		}
		defer ws.Close()
		ext := res.Header.Get("Sec-WebSocket-Extensions")
		if !strings.Contains(ext, "permessage-deflate") {
			return fmt.Errorf("permessage-deflate not accepted: %q", ext)
		}
		ws.EnableWriteCompression(true)
		for _, m := range [][]byte{
			[]byte("small"),
			bytes.Repeat([]byte("compressible text, "), 60000),
			random(1 << 20),
			{},
		} {
			// Random bytes go as binary only (as text: a 1007 close).
			if utf8ok(m) {
				if err := echoOne(ws, websocket.TextMessage, m); err != nil {
					return fmt.Errorf("text of %d: %v (extensions %q)", len(m), err, ext)
				}
			}
			if err := echoOne(ws, websocket.BinaryMessage, m); err != nil {
				return fmt.Errorf("binary of %d: %v (extensions %q)", len(m), err, ext)
			}
		}
		// And uncompressed messages on the same connection.
		ws.EnableWriteCompression(false)
		if err := echoOne(ws, websocket.TextMessage, []byte("plain")); err != nil {
			return err
		}
		_, err = closeWith(ws, websocket.CloseNormalClosure, "")
		return err
	})
	run("ws_not_an_upgrade", func(ctx context.Context) error {
		// A plain GET /ws: 4xx, not a hang.
		res, b, err := do(ctx, http.DefaultClient, "GET", "/ws", nil)
		if err != nil {
			return err
		}
		if res.StatusCode != 400 && res.StatusCode != 426 {
			return fmt.Errorf("status %d (%q)", res.StatusCode, trunc(b))
		}
		return nil
	})
}

func utf8ok(b []byte) bool { return strings.ToValidUTF8(string(b), "\ufffd") == string(b) }

func main() {
	flag.Parse()
	for _, g := range strings.Split(*cases, ",") {
		switch g {
		case "h1":
			h1Cases()
		case "h2":
			h2Cases()
		case "ws":
			wsCases()
		case "slow_h2":
			slowH2()
		default:
			fmt.Fprintf(os.Stderr, "unknown group %q\n", g)
			os.Exit(2)
		}
	}
	if failed {
		os.Exit(1)
	}
}
