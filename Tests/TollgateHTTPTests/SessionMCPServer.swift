import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import TollgateCore
import TollgateMCP

/// A streamable-HTTP MCP server with sessions, as the MCP SDKs serve them: `initialize` opens one (`srv.<n>`, a dot in
/// it, as some servers' ids have), every other request must name a live one (404 otherwise), `GET` answers one event
/// naming the session and ends, `DELETE` ends the session. It records every request it receives, so a test can say what
/// reached it.
final class SessionMCPServer: Sendable {
    struct Seen: Sendable, Equatable {
        let method: String
        /// The JSON-RPC method of a POST.
        let rpcMethod: String?
        let session: String?
    }

    private struct State {
        var opened = 0
        var live: Set<String> = []
        var seen: [Seen] = []
    }

    private let sample = SampleMCPServer()
    private let state = Mutex(State())

    var seen: [Seen] { state.withLock { $0.seen } }
    var live: Set<String> { state.withLock { $0.live } }

    func run(_ body: @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.post("/mcp") { request, _ -> Response in
            var buffer = try await request.body.collect(upTo: 1 << 20)
            let message = JSONRPCMessage.parse(buffer.readBytes(length: buffer.readableBytes) ?? [])
            let session = request.headers[.mcpSessionId]
            self.state.withLock { $0.seen.append(Seen(method: "POST", rpcMethod: message?.method, session: session)) }
            guard let message else { return Response(status: .badRequest) }
            let current: String
            if message.method == "initialize" {
                current = self.state.withLock { state in
                    state.opened += 1
                    state.live.insert("srv.\(state.opened)")
                    return "srv.\(state.opened)"
                }
            } else {
                guard let session, self.state.withLock({ $0.live.contains(session) }) else { return Self.unknownSession(message.id) }
                current = session
            }
            guard let reply = self.sample.handle(message, era: MCPEra.of(message, fields: request.headers)) else {
                return Response(status: .accepted, headers: [.mcpSessionId: current])
            }
            return Response(status: .ok, headers: [.contentType: "application/json", .mcpSessionId: current],
                            body: .init(byteBuffer: ByteBuffer(bytes: reply.bytes)))
        }
        router.get("/mcp") { request, _ -> Response in
            let session = request.headers[.mcpSessionId]
            self.state.withLock { $0.seen.append(Seen(method: "GET", rpcMethod: nil, session: session)) }
            guard let session, self.state.withLock({ $0.live.contains(session) }) else { return Self.unknownSession(nil) }
            let event = #"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"for \#(session)"}}"#
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .mcpSessionId: session],
                            body: .init(byteBuffer: ByteBuffer(string: "event: message\ndata: \(event)\n\n")))
        }
        router.delete("/mcp") { request, _ -> Response in
            let session = request.headers[.mcpSessionId]
            self.state.withLock { $0.seen.append(Seen(method: "DELETE", rpcMethod: nil, session: session)) }
            guard let session, self.state.withLock({ $0.live.remove(session) != nil }) else { return Self.unknownSession(nil) }
            return Response(status: .ok)
        }
        try await Listener.with(router) { port in try await body("http://127.0.0.1:\(port)/mcp") }
    }

    static func unknownSession(_ id: JSONValue?) -> Response {
        let error = JSONRPCMessage.error(id: id, code: JSONRPCCode.invalidRequest, message: "Session not found")
        return Response(status: .notFound, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: error.bytes)))
    }
}
