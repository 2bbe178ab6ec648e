// A gRPC interop client on grpc-go, for scripts/interop-grpc-go.sh.
//
// Debian's golang-google-grpc-dev (1.33) ships grpc-go without its interop/
// directory, so this is a small client of our own on the packaged library
// running the standard cases of grpc/grpc doc/interop-test-descriptions.md:
//
//	client --server_host=127.0.0.1 --server_port=PORT --test_case=all|NAME[,NAME...] [--label=L]
//
// One line per case, `PASS <label> <case>` or `FAIL <label> <case>: why`,
// then `N passed, N failed`; exit 1 on any failure.
//
// What grpc-go 1.33 cannot do, and how the cases live with it:
//   - its API shows no message's compressed flag: flagtap reads it from the
//     stats handler's sizes (see there);
//   - it compresses every message of a call or none (UseCompressor is per
//     call): client_compressed_streaming sends its second message
//     compressed too, with expect_compressed true, and says so in its PASS
//     line (the description sends it uncompressed);
//   - it announces grpc-accept-encoding only on calls it compresses
//     (internal/transport/http2_client.go, createHeaders), and a server may
//     only compress with what the client announced (gRPC's compression.md;
//     grpc-java and wirestate fall back to identity without the header). So
//     server_compressed_unary and server_compressed_streaming add
//     `grpc-accept-encoding: gzip` as call metadata, which grpc-go 1.33
//     passes through (it is not among its reserved headers), and say so.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang/protobuf/proto"
	descpb "github.com/golang/protobuf/protoc-gen-go/descriptor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding/gzip"
	_ "google.golang.org/grpc/health" // client-side health checking (healthCheckConfig)
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"wirestate.test/interop/flagtap"
	pb "wirestate.test/interop/grpc_testing"
)

const (
	initialKey    = "x-grpc-test-echo-initial"
	initialValue  = "test_initial_metadata_value"
	trailingKey   = "x-grpc-test-echo-trailing-bin"
	trailingValue = "\xab\xab\xab"
	statusMessage = "test status message"
	// Tabs, CR/LF, a BMP and a non-BMP character: percent-encoding both ways.
	specialMessage = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
	callTimeout    = 10 * time.Second
)

var (
	reqSizes  = []int{27182, 8, 1828, 45904}
	respSizes = []int{31415, 9, 2653, 58979}
)

type env struct {
	conn *grpc.ClientConn
	tc   pb.TestServiceClient
}

// dials counts the connections the main channel opened: grpc-go
// reconnects by itself after a GOAWAY or a closed connection, so a case
// that ends with more than it began with saw its connection go (the
// server gave up on it) even if every call succeeded.
var dials int64

func countingDialer(ctx context.Context, addr string) (net.Conn, error) {
	atomic.AddInt64(&dials, 1)
	return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
}

func body(n int) *pb.Payload {
	return &pb.Payload{Type: pb.PayloadType_COMPRESSABLE, Body: make([]byte, n)}
}

func call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// wantCode checks that err is a status with the code (and message, if not nil).
func wantCode(err error, code codes.Code, message *string) error {
	if err == nil {
		return fmt.Errorf("no error, want %v", code)
	}
	st, _ := status.FromError(err)
	if st.Code() != code {
		return fmt.Errorf("code %v (%q), want %v", st.Code(), st.Message(), code)
	}
	if message != nil && st.Message() != *message {
		return fmt.Errorf("message %q, want %q", st.Message(), *message)
	}
	return nil
}

func emptyUnary(e env) (string, error) {
	ctx, cancel := call()
	defer cancel()
	r, err := e.tc.EmptyCall(ctx, &pb.Empty{})
	if err != nil {
		return "", err
	}
	if r == nil {
		return "", errors.New("no response")
	}
	return "", nil
}

func largeRequest() *pb.SimpleRequest {
	return &pb.SimpleRequest{ResponseType: pb.PayloadType_COMPRESSABLE, ResponseSize: 314159, Payload: body(271828)}
}

func checkSize(r *pb.SimpleResponse, want int) error {
	if got := len(r.GetPayload().GetBody()); got != want {
		return fmt.Errorf("payload size %d, want %d", got, want)
	}
	return nil
}

func largeUnary(e env) (string, error) {
	ctx, cancel := call()
	defer cancel()
	r, err := e.tc.UnaryCall(ctx, largeRequest())
	if err != nil {
		return "", err
	}
	return "", checkSize(r, 314159)
}

