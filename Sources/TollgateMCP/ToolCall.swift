import TollgateCore

/// A `tools/call` request: the tool, its arguments, the x402 payment it carries (`params._meta["x402/payment"]`)
/// and the request as it goes upstream (the payment removed).
public struct ToolCall: Sendable {
    /// The x402 MCP transport's `_meta` keys.
    public static let paymentKey = "x402/payment"
    public static let paymentResponseKey = "x402/payment-response"

    public var message: JSONRPCMessage
    public var name: String
    /// The arguments as sent (an object; `{}` when absent).
    public var arguments: JSONValue
    /// The PaymentPayload the client attached, if any.
    public var payment: JSONValue?

    /// nil when `message` is not a `tools/call` request with a tool name.
    public init?(_ message: JSONRPCMessage) {
        guard message.method == "tools/call", message.isRequest, let name = message.params?["name"]?.string else { return nil }
        self.message = message
        self.name = name
        arguments = message.params?["arguments"] ?? .object([:])
        // Some clients send the payload as an object, others as JSON text.
        switch message.params?["_meta"]?[Self.paymentKey] {
        case .string(let text)?: payment = StrictJSON.tree(Array(text.utf8)) ?? .string(text)
        case .null?, nil: payment = nil
        case let value?: payment = value
        }
        era = MCPEra.of(message)
    }

    /// The era the caller speaks (its answers must be written for it).
    public var era: MCPEra

    /// What an offer binds besides the tool: the arguments in canonical form, so the same call written with
    /// its keys in another order is the same purchase, and any other call is not.
    public var argumentBytes: [UInt8] { arguments.canonicalBytes }

    /// The request as the upstream server sees it: the payment is the gateway's business, not the tool's.
    public var upstreamMessage: JSONRPCMessage {
        guard var params = message.params?.object else { return message }
        if var meta = params["_meta"]?.object {
            meta.removeValue(forKey: Self.paymentKey)
            params["_meta"] = meta.isEmpty ? nil : .object(meta)
        }
        return message.with(params: .object(params))
    }
}
