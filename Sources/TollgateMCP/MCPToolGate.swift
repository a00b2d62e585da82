import Foundation
import HTTPTypes
import TollgateCore
import TollgateX402

/// Runs a forwarded `tools/call` on the upstream MCP server and returns its JSON-RPC answer; `contract` carries
/// what the gateway decided (correlation id, client, payer, amount, signature) as the signed `Tollgate-*` fields for
/// an upstream that checks them, and `decided` the same for an in-process tool.
public typealias ToolExecutor = @Sendable (_ request: JSONRPCMessage, _ contract: HTTPFields, _ decided: ContractSigner.Contract?) async throws
    -> JSONRPCMessage

/// The MCP door of the journey: a `tools/call` of a priced tool becomes the request `POST /<tool>` whose body is
/// the canonical form of its arguments (so an offer binds the tool and its arguments), its
/// `_meta["x402/payment"]` the proof, and the tool itself the upstream; the journey's answer becomes the x402
/// MCP transport's: a PaymentRequired tool result, the tool's result with its receipt in
/// `_meta["x402/payment-response"]`, or a JSON-RPC error for refusals before any terms (docs/architecture.md, "MCP door").
public struct MCPToolGate: Sendable {
    public let gateway: Gateway
    /// The priced (or scoped) tools: the routes `POST /<name>` of the configuration.
    public let tools: RouteTable

    public init(gateway: Gateway, tools: RouteTable) {
        self.gateway = gateway
        self.tools = tools
    }

    /// The route of a tool the gateway decides on; nil: the call passes through untouched.
    public func route(of tool: String) -> Route? {
        tools.match(method: .post, path: Substring("/" + tool))
    }

    /// Decides on one call and answers it. `headerFields` are the caller's (its credentials); the caller's own
    /// proof headers are ignored: on MCP the proof travels in `_meta`.
    public func call(_ call: ToolCall, headerFields: HTTPFields, remoteAddress: String?, execute: @escaping ToolExecutor) async -> ToolAnswer {
        if let task = call.message.params?["task"], task != .null {
            // Run as a task (MCP 2025-11-25), a call answers with a task handle and gives its result later through
            // `tasks/result`, which the gateway does not see: the payment would settle on the handle, whatever the result.
            return ToolAnswer(message: .error(id: call.message.id, code: JSONRPCCode.invalidParams,
                                              message: "a paid tool cannot run as a task: call it without `task`; its payment settles on its result"),
                              settledDelivery: nil, correlationId: nil)
        }
        var fields = headerFields
        for name in Self.proofFields { fields[name] = nil }
        if let payment = call.payment {
            fields[.x402PaymentSignature] = Base64URL.encodeStandard(payment.canonicalBytes)
        }
        let request = GatewayRequest(method: .post, target: "/" + call.name, headerFields: fields, body: call.argumentBytes,
                                     remoteAddress: remoteAddress)
        let response = await gateway.handle(request, upstream: ToolUpstream(call: call, execute: execute))
        var message = Self.answer(response, to: call)
        if let result = message.result {
            message = .result(id: message.id ?? .null, call.era.finished(result))
        }
        return ToolAnswer(message: message, settledDelivery: response.settledDelivery, correlationId: response.headerFields[.tollgateCorrelationId])
    }

    static let proofFields: [HTTPField.Name] = [.x402PaymentSignature, .x402LegacyPayment]