func clientStreaming(e env) (string, error) {
	ctx, cancel := call()
	defer cancel()
	return "", upload(ctx, e, reqSizes, nil)
}

// recvAll reads a response stream to its end, returning the payload sizes.
func recvAll(recv func() (*pb.StreamingOutputCallResponse, error)) ([]int, error) {
	var got []int
	for {
		r, err := recv()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, len(r.GetPayload().GetBody()))
	}
}

func sameSizes(got, want []int) error {
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("sizes %v, want %v", got, want)
	}
	return nil
}

func serverStreaming(e env) (string, error) {
	ctx, cancel := call()
	defer cancel()
	req := &pb.StreamingOutputCallRequest{ResponseType: pb.PayloadType_COMPRESSABLE}
	for _, n := range respSizes {
		req.ResponseParameters = append(req.ResponseParameters, &pb.ResponseParameters{Size: int32(n)})
	}
	s, err := e.tc.StreamingOutputCall(ctx, req)
	if err != nil {
		return "", err
	}
	got, err := recvAll(s.Recv)
	if err != nil {
		return "", err
	}
	return "", sameSizes(got, respSizes)
}

// bidiRequest asks for one response of respSize bytes, carrying
// reqSize bytes of zeros.
func bidiRequest(respSize, reqSize int) *pb.StreamingOutputCallRequest {
	return &pb.StreamingOutputCallRequest{
		ResponseType:       pb.PayloadType_COMPRESSABLE,
		ResponseParameters: []*pb.ResponseParameters{{Size: int32(respSize)}},
		Payload:            body(reqSize),
	}
}

