// Go's HTTP stack as a server for our clients (`wirestate http`, with and
// without --http2-prior-knowledge, and `wirestate ws`), for
// scripts/interop-go-http.sh: net/http for HTTP/1.1, x/net/http2/h2c for
// h2c with prior knowledge on the same port, gorilla/websocket for
// WebSocket, all from Debian's packages.
//
//	server --port PORT
//
// Routes:
//
//	/cl            a body with Content-Length
//	/chunked       a body in three flushed pieces (chunked over HTTP/1.1)
//	/close         HTTP/1.1: a close-delimited body (no length, then EOF)
//	/redirect      302 to /cl
//	/early-hints   a 103 Early Hints, then 200
//	/204, /304     no body (/304 with the Content-Length a 200 would have)
//	/trailers      a body, then trailers X-Checksum and X-Count
//	/big?n=BYTES   BYTES bytes: i%251 for byte i, written 32 KiB at a time
//	/echo          the request body (read whole first: net/http's HTTP/1
//	               server does not read and write at once)
//	/reject        413 without reading the request body
//	/ws            WebSocket echo (permessage-deflate offered back)
//	/ws-close      sends "closing with 4001", then closes with 4001
//	/ws-ping       pings, answers "pong seen" once the pong is back, closes 1000
//	/ws-big        one 1 MiB text message in 512-byte fragments, then close 1000
//	/ws-ext        one text message: the Sec-WebSocket-Extensions offered
//	/conns         how many TCP connections the server accepted so far
//
// What net/http and x/net/http2 log (a protocol error of our client's,
// say), and what the handlers find wrong, goes to stderr, where the
// script looks for it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

var port = flag.Int("port", 8080, "the port to listen on (127.0.0.1)")

func bigBody(w http.ResponseWriter, n int) {
	buf := make([]byte, 32<<10)
	for i := 0; i < n; {
		k := len(buf)
		if n-i < k {
			k = n - i
		}
		for j := 0; j < k; j++ {
			buf[j] = byte((i + j) % 251)
		}
		if _, err := w.Write(buf[:k]); err != nil {
			return
		}
		i += k
	}
}

var upgrader = websocket.Upgrader{
	EnableCompression: true,
	ReadBufferSize:    4096,
	WriteBufferSize:   512, // long messages leave in many fragments
}

func main() {
	flag.Parse()
	logger := log.New(os.Stderr, "go-server: ", log.LstdFlags)
	mux := http.NewServeMux()
	mux.HandleFunc("/cl", func(w http.ResponseWriter, r *http.Request) {
		body := "content-length body\n"
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for _, p := range []string{"chunk one\n", "chunk two\n", "chunk three\n"} {
			io.WriteString(w, p)
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 {
			io.WriteString(w, "close-delimited body\n")
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			logger.Printf("hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
		buf.WriteString("close-delimited ")
		buf.Flush()
		time.Sleep(20 * time.Millisecond)
		buf.WriteString("body\n")
		buf.Flush()
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/cl", http.StatusFound)
	})
	mux.HandleFunc("/early-hints", func(w http.ResponseWriter, r *http.Request) {
		// Go 1.19 sends 1xx responses written before the final one: a
		// 103 Early Hints, which the client must skip.
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "after early hints\n")
	})
	mux.HandleFunc("/204", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/304", func(w http.ResponseWriter, r *http.Request) {
		// RFC 9110 §8.6: a 304 may carry the Content-Length of the 200 it
		// stands for; no body follows.
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", "1234")
		w.WriteHeader(http.StatusNotModified)
	})
	mux.HandleFunc("/trailers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum, X-Count")
		io.WriteString(w, "body before trailers\n")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc123")
		w.Header().Set("X-Count", "1")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 {
			http.Error(w, "n", http.StatusBadRequest)
			return
		}
		if r.URL.Query().Get("length") == "1" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		bigBody(w, n)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			logger.Printf("echo: reading the body: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	mux.HandleFunc("/reject", func(w http.ResponseWriter, r *http.Request) {
		// An upload refused before its body is read: net/http answers,
		// reads at most 256 KiB more of the body and then closes the
		// connection (HTTP/1.1); x/net/http2 resets the stream.
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			logger.Printf("ws upgrade: %v", err)
			return
		}
		defer ws.Close()
		ws.EnableWriteCompression(true)
		for {
			kind, msg, err := ws.ReadMessage()
			if err != nil {
				if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
					logger.Printf("ws echo: %v", err)
				}
				return
			}
			if err := ws.WriteMessage(kind, msg); err != nil {
				logger.Printf("ws echo write: %v", err)
				return
			}
		}
	})
	mux.HandleFunc("/ws-close", func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ws.WriteMessage(websocket.TextMessage, []byte("closing with 4001"))
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "custom reason"), time.Now().Add(time.Second))
		// Until the client's answering close.
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				if !websocket.IsCloseError(err, 4001) {
					logger.Printf("ws-close: the client answered %v, want close 4001", err)
				}
				return
			}
		}
	})
	mux.HandleFunc("/ws-ping", func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		pong := make(chan string, 1)
		ws.SetPongHandler(func(data string) error { pong <- data; return nil })
		ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second))
		go func() {
			// Control frames are handled while reading.
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		select {
		case p := <-pong:
			if p == "are you there" {
				ws.WriteMessage(websocket.TextMessage, []byte("pong seen"))
			} else {
				ws.WriteMessage(websocket.TextMessage, []byte("wrong pong "+p))
			}
		case <-time.After(3 * time.Second):
			ws.WriteMessage(websocket.TextMessage, []byte("no pong"))
		}
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		time.Sleep(500 * time.Millisecond)
	})
	mux.HandleFunc("/ws-ext", func(w http.ResponseWriter, r *http.Request) {
		// What the client offered: gorilla answers any permessage-deflate
		// offer with server_no_context_takeover and
		// client_no_context_takeover, which the client must take.
		offered := r.Header.Get("Sec-WebSocket-Extensions")
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ws.WriteMessage(websocket.TextMessage, []byte("offered: "+offered))
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/ws-big", func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ws.EnableWriteCompression(true)
		msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		ws.WriteMessage(websocket.TextMessage, msg)
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "hello from go, %s\n", r.Proto)
	})
	var conns atomic.Int64
	mux.HandleFunc("/conns", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d", conns.Load())
	})
	h2s := &http2.Server{}
	srv := &http.Server{
		Addr:     "127.0.0.1:" + strconv.Itoa(*port),
		Handler:  h2c.NewHandler(mux, h2s),
		ErrorLog: logger,
		ConnState: func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				conns.Add(1)
			}
		},
	}
	logger.Fatal(srv.ListenAndServe())
}
