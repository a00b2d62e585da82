import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Logging
import Synchronization
import TollgateCore
import TollgateMCP
import TollgateX402

extension PaymentClient {
    /// How a paid MCP tool call ended.
    public struct ToolOutcome: Sendable {
        /// The JSON-RPC answer (its `result` is the tool's result, or its `error`).
        public var answer: JSONRPCMessage
        public var terms: PaymentTerms?
        public var purchase: Purchase?
        public var receipt: X402.SettleResponse?
        public var resumed: Bool

        /// A result that is not `isError`.
        public var succeeded: Bool { answer.result != nil && answer.result?["isError"] != .bool(true) }
    }

    /// Calls `tool` on the MCP server at `url` (streamable HTTP), paying a PaymentRequired result (the x402 MCP
    /// transport: `_meta["x402/payment"]`) under the same budget and ledger as HTTP purchases; `tools` limits apply.
    /// A paid call goes through a client that follows no redirect (its body carries the proof), whatever `http` does.
    public func callTool(url: String, tool: String, arguments: JSONValue, headers: [(String, String)] = [],
                         confirm: @Sendable (Quote) async -> Bool = { _ in true }) async throws -> ToolOutcome {
        let session = MCPSession(upstream: upstream(url, through: http), paidUpstream: upstream(url, through: proofHTTP), headers: headers)
        return try await callTool(server: url, tool: tool, arguments: arguments, identityHeaders: headers, confirm: confirm) { payment in
            try await session.call(tool: tool, arguments: arguments, payment: payment)
        }
    }

    /// Calls `tool` through any MCP client: `send` makes the `tools/call` (with the payment for `_meta["x402/payment"]`
    /// when there is one) and returns the JSON-RPC answer; `server` names the server in the ledger and for the budget's
    /// `hosts` limits. The swift-sdk's `Client` is one such client (`TollgateClientMCP`); the proof goes wherever that
    /// client sends it, so it should follow no redirect.
    /// `identityHeaders`: the caller's own headers, part of what makes two calls the same purchase.
    /// An authorization of the same call still in doubt is resolved first, as `fetch` does (`resolve`).
    public func callTool(server: String, tool: String, arguments: JSONValue, identityHeaders: [(String, String)] = [],
                         confirm: @Sendable (Quote) async -> Bool = { _ in true },
                         send: @escaping @Sendable (_ payment: JSONValue?) async throws -> JSONRPCMessage) async throws -> ToolOutcome {
        let identity = try Self.identity(url: server, tool: tool, arguments: arguments, headers: identityHeaders)
        var earlier = try ledger.inDoubt(requestKey: identity.key)
        var terms: PaymentTerms?
        // Each round settles an authorization in doubt (left by an earlier run, or signed by another run meanwhile)
        // or signs one; three cover an expired one, then another run's, with room to spare.
        for _ in 0..<3 {
            let answer: JSONRPCMessage
            if let purchase = earlier {
                switch try await resolve(purchase, try toolExchange(purchase, terms: terms, resumed: true, send: send)) {
                case .answered(let outcome): return outcome
                case .lapsed(let refusal): answer = refusal
                case .abandoned:
                    earlier = nil
                    continue
                }
            } else {
                do {
                    answer = try await send(nil)
                } catch let error as CancellationError {
                    throw error
                } catch {
                    throw ClientError(.unreachable, "\(tool) at \(server) got no answer: \(error)")
                }
            }
            guard let required = Self.paymentRequired(answer) else { return ToolOutcome(answer: answer, resumed: false) }
            let asked = PaymentTerms(v2: required)
            terms = asked
            let quote = try self.quote(asked, for: identity)
            guard let choice = quote.choice else { throw quote.refusal ?? ClientError(.noPayableOffer, "nothing to pay") }
            guard await confirm(quote) else { throw ClientError(.declined, "payment of \(choice.price) for \(tool) declined") }
            let signer = ProofSigner(payer: payer)
            let authorization = try ledger.authorize(choice, for: identity, budget: budget, nowMillis: nowMillis()) { id in
                let payload = try signer.payload(choice, terms: asked, purchaseId: id, nowSeconds: nowMillis() / 1000)
                let proof = String(decoding: try JSONValue.encoding(payload).canonicalBytes, as: UTF8.self)
                return try ProofSigner.LedgerProof(name: "_meta." + ToolCall.paymentKey, value: proof, payload: payload).signed(payer: payer, version: 2)
            }
            switch authorization {
            case .signed(let purchase): return try await resend(purchase, try toolExchange(purchase, terms: asked, resumed: false, send: send))
            case .pending(let purchase): earlier = purchase
            }
        }
        throw ClientError(.paymentInDoubt, "other runs of this tool call keep signing authorizations for it; nothing was signed by this one")
    }

