import AsyncHTTPClient
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing
import TollgateCore
@testable import TollgateHTTP
import TollgateMCP

/// The MCP door's connections to an HTTP MCP server: paid calls run side by side up to the connections' bound, open event
/// streams (`GET` of the endpoint, passed through) never hold the connections paid calls need, and no caller opens more
/// streams than the gateway allows.
@Suite struct MCPServerConnectionTests {
    @Test func paidCallsToASlowToolRunSideBySide() async throws {
        // The server answers no call until twelve are in its hands at once: more than AsyncHTTPClient's default of
        // eight connections to one server, which made every call past the eighth wait for an earlier one's answer.
        let barrier = Barrier(count: 12)
        try await MCPStack.with(beforeEachPost: { await barrier.arrive() }) { stack in
            defer { Task { await barrier.open() } }
            var payments: [JSONValue] = []
            for _ in 0..<12 { payments.append(try MCPStack.pay(try #require(try await stack.call("forecast").terms))) }
            let answers = try await withThrowingTaskGroup(of: MCPStack.Answer.self) { group in
                for (index, payment) in payments.enumerated() {
                    group.addTask { try await stack.call("forecast", payment: payment, id: Int64(index)) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.filter { $0.receipt?["success"] == .bool(true) }.count == 12)
            #expect(await barrier.mostHeld == 12)
            #expect(stack.executions("forecast") == 12)
            #expect(try await stack.transfers() == 12)
        }
    }

    @Test func openEventStreamsLeaveThePaidCallsTheirConnections() async throws {
        let held = HeldStreams()
        defer { held.endAll() }
        try await MCPStack.with(perCaller: .whole(eventStreams: 256), eventStream: held.respond) { stack in
            // More streams than the calls' client opens connections to one server, all held open by the server.
            let count = HTTPClient.Configuration.mcpServers.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit + 4
            let streams = Task { try await Self.openStreams(count, stack) }
            await Self.waitUntil { held.opened == count }
            #expect(held.opened == count)

            let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
            let paid = try await stack.call("forecast", payment: payment)
            #expect(paid.receipt?["success"] == .bool(true))
            #expect(stack.executions("forecast") == 1)
            #expect(try await stack.transfers() == 1)

            held.endAll()
            let answers = try await streams.value
            #expect(answers.count == count)
            #expect(answers.allSatisfy { $0.status == 200 && $0.body.hasPrefix(": open") })
        }
    }

    @Test func streamsPastTheBoundAreRefusedUntilOneEnds() async throws {
        let held = HeldStreams()
        defer { held.endAll() }
        try await MCPStack.with(maxEventStreams: 2, perCaller: .whole(eventStreams: 2), eventStream: held.respond) { stack in
            guard case .http(_, _, let bound) = stack.connection.passThrough else { Issue.record("not an HTTP upstream"); return }
            let streams = Task { try await Self.openStreams(2, stack) }
            await Self.waitUntil { held.opened == 2 }

            let third = try await stack.client.execute(uri: "/mcp", method: .get, headers: [.accept: "text/event-stream"])
            #expect(third.status == .serviceUnavailable)
            #expect(third.headers[.retryAfter] == "5")
            #expect(JSONValue.parse(Array(third.body.readableBytesView))?["error"] == .string("too_many_event_streams"))
            #expect(held.opened == 2)
            #expect(bound.open == 2)
            // A paid call still goes through.
            let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
            #expect(try await stack.call("forecast", payment: payment).receipt?["success"] == .bool(true))

            // The server ends both streams: their places come back, and the next stream is passed on.
            held.endAll()
            #expect(try await streams.value.map(\.status) == [200, 200])
            await Self.waitUntil { bound.open == 0 }
            #expect(bound.open == 0)
            let next = try await stack.client.execute(uri: "/mcp", method: .get, headers: [.accept: "text/event-stream"])
            #expect(next.status == .ok)
            #expect(held.opened == 3)
        }
    }

    @Test func aStreamsPlaceComesBackWhenItsBodyIsDropped() {
        let streams = MCPEventStreams(limit: 2, perCaller: 2)
        var first = try? streams.take(for: "ip:a")
        let second = try? streams.take(for: "ip:a")
        #expect(first != nil && second != nil)
        withExtendedLifetime(first) {
            #expect((try? streams.take(for: "ip:b")) == nil)
            #expect(streams.open == 2)
        }
        first = nil
        #expect(streams.open == 1)
        #expect((try? streams.take(for: "ip:b")) != nil)
        #expect(streams.open == 1)
        withExtendedLifetime(second) {}
        #expect((try? MCPEventStreams(limit: 0).take(for: "ip:a")) == nil)
    }

    @Test func aServerThatCannotBeReachedLeavesNoPlaceTaken() async throws {
        try await MCPStack.with(upstream: "http://127.0.0.1:9/mcp", maxEventStreams: 1) { stack in
            guard case .http(_, _, let bound) = stack.connection.passThrough else { Issue.record("not an HTTP upstream"); return }
            for _ in 0..<2 {
                let answer = try await stack.client.execute(uri: "/mcp", method: .get, headers: [.accept: "text/event-stream"])
                #expect(answer.status == .badGateway)
            }
            #expect(bound.open == 0)
        }
    }

    @Test func aGatewayAllowingNoStreamOffersNone() async throws {
        try await MCPStack.with(maxEventStreams: 0, eventStream: HeldStreams().respond) { stack in
            let answer = try await stack.client.execute(uri: "/mcp", method: .get, headers: [.accept: "text/event-stream"])
            #expect(answer.status == .methodNotAllowed)
            #expect(answer.headers[.allow] == "POST, DELETE")
        }
    }

    // MARK: helpers

    struct StreamAnswer: Sendable {
        let status: Int
        let body: String
    }

    /// Opens `count` event streams through the gateway at once; returns when every one has ended.
    static func openStreams(_ count: Int, _ stack: MCPStack) async throws -> [StreamAnswer] {
        try await withThrowingTaskGroup(of: StreamAnswer.self) { group in
            for _ in 0..<count {
                group.addTask {
                    let answer = try await stack.client.execute(uri: "/mcp", method: .get, headers: [.accept: "text/event-stream"])
                    return StreamAnswer(status: Int(answer.status.code), body: String(buffer: answer.body))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    /// Waits for `condition`, for at most 30 s (the test's own expectation then says what was missing).
    static func waitUntil(_ condition: () -> Bool) async {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition(), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
    }
}

/// Holds every call that arrives until `count` are held at once, then lets them all go, and every later one at once.
actor Barrier {
    let count: Int
    private var held: [CheckedContinuation<Void, Never>] = []
    private var isOpen = false
    /// The most calls held at once.
    private(set) var mostHeld = 0

    init(count: Int) { self.count = count }

    func arrive() async {
        guard !isOpen else { return }
        await withCheckedContinuation { continuation in
            held.append(continuation)
            mostHeld = max(mostHeld, held.count)
            if held.count >= count { open() }
        }
    }

    /// Lets every held call go, and every later one through.
    func open() {
        isOpen = true
        for continuation in held { continuation.resume() }
        held = []
    }
}

/// An MCP server's event streams: each sends a comment, then stays open until `endAll`; a stream opened after that ends
/// at once.
final class HeldStreams: Sendable {
    private struct State {
        var opened = 0
        var open: [AsyncStream<ByteBuffer>.Continuation] = []
        var ended = false
    }

    private let state = Mutex(State())

    /// How many streams the server was asked for.
    var opened: Int { state.withLock { $0.opened } }

    @Sendable func respond(_ request: Request) async -> Response {
        let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        continuation.yield(ByteBuffer(string: ": open\n\n"))
        let ended = state.withLock { state in
            state.opened += 1
            if !state.ended { state.open.append(continuation) }
            return state.ended
        }
        if ended { continuation.finish() }
        return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: ResponseBody(asyncSequence: stream))
    }

    func endAll() {
        let open = state.withLock { state in
            state.ended = true
            defer { state.open = [] }
            return state.open
        }
        for continuation in open { continuation.finish() }
    }
}