// pingPongCall runs one FullDuplexCall: for each (response size, request
// size) pair it sends a request and waits for its response, then
// half-closes and expects the end of the stream.
func pingPongCall(ctx context.Context, e env, pairs [][2]int, opts ...grpc.CallOption) error {
	s, err := e.tc.FullDuplexCall(ctx, opts...)
	if err != nil {
		return err
	}
	for i, p := range pairs {
		err := s.Send(bidiRequest(p[0], p[1]))
		if err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		r, err := s.Recv()
		if err != nil {
			return fmt.Errorf("response %d: %w", i, err)
		}
		if got := len(r.GetPayload().GetBody()); got != p[0] {
			return fmt.Errorf("response %d: size %d, want %d", i, got, p[0])
		}
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	if _, err := s.Recv(); err != io.EOF {
		return fmt.Errorf("after the last response: %v, want the end of the stream", err)
	}
	return nil
}

// upload runs one StreamingInputCall with payloads of these sizes (each
// request with expect_compressed, if not nil) and checks the aggregated
// size the server answers.
func upload(ctx context.Context, e env, sizes []int, expect *pb.BoolValue, opts ...grpc.CallOption) error {
	s, err := e.tc.StreamingInputCall(ctx, opts...)
	if err != nil {
		return err
	}
	want := 0
	for _, n := range sizes {
		want += n
		if err := s.Send(&pb.StreamingInputCallRequest{ExpectCompressed: expect, Payload: body(n)}); err != nil {
			// The call ended: CloseAndRecv says why.
			break
		}
	}
	r, err := s.CloseAndRecv()
	if err != nil {
		return err
	}
	if got := int(r.GetAggregatedPayloadSize()); got != want {
		return fmt.Errorf("aggregated %d, want %d", got, want)
	}
	return nil
}

// pingPongPairs are ping_pong's (response size, request size) pairs.
func pingPongPairs() [][2]int {
	var pairs [][2]int
	for i, n := range respSizes {
		pairs = append(pairs, [2]int{n, reqSizes[i]})
	}
	return pairs
}

func pingPong(e env) (string, error) {
	ctx, cancel := call()
	defer cancel()
	return "", pingPongCall(ctx, e, pingPongPairs())
}

func emptyStream(e env) (string, error) {
	ctx, cancel := call()
	defer cancel()
	s, err := e.tc.FullDuplexCall(ctx)
	if err != nil {
		return "", err
	}
	if err := s.CloseSend(); err != nil {
		return "", err
	}
	got, err := recvAll(s.Recv)
	if err != nil {
		return "", err
	}
	if len(got) != 0 {
		return "", fmt.Errorf("%d responses on an empty stream", len(got))
	}
	return "", nil
}

func echoStatusCases(e env, message string, streaming bool) error {
	msg := message
	st := &pb.EchoStatus{Code: 2, Message: message}
	ctx, cancel := call()
	defer cancel()
	_, err := e.tc.UnaryCall(ctx, &pb.SimpleRequest{ResponseStatus: st})
	if err := wantCode(err, codes.Unknown, &msg); err != nil {
		return fmt.Errorf("unary: %w", err)
	}
	if !streaming {
		return nil
	}
	s, err := e.tc.FullDuplexCall(ctx)
	if err != nil {
		return err
	}
	if err := s.Send(&pb.StreamingOutputCallRequest{ResponseStatus: st}); err != nil {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	_, err = recvAll(s.Recv)
	if err := wantCode(err, codes.Unknown, &msg); err != nil {
		return fmt.Errorf("full duplex: %w", err)
	}
	return nil
}

func statusCodeAndMessage(e env) (string, error) {
	return "", echoStatusCases(e, statusMessage, true)
}

func specialStatusMessage(e env) (string, error) {
	return "", echoStatusCases(e, specialMessage, false)
}

func checkEchoed(header, trailer metadata.MD) error {
	if v := header.Get(initialKey); len(v) != 1 || v[0] != initialValue {
		return fmt.Errorf("initial metadata %q: %q", initialKey, v)
	}
	if v := trailer.Get(trailingKey); len(v) != 1 || v[0] != trailingValue {
		return fmt.Errorf("trailing metadata %q: %q", trailingKey, v)
	}
	return nil
}

func customMetadata(e env) (string, error) {
	md := metadata.Pairs(initialKey, initialValue, trailingKey, trailingValue)
	ctx, cancel := call()
	defer cancel()
	ctx = metadata.NewOutgoingContext(ctx, md)
	var header, trailer metadata.MD
	r, err := e.tc.UnaryCall(ctx, largeRequest(), grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		return "", err
	}
	if err := checkSize(r, 314159); err != nil {
		return "", err
	}
	if err := checkEchoed(header, trailer); err != nil {
		return "", fmt.Errorf("unary: %w", err)
	}
	s, err := e.tc.FullDuplexCall(ctx)
	if err != nil {
		return "", err
	}
	err = s.Send(bidiRequest(314159, 271828))
	if err != nil {
		return "", err
	}
	if err := s.CloseSend(); err != nil {
		return "", err
	}
	got, err := recvAll(s.Recv)
	if err != nil {
		return "", err
	}
	if err := sameSizes(got, []int{314159}); err != nil {
		return "", err
	}
	header, err = s.Header()
	if err != nil {
		return "", err
	}
	if err := checkEchoed(header, s.Trailer()); err != nil {
		return "", fmt.Errorf("full duplex: %w", err)
	}
	return "", nil
}

func unimplementedMethod(e env) (string, error) {
	ctx, cancel := call()
	defer cancel()
	_, err := e.tc.UnimplementedCall(ctx, &pb.Empty{})
	return "", wantCode(err, codes.Unimplemented, nil)
}

func unimplementedService(e env) (string, error) {
	ctx, cancel := call()
	defer cancel()
	_, err := pb.NewUnimplementedServiceClient(e.conn).UnimplementedCall(ctx, &pb.Empty{})
	return "", wantCode(err, codes.Unimplemented, nil)
}

func timeoutOnSleepingServer(e env) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	s, err := e.tc.FullDuplexCall(ctx)
	if err != nil {
		// The deadline may pass before the stream is even open.
		return "", wantCode(err, codes.DeadlineExceeded, nil)
	}
	// Send may fail with io.EOF once the call has ended; Recv tells why.
	_ = s.Send(&pb.StreamingOutputCallRequest{Payload: body(27182)})
	_, err = s.Recv()
	return "", wantCode(err, codes.DeadlineExceeded, nil)
}

func cancelAfterBegin(e env) (string, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := e.tc.StreamingInputCall(ctx)
	if err != nil {
		cancel()
		return "", err
	}
	cancel()
	_, err = s.CloseAndRecv()
	return "", wantCode(err, codes.Canceled, nil)
}

func cancelAfterFirstResponse(e env) (string, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := e.tc.FullDuplexCall(ctx)
	if err != nil {
		return "", err
	}
	err = s.Send(bidiRequest(31415, 27182))
	if err != nil {
		return "", err
	}
	r, err := s.Recv()
	if err != nil {
		return "", err
	}
	if got := len(r.GetPayload().GetBody()); got != 31415 {
		return "", fmt.Errorf("size %d, want 31415", got)
	}
	cancel()
	_, err = s.Recv()
	return "", wantCode(err, codes.Canceled, nil)
}

func clientCompressedUnary(e env) (string, error) {
	yes, no := &pb.BoolValue{Value: true}, &pb.BoolValue{Value: false}
	ctx, cancel := call()
	defer cancel()
	// The feature probe: uncompressed, claiming compression.
	probe := largeRequest()
	probe.ExpectCompressed = yes
	_, err := e.tc.UnaryCall(ctx, probe)
	if err := wantCode(err, codes.InvalidArgument, nil); err != nil {
		return "", fmt.Errorf("probe: %w", err)
	}
	req := largeRequest()
	req.ExpectCompressed = yes
	r, err := e.tc.UnaryCall(ctx, req, grpc.UseCompressor(gzip.Name))
	if err != nil {
		return "", fmt.Errorf("compressed: %w", err)
	}
	if err := checkSize(r, 314159); err != nil {
		return "", err
	}
	req = largeRequest()
	req.ExpectCompressed = no
	r, err = e.tc.UnaryCall(ctx, req)
	if err != nil {
		return "", fmt.Errorf("uncompressed: %w", err)
	}
	return "", checkSize(r, 314159)
}

// acceptGzip announces gzip for the responses of a call that sends its
// requests uncompressed, which grpc-go 1.33 does not do by itself.
func acceptGzip(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "grpc-accept-encoding", gzip.Name)
}