    /// What a paid tool asks and what the budget says of it; nothing is signed or recorded (`--dry-run`).
    public func quoteTool(url: String, tool: String, arguments: JSONValue, headers: [(String, String)] = []) async throws -> (JSONRPCMessage, Quote?) {
        let session = MCPSession(upstream: upstream(url, through: http), paidUpstream: upstream(url, through: proofHTTP), headers: headers)
        let identity = try Self.identity(url: url, tool: tool, arguments: arguments, headers: headers)
        let first: JSONRPCMessage
        do {
            first = try await session.call(tool: tool, arguments: arguments, payment: nil)
        } catch {
            throw ClientError(.unreachable, "\(tool) at \(url) got no answer: \(error)")
        }
        guard let required = Self.paymentRequired(first) else { return (first, nil) }
        return (first, try dryQuote(PaymentTerms(v2: required), for: identity))
    }

    func upstream(_ url: String, through client: HTTPClient) -> MCPHTTPUpstream {
        // The answer is read, never written again: a number beyond a double is the caller's to read, not a reason to call
        // the answer none (and send its proof again, for an answer paid for).
        MCPHTTPUpstream(url: url, client: client, timeoutSeconds: Double(timeout.components.seconds), maxResponseBytes: maxResponseBytes,
                        requiresExactNumbers: false)
    }

    /// The purchase's proof in `_meta` of the call, and how its answers are read: a result that is not an error
    /// delivered; a successful receipt without one settled, not delivered; terms again a refusal (`unknown` in the ledger
    /// unless their reason is coded as made before any settlement, and once the proof was sent twice); a tool error or a
    /// JSON-RPC error unknown (the tool was not charged; the same authorization is what a later run sends). No answer is
    /// re-sent; an answer is never re-sent for.
    func toolExchange(_ purchase: Purchase, terms: PaymentTerms?, resumed: Bool,
                      send: @escaping @Sendable (_ payment: JSONValue?) async throws -> JSONRPCMessage) throws -> PaidExchange<JSONRPCMessage, ToolOutcome> {
        guard let payment = StrictJSON.tree(Array(purchase.proof.utf8)) else {
            throw ClientError(.ledger, "purchase \(purchase.id) holds no readable proof")
        }
        return PaidExchange(
            name: "the paid tool call", rerun: "the next run",
            send: { try await send(payment) }, retry: { _ in nil }, judge: Self.judge,
            kept: { answer, kept in
                ToolOutcome(answer: answer, terms: terms, purchase: kept,
                            receipt: answer.result?["_meta"]?[ToolCall.paymentResponseKey].flatMap(X402.SettleResponse.init(json:)), resumed: resumed)
            })
    }

    /// What a tool call's answer to a proof says of the payment.
    static func judge(_ answer: JSONRPCMessage) -> Judgement {
        let receiptValue = answer.result?["_meta"]?[ToolCall.paymentResponseKey]
        let receipt = receiptValue.flatMap(X402.SettleResponse.init(json:))
        var judgement = Judgement(ending: .unknown, transaction: receipt.map(\.transaction).flatMap { $0.isEmpty ? nil : $0 },
                                  receipt: receiptValue.map { String(decoding: $0.canonicalBytes, as: UTF8.self) })
        if answer.result?["resultType"] == .string("input_required") {
            // The tool asks for input before it runs (unpaid, the authorization held by the server for the call that
            // answers it), which this client cannot give: no delivery; in doubt, so nothing new is signed while it is valid.
            judgement.reason = "the tool asked for input before running (input_required), which this client cannot answer; "
                + "the server holds the authorization for the call that answers it"
        } else if answer.result != nil, answer.result?["isError"] != .bool(true) {
            judgement.ending = .delivered
        } else if receipt?.success == true {
            judgement.ending = .settledUndelivered
            judgement.reason = "settled, the tool answered isError"
        } else if let again = Self.paymentRequired(answer) {
            judgement.ending = .refusal
            judgement.askedAgain = true
            // The x402 MCP server puts a failed settlement's receipt in the terms it answers with.
            let failed = receipt ?? answer.result?["structuredContent"]?[ToolCall.paymentResponseKey].flatMap(X402.SettleResponse.init(json:))
            if failed?.success == false { judgement.settlementFailure = failed?.errorReason ?? "" }
            judgement.refusalCode = again.error
            judgement.reason = again.error ?? "payment required again"
        } else {
            judgement.reason = answer.error?["message"]?.string ?? "the tool answered isError"
        }
        return judgement
    }