    /// The journey's answer in the x402 MCP transport's terms.
    static func answer(_ response: GatewayResponse, to call: ToolCall) -> JSONRPCMessage {
        let id = call.message.id ?? .null
        // The upstream's own tool error or JSON-RPC error, passed on as it came (charged only where the tool's terms say
        // so, or settled before it ran: then with what happened to the payment).
        if response.headerFields[.tollgateToolOutcome] != nil, let passed = JSONRPCMessage.parse(response.body) {
            return carryingPayment(passed.with(id: id), response.headerFields)
        }
        switch response.status.code {
        case 200..<300:
            guard case .object(var result)? = JSONRPCMessage.tree(response.body) else {
                return .error(id: id, code: JSONRPCCode.internalError, message: "the tool's answer could not be read")
            }
            if let receipt = decoded(response.headerFields, X402.paymentResponseHeader) {
                var meta = result["_meta"]?.members ?? [:]
                meta[ToolCall.paymentResponseKey] = receipt
                result["_meta"] = .object(meta)
            }
            return .result(id: id, .object(result))
        case 402:
            if let required = decoded(response.headerFields, X402.paymentRequiredHeader) {
                return .result(id: id, paymentRequiredResult(required))
            }
            // Settlement refused after the tool ran: the answer is withheld and the receipt says why, inside the
            // terms as the x402 SDK's own MCP server writes it.
            let receipt = decoded(response.headerFields, X402.paymentResponseHeader)
            var refused: [String: JSONValue] = [
                "x402Version": .integer(Int64(X402.version)),
                "error": .string("Payment settlement failed: \(receipt?["errorReason"]?.string ?? "refused by the facilitator")"),
                "resource": .object(["url": .string(MCPConfigurationResource.url(call.name))]),
                "accepts": .array([]),
            ]
            if let receipt { refused[ToolCall.paymentResponseKey] = receipt }
            return .result(id: id, paymentRequiredResult(.object(refused)))
        default:
            return refusal(response, id: id)
        }
    }

    /// A tool error that moved money (a tool charged on every answer, `consumed: on_request`, or settled before it ran)
    /// still says what happened to its payment: the settlement receipt, and the refund recorded for it, in the result's
    /// `_meta` (a tool error) or the error's `data` (a JSON-RPC error). Without them a paying client cannot tell it paid.
    static func carryingPayment(_ message: JSONRPCMessage, _ fields: HTTPFields) -> JSONRPCMessage {
        var payment: [String: JSONValue] = [:]
        if let receipt = decoded(fields, X402.paymentResponseHeader) { payment[ToolCall.paymentResponseKey] = receipt }
        if let refund = fields[.tollgateRefund] { payment[refundKey] = .string(refund) }
        guard !payment.isEmpty else { return message }
        let id = message.id ?? .null
        if case .object(var result)? = message.result {
            result["_meta"] = .object((result["_meta"]?.members ?? [:]).merging(payment) { _, ours in ours })
            return .result(id: id, .object(result))
        }
        guard let error = message.error?.members, let code = error["code"]?.int else { return message }
        // A `data` that is not an object is kept under `data` of the one written here.
        var data = error["data"]?.members ?? (error["data"].map { ["data": $0] } ?? [:])
        data.merge(payment) { _, ours in ours }
        return .error(id: id, code: code, message: error["message"]?.string ?? "", data: .object(data))
    }

    /// Where a refund of the call's payment is named (`Tollgate-Refund` on HTTP).
    public static let refundKey = "tollgate/refund"

    /// The x402 MCP transport's PaymentRequired tool result: `isError`, the terms as `structuredContent` and as
    /// JSON text in `content[0]` (clients read either).
    public static func paymentRequiredResult(_ required: JSONValue) -> JSONValue {
        .object([
            "content": .array([.object(["type": .string("text"), "text": .string(String(decoding: required.canonicalBytes, as: UTF8.self))])]),
            "isError": .bool(true),
            "structuredContent": required,
        ])
    }