const acceptGzipNote = "grpc-accept-encoding: gzip sent as metadata: grpc-go 1.33 announces it only on calls it compresses"

func serverCompressedUnary(e env) (string, error) {
	for _, compressed := range []bool{true, false} {
		ctx, cancel := call()
		ctx, flags := flagtap.With(acceptGzip(ctx))
		req := largeRequest()
		req.ResponseCompressed = &pb.BoolValue{Value: compressed}
		r, err := e.tc.UnaryCall(ctx, req)
		cancel()
		if err != nil {
			return "", fmt.Errorf("response_compressed %v: %w", compressed, err)
		}
		if err := checkSize(r, 314159); err != nil {
			return "", err
		}
		if got := flags.Take(); fmt.Sprint(got) != fmt.Sprint([]bool{compressed}) {
			return "", fmt.Errorf("response_compressed %v: compressed flags %v", compressed, got)
		}
	}
	return acceptGzipNote, nil
}

func clientCompressedStreaming(e env) (string, error) {
	yes := &pb.BoolValue{Value: true}
	ctx, cancel := call()
	defer cancel()
	// The feature probe: uncompressed, claiming compression.
	s, err := e.tc.StreamingInputCall(ctx)
	if err != nil {
		return "", err
	}
	// Send may see io.EOF if the server has already failed the call.
	_ = s.Send(&pb.StreamingInputCallRequest{ExpectCompressed: yes, Payload: body(27182)})
	_, err = s.CloseAndRecv()
	if err := wantCode(err, codes.InvalidArgument, nil); err != nil {
		return "", fmt.Errorf("probe: %w", err)
	}
	if err := upload(ctx, e, []int{27182, 45904}, yes, grpc.UseCompressor(gzip.Name)); err != nil {
		return "", err
	}
	return "second message compressed too: grpc-go 1.33 compresses a whole call or nothing", nil
}

func serverCompressedStreaming(e env) (string, error) {
	ctx, cancel := call()
	defer cancel()
	ctx, flags := flagtap.With(acceptGzip(ctx))
	req := &pb.StreamingOutputCallRequest{ResponseParameters: []*pb.ResponseParameters{
		{Size: 31415, Compressed: &pb.BoolValue{Value: true}},
		{Size: 92653, Compressed: &pb.BoolValue{Value: false}},
	}}
	s, err := e.tc.StreamingOutputCall(ctx, req)
	if err != nil {
		return "", err
	}
	got, err := recvAll(s.Recv)
	if err != nil {
		return "", err
	}
	if err := sameSizes(got, []int{31415, 92653}); err != nil {
		return "", err
	}
	if f := flags.Take(); fmt.Sprint(f) != fmt.Sprint([]bool{true, false}) {
		return "", fmt.Errorf("compressed flags %v, want [true false]", f)
	}
	return acceptGzipNote, nil
}

