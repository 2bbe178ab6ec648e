// Package flagtap tells whether each gRPC message a call received came
// compressed, for the interop compression cases.
//
// grpc-go (1.33, Debian's golang-google-grpc-dev) decompresses before the
// application sees a message and has no API for the compressed flag. Its
// stats handler does see both sizes of every received message: Length (the
// message as decoded) and WireLength (what crossed the wire, the 5-byte
// prefix included). An uncompressed message has WireLength == Length+5
// exactly; a compressed one differs, since the interop payloads are runs of
// zeros that gzip shrinks to a few dozen bytes. The flags are kept per call:
// the handler stores a Calls value in the call's context (TagRPC), the
// application reads it back from the same context.
package flagtap

import (
	"context"
	"sync"

	"google.golang.org/grpc/stats"
)

// prefixLen is the gRPC message prefix: compressed flag + 4-byte length.
const prefixLen = 5

type key struct{}

// Flags holds one call's received messages' compressed flags, in order.
type Flags struct {
	mu    sync.Mutex
	flags []bool
}

// Take returns the flags noted so far and forgets them.
func (f *Flags) Take() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.flags
	f.flags = nil
	return out
}

// Next returns the oldest noted flag; ok is false if none is left.
func (f *Flags) Next() (compressed, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.flags) == 0 {
		return false, false
	}
	compressed = f.flags[0]
	f.flags = f.flags[1:]
	return compressed, true
}

// With returns a context carrying a fresh Flags (for a client call: pass
// the context to the call, then read the Flags).
func With(ctx context.Context) (context.Context, *Flags) {
	if f := From(ctx); f != nil {
		return ctx, f
	}
	f := &Flags{}
	return context.WithValue(ctx, key{}, f), f
}

// From returns the Flags a context carries, or nil.
func From(ctx context.Context) *Flags {
	f, _ := ctx.Value(key{}).(*Flags)
	return f
}

// Handler is the grpc stats.Handler that fills each call's Flags.
type Handler struct{}

// TagRPC gives a server call its Flags (a client call brings its own
// through With).
func (Handler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	ctx, _ = With(ctx)
	return ctx
}

// HandleRPC notes the compressed flag of every received message.
func (Handler) HandleRPC(ctx context.Context, s stats.RPCStats) {
	in, ok := s.(*stats.InPayload)
	if !ok {
		return
	}
	if f := From(ctx); f != nil {
		f.mu.Lock()
		f.flags = append(f.flags, in.WireLength != in.Length+prefixLen)
		f.mu.Unlock()
	}
}

// TagConn is not used.
func (Handler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

// HandleConn is not used.
func (Handler) HandleConn(context.Context, stats.ConnStats) {}
