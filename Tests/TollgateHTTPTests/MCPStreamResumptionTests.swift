import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing
import TollgateCore
import TollgateHTTP
import TollgateMCP

/// An MCP server that closes a call's event stream after its priming event (the 2025-11-25 transport's polling) is
/// asked for the rest with `GET` and `Last-Event-ID`: the paid call gets its answer and is settled once. Before, the
/// gateway called it no answer and released the payment while the tool had run, so a retry ran it again, unpaid.
@Suite struct MCPStreamResumptionTests {
    @Test func aStreamClosedAfterItsPrimingEventIsResumedAndTheCallSettledOnce() async throws {
        let server = PollingMCPServer(gets: [.close, .close])
        try await server.run { url in
            try await MCPStack.with(upstream: url) { stack in
                let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
                let paid = try await stack.call("forecast", payment: payment)
                #expect(paid.receipt?["success"] == .bool(true))
                #expect(paid.result?["isError"] != .bool(true))
                #expect(server.executions == 1)
                // Three closes before the answer: each resumed after the last event id the server named.
                #expect(server.resumedAfter == ["p1", "p2", "p3"])
                #expect(try await stack.transfers() == 1)

                // The same payment again: never a second run, never a second transfer.
                _ = try await stack.call("forecast", payment: payment)
                #expect(server.executions == 1)
                #expect(try await stack.transfers() == 1)
            }
        }
    }

    /// A server that closes the stream and will not resume it (its `GET` answers 405) gave no answer: nothing is settled.
    @Test func aStreamThatIsNotResumedIsNoAnswerAndNothingIsSettled() async throws {
        let server = PollingMCPServer(then: .status(405))
        try await server.run { url in
            try await MCPStack.with(upstream: url) { stack in
                let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
                let paid = try await stack.call("forecast", payment: payment)
                #expect(paid.receipt == nil)
                #expect(paid.result?["content"] == nil)
                #expect(server.resumedAfter == ["p1"])
                #expect(try await stack.transfers() == 0)
            }
        }
    }

    /// A server that keeps closing the stream without ever answering is resumed only until the call's deadline.
    @Test func aStreamThatNeverAnswersEndsAtTheDeadline() async throws {
        let server = PollingMCPServer(then: .close)
        try await server.run { url in
            // A deadline of 5 s: with 2 s, the whole suite on two cores left time for one resumption only.
            try await MCPStack.with(upstream: url, timeoutSeconds: 5) { stack in
                let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
                let started = ContinuousClock.now
                let paid = try await stack.call("forecast", payment: payment)
                #expect(paid.receipt == nil)
                #expect(ContinuousClock.now - started < .seconds(20))
                // Resumed again and again (at least 50 ms apart, the server asked for 20), then given up at the deadline, far
                // below the bound on resumptions.
                #expect(server.resumedAfter.count >= 2)
                #expect(server.resumedAfter.count < 1000)
                #expect(try await stack.transfers() == 0)
            }
        }
    }
}


extension MCPStreamResumptionTests {
    /// A stream cut off inside the answer's event (after its `id:` line): the resumed stream replays that event whole,
    /// and the half read before is dropped, not joined to it (which made the answer unreadable, the call released while
    /// the tool had run).
    @Test func anEventCutOffWhenTheStreamEndsIsReadWholeFromTheResumedStream() async throws {
        let server = PollingMCPServer(post: .primingThenCutAnswer)
        try await server.run { url in
            try await MCPStack.with(upstream: url) { stack in
                let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
                let paid = try await stack.call("forecast", payment: payment)
                #expect(paid.receipt?["success"] == .bool(true))
                #expect(server.resumedAfter == ["p1"])
                #expect(server.executions == 1)
                #expect(try await stack.transfers() == 1)
            }
        }
    }

    /// A resumption answered 503 (a server restarting) is tried again after the delay, within the deadline.
    @Test func aResumptionRefusedForNowIsTriedAgain() async throws {
        let server = PollingMCPServer(gets: [.status(503), .status(429)])
        try await server.run { url in
            try await MCPStack.with(upstream: url) { stack in
                let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
                let paid = try await stack.call("forecast", payment: payment)
                #expect(paid.receipt?["success"] == .bool(true))
                #expect(server.resumedAfter == ["p1", "p1", "p1"])
                #expect(try await stack.transfers() == 1)
            }
        }
    }

