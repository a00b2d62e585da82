import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing
@testable import TollgateX402

/// Which connection a call gets: one of the event loop its code runs on, and the count of open connections kept true
/// whichever connection is given. The server asks for its connections to be kept a minute (`kept`): with the pool's
/// default of 4 s, a whole suite on two cores left a connection idle long enough to expire between two calls, and the
/// next call opened another.
extension HTTP1ConnectionPoolTests {
    static func kept(_ body: String) -> String { ScriptedHTTPServer.ok(body, extraHeaders: "Keep-Alive: timeout=60\r\n") }

    /// The loop the calling code pretends to run on (`HTTP1ConnectionPool(ownLoop:)`).
    final class CallingLoop: Sendable {
        private let loop = Mutex<(any EventLoop)?>(nil)
        func set(_ new: (any EventLoop)?) { loop.withLock { $0 = new } }
        func get() -> (any EventLoop)? { loop.withLock { $0 } }
    }

    @Test func aCallGetsAConnectionOfTheLoopItRunsOn() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let (first, second) = (group.next(), group.next())
        #expect(first !== second)
        let server = try await ScriptedHTTPServer { request in
            // The first is held while the second is sent, so that each has a connection of its own.
            request.index == 0 ? .after(.seconds(2), Self.kept("{}")) : .bytes(Self.kept("{}"))
        }
        let calling = CallingLoop()
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)", group: group, ownLoop: calling.get)
        // A connection opened by a call is opened on that call's loop.
        calling.set(first)
        let opening = Task { try await call(pool) }
        let deadline = ContinuousClock.now + .seconds(30)
        while server.requests.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        calling.set(second)
        _ = try await call(pool)
        _ = try await opening.value
        #expect(server.connections == 2)
        // Each loop then keeps using its own, whichever was given back last.
        for loop in [first, second, first, second] {
            calling.set(loop)
            _ = try await call(pool)
        }
        let requests = server.requests
        #expect(requests[2].connection == requests[0].connection && requests[4].connection == requests[0].connection)
        #expect(requests[3].connection == requests[1].connection && requests[5].connection == requests[1].connection)
        try await server.stop()

        // A loop without a connection of its own takes another loop's kept one rather than open a new one.
        let reused = try await ScriptedHTTPServer { _ in .bytes(Self.kept("{}")) }
        let borrowing = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(reused.port)", group: group, ownLoop: calling.get)
        for loop in [first, second, first] {
            calling.set(loop)
            _ = try await call(borrowing)
        }
        #expect(reused.requests.map(\.connection) == [1, 1, 1])
        try await reused.stop()
        try await group.shutdownGracefully()
    }

    /// A kept connection found closed is no longer counted as open, even when another kept one is then given: counted,
    /// the pool would believe itself full and make calls wait for connections that do not exist.
    @Test func aConnectionClosedWhileIdleLeavesTheCountEvenWhenAnotherIsGiven() async throws {
        let server = try await ScriptedHTTPServer { request in
            switch request.index {
            case 0: .after(.milliseconds(300), Self.kept("{}"))
            // The second connection's only answer, then the server closes it.
            case 1: .bytesThenClose(ScriptedHTTPServer.ok("{}"))
            // Held until the server stops.
            case 2: .after(.seconds(600), Self.kept("{}"))
            default: .bytes(Self.kept("{}"))
            }
        }
        let pool = HTTP1ConnectionPool(baseURL: "http://127.0.0.1:\(server.port)", maxConnections: 2)
        let deadline = ContinuousClock.now + .seconds(30)
        // Two connections: the second is opened while the first carries a request, then closed by the server.
        let first = Task { try await call(pool) }
        while server.requests.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        _ = try await call(pool)
        _ = try await first.value
        #expect(server.connections == 2)
        while pool.openIdleConnections > 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(pool.openIdleConnections == 1)

        // The next call passes the closed one over and takes the other, where the server holds its answer.
        let held = Task { try? await call(pool) }
        while server.requests.count < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        // One connection is open, and busy: a call opens another at once rather than wait for it.
        let answer = try await call(pool, within: .seconds(20))
        #expect(answer.status == .ok)
        #expect(server.connections == 3)
        try await server.stop()
        // The held call ends at its own deadline; nothing waits for it.
        _ = held
    }
}