// --- Not standard cases: what grpc-go does by default that the 18 do not
// reach. Run by name or with --test_case=extras.

// serverSideDeadline: a response the server delays for 2 s must not
// outlive the call's 50 ms deadline.
func serverSideDeadline(e env) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s, err := e.tc.StreamingOutputCall(ctx, &pb.StreamingOutputCallRequest{
		ResponseParameters: []*pb.ResponseParameters{{Size: 1, IntervalUs: 2000000}},
	})
	if err != nil {
		return "", wantCode(err, codes.DeadlineExceeded, nil)
	}
	_, err = recvAll(s.Recv)
	return "", wantCode(err, codes.DeadlineExceeded, nil)
}

// concurrentLargeUnary: large_unary 200 times at once on one connection
// (the description's concurrent_large_unary, at a fifth of its count):
// flow control and stream limits under load, grpc-go's BDP pings and
// window growth included.
func concurrentLargeUnary(e env) (string, error) {
	const n = 200
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			r, err := e.tc.UnaryCall(ctx, largeRequest())
			if err == nil {
				err = checkSize(r, 314159)
			}
			errs <- err
		}()
	}
	var first error
	failed := 0
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if first != nil {
		return "", fmt.Errorf("%d of %d failed, first: %w", failed, n, first)
	}
	return "", nil
}

// compressedCalls: unary, both streaming directions and bidi with every
// request gzip-compressed, empty messages included (gzip of nothing).
func compressedCalls(e env) (string, error) {
	gz := grpc.UseCompressor(gzip.Name)
	ctx, cancel := call()
	defer cancel()
	if _, err := e.tc.EmptyCall(ctx, &pb.Empty{}, gz); err != nil {
		return "", fmt.Errorf("empty: %w", err)
	}
	r, err := e.tc.UnaryCall(ctx, largeRequest(), gz)
	if err != nil {
		return "", fmt.Errorf("unary: %w", err)
	}
	if err := checkSize(r, 314159); err != nil {
		return "", err
	}
	if err := upload(ctx, e, reqSizes, nil, gz); err != nil {
		return "", fmt.Errorf("client streaming: %w", err)
	}
	if err := pingPongCall(ctx, e, pingPongPairs(), gz); err != nil {
		return "", fmt.Errorf("bidi: %w", err)
	}
	st := &pb.EchoStatus{Code: 2, Message: statusMessage}
	msg := statusMessage
	_, err = e.tc.UnaryCall(ctx, &pb.SimpleRequest{ResponseStatus: st}, gz)
	return "", wantCode(err, codes.Unknown, &msg)
}

// largeMetadata: a 20 KiB initial-metadata value and a 20 KiB binary
// trailer, echoed: header blocks past one 16 KiB frame, so CONTINUATION
// frames both ways (the request head, 47 KiB, stays under the 64 KiB
// SETTINGS_MAX_HEADER_LIST_SIZE our servers announce).
func largeMetadata(e env) (string, error) {
	big := strings.Repeat("x", 20<<10)
	bigBin := strings.Repeat("\xab\x00\xff", 20<<10/3)
	ctx, cancel := call()
	defer cancel()
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs(initialKey, big, trailingKey, bigBin))
	var header, trailer metadata.MD
	if _, err := e.tc.UnaryCall(ctx, &pb.SimpleRequest{ResponseSize: 10}, grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
		return "", err
	}
	if v := header.Get(initialKey); len(v) != 1 || v[0] != big {
		return "", fmt.Errorf("initial metadata: %d values, lengths %v", len(v), lengths(v))
	}
	if v := trailer.Get(trailingKey); len(v) != 1 || v[0] != bigBin {
		return "", fmt.Errorf("trailing metadata: %d values, lengths %v", len(v), lengths(v))
	}
	return "", nil
}

func lengths(v []string) []int {
	out := make([]int, len(v))
	for i, s := range v {
		out[i] = len(s)
	}
	return out
}

// oversizedRequest: a 5 MiB request to a server with the usual 4 MiB
// limit fails RESOURCE_EXHAUSTED, and the connection stays usable.
func oversizedRequest(e env) (string, error) {
	ctx, cancel := call()
	defer cancel()
	_, err := e.tc.UnaryCall(ctx, &pb.SimpleRequest{ResponseSize: 1, Payload: body(5 << 20)})
	if err := wantCode(err, codes.ResourceExhausted, nil); err != nil {
		return "", err
	}
	if _, err := e.tc.EmptyCall(ctx, &pb.Empty{}); err != nil {
		return "", fmt.Errorf("the next call: %w", err)
	}
	return "", nil
}