    /// The PaymentRequired of an answer: a tool result with `isError` and the terms as `structuredContent` (the x402
    /// MCP transport), or a JSON-RPC error with code 402 and the terms in `data`.
    static func paymentRequired(_ answer: JSONRPCMessage) -> X402.PaymentRequired? {
        let terms: JSONValue?
        if let error = answer.error {
            terms = error["code"]?.int == JSONRPCCode.paymentRequired ? error["data"] : nil
        } else {
            terms = answer.result?["isError"] == .bool(true) ? answer.result?["structuredContent"] : nil
        }
        guard let required = terms.flatMap(X402.PaymentRequired.init(json:)), !required.accepts.isEmpty else { return nil }
        return required
    }

    /// A tool call's identity: the server, the tool and its arguments (canonical JSON), hashed.
    static func identity(url: String, tool: String, arguments: JSONValue, headers: [(String, String)] = []) throws(ClientError) -> PaymentLedger.Request {
        let host = try httpHost(url, what: "MCP URL")
        var hash = SHA256()
        hash.update(data: Array("tools/call".utf8) + [0] + Array(url.utf8) + [0] + Array(tool.utf8) + [0])
        hash.update(data: arguments.canonicalBytes)
        hash.update(data: headerBytes(headers))
        return PaymentLedger.Request(method: "tools/call", url: url, host: host, tool: tool, key: HexString.encode(hash.finalize()))
    }
}

/// One MCP server over streamable HTTP, as a client: the per-request era (2026-07-28) first, which needs no
/// session; a server that refuses it gets the handshake (`initialize`, then `notifications/initialized`) and its
/// session id on every later request.
final class MCPSession: Sendable {
    let upstream: MCPHTTPUpstream
    /// The same server through a client that follows no redirect: a paid call's body carries the proof.
    let paidUpstream: MCPHTTPUpstream
    let headers: [(String, String)]
    private let legacy = Mutex<(session: String?, version: String)?>(nil)
    /// The server answered a call of the per-request era.
    private let perRequest = Atomic<Bool>(false)

    init(upstream: MCPHTTPUpstream, paidUpstream: MCPHTTPUpstream, headers: [(String, String)]) {
        self.upstream = upstream
        self.paidUpstream = paidUpstream
        self.headers = headers
    }

    /// The era is chosen on an unpaid call: a paid call is sent once per attempt in the era already known, never
    /// replayed through a handshake (a timeout after the server took the payment must not look like a refusal). A paid
    /// call that comes first in its session (a later run re-sending an authorization in doubt) learns the era first
    /// (`learnEra`), so a server of the handshake era gets its handshake and then the proof, not a proof it refuses for
    /// its protocol version (that refusal would leave the authorization in doubt for good).
    func call(tool: String, arguments: JSONValue, payment: JSONValue?) async throws -> JSONRPCMessage {
        if payment != nil, legacy.withLock({ $0 }) == nil, !perRequest.load(ordering: .acquiring) { try await learnEra() }
        if let handshake = legacy.withLock({ $0 }) {
            return try await send(toolCall(tool: tool, arguments: arguments, payment: payment, perRequest: false), tool: tool, handshake: handshake)
        }
        if payment != nil {
            return try await send(toolCall(tool: tool, arguments: arguments, payment: payment, perRequest: true), tool: tool, handshake: nil)
        }
        do {
            let answer = try await send(toolCall(tool: tool, arguments: arguments, payment: payment, perRequest: true), tool: tool, handshake: nil)
            // A server of the handshake era refuses an unknown protocol version with an error, not a tool result.
            let refusedTheEra = answer.error.map { $0["code"]?.int != JSONRPCCode.paymentRequired } ?? false
            if !refusedTheEra {
                perRequest.store(true, ordering: .releasing)
                return answer
            }
        } catch let error as TollgateError where error.code == .upstreamUnavailable {
            // HTTP 400 for a version it does not speak: the handshake below.
        }
        let handshake = try await initialize()
        legacy.withLock { $0 = handshake }
        return try await send(toolCall(tool: tool, arguments: arguments, payment: payment, perRequest: false), tool: tool, handshake: handshake)
    }

