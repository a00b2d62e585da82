import AsyncHTTPClient
import NIOCore
import Synchronization
import TollgateMCP

/// The event streams (`GET` of the MCP endpoint) open through the gateway to an HTTP MCP server, and their bound.
///
/// A stream lasts as long as the server keeps it open, and over HTTP/1.1 it holds a connection all that time. Streams
/// therefore go through a client of their own (`HTTPClient.mcpEventStreams`), never through the one tool calls use:
/// that client opens a bounded number of connections to a server (64), and as many open streams would hold every paid
/// call until one of them ended. At most `limit` streams are open at once; past it a caller is answered 503, so a flood
/// of `GET`s holds a bounded number of connections and never the tool calls'.
public final class MCPEventStreams: Sendable {
    /// The client streams go through.
    public let client: HTTPClient
    /// How many may be open at once (`mcp.upstream.max_event_streams`).
    public let limit: Int
    private let count = Atomic<Int>(0)

    public init(client: HTTPClient = .mcpEventStreams, limit: Int) {
        self.client = client
        self.limit = limit
    }

    /// The streams open now.
    public var open: Int { count.load(ordering: .relaxed) }

    /// A place for one stream, given back when the place is released (`Body`); nil when `limit` streams are open.
    func take() -> Place? {
        guard count.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
            count.wrappingSubtract(1, ordering: .relaxed)
            return nil
        }
        return Place(self)
    }

    /// One open stream's share of the bound, held by its answer's body.
    final class Place: Sendable {
        private let streams: MCPEventStreams

        fileprivate init(_ streams: MCPEventStreams) { self.streams = streams }

        deinit { streams.count.wrappingSubtract(1, ordering: .relaxed) }
    }

    /// A stream's body as the caller reads it, holding the stream's place until it is done with: the server ends the
    /// stream, the answer is dropped unread, or writing an event to a caller that went away fails. A caller that goes
    /// away is noticed at the next event only (Hummingbird does not cancel the handler), so a server that stays silent
    /// holds the place until AsyncHTTPClient's read timeout (90 s) ends the read.
    struct Body<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
        let base: Base
        let place: Place

        struct AsyncIterator: AsyncIteratorProtocol {
            var base: Base.AsyncIterator
            let place: Place

            mutating func next() async throws -> ByteBuffer? { try await base.next() }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), place: place) }
    }
}