    /// A refusal before terms, or a failure: a JSON-RPC error whose `data` says the HTTP status the journey chose,
    /// its reason and detail, and the flow's correlation id (what support traces).
    static func refusal(_ response: GatewayResponse, id: JSONValue) -> JSONRPCMessage {
        let body = JSONRPCMessage.tree(response.body)?.object ?? [:]
        var data = body
        data["status"] = .integer(Int64(response.status.code))
        if data["correlationId"] == nil, let correlationId = response.headerFields[.tollgateCorrelationId] { data["correlationId"] = .string(correlationId) }
        if let retryAfter = response.headerFields[.retryAfter].flatMap(Int64.init) { data["retry_after_seconds"] = .integer(retryAfter) }
        if let refund = response.headerFields[.tollgateRefund] { data["refund_id"] = .string(refund) }
        let code = switch response.status.code {
        case 401: JSONRPCCode.unauthorized
        case 403: JSONRPCCode.forbidden
        case 429: JSONRPCCode.rateLimited
        case 400, 413, 422: JSONRPCCode.invalidParams
        default: JSONRPCCode.unavailable
        }
        let message = body["detail"]?.string ?? body["error"]?.string ?? "refused (\(response.status.code))"
        return .error(id: id, code: code, message: message, data: .object(data))
    }

    static func decoded(_ fields: HTTPFields, _ name: String) -> JSONValue? {
        fields[HTTPField.Name(name)!].flatMap(HeaderCodec.tree(header:))
    }
}

/// Where a tool's terms say it is.
enum MCPConfigurationResource {
    static func url(_ tool: String) -> String { "mcp://tool/" + tool }
}

extension HTTPField.Name {
    /// Marks an upstream answer that is the tool's own failure (`tool-error`), a JSON-RPC error (`rpc-error`) or a
    /// question to its caller (`input-required`): not delivered, not charged (the first two only where the tool's terms
    /// say so), passed back to the caller as the upstream wrote it.
    static let tollgateToolOutcome = HTTPField.Name("Tollgate-Tool-Outcome")!
}

/// The answer to one gated call.
public struct ToolAnswer: Sendable {
    public var message: JSONRPCMessage
    /// Set when the call was paid and settled: a door that cannot deliver `message` calls
    /// `Gateway.undelivered(_:detail:)`, so the payment is not kept for nothing.
    public var settledDelivery: SettledDelivery?
    /// The flow support traces (`tollgate trace`), sent as `Tollgate-Correlation-Id` by an HTTP door.
    public var correlationId: String?
}

/// The tool as the journey's upstream: a result without `isError` is a delivery (200); a tool error, a JSON-RPC
/// error or no answer is not, so it is never charged (unless the tool's terms charge every answer). A result of the
/// per-request era that is not complete is no delivery either, whatever the terms: a tool asking for input
/// (`resultType: "input_required"`) gets its question passed back, unpaid, and the call that answers it, with the same
/// payment, is the one charged; a task handle (`"task"`, or any other kind) is refused, as a call asking to run as a
/// task is: the payment would settle on the handle, and the result, fetched through `tasks/result`, would be free.
struct ToolUpstream: Upstream {
    let call: ToolCall
    let execute: ToolExecutor

    func send(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        var contract = HTTPFields()
        for field in request.headerFields where field.name.canonicalName.hasPrefix("tollgate-") { contract.append(field) }
        let answer: JSONRPCMessage
        do {
            answer = try await execute(call.upstreamMessage, contract, request.contract)
        } catch let error as TollgateError {
            throw error
        } catch {
            throw TollgateError(.upstreamUnavailable, "the MCP server did not answer the call: \(error)")
        }
        if let result = answer.result, result["isError"]?.bool != true, result.object != nil {
            switch result["resultType"] {
            case nil, .string("complete")?:
                return UpstreamResponse(status: .ok, headerFields: [.contentType: "application/json"], body: result.canonicalBytes)
            case .string("input_required")?:
                return UpstreamResponse(status: .badGateway, headerFields: [.contentType: "application/json", .tollgateToolOutcome: "input-required"],
                                        body: answer.bytes, isFinal: false)
            case let kind?:
                throw TollgateError(.upstreamUnavailable, "the MCP server answered the paid call with resultType \(kind.string ?? "?"), "
                                    + "not its result; a paid tool answers in the call, never as a task")
            }
        }
        let outcome = answer.result != nil ? "tool-error" : "rpc-error"
        return UpstreamResponse(status: .badGateway, headerFields: [.contentType: "application/json", .tollgateToolOutcome: outcome],
                                body: answer.bytes)
    }
}