    /// The `GET` carries the caller's session and own fields (a paying client's credentials travel as `contract`), never
    /// the gateway's signed decision, which covers one POST.
    @Test func theResumptionCarriesTheCallersFieldsButNotTheGatewaysDecision() async throws {
        let server = PollingMCPServer()
        try await server.run { url in
            let upstream = MCPHTTPUpstream(url: url, timeoutSeconds: 10, maxResponseBytes: 1 << 20)
            let call = JSONRPCMessage(.object([
                "jsonrpc": .string("2.0"), "id": .integer(4), "method": .string("tools/call"),
                "params": .object(["name": .string("forecast"), "arguments": .object(["city": .string("Oslo")])]),
            ]))
            let answer = try await upstream.call(call, callerFields: [.mcpSessionId: "s-1", .mcpProtocolVersion: "2025-11-25"],
                                                 contract: [.authorization: "Bearer user-token", .tollgateSignature: "v2 kid=k sig=00"])
            #expect(answer.message.id == .integer(4))
            #expect(answer.message.result != nil)
            let fields = try #require(server.getFields.first)
            #expect(fields[.authorization] == "Bearer user-token")
            #expect(fields[.mcpSessionId] == "s-1")
            #expect(fields[.mcpProtocolVersion] == "2025-11-25")
            #expect(fields[.tollgateSignature] == nil)
            #expect(fields[.accept] == "text/event-stream")
        }
    }
}

/// A streamable-HTTP MCP server (the sample server's tools) that answers each `tools/call` with an event stream it
/// closes after a priming event (`id: p1`, `retry: 20`, no data), or also after half of the answer's event; each `GET`
/// (which must carry `Last-Event-ID`) gets the next of `gets`, then `then`.
final class PollingMCPServer: Sendable {
    enum Post: Sendable {
        /// The priming event, then the stream ends.
        case priming
        /// The priming event, then the answer's event (id `p2`) cut off halfway.
        case primingThenCutAnswer
    }

    enum Get: Sendable {
        /// A stream with only a new event id (`p` and the number of this `GET` plus one), then closed.
        case close
        /// This status, no stream.
        case status(Int)
        /// A stream with the answer's event (its id as for `close`).
        case answer
    }

    private struct State {
        var pending: JSONRPCMessage?
        var resumedAfter: [String] = []
        var getFields: [HTTPFields] = []
    }

    private let sample = SampleMCPServer()
    private let post: Post
    private let gets: [Get]
    private let then: Get
    private let state = Mutex(State())

    init(post: Post = .priming, gets: [Get] = [], then: Get = .answer) {
        self.post = post
        self.gets = gets
        self.then = then
    }

    var executions: Int { sample.executionCounts["forecast"] ?? 0 }
    /// The `Last-Event-ID` of each `GET`, in order.
    var resumedAfter: [String] { state.withLock { $0.resumedAfter } }
    /// The fields of each `GET`, in order.
    var getFields: [HTTPFields] { state.withLock { $0.getFields } }

    func run(_ body: @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.post("/mcp") { request, _ -> Response in
            var buffer = try await request.body.collect(upTo: 1 << 20)
            guard let message = JSONRPCMessage.parse(buffer.readBytes(length: buffer.readableBytes) ?? []),
                  let reply = self.sample.handle(message, era: MCPEra.of(message, fields: request.headers)) else {
                return Response(status: .accepted)
            }
            guard message.method == "tools/call" else {
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: reply.bytes)))
            }
            self.state.withLock { $0.pending = reply }
            switch self.post {
            case .priming:
                return Self.stream("id: p1\nretry: 20\ndata:\n\n")
            case .primingThenCutAnswer:
                let half = String(decoding: reply.bytes.prefix(reply.bytes.count / 2), as: UTF8.self)
                return Self.stream("id: p1\nretry: 20\ndata:\n\nid: p2\nevent: message\ndata: " + half)
            }
        }
        router.get("/mcp") { request, _ -> Response in
            let lastEventId = request.headers[HTTPField.Name("Last-Event-ID")!] ?? ""
            let (count, reply) = self.state.withLock { state in
                state.resumedAfter.append(lastEventId)
                state.getFields.append(request.headers)
                return (state.resumedAfter.count, state.pending)
            }
            let id = "p\(count + 1)"
            switch count <= self.gets.count ? self.gets[count - 1] : self.then {
            case .close:
                return Self.stream(": still working\nid: \(id)\ndata:\n\n")
            case .status(let code):
                return Response(status: .init(code: code))
            case .answer:
                return Self.stream("id: \(id)\nevent: message\ndata: " + String(decoding: reply?.bytes ?? [], as: UTF8.self) + "\n\n")
            }
        }
        try await Listener.with(router) { port in try await body("http://127.0.0.1:\(port)/mcp") }
    }

    private static func stream(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
