import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import TollgateCore
import TollgateMCP

/// The listener of `tollgate mcp`: an MCP endpoint over streamable HTTP in front of an upstream MCP server.
/// `tools/call` of a priced tool goes through the journey (`MCPToolGate`), `tools/list` gains the tools' prices,
/// and everything else passes through untouched: to an HTTP upstream as it came (both protocol eras, sessions,
/// event streams), to a stdio upstream through `MCPStdioEndpoint`. An HTTP upstream's session ids are bound to the
/// caller they were issued to (`MCPSessions`), and one caller holds at most its share of the pass-through places.
public struct MCPResponder: HTTPResponder {
    public typealias Context = TollgateRequestContext

    /// Where requests the gateway does not decide on go.
    public enum PassThrough: Sendable {
        /// `requests` for what passes straight through (bounded, each within its deadline, through connections apart
        /// from the paid calls'), `streams` for event streams.
        case http(url: String, requests: MCPPassedRequests, streams: MCPEventStreams)
        case stdio(MCPStdioEndpoint)
        /// No upstream configured: only the priced tools' refusals and terms can be answered.
        case none

        /// A stdio server gets every message written again from its tree (an HTTP server, the bytes as they came).
        var isStdio: Bool {
            if case .stdio = self { return true }
            return false
        }
    }

    let gate: MCPToolGate
    let upstream: any MCPUpstream
    let passThrough: PassThrough
    let path: String
    let door: GatewayDoor
    let sessions: MCPSessions
    let logger: Logger

