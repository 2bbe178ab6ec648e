// A grpc.testing.TestService server on grpc-go, for scripts/interop-grpc-go.sh.
//
// Debian's golang-google-grpc-dev (1.33) ships grpc-go without its interop/
// directory, so this is a small server of our own on the packaged library,
// following grpc/grpc doc/interop-test-descriptions.md (server features).
//
//	server --port=PORT [--host=127.0.0.1] [--keepalive_min_time=200ms]
//
// What grpc-go 1.33 cannot do: choose response compression per call or per
// message. Its server compresses a call's responses when the request came
// compressed (with the same encoding) or when the whole server was built
// with RPCCompressor (server.go, processUnaryRPC and processStreamingRPC:
// "If cp is set, use it. Otherwise, attempt to compress the response using
// the incoming message compression method"); SetSendCompressor came in
// 1.58. So `response_compressed` and ResponseParameters.compressed are
// ignored here and the script does not run server_compressed_unary and
// server_compressed_streaming against this server (it prints SKIP for them).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // registers gzip: requests may come compressed
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"wirestate.test/interop/flagtap"
	pb "wirestate.test/interop/grpc_testing"
)

const (
	initialKey  = "x-grpc-test-echo-initial"
	trailingKey = "x-grpc-test-echo-trailing-bin"
)

type server struct {
	pb.UnimplementedTestServiceServer
}

func payload(size int32) (*pb.Payload, error) {
	if size < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "negative response size %d", size)
	}
	return &pb.Payload{Type: pb.PayloadType_COMPRESSABLE, Body: make([]byte, size)}, nil
}

// echoMetadata returns the echo headers and trailers a call asked for.
func echoMetadata(ctx context.Context) (header, trailer metadata.MD) {
	in, _ := metadata.FromIncomingContext(ctx)
	header, trailer = metadata.MD{}, metadata.MD{}
	if v := in.Get(initialKey); len(v) > 0 {
		header.Set(initialKey, v...)
	}
	if v := in.Get(trailingKey); len(v) > 0 {
		trailer.Set(trailingKey, v...)
	}
	return header, trailer
}

// checkCompressed is the CompressedRequest feature: a request whose
// expect_compressed does not match how it came fails INVALID_ARGUMENT.
func checkCompressed(ctx context.Context, expect *pb.BoolValue) error {
	flags := flagtap.From(ctx)
	var came, seen bool
	if flags != nil {
		came, seen = flags.Next()
	}
	if expect == nil {
		return nil
	}
	if !seen {
		return status.Error(codes.Internal, "the stats handler saw no request message")
	}
	if came != expect.Value {
		want := "compressed"
		if !expect.Value {
			want = "uncompressed"
		}
		return status.Errorf(codes.InvalidArgument, "expected a %s request message", want)
	}
	return nil
}

func echoStatus(s *pb.EchoStatus) error {
	if s == nil || s.Code == 0 {
		return nil
	}
	return status.Error(codes.Code(s.Code), s.Message)
}

func (server) EmptyCall(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	h, t := echoMetadata(ctx)
	if err := grpc.SetHeader(ctx, h); err != nil {
		return nil, err
	}
	grpc.SetTrailer(ctx, t)
	return &pb.Empty{}, nil
}

func (server) UnaryCall(ctx context.Context, in *pb.SimpleRequest) (*pb.SimpleResponse, error) {
	h, t := echoMetadata(ctx)
	if err := grpc.SetHeader(ctx, h); err != nil {
		return nil, err
	}
	grpc.SetTrailer(ctx, t)
	if err := checkCompressed(ctx, in.GetExpectCompressed()); err != nil {
		return nil, err
	}
	if err := echoStatus(in.GetResponseStatus()); err != nil {
		return nil, err
	}
	p, err := payload(in.GetResponseSize())
	if err != nil {
		return nil, err
	}
	return &pb.SimpleResponse{Payload: p}, nil
}

func (s server) CacheableUnaryCall(ctx context.Context, in *pb.SimpleRequest) (*pb.SimpleResponse, error) {
	return s.UnaryCall(ctx, in)
}

// sendAll answers one StreamingOutputCallRequest's response parameters.
func sendAll(ctx context.Context, params []*pb.ResponseParameters, send func(*pb.StreamingOutputCallResponse) error) error {
	for _, p := range params {
		if us := p.GetIntervalUs(); us > 0 {
			select {
			case <-time.After(time.Duration(us) * time.Microsecond):
			case <-ctx.Done():
				return status.FromContextError(ctx.Err()).Err()
			}
		}
		body, err := payload(p.GetSize())
		if err != nil {
			return err
		}
		if err := send(&pb.StreamingOutputCallResponse{Payload: body}); err != nil {
			return err
		}
	}
	return nil
}

func (server) StreamingOutputCall(in *pb.StreamingOutputCallRequest, stream pb.TestService_StreamingOutputCallServer) error {
	h, t := echoMetadata(stream.Context())
	if err := stream.SetHeader(h); err != nil {
		return err
	}
	stream.SetTrailer(t)
	if err := sendAll(stream.Context(), in.GetResponseParameters(), stream.Send); err != nil {
		return err
	}
	return echoStatus(in.GetResponseStatus())
}

func (server) StreamingInputCall(stream pb.TestService_StreamingInputCallServer) error {
	h, t := echoMetadata(stream.Context())
	if err := stream.SetHeader(h); err != nil {
		return err
	}
	stream.SetTrailer(t)
	var total int32
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&pb.StreamingInputCallResponse{AggregatedPayloadSize: total})
		}
		if err != nil {
			return err
		}
		if err := checkCompressed(stream.Context(), in.GetExpectCompressed()); err != nil {
			return err
		}
		total += int32(len(in.GetPayload().GetBody()))
	}
}

func (server) FullDuplexCall(stream pb.TestService_FullDuplexCallServer) error {
	h, t := echoMetadata(stream.Context())
	if err := stream.SetHeader(h); err != nil {
		return err
	}
	stream.SetTrailer(t)
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := echoStatus(in.GetResponseStatus()); err != nil {
			return err
		}
		if err := sendAll(stream.Context(), in.GetResponseParameters(), stream.Send); err != nil {
			return err
		}
	}
}

func (server) HalfDuplexCall(stream pb.TestService_HalfDuplexCallServer) error {
	var all []*pb.StreamingOutputCallRequest
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		all = append(all, in)
	}
	for _, in := range all {
		if err := sendAll(stream.Context(), in.GetResponseParameters(), stream.Send); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	port := flag.Int("port", 10000, "port to listen on")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	minPing := flag.Duration("keepalive_min_time", 0,
		"the keep-alive enforcement policy's MinTime, pings without calls permitted (0: grpc-go's default policy, 5 min, none without calls)")
	flag.Parse()
	lis, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*port)))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	opts := []grpc.ServerOption{grpc.StatsHandler(flagtap.Handler{})}
	if *minPing > 0 {
		opts = append(opts, grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             *minPing,
			PermitWithoutStream: true,
		}))
	}
	s := grpc.NewServer(opts...)
	pb.RegisterTestServiceServer(s, &server{})
	// SIGTERM or SIGINT: a graceful stop (GOAWAY, calls under way
	// finish), cut short after 10 s.
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		time.AfterFunc(10*time.Second, s.Stop)
		s.GracefulStop()
	}()
	fmt.Printf("grpc-go %s TestService server listening on %s\n", grpc.Version, lis.Addr())
	if err := s.Serve(lis); err != nil {
		log.Fatalf("serve: %v", err)
	}
}
