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
        let server = PollingMCPServer(resumes: .afterClosing(2))
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
        let server = PollingMCPServer(resumes: .never)
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
        let server = PollingMCPServer(resumes: .afterClosing(.max))
        try await server.run { url in
            try await MCPStack.with(upstream: url, timeoutSeconds: 2) { stack in
                let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
                let started = ContinuousClock.now
                let paid = try await stack.call("forecast", payment: payment)
                #expect(paid.receipt == nil)
                #expect(ContinuousClock.now - started < .seconds(10))
                // Resumed every 20 ms the server asked for, then given up: far fewer than the bound on resumptions.
                #expect(server.resumedAfter.count > 5)
                #expect(try await stack.transfers() == 0)
            }
        }
    }
}

/// A streamable-HTTP MCP server (the sample server's tools) that answers each `tools/call` with an event stream it
/// closes after a priming event (`id`, `retry: 20`, no data); `GET` with `Last-Event-ID` resumes it.
final class PollingMCPServer: Sendable {
    enum Resumption: Sendable {
        /// `GET` answers 405: the stream cannot be resumed.
        case never
        /// The resumed stream is closed again this many times (a new event id each time), then carries the answer.
        case afterClosing(Int)
    }

    private struct State {
        var pending: JSONRPCMessage?
        var resumedAfter: [String] = []
    }

    private let sample = SampleMCPServer()
    private let resumes: Resumption
    private let state = Mutex(State())

    init(resumes: Resumption) { self.resumes = resumes }

    var executions: Int { sample.executionCounts["forecast"] ?? 0 }
    /// The `Last-Event-ID` of each `GET`, in order.
    var resumedAfter: [String] { state.withLock { $0.resumedAfter } }

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
            return Self.stream("id: p1\nretry: 20\ndata:\n\n")
        }
        router.get("/mcp") { request, _ -> Response in
            let lastEventId = request.headers[HTTPField.Name("Last-Event-ID")!] ?? ""
            let (resumption, reply) = self.state.withLock { state in
                state.resumedAfter.append(lastEventId)
                return (state.resumedAfter.count, state.pending)
            }
            guard case .afterClosing(let times) = self.resumes else { return Response(status: .methodNotAllowed) }
            let id = "p\(resumption + 1)"
            if resumption <= times { return Self.stream(": still working\nid: \(id)\ndata:\n\n") }
            return Self.stream("id: \(id)\nevent: message\ndata: " + String(decoding: reply?.bytes ?? [], as: UTF8.self) + "\n\n")
        }
        try await Listener.with(router) { port in try await body("http://127.0.0.1:\(port)/mcp") }
    }

    private static func stream(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