    /// Learns the era with a request that runs nothing (`tools/list` in the per-request era; refused, the handshake),
    /// never with the tool: it may run unpaid (free now, funded by a package balance) and its answer would be lost.
    /// Throws when the server cannot be reached: the proof is then not sent (the purchase stays in doubt).
    private func learnEra() async throws {
        let list = JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "method": .string("tools/list"),
                                           "params": .object(["_meta": .object(Self.perRequestMeta)])]))
        do {
            let answer = try await upstream.call(list, callerFields: fields(method: "tools/list", tool: nil, handshake: nil), contract: userFields)
            if answer.message.error == nil {
                perRequest.store(true, ordering: .releasing)
                return
            }
        } catch let error as TollgateError where error.code == .upstreamUnavailable {
            // HTTP 400 for a version it does not speak: the handshake below.
        }
        let handshake = try await initialize()
        legacy.withLock { $0 = handshake }
    }

    private func initialize() async throws -> (session: String?, version: String) {
        let version = "2025-06-18"
        let request = JSONRPCMessage(.object([
            "jsonrpc": .string("2.0"), "id": .integer(0), "method": .string("initialize"),
            "params": .object(["protocolVersion": .string(version), "capabilities": .object([:]),
                               "clientInfo": .object(["name": .string("tollgate-pay"), "version": .string("1")])]),
        ]))
        let answer = try await upstream.call(request, callerFields: fields(method: "initialize", tool: nil, handshake: nil), contract: userFields)
        let session = answer.headerFields[.mcpSessionId]
        let agreed = answer.message.result?["protocolVersion"]?.string ?? version
        let initialized = JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "method": .string("notifications/initialized")]))
        _ = try? await upstream.call(initialized, callerFields: fields(method: nil, tool: nil, handshake: (session, agreed)), contract: userFields)
        return (session, agreed)
    }

    /// A call that carries a payment goes through `paidUpstream`, which follows no redirect.
    private func send(_ message: JSONRPCMessage, tool: String, handshake: (session: String?, version: String)?) async throws -> JSONRPCMessage {
        let paid = message.params?["_meta"]?[ToolCall.paymentKey] != nil
        return try await (paid ? paidUpstream : upstream).call(message, callerFields: fields(method: "tools/call", tool: tool, handshake: handshake),
                                                              contract: userFields).message
    }

    /// The caller's own headers (`-H`: credentials for the server), sent with every request.
    private var userFields: HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers { if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) } }
        return fields
    }

    private func fields(method: String?, tool: String?, handshake: (session: String?, version: String)?) -> HTTPFields {
        var fields = HTTPFields()
        fields[.mcpProtocolVersion] = handshake?.version ?? MCPEra.perRequestVersion
        if let session = handshake?.session { fields[.mcpSessionId] = session }
        if handshake == nil, let method { fields[.mcpMethod] = method }
        if handshake == nil, let tool { fields[.mcpName] = MCPRoutingHeaders.encoded(tool) }
        return fields
    }

    /// What a request of the per-request era says of its client in `_meta`.
    static let perRequestMeta: [String: JSONValue] = [
        MCPEra.protocolVersionKey: .string(MCPEra.perRequestVersion),
        "io.modelcontextprotocol/clientInfo": .object(["name": .string("tollgate-pay"), "version": .string("1")]),
        "io.modelcontextprotocol/clientCapabilities": .object([:]),
    ]

    private func toolCall(tool: String, arguments: JSONValue, payment: JSONValue?, perRequest: Bool) -> JSONRPCMessage {
        var meta = perRequest ? Self.perRequestMeta : [:]
        if let payment { meta[ToolCall.paymentKey] = payment }
        var params: [String: JSONValue] = ["name": .string(tool), "arguments": arguments]
        if !meta.isEmpty { params["_meta"] = .object(meta) }
        return JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "method": .string("tools/call"), "params": .object(params)]))
    }
}
