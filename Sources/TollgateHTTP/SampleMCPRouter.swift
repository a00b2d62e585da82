import HTTPTypes
import Hummingbird
import NIOCore
import TollgateCore
import TollgateMCP

/// `SampleMCPServer` over streamable HTTP at `/mcp` (plain JSON answers, no session, 202 for notifications, 405
/// for an event stream it does not offer), and `GET /stats`: how often each tool ran.
public enum SampleMCPRouter {
    /// - Parameters:
    ///   - eventStream: what `GET` of the endpoint answers; by default 405 (the sample server offers no event stream).
    ///     Tests give one that stays open.
    ///   - beforeEachPost: awaited before each `POST` is handled (tests hold calls with it).
    public static func router(server: SampleMCPServer, path: String = "/mcp",
                              eventStream: (@Sendable (Request) async -> Response)? = nil,
                              beforeEachPost: (@Sendable () async -> Void)? = nil) -> Router<BasicRequestContext> {
        let router = Router()
        router.post(RouterPath(path)) { request, _ -> Response in
            await beforeEachPost?()
            var buffer = try await request.body.collect(upTo: 1 << 20)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            guard let message = JSONRPCMessage.parse(bytes) else {
                return answer(.error(id: nil, code: JSONRPCCode.parseError, message: "expected one JSON-RPC 2.0 message"), status: .badRequest)
            }
            guard let reply = server.handle(message, era: MCPEra.of(message, fields: request.headers)) else { return Response(status: .accepted) }
            return answer(reply)
        }
        router.get(RouterPath(path)) { request, _ in
            await eventStream?(request) ?? Response(status: .methodNotAllowed, headers: [.allow: "POST"])
        }
        router.delete(RouterPath(path)) { _, _ in Response(status: .methodNotAllowed, headers: [.allow: "POST"]) }
        router.get("/stats") { _, _ -> Response in
            let counts = JSONValue.object(server.executionCounts.mapValues { .integer(Int64($0)) })
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.object(["executions": counts]).canonicalBytes)))
        }
        return router
    }

    static func answer(_ message: JSONRPCMessage, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: message.bytes)))
    }
}