// nearLimitMessages: 4,000,000 bytes each way in one unary call, just
// under the usual 4 MiB message limit: one message across many DATA
// frames and window updates.
func nearLimitMessages(e env) (string, error) {
	const n = 4000000
	ctx, cancel := call()
	defer cancel()
	r, err := e.tc.UnaryCall(ctx, &pb.SimpleRequest{ResponseSize: n, Payload: body(n)})
	if err != nil {
		return "", err
	}
	return "", checkSize(r, n)
}

// longDownload: 2,000 responses of 32 KiB on one call (64 MiB): grpc-go's
// client sends a BDP ping with every burst of data it gets and grows its
// windows, which a server's PING and WINDOW_UPDATE flood limits must
// allow.
func longDownload(e env) (string, error) {
	const n, size = 2000, 32 << 10
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := &pb.StreamingOutputCallRequest{}
	for i := 0; i < n; i++ {
		req.ResponseParameters = append(req.ResponseParameters, &pb.ResponseParameters{Size: size})
	}
	s, err := e.tc.StreamingOutputCall(ctx, req)
	if err != nil {
		return "", err
	}
	got, err := recvAll(s.Recv)
	if err != nil {
		return "", fmt.Errorf("after %d responses: %w", len(got), err)
	}
	if len(got) != n {
		return "", fmt.Errorf("%d responses, want %d", len(got), n)
	}
	return "", nil
}

// longUpload: 2,000 requests of 32 KiB on one call (64 MiB).
func longUpload(e env) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sizes := make([]int, 2000)
	for i := range sizes {
		sizes[i] = 32 << 10
	}
	return "", upload(ctx, e, sizes, nil)
}

// longPingPong: 1,000 round trips on one bidi call.
func longPingPong(e env) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pairs := make([][2]int, 1000)
	for i := range pairs {
		pairs[i] = [2]int{100, 100}
	}
	return "", pingPongCall(ctx, e, pairs)
}

// manyCancels: 300 calls cancelled after their first response, one after
// another on one connection (an application timing calls out), then a
// call that must still work on the same connection (main checks that no
// new connection was opened).
func manyCancels(e env) (string, error) {
	for i := 0; i < 300; i++ {
		if _, err := cancelAfterFirstResponse(e); err != nil {
			return "", fmt.Errorf("call %d: %w", i, err)
		}
	}
	ctx, cancel := call()
	defer cancel()
	if _, err := e.tc.EmptyCall(ctx, &pb.Empty{}); err != nil {
		return "", fmt.Errorf("the call after: %w", err)
	}
	return "", nil
}

// slowStream: five responses 200 ms apart, all of them and OK. The script
// shuts the server down gracefully while it runs: the call must finish.
func slowStream(e env) (string, error) {
	ctx, cancel := call()
	defer cancel()
	req := &pb.StreamingOutputCallRequest{}
	for i := 0; i < 5; i++ {
		req.ResponseParameters = append(req.ResponseParameters, &pb.ResponseParameters{Size: 1000, IntervalUs: 200000})
	}
	s, err := e.tc.StreamingOutputCall(ctx, req)
	if err != nil {
		return "", err
	}
	got, err := recvAll(s.Recv)
	if err != nil {
		return "", fmt.Errorf("after %d responses: %w", len(got), err)
	}
	return "", sameSizes(got, []int{1000, 1000, 1000, 1000, 1000})
}

