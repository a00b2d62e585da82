import AsyncHTTPClient
import HTTPTypes
import NIOCore
import NIOHTTP1
import TollgateCore

/// An upstream MCP server over streamable HTTP: one POST per request, the answer read as JSON or as an event
/// stream (the response to this request's id; notifications before it are not passed on for gated calls). A server
/// that closes the event stream before the answer, having named an event id (the 2025-11-25 transport's polling), is
/// asked for the rest with `GET` and `Last-Event-ID` until the answer comes or the deadline passes: without it the
/// tool ran and its answer was never read, so the call was released unpaid and a retry ran it again. The deadline
/// (`timeoutSeconds`) covers the whole call, head, body and resumptions; a request the server sends its client on the
/// stream (elicitation, sampling) is refused `-32601`, as over stdio, not left unanswered.
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
        .accept, .contentType, .mcpSessionId, .mcpProtocolVersion, .mcpMethod, .mcpName, .lastEventId,
    ]
    /// How many times one call's stream is resumed at most (each within the call's deadline).
    static let maxResumptions = 1000
    /// The wait before resuming when the server named none (the event-stream format leaves it to the client), and the
    /// least wait whatever it named (a server asking for none would otherwise be asked again at once, a thousand times).
    static let defaultRetryMillis = 1000
    static let leastRetryMillis = 50

    public init(url: String, client: HTTPClient = .mcpServers, timeoutSeconds: Double, maxResponseBytes: Int, requiresExactNumbers: Bool = true) {
        self.url = url
        self.client = client
        self.timeout = .milliseconds(Int64(timeoutSeconds * 1000))
        self.maxResponseBytes = maxResponseBytes
        self.requiresExactNumbers = requiresExactNumbers
    }

    public func call(_ request: JSONRPCMessage, callerFields: HTTPFields, contract: HTTPFields) async throws -> MCPAnswer {
        let deadline = NIODeadline.now() + timeout
        do {
            // AsyncHTTPClient's deadline ends at the response head; an event stream's body (keep-alive comments, a question
            // to the client nobody answers) could otherwise hold the call, its proof in flight and one of the server's
            // connections for ever, and settle a tool that finished after its caller gave up.
            return try await Self.within(timeout) {
                try await exchange(request, callerFields: callerFields, contract: contract, deadline: deadline)
            }
        } catch let error as TollgateError {
            throw error
        } catch {
            throw TollgateError(.upstreamUnavailable, "the MCP server did not answer: \(error)")
        }
    }

    /// The POST, its answer and the stream's resumptions, as one call ended by `call`'s deadline.
    private func exchange(_ request: JSONRPCMessage, callerFields: HTTPFields, contract: HTTPFields, deadline: NIODeadline) async throws -> MCPAnswer {
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = .POST
        for name in Self.forwardedFields { if let value = callerFields[name] { outgoing.headers.add(name: name.rawName, value: value) } }
        if outgoing.headers["content-type"].isEmpty { outgoing.headers.add(name: "Content-Type", value: "application/json") }
        if outgoing.headers["accept"].isEmpty { outgoing.headers.add(name: "Accept", value: "application/json, text/event-stream") }
        for field in contract { outgoing.headers.add(name: field.name.rawName, value: field.value) }
        outgoing.body = .bytes(ByteBuffer(bytes: request.bytes))
        do {
            let response = try await client.execute(outgoing, deadline: deadline)
            let fields: HTTPFields = response.headers.first(name: "mcp-session-id").map { [.mcpSessionId: $0] } ?? [:]
            guard (200..<300).contains(response.status.code) else {
                throw TollgateError(.upstreamUnavailable, "the MCP server answered HTTP \(response.status.code)")
            }
            if Self.isEventStream(response) {
                var reader = StreamReader(id: request.id, limit: maxResponseBytes, requiresExactNumbers: requiresExactNumbers)
                let refuse: @Sendable (JSONRPCMessage) async -> Void = { question in
                    await self.refuse(question, callerFields: callerFields, contract: contract, fields: fields, deadline: deadline)
                }
                if let message = try await reader.read(response.body, refusing: refuse) { return MCPAnswer(message: message, headerFields: fields) }
                var resumptions = 0
                while let lastEventId = reader.events.lastEventId, resumptions < Self.maxResumptions {
                    resumptions += 1
                    let wait = TimeAmount.milliseconds(Int64(max(reader.events.retryMillis ?? Self.defaultRetryMillis, Self.leastRetryMillis)))
                    guard NIODeadline.now() + wait < deadline else { break }
                    try await Task.sleep(nanoseconds: UInt64(wait.nanoseconds))
                    let resumed: HTTPClientResponse
                    do {
                        resumed = try await client.execute(resumption(lastEventId: lastEventId, callerFields: callerFields, contract: contract,
                                                                      fields: fields), deadline: deadline)
                    } catch {
                        try Task.checkCancellation()
                        continue  // No connection this time (a server restarting): asked again after the delay, within the deadline.
                    }
                    if resumed.status.code == 429 || resumed.status.code >= 500 { continue }
                    guard (200..<300).contains(resumed.status.code), Self.isEventStream(resumed) else {
                        throw TollgateError(.upstreamUnavailable, """
                            the MCP server closed its event stream before the answer and did not resume it (HTTP \(resumed.status.code))
                            """)
                    }
                    if let message = try await reader.read(resumed.body, refusing: refuse) { return MCPAnswer(message: message, headerFields: fields) }
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

    /// The `GET` that resumes the stream after `lastEventId`, in the caller's session.
    private func resumption(lastEventId: String, callerFields: HTTPFields, contract: HTTPFields, fields: HTTPFields) -> HTTPClientRequest {
        var get = inSession(.GET, callerFields: callerFields, contract: contract, fields: fields)
        get.headers.add(name: "Accept", value: "text/event-stream")
        get.headers.add(name: "Last-Event-ID", value: lastEventId)
        return get
    }

    /// A request that continues a call (a resumption, an answer to the server's question), in the caller's session, with
    /// the caller's own fields (a paying client's credentials travel as `contract`) but not the gateway's signed decision
    /// (`Tollgate-*`): it covers one POST, the call's, and a second use of it would be refused as a replay.
    func inSession(_ method: HTTPMethod, callerFields: HTTPFields, contract: HTTPFields, fields: HTTPFields) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for field in contract where !field.name.canonicalName.hasPrefix("tollgate-") { request.headers.add(name: field.name.rawName, value: field.value) }
        if let session = fields[.mcpSessionId] ?? callerFields[.mcpSessionId] { request.headers.add(name: "Mcp-Session-Id", value: session) }
        if let version = callerFields[.mcpProtocolVersion] { request.headers.add(name: "Mcp-Protocol-Version", value: version) }
        return request
    }

    private static func isEventStream(_ response: HTTPClientResponse) -> Bool {
        response.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") ?? false
    }
}

extension HTTPField.Name {
    /// The event-stream field naming the last event a client received, to resume after it.
    static let lastEventId = HTTPField.Name("Last-Event-ID")!
}
