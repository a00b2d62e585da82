import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing
import TollgateCore
import TollgateHTTP
import TollgateMCP

/// A paid call answered as an event stream ends at `timeout_seconds`, whatever the stream does after its head. Before,
/// AsyncHTTPClient's deadline stopped at the response head: a tool that streamed keep-alive comments (the Python SDK's
/// server pings every 15 s) or asked its client something nobody answered held the call for ever, its proof in flight
/// (every retry `payment_in_progress`), one of the server's connections taken, and settled it whenever it finished.
/// The bounds are loose (10 s for a 1 s deadline: the whole suite on two cores delays a timer by seconds); without the
/// deadline a call lasts as long as the scripted server keeps its stream up, 30 s.
@Suite struct MCPStreamDeadlineTests {
    /// The attacker's tool: a stream of `: ping` comments every 100 ms and never a result. The caller retrying its proof
    /// meanwhile is told it is in flight only until the deadline; then the claim is released and the retry runs again.
    @Test func aPaidCallWhoseStreamOnlyKeepsAliveEndsAtTheDeadlineUncharged() async throws {
        let server = StallingMCPServer(.keepAlive)
        try await server.run { url in
            try await MCPStack.with(upstream: url, timeoutSeconds: 1) { stack in
                let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
                let started = ContinuousClock.now
                let first = Task { (try await stack.call("forecast", payment: payment), ContinuousClock.now - started) }
                try await Task.sleep(for: .milliseconds(200))
                var retried = try await stack.call("forecast", payment: payment, id: 8)
                while Self.inProgress(retried), ContinuousClock.now - started < .seconds(20) {
                    try await Task.sleep(for: .milliseconds(200))
                    retried = try await stack.call("forecast", payment: payment, id: 8)
                }
                let (stalled, took) = try await first.value
                #expect(took < .seconds(10), "the call outlived its 1 s deadline")
                #expect(stalled.error?["data"]?["reason"] == .string("upstream_unavailable"), "\(String(describing: stalled.message))")
                #expect(stalled.receipt == nil)
                // The same proof, once the first call ended, runs the tool again (and ends again), never in flight for ever.
                #expect(!Self.inProgress(retried), "the proof stayed in flight")
                #expect(retried.error?["data"]?["reason"] == .string("upstream_unavailable"), "\(String(describing: retried.message))")
                #expect(server.calls == 2)
                // The gateway let go of both streams: the connections it held are closed, not left to the server.
                #expect(await server.waitUntil { $0.closedByClient == 2 }, "a stream was never closed by the gateway")
                #expect(try await stack.transfers() == 0)
            }
        }
    }

    static func inProgress(_ answer: MCPStack.Answer) -> Bool {
        answer.terms?["error"] == .string("payment_in_progress") || answer.error?["data"]?["reason"] == .string("payment_in_progress")
    }