// health: grpc.health.v1 through grpc-go's own health stubs: Check and
// Watch for the server, a service it has and one it has not; then a
// channel with grpc-go's client-side health checking (service config
// healthCheckConfig, round_robin), which keeps a Watch open on the
// connection and is READY only while it says SERVING.
func health(e env) (string, error) {
	h := healthpb.NewHealthClient(e.conn)
	ctx, cancel := call()
	defer cancel()
	for _, svc := range []string{"", "grpc.testing.TestService"} {
		r, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			return "", fmt.Errorf("Check %q: %w", svc, err)
		}
		if r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return "", fmt.Errorf("Check %q: %v", svc, r.GetStatus())
		}
	}
	_, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	if err := wantCode(err, codes.NotFound, nil); err != nil {
		return "", fmt.Errorf("Check of an unknown service: %w", err)
	}
	for svc, want := range map[string]healthpb.HealthCheckResponse_ServingStatus{
		"":                healthpb.HealthCheckResponse_SERVING,
		"no.such.Service": healthpb.HealthCheckResponse_SERVICE_UNKNOWN,
	} {
		wctx, wcancel := context.WithCancel(ctx)
		w, err := h.Watch(wctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			wcancel()
			return "", fmt.Errorf("Watch %q: %w", svc, err)
		}
		r, err := w.Recv()
		wcancel()
		if err != nil {
			return "", fmt.Errorf("Watch %q: %w", svc, err)
		}
		if r.GetStatus() != want {
			return "", fmt.Errorf("Watch %q: %v, want %v", svc, r.GetStatus(), want)
		}
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	conn, err := grpc.DialContext(dctx, e.conn.Target(), grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}}`))
	if err != nil {
		return "", fmt.Errorf("a channel with client-side health checking: %w", err)
	}
	defer conn.Close()
	// WaitForReady: the call waits until the health Watch said SERVING.
	if _, err := pb.NewTestServiceClient(conn).EmptyCall(dctx, &pb.Empty{}, grpc.WaitForReady(true)); err != nil {
		return "", fmt.Errorf("a call on a health-checked channel: %w", err)
	}
	return "", nil
}

// reflection: grpc.reflection.v1alpha (what grpc-go 1.33 and the tools
// built on it, grpcurl among them, speak) through grpc-go's generated
// stubs: the service list, the file that defines TestService (parsed as
// a FileDescriptorProto), NOT_FOUND for a symbol the server does not
// have, all on one stream.
func reflection(e env) (string, error) {
	ctx, cancel := call()
	defer cancel()
	st, err := rpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctx)
	if err != nil {
		return "", err
	}
	ask := func(req *rpb.ServerReflectionRequest) (*rpb.ServerReflectionResponse, error) {
		if err := st.Send(req); err != nil {
			return nil, err
		}
		return st.Recv()
	}
	r, err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{ListServices: "*"}})
	if err != nil {
		return "", fmt.Errorf("list: %w", err)
	}
	listed := map[string]bool{}
	for _, svc := range r.GetListServicesResponse().GetService() {
		listed[svc.GetName()] = true
	}
	for _, want := range []string{"grpc.testing.TestService", "grpc.health.v1.Health"} {
		if !listed[want] {
			return "", fmt.Errorf("list: no %s in %v", want, listed)
		}
	}
	r, err = ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "grpc.testing.TestService"}})
	if err != nil {
		return "", fmt.Errorf("file containing TestService: %w", err)
	}
	found := false
	for _, b := range r.GetFileDescriptorResponse().GetFileDescriptorProto() {
		var fd descpb.FileDescriptorProto
		if err := proto.Unmarshal(b, &fd); err != nil {
			return "", fmt.Errorf("a file descriptor: %w", err)
		}
		for _, svc := range fd.GetService() {
			if fd.GetPackage() == "grpc.testing" && svc.GetName() == "TestService" && len(svc.GetMethod()) >= 6 {
				found = true
			}
		}
	}
	if !found {
		return "", fmt.Errorf("no file with grpc.testing.TestService among %d", len(r.GetFileDescriptorResponse().GetFileDescriptorProto()))
	}
	r, err = ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "no.such.Symbol"}})
	if err != nil {
		return "", fmt.Errorf("an unknown symbol: %w", err)
	}
	if c := codes.Code(r.GetErrorResponse().GetErrorCode()); c != codes.NotFound {
		return "", fmt.Errorf("an unknown symbol: error code %v, want NotFound", c)
	}
	if err := st.CloseSend(); err != nil {
		return "", err
	}
	if _, err := st.Recv(); err != io.EOF {
		return "", fmt.Errorf("after half-close: %v, want the end of the stream", err)
	}
	return "", nil
}

// testCase is a named case: its PASS note (if any) or why it failed.
type testCase struct {
	name string
	run  func(env) (string, error)
}

var cases = []testCase{
	{"empty_unary", emptyUnary},
	{"large_unary", largeUnary},
	{"client_streaming", clientStreaming},
	{"server_streaming", serverStreaming},
	{"ping_pong", pingPong},
	{"empty_stream", emptyStream},
	{"status_code_and_message", statusCodeAndMessage},
	{"special_status_message", specialStatusMessage},
	{"custom_metadata", customMetadata},
	{"unimplemented_method", unimplementedMethod},
	{"unimplemented_service", unimplementedService},
	{"timeout_on_sleeping_server", timeoutOnSleepingServer},
	{"cancel_after_begin", cancelAfterBegin},
	{"cancel_after_first_response", cancelAfterFirstResponse},
	{"client_compressed_unary", clientCompressedUnary},
	{"server_compressed_unary", serverCompressedUnary},
	{"client_compressed_streaming", clientCompressedStreaming},
	{"server_compressed_streaming", serverCompressedStreaming},
}

var extraCases = []testCase{
	{"server_side_deadline", serverSideDeadline},
	{"concurrent_large_unary", concurrentLargeUnary},
	{"compressed_calls", compressedCalls},
	{"large_metadata", largeMetadata},
	{"oversized_request", oversizedRequest},
	{"near_limit_messages", nearLimitMessages},
	{"long_download", longDownload},
	{"long_upload", longUpload},
	{"long_ping_pong", longPingPong},
	{"many_cancels", manyCancels},
}

// orchestrated are cases the script runs by name, around something it
// does to the server meanwhile or against the servers that have what
// they need (health, reflection: wirestate serve).
var orchestrated = []testCase{
	{"slow_stream", slowStream},
	{"health", health},
	{"reflection", reflection},
}

func main() {
	host := flag.String("server_host", "127.0.0.1", "server host")
	port := flag.Int("server_port", 10000, "server port")
	testCase := flag.String("test_case", "all", "a case, a comma-separated list, all (the 18 standard cases) or extras (the others)")
	label := flag.String("label", "", "a label printed after PASS/FAIL")
	useTLS := flag.Bool("use_tls", false, "TLS (not supported: plaintext h2c only)")
	window := flag.Int("initial_window_size", 0,
		"static stream and connection windows in bytes, which turns grpc-go's BDP estimation off (0: grpc-go's default, 64 KiB growing with BDP)")
	flag.Parse()
	if *useTLS {
		fmt.Fprintln(os.Stderr, "client: --use_tls is not supported (plaintext only)")
		os.Exit(2)
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*testCase, ",") {
		want[strings.TrimSpace(n)] = true
	}
	all := append(cases[:len(cases):len(cases)], extraCases...)
	all = append(all, orchestrated...)
	known := map[string]bool{}
	for _, c := range all {
		known[c.name] = true
	}
	for n := range want {
		if n != "all" && n != "extras" && !known[n] {
			fmt.Fprintf(os.Stderr, "client: unknown test case %q\n", n)
			os.Exit(2)
		}
	}
	prefix := ""
	if *label != "" {
		prefix = *label + " "
	}

	addr := net.JoinHostPort(*host, fmt.Sprint(*port))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	dialOpts := []grpc.DialOption{grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithStatsHandler(flagtap.Handler{}), grpc.WithContextDialer(countingDialer)}
	if *window > 0 {
		dialOpts = append(dialOpts, grpc.WithInitialWindowSize(int32(*window)),
			grpc.WithInitialConnWindowSize(int32(*window)))
	}
	conn, err := grpc.DialContext(ctx, addr, dialOpts...)
	cancel()
	if err != nil {
		fmt.Printf("FAIL %sconnect: %v\n0 passed, 1 failed\n", prefix, err)
		os.Exit(1)
	}
	defer conn.Close()
	e := env{conn: conn, tc: pb.NewTestServiceClient(conn)}

	passed, failed := 0, 0
	for i, c := range all {
		standard, extra := i < len(cases), i >= len(cases) && i < len(cases)+len(extraCases)
		if !want[c.name] && !(standard && want["all"]) && !(extra && want["extras"]) {
			continue
		}
		before := atomic.LoadInt64(&dials)
		note, err := c.run(e)
		if n := atomic.LoadInt64(&dials) - before; err == nil && n > 0 && (standard || extra) {
			err = fmt.Errorf("the connection was replaced %d time(s) (GOAWAY or close) while the calls succeeded", n)
		}
		if err != nil {
			failed++
			fmt.Printf("FAIL %s%s: %v\n", prefix, c.name, err)
			continue
		}
		passed++
		if note != "" {
			fmt.Printf("PASS %s%s (%s)\n", prefix, c.name, note)
		} else {
			fmt.Printf("PASS %s%s\n", prefix, c.name)
		}
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
