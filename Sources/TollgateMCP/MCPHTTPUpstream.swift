import AsyncHTTPClient
import HTTPTypes
import NIOCore
import NIOHTTP1
import TollgateCore

/// An upstream MCP server over streamable HTTP: one POST per request, the answer read as JSON or as an event
/// stream (the response to this request's id; notifications before it are not passed on for gated calls).
public struct MCPHTTPUpstream: MCPUpstream {
    public let url: String
    let client: HTTPClient
    let timeout: TimeAmount
    let maxResponseBytes: Int
    /// Whether an answer whose numbers would not survive being written again is no answer (`JSONRPCMessage.inexactAnswer`):
    /// the gateway's, which writes answers again (a paid result with its receipt); not a paying client's, which reads
    /// the answer it paid for and writes nothing.
    let requiresExactNumbers: Bool

    /// The caller's fields an MCP server reads; everything else (credentials for the gateway, proofs) stays here.
    public static let forwardedFields: [HTTPField.Name] = [
        .accept, .contentType, .mcpSessionId, .mcpProtocolVersion, .mcpMethod, .mcpName, HTTPField.Name("Last-Event-ID")!,
    ]

    public init(url: String, client: HTTPClient = .mcpServers, timeoutSeconds: Double, maxResponseBytes: Int, requiresExactNumbers: Bool = true) {
        self.url = url
        self.client = client
        self.timeout = .milliseconds(Int64(timeoutSeconds * 1000))
        self.maxResponseBytes = maxResponseBytes
        self.requiresExactNumbers = requiresExactNumbers
    }

    public func call(_ request: JSONRPCMessage, callerFields: HTTPFields, contract: HTTPFields) async throws -> MCPAnswer {
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = .POST
        for name in Self.forwardedFields { if let value = callerFields[name] { outgoing.headers.add(name: name.rawName, value: value) } }
        if outgoing.headers["content-type"].isEmpty { outgoing.headers.add(name: "Content-Type", value: "application/json") }
        if outgoing.headers["accept"].isEmpty { outgoing.headers.add(name: "Accept", value: "application/json, text/event-stream") }
        for field in contract { outgoing.headers.add(name: field.name.rawName, value: field.value) }
        outgoing.body = .bytes(ByteBuffer(bytes: request.bytes))
        let deadline = NIODeadline.now() + timeout
        do {
            let response = try await client.execute(outgoing, deadline: deadline)
            var fields = HTTPFields()
            if let session = response.headers.first(name: "mcp-session-id") { fields[.mcpSessionId] = session }
            guard (200..<300).contains(response.status.code) else {
                throw TollgateError(.upstreamUnavailable, "the MCP server answered HTTP \(response.status.code)")
            }
            let isStream = response.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") ?? false
            if isStream {
                var events = ServerSentEvents()
                var read = 0
                for try await chunk in response.body {
                    read += chunk.readableBytes
                    if read > maxResponseBytes { throw TollgateError(.upstreamUnavailable, "the MCP server's answer is larger than allowed") }
                    for data in events.feed(chunk.readableBytesView) {
                        if let (message, exact) = JSONRPCMessage.parseAnswer(data), message.id == request.id, message.method == nil {
                            guard exact || !requiresExactNumbers else { throw JSONRPCMessage.inexactAnswer }
                            return MCPAnswer(message: message, headerFields: fields)
                        }
                    }
                }
                throw TollgateError(.upstreamUnavailable, "the MCP server's event stream ended without an answer")
            }
            let body = try await response.body.collect(upTo: maxResponseBytes)
            guard let (message, exact) = JSONRPCMessage.parseAnswer(body.readableBytesView), message.method == nil else {
                throw TollgateError(.upstreamUnavailable, """
                    the MCP server's answer is not one strict JSON-RPC response (JSON without repeated members, NaN or Infinity)
                    """)
            }
            guard exact || !requiresExactNumbers else { throw JSONRPCMessage.inexactAnswer }
            return MCPAnswer(message: message, headerFields: fields)
        } catch let error as TollgateError {
            throw error
        } catch {
            throw TollgateError(.upstreamUnavailable, "the MCP server did not answer: \(error)")
        }
    }
}