    /// One funded wallet floods the tool with stalled calls: each ends at the deadline and gives its connection back,
    /// so the server's connections are not held and nothing is charged.
    @Test func aFloodOfStalledCallsHoldsNoConnectionPastTheDeadline() async throws {
        let server = StallingMCPServer(.keepAlive)
        try await server.run { url in
            try await MCPStack.with(upstream: url, timeoutSeconds: 1) { stack in
                // Each payment for an offer of its own: one offer is paid by one authorization at a time.
                var payments: [JSONValue] = []
                for _ in 0..<6 { payments.append(try MCPStack.pay(try #require(try await stack.call("forecast").terms))) }
                let started = ContinuousClock.now
                let answers = try await withThrowingTaskGroup(of: MCPStack.Answer.self) { group in
                    for (index, payment) in payments.enumerated() {
                        group.addTask { try await stack.call("forecast", payment: payment, id: Int64(index)) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(ContinuousClock.now - started < .seconds(10))
                #expect(answers.allSatisfy { $0.error?["data"]?["reason"] == .string("upstream_unavailable") }, "\(answers.map { $0.error?["data"] })")
                #expect(server.calls == payments.count)
                #expect(await server.waitUntil { $0.closedByClient == payments.count })
                #expect(try await stack.transfers() == 0)
            }
        }
    }

    /// A tool that asks its client something on the paid call's stream (elicitation) and waits for the answer is
    /// refused `-32601` in the caller's session, as a stdio server is, and goes on to answer: the call does not wait
    /// for its deadline, and the result is delivered and charged once.
    @Test func aQuestionOnThePaidCallsStreamIsRefusedNotLeftWaiting() async throws {
        let server = StallingMCPServer(.asksFirst)
        try await server.run { url in
            try await MCPStack.with(upstream: url, timeoutSeconds: 30) { stack in
                let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
                let started = ContinuousClock.now
                let paid = try await stack.call("forecast", payment: payment)
                #expect(ContinuousClock.now - started < .seconds(10), "the question was left unanswered")
                #expect(paid.receipt?["success"] == .bool(true), "\(String(describing: paid.message))")
                let (refusal, fields) = try #require(server.answers.first)
                #expect(refusal.id == .string("q1"))
                #expect(refusal.error?["code"] == .integer(Int64(JSONRPCCode.methodNotFound)))
                #expect(fields[.mcpSessionId] == StallingMCPServer.session)
                #expect(fields[.tollgateSignature] == nil)
                #expect(server.answers.count == 1)
                #expect(try await stack.transfers() == 1)
            }
        }
    }

    /// A paying client reads a paid call's answer through the same upstream (`MCPSession`): it ends at its deadline too.
    @Test func aPayingClientsCallEndsAtItsDeadline() async throws {
        let server = StallingMCPServer(.keepAlive)
        try await server.run { url in
            let upstream = MCPHTTPUpstream(url: url, timeoutSeconds: 1, maxResponseBytes: 1 << 20, requiresExactNumbers: false)
            let call = JSONRPCMessage(.object([
                "jsonrpc": .string("2.0"), "id": .integer(1), "method": .string("tools/call"),
                "params": .object(["name": .string("forecast"), "arguments": .object([:])]),
            ]))
            let started = ContinuousClock.now
            let failure = await #expect(throws: TollgateError.self) { try await upstream.call(call, callerFields: [:], contract: [:]) }
            #expect(failure?.code == .upstreamUnavailable)
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(await server.waitUntil { $0.closedByClient == 1 })
        }
    }
}

/// A streamable-HTTP MCP server (the sample server's tools) whose `tools/call` answers are event streams that stall:
/// `keepAlive` sends `: ping` every 100 ms and never the result; `asksFirst` sends an `elicitation/create` request
/// (id `q1`), pings while it waits for the client's answer (a POSTed JSON-RPC response), then sends the result;
/// `freeKeepsAlive` keeps alive only a call of the unpriced tool `free` and answers every other at once, as JSON. Each
/// gives up after `patience`, so a gateway that never lets go still ends the test.
final class StallingMCPServer: Sendable {
    enum Mode: Sendable { case keepAlive, asksFirst, freeKeepsAlive }

    struct State: Sendable {
        var calls = 0
        /// Streams whose reader went away (a write failed) before the server gave up.
        var closedByClient = 0
        /// The JSON-RPC responses POSTed to the server, with their fields.
        var answers: [(JSONRPCMessage, HTTPFields)] = []
    }

    static let session = "s-stalling"
    static let patience = Duration.seconds(30)
    private let mode: Mode
    private let sample = SampleMCPServer()
    private let state = Mutex(State())

    init(_ mode: Mode) { self.mode = mode }

    var calls: Int { state.withLock { $0.calls } }
    var answers: [(JSONRPCMessage, HTTPFields)] { state.withLock { $0.answers } }

    /// Waits up to 10 s for `condition`.
    func waitUntil(_ condition: (State) -> Bool) async -> Bool {
        let end = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < end {
            if state.withLock({ condition($0) }) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return state.withLock { condition($0) }
    }

    func run(_ body: @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.post("/mcp") { request, _ -> Response in
            var buffer = try await request.body.collect(upTo: 1 << 20)
            guard let message = JSONRPCMessage.parse(buffer.readBytes(length: buffer.readableBytes) ?? []) else { return Response(status: .badRequest) }
            if message.method == nil {
                self.state.withLock { $0.answers.append((message, request.headers)) }
                return Response(status: .accepted)
            }
            guard let reply = self.sample.handle(message, era: MCPEra.of(message, fields: request.headers)) else { return Response(status: .accepted) }
            let answersAtOnce = self.mode == .freeKeepsAlive && message.params?["name"]?.string != "free"
            guard message.method == "tools/call", !answersAtOnce else {
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: reply.bytes)))
            }
            self.state.withLock { $0.calls += 1 }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .mcpSessionId: Self.session],
                            body: ResponseBody { writer in try await self.stream(reply, into: &writer) })
        }
        try await Listener.with(router) { port in try await body("http://127.0.0.1:\(port)/mcp") }
    }

    private func stream(_ reply: JSONRPCMessage, into writer: inout any ResponseBodyWriter) async throws {
        let question = #"{"jsonrpc":"2.0","id":"q1","method":"elicitation/create","params":{"message":"Go ahead?","requestedSchema":{"type":"object","properties":{}}}}"#
        let started = ContinuousClock.now
        do {
            if mode == .asksFirst { try await writer.write(ByteBuffer(string: "event: message\ndata: \(question)\n\n")) }
            while ContinuousClock.now - started < Self.patience {
                if mode == .asksFirst, state.withLock({ $0.answers.contains { $0.0.id == .string("q1") } }) {
                    try await writer.write(ByteBuffer(string: "event: message\ndata: " + String(decoding: reply.bytes, as: UTF8.self) + "\n\n"))
                    break
                }
                try await writer.write(ByteBuffer(string: ": ping\n\n"))
                try await Task.sleep(for: .milliseconds(100))
            }
        } catch {
            state.withLock { $0.closedByClient += 1 }
            throw error
        }
        try await writer.finish(nil)
    }
}
