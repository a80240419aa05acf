// Package ssewire owns the two wire formats the gateway's SSE relay reads without a
// buffered reader: HTTP/1.1 chunked transfer coding (ChunkDecoder, FrameChunk) and the
// boundaries of server-sent events (Scanner, with the line rules of mcp.SSEReader). Both
// work incrementally on whatever bytes have arrived and hold nothing while a stream is idle.
//
// The relay itself stays in internal/gateway (docs/design.md says why). This package may
// import mcp.
package ssewire