    /// - Parameter sessions: binds an HTTP upstream's session ids to their callers; `GatewayAssembly.sessionBinder` derives
    ///   its key from the configured secrets, so every instance sharing them accepts the ids any of them issued. The
    ///   default, a random key of this process, suits one instance only: its ids are refused by any other, and after a restart.
    public init(gate: MCPToolGate, upstream: any MCPUpstream, passThrough: PassThrough, path: String, maxRequestBodyBytes: Int,
                metrics: GatewayMetrics?, trustedProxies: TrustedProxies, sessions: SessionBinder = .perProcess(), logger: Logger) {
        self.gate = gate
        self.upstream = upstream
        self.passThrough = passThrough
        self.path = path
        self.door = GatewayDoor(gateway: gate.gateway, maxRequestBodyBytes: maxRequestBodyBytes, metrics: metrics, trustedProxies: trustedProxies)
        self.sessions = MCPSessions(sessions)
        self.logger = logger
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        guard request.uri.path == path else {
            return Self.json(status: .notFound, Array(#"{"error":"not_found","detail":"the MCP endpoint is elsewhere"}"#.utf8))
        }
        switch request.method {
        case .post:
            return await post(request, peer: context.remoteAddress)
        case .get, .delete:
            guard case .http(let url, let requests, let streams) = passThrough else {
                // A stdio server has no event stream of its own to offer, and no session to end.
                return Response(status: .methodNotAllowed, headers: [.allow: "POST"])
            }
            let caller = await callerKey(request, peer: context.remoteAddress)
            guard let fields = sessions.forServer(request.headers, caller: caller) else {
                return Self.message(MCPSessions.unknownSession(id: nil), status: .notFound)
            }
            let passing = Passing(method: request.method, fields: fields, caller: caller, sessions: sessions)
            if request.method == .delete {
                return await Self.passOn(passing, body: nil, id: nil, url: url, requests: requests, logger: logger)
            }
            return await Self.openEventStream(passing, url: url, streams: streams, logger: logger)
        case .options where request.headers[.accessControlRequestMethod] != nil:
            return GatewayDoor.preflight(request)
        default:
            return Response(status: .methodNotAllowed, headers: [.allow: "GET, POST, DELETE"])
        }
    }

    private func post(_ request: Request, peer: SocketAddress?) async -> Response {
        let limit = door.maxRequestBodyBytes
        let bytes: [UInt8]
        do {
            var buffer = try await request.body.collect(upTo: limit)
            bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            return Self.message(.error(id: nil, code: JSONRPCCode.invalidRequest, message: "the request body is larger than \(limit) bytes"),
                                status: .contentTooLarge)
        }
        // What the gateway cannot read strictly is answered here, never passed on: the server's parser might read a
        // priced call in it that the gateway did not see (a repeated `name`, a `NaN` in the arguments).
        guard let (tree, exactNumbers) = JSONRPCMessage.read(bytes) else {
            let rule = "no repeated member, no NaN or Infinity, numbers within a double, nested at most \(JSONRPCMessage.maxDepth) deep"
            return Self.message(.error(id: nil, code: JSONRPCCode.parseError, message: "the body is not one strict JSON document (\(rule))"),
                                status: .badRequest)
        }
        // A member spelt another way (`Name`, `Params`) is one a lenient server reads and the gateway does not.
        if let lookalike = MCPMemberNames.lookalike(in: tree) {
            return Self.message(.error(id: nil, code: JSONRPCCode.invalidRequest,
                                       message: "member \(lookalike) is not spelt as JSON-RPC and MCP spell it (exact case, no control characters)"),
                                status: .badRequest)
        }
        // A session id not bound to this caller stops the request here, whatever it asks (a paid call included): nothing
        // of it reaches the server. From here on `fields` carry the server's own id.
        var fields = request.headers
        var caller: String?
        if case .http = passThrough, request.headers[.mcpSessionId] != nil {
            let key = await callerKey(request, peer: peer)
            guard let forServer = sessions.forServer(fields, caller: key) else {
                let id: JSONValue? = if case .object = tree { JSONRPCMessage(tree).id } else { nil }
                return Self.message(MCPSessions.unknownSession(id: id), status: .notFound)
            }
            (fields, caller) = (forServer, key)
        }
        guard case .object(let members) = tree, members["jsonrpc"]?.string == "2.0" else {
            // Routing fields name one message's call; on anything else they would route what the gateway did not price.
            if request.headers[.mcpMethod] != nil || request.headers[.mcpName] != nil {
                return Self.message(.error(id: nil, code: MCPRoutingHeaders.mismatchCode,
                                           message: "Mcp-Method and Mcp-Name name one JSON-RPC message's call; this body is not one message"),
                                    status: .badRequest)
            }
            // A priced call in a batch, with an id or without (a notification), could not carry its answer.
            if case .array(let items) = tree, items.contains(where: { item in
                item["method"]?.string == "tools/call" && (item["params"]?["name"]?.string).map { gate.route(of: $0) != nil } == true
            }) {
                return Self.message(.error(id: nil, code: JSONRPCCode.invalidRequest, message: "a paid tool cannot be called inside a batch; send the call alone"))
            }
            guard case .array = tree else {
                // One object that is not a JSON-RPC 2.0 message: a lenient server might still run it as one.
                return Self.message(.error(id: nil, code: JSONRPCCode.invalidRequest, message: "not a JSON-RPC 2.0 message (jsonrpc must be \"2.0\")"),
                                    status: .badRequest)
            }
            return await passOn(request, fields: fields, caller: caller, peer: peer, bytes: bytes, message: nil)
        }
        let message = JSONRPCMessage(tree)
        if let mismatch = MCPRoutingHeaders.mismatch(of: message, fields: request.headers) {
            return Self.message(.error(id: message.id, code: MCPRoutingHeaders.mismatchCode, message: mismatch), status: .badRequest)
        }
        if message.method == "tools/call", !message.isRequest, let name = message.params?["name"]?.string, gate.route(of: name) != nil {
            // A priced call sent as a notification expects no answer, so it could never be paid: it is not run.
            return Response(status: .accepted)
        }
        let pricedCall = ToolCall(message).flatMap { gate.route(of: $0.name) != nil ? $0 : nil }
        let listing = message.method == "tools/list" && message.isRequest
        // A priced call (its payment taken out), a tools/list and every message for a stdio server go to the server
        // written again from what the gateway read: only when that keeps every number, or a tool would run with other
        // arguments than those paid for.
        if pricedCall != nil || listing || passThrough.isStdio, !exactNumbers {
            return Self.message(JSONRPCMessage.inexactNumber(id: message.id), status: .badRequest)
        }
        if let call = pricedCall {
            let callerFields = fields, upstream = self.upstream
            let answer = await gate.call(call, headerFields: request.headers, remoteAddress: door.clientAddress(request, peer: peer)) { forwarded, contract, _ in
                try await upstream.call(forwarded, callerFields: callerFields, contract: contract).message
            }
            door.metrics?.countResponse(status: 200)
            var answered = HTTPFields()
            let (contentType, body) = Self.encoded(answer.message, accept: request.headers[.accept])
            answered[.contentType] = contentType
            // The caller's own id, as it sent it (checked above): a paid call's answer carries the session it was made in.
            if let session = request.headers[.mcpSessionId] { answered[.mcpSessionId] = session }
            if let correlationId = answer.correlationId { answered[.tollgateCorrelationId] = correlationId }
            var response = GatewayResponse(status: .ok, headerFields: answered, body: body)
            response.settledDelivery = answer.settledDelivery
            return door.response(response)
        }
        if listing {
            do {
                let answer = try await upstream.call(message, callerFields: fields, contract: [:])
                var answered = answer.headerFields
                if answered[.mcpSessionId] != nil, case .http = passThrough {
                    let key = if let caller { caller } else { await callerKey(request, peer: peer) }
                    answered = sessions.forCaller(answered, caller: key)
                } else if answered[.mcpSessionId] == nil, let session = request.headers[.mcpSessionId] {
                    answered[.mcpSessionId] = session
                }
                return Self.message(MCPToolList.priced(answer.message, gate: gate), fields: answered, accept: request.headers[.accept])
            } catch {
                return Self.message(.error(id: message.id, code: JSONRPCCode.unavailable, message: "the MCP server did not answer: \(error)"))
            }
        }
        return await passOn(request, fields: fields, caller: caller, peer: peer, bytes: bytes, message: message)
    }

    /// Who the request comes from (`Gateway.callerKey`): whom its sessions are bound to, and whose share of the
    /// pass-through places it takes.
    private func callerKey(_ request: Request, peer: SocketAddress?) async -> String {
        await gate.gateway.callerKey(request.headers, remoteAddress: door.clientAddress(request, peer: peer))
    }

    /// `fields`: the request's, its session id the server's own (`MCPSessions.forServer`); `caller`: its caller's key
    /// when already known.
    private func passOn(_ request: Request, fields: HTTPFields, caller: String?, peer: SocketAddress?, bytes: [UInt8],
                        message: JSONRPCMessage?) async -> Response {
        switch passThrough {
        case .http(let url, let requests, _):
            let key = if let caller { caller } else { await callerKey(request, peer: peer) }
            let passing = Passing(method: request.method, fields: fields, caller: key, sessions: sessions)
            return await Self.passOn(passing, body: bytes, id: message?.id, url: url, requests: requests, logger: logger)
        case .none:
            return Self.message(.error(id: message?.id, code: JSONRPCCode.unavailable, message: "no MCP server is configured behind this gateway"))
        case .stdio(let endpoint):
            guard let message else {
                return Self.message(.error(id: nil, code: JSONRPCCode.parseError, message: "expected one JSON-RPC 2.0 message"), status: .badRequest)
            }
            guard let answer = await endpoint.handle(message) else { return Response(status: .accepted) }
            return Self.message(answer, accept: request.headers[.accept])
        }
    }

    /// What is passed through to an HTTP server: the request's method and fields (its session id the server's own), and
    /// whose it is, so the server's session id in the answer is bound to that caller.
    struct Passing: Sendable {
        let method: HTTPRequest.Method
        let fields: HTTPFields
        let caller: String
        let sessions: MCPSessions
    }

    /// A request passed straight through to an HTTP server while fewer than `requests.limit` are open and its caller
    /// holds fewer than `requests.perCaller`, through their own client, its whole answer within
    /// `requests.timeoutSeconds`: free traffic never holds the connections paid calls need, nor one of its own for ever,
    /// and one caller never holds every place. Past either bound, a JSON-RPC error with HTTP 503 and `Retry-After`.
    static func passOn(_ passing: Passing, body: [UInt8]?, id: JSONValue?, url: String, requests: MCPPassedRequests, logger: Logger) async -> Response {
        let place: MCPPlaces.Place
        do {
            place = try requests.take(for: passing.caller)
        } catch {
            // Debug only: a flood of refusals would otherwise be a flood of log lines. The caller's key is not logged.
            logger.debug("MCP request refused: too many passed through", metadata: [
                "tollgate.mcp.passed_requests": "\(requests.limit)", "tollgate.mcp.refusal": "\(error)",
            ])
            let (reason, detail) = switch error {
            case .full: (MCPPassedRequests.refusalReason, "as many requests are passed to the MCP server as the gateway allows; retry later")
            case .callerFull: (MCPPassedRequests.callerRefusalReason,
                               "this caller has as many requests passed to the MCP server as one caller may (\(requests.perCaller)); retry later")
            }
            let data: JSONValue = .object(["status": .integer(503), "reason": .string(reason)])
            return message(.error(id: id, code: JSONRPCCode.unavailable, message: detail, data: data),
                           status: .serviceUnavailable, fields: [.retryAfter: "\(MCPPassedRequests.retryAfterSeconds)"])
        }
        return await forward(passing, body: body, url: url, client: requests.client, timeoutSeconds: requests.timeoutSeconds,
                             holding: place, logger: logger)
    }

    /// An event stream (`GET`), passed through while fewer than `streams.limit` are open, through their own client: it
    /// stays open as long as the server keeps it open, with no deadline, and holds its place until its answer's body is
    /// done with (`MCPPassedBody`). With a limit of 0 the gateway offers no stream: 405, as the MCP transport
    /// asks of a server without one (clients then stop asking).
    static func openEventStream(_ passing: Passing, url: String, streams: MCPEventStreams, logger: Logger) async -> Response {
        guard streams.limit > 0 else { return Response(status: .methodNotAllowed, headers: [.allow: "POST, DELETE"]) }
        let place: MCPPlaces.Place
        do {
            place = try streams.take(for: passing.caller)
        } catch {
            // Debug only: a flood of streams would otherwise be a flood of log lines.
            logger.debug("MCP event stream refused: too many open", metadata: [
                "tollgate.mcp.event_streams": "\(streams.limit)", "tollgate.mcp.refusal": "\(error)",
            ])
            let body = switch error {
            case .full: Self.tooManyStreams
            case .callerFull: Self.tooManyStreamsForCaller
            }
            return Response(status: .serviceUnavailable, headers: [.contentType: "application/json", .retryAfter: "5"],
                            body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        return await forward(passing, body: nil, url: url, client: streams.client, timeoutSeconds: nil, holding: place, logger: logger)
    }

    static let tooManyStreams = Array(#"{"error":"too_many_event_streams","detail":"as many event streams are open as the gateway allows; retry later"}"#.utf8)
    static let tooManyStreamsForCaller = Array(
        #"{"error":"too_many_event_streams_for_caller","detail":"this caller has as many event streams open as one caller may; retry later"}"#.utf8)

    /// The request as it came, to the HTTP upstream, and its answer streamed back, the server's session id in it bound to
    /// the caller. The caller's credentials for the gateway are not passed on.
    /// - Parameters:
    ///   - timeoutSeconds: the whole answer's, its body included (nil: none, an event stream's).
    ///   - place: the request's place in its bound, released with the answer's body.
    static func forward(_ passing: Passing, body: [UInt8]?, url: String, client: HTTPClient, timeoutSeconds: Double?,
                        holding place: MCPPlaces.Place, logger: Logger) async -> Response {
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = HTTPMethod(rawValue: passing.method.rawValue)
        for name in MCPHTTPUpstream.forwardedFields { if let value = passing.fields[name] { outgoing.headers.add(name: name.rawName, value: value) } }
        if let body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            // An event stream (GET) has no deadline; a request's answer has the upstream's, for its head (AsyncHTTPClient's
            // deadline) and its body (`MCPPassedBody`), so a stream of keep-alives cannot hold a connection for ever.
            let millis = timeoutSeconds.map { Int64($0 * 1000) }
            let ends = millis.map { ContinuousClock.now + .milliseconds($0) }
            let deadline = millis.map { NIODeadline.now() + .milliseconds($0) } ?? .distantFuture
            let answer = try await client.execute(outgoing, deadline: deadline)
            var fields = HTTPFields()
            for (name, value) in answer.headers {
                guard let field = HTTPField.Name(name), !Self.hopByHop.contains(field) else { continue }
                let passed = field == .mcpSessionId ? passing.sessions.forCaller(session: value, caller: passing.caller) : value
                fields.append(HTTPField(name: field, value: passed))
            }
            let body = ResponseBody(asyncSequence: MCPPassedBody(base: answer.body, place: place, deadline: ends))
            return Response(status: .init(code: Int(answer.status.code)), headers: fields, body: body)
        } catch {
            logger.warning("MCP server unreachable", metadata: ["tollgate.mcp.upstream": "\(url)", "tollgate.error": "\(error)"])
            let id = body.flatMap { JSONRPCMessage.parse($0)?.id }
            return message(.error(id: id, code: JSONRPCCode.unavailable, message: "the MCP server did not answer; retry later"), status: .badGateway)
        }
    }

    static let hopByHop: [HTTPField.Name] = [
        .connection, HTTPField.Name("Keep-Alive")!, .transferEncoding, .te, HTTPField.Name("Trailer")!, .upgrade, .contentLength,
    ]

    static func message(_ message: JSONRPCMessage, status: HTTPResponse.Status = .ok, fields: HTTPFields = [:], accept: String? = nil) -> Response {
        var headers = fields
        let (contentType, body) = encoded(message, accept: accept)
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// One answer as the caller takes it: JSON, unless it accepts only an event stream (then one `message` event).
    static func encoded(_ message: JSONRPCMessage, accept: String?) -> (contentType: String, body: [UInt8]) {
        let accepted = accept?.lowercased() ?? ""
        guard accepted.contains("text/event-stream"), !accepted.contains("application/json"), !accepted.contains("*/*") else {
            return ("application/json", message.bytes)
        }
        return ("text/event-stream", Array("event: message\ndata: ".utf8) + message.bytes + Array("\n\n".utf8))
    }

    static func json(status: HTTPResponse.Status, _ body: [UInt8]) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
