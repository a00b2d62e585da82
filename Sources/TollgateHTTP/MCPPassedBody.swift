import NIOCore

/// An answer's body passed back from the MCP server as the caller reads it: it holds the request's place (`MCPPlaces`)
/// until it is done with, and with a deadline it ends there, whatever the server still sends.
///
/// AsyncHTTPClient's deadline ends at the response head: an event stream of keep-alive comments, or an answer read
/// slowly, held its connection for ever. Each read is raced against the deadline; the read the deadline wins is
/// cancelled, which has AsyncHTTPClient close the connection, and the caller's answer ends (cleanly: the caller's
/// connection stays usable, and an event stream simply stops, as a server ending it would).
struct MCPPassedBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    let base: Base
    let place: MCPPlaces.Place?
    /// nil: no deadline (an event stream, `GET`, bounded by its count instead).
    let deadline: ContinuousClock.Instant?

    struct AsyncIterator: AsyncIteratorProtocol {
        let reader: Reader
        let place: MCPPlaces.Place?

        func next() async throws -> ByteBuffer? { try await reader.next() }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(reader: Reader(base.makeAsyncIterator(), deadline: deadline), place: place)
    }

    /// The base iterator, in a box a child task can read it from while the deadline runs. The caller's answer is written
    /// by one task reading in order, and a read the deadline won has ended before `next` returns, so the iterator is
    /// never used by two tasks at once.
    final class Reader: @unchecked Sendable {
        private var iterator: Base.AsyncIterator?
        private let deadline: ContinuousClock.Instant?

        init(_ iterator: Base.AsyncIterator, deadline: ContinuousClock.Instant?) {
            self.iterator = iterator
            self.deadline = deadline
        }

        private enum Outcome: Sendable {
            case read(ByteBuffer?)
            case deadlinePassed
        }

        func next() async throws -> ByteBuffer? {
            guard iterator != nil else { return nil }
            guard let deadline else { return try await read() }
            let outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
                group.addTask { .read(try await self.read()) }
                group.addTask {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return .deadlinePassed
                }
                defer { group.cancelAll() }
                return try await group.next() ?? .deadlinePassed
            }
            switch outcome {
            case .read(let chunk):
                return chunk
            case .deadlinePassed:
                // The cancelled read has ended (the group waited for it); nothing more is read from this answer.
                iterator = nil
                return nil
            }
        }

        private func read() async throws -> ByteBuffer? {
            let chunk = try await iterator?.next()
            if chunk == nil { iterator = nil }
            return chunk
        }
    }
}
