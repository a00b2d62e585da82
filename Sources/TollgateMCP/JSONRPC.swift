import TollgateCore

/// One JSON-RPC 2.0 message as MCP carries it, kept whole (`value`) so what the gateway does not change is
/// passed on exactly.
public struct JSONRPCMessage: Sendable, Hashable {
    public var value: JSONValue

    public init(_ value: JSONValue) { self.value = value }

    /// How deeply a message may nest: Foundation's own bound, so that no message it read before is refused for depth.
    public static let maxDepth = 512

    /// Parses one message; nil for anything that is not a JSON-RPC 2.0 object (a batch, a scalar, not strict JSON).
    public static func parse(_ bytes: some Collection<UInt8>) -> JSONRPCMessage? {
        guard case .object(let members)? = tree(bytes), members["jsonrpc"]?.string == "2.0" else { return nil }
        return JSONRPCMessage(.object(members))
    }

    /// `parse(_:)` for an answer the gateway writes again from what it read (a paid result with its receipt, a
    /// tools/list with prices, anything from a stdio server), and whether that keeps every number as the server wrote
    /// it (`read(_:)`): an answer that does not is never delivered altered.
    public static func parseAnswer(_ bytes: some Collection<UInt8>) -> (message: JSONRPCMessage, carriesNumbersExactly: Bool)? {
        guard let (tree, exact) = read(bytes), case .object(let members) = tree, members["jsonrpc"]?.string == "2.0" else { return nil }
        return (JSONRPCMessage(.object(members)), exact)
    }

    /// Why an answer whose numbers the gateway cannot carry exactly is no answer.
    public static let inexactAnswer = TollgateError(.upstreamUnavailable, "the MCP server's answer has a number the gateway cannot carry exactly "
                                                    + "(an integer beyond 64 bits, a decimal with more digits than a double keeps); it is not delivered altered")

    /// Any JSON the MCP door reads, read strictly: nil for a repeated member (or keys Swift compares equal), `NaN`,
    /// `Infinity`, a number beyond `Double` and anything else that is not JSON. Two parsers that resolve such input
    /// differently (Foundation keeps a repeated member's first value, the MCP Python SDK's pydantic its last; pydantic
    /// reads `NaN`) would let the gateway price one tool while the server runs another; refused, there is nothing
    /// to read two ways.
    public static func tree(_ bytes: some Collection<UInt8>) -> JSONValue? {
        StrictJSON.tree(Array(bytes), maxDepth: maxDepth)
    }

    /// `tree(_:)`, and whether the message keeps every number as it was written when the gateway writes it again from
    /// its tree (a priced call, a tools/list, anything for a stdio server): not when it holds an integer beyond 64 bits
    /// or a decimal written with more digits than its double's shortest form (`0.10000000000000001`, as `%.17g` writes
    /// 0.1). One pass.
    public static func read(_ bytes: some Collection<UInt8>) -> (tree: JSONValue, carriesNumbersExactly: Bool)? {
        StrictJSON.treeNotingExactness(Array(bytes), maxDepth: maxDepth)
    }

    /// The refusal of a message whose numbers the gateway cannot carry exactly. An id that is not a string or a 64-bit
    /// integer may be that number itself, and echoed from the tree it would not match the client's request: the refusal
    /// then names no id (`null`, as JSON-RPC answers a request whose id could not be read).
    public static func inexactNumber(id: JSONValue?) -> JSONRPCMessage {
        let echoed: JSONValue? = if case .number = id { nil } else { id }
        return .error(id: echoed, code: JSONRPCCode.invalidParams, message: """
            a number in this message cannot be carried exactly (an integer beyond 64 bits, or a decimal with more digits \
            than its double's shortest form): send it as a string
            """)
    }

    public var id: JSONValue? { value["id"] }
    public var method: String? { value["method"]?.string }
    public var params: JSONValue? { value["params"] }
    /// A request (a method and an id), as opposed to a notification or a response.
    public var isRequest: Bool { method != nil && id != nil }
    public var isNotification: Bool { method != nil && id == nil }
    public var result: JSONValue? { value["result"] }
    public var error: JSONValue? { value["error"] }

    public var bytes: [UInt8] { value.canonicalBytes }

    /// A success answer to the request `id`.
    public static func result(id: JSONValue, _ result: JSONValue) -> JSONRPCMessage {
        JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": id, "result": result]))
    }

    /// An error answer to the request `id` (`null` when the request could not be read).
    public static func error(id: JSONValue?, code: Int, message: String, data: JSONValue? = nil) -> JSONRPCMessage {
        var error: [String: JSONValue] = ["code": .integer(Int64(code)), "message": .string(message)]
        if let data { error["data"] = data }
        return JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": id ?? .null, "error": .object(error)]))
    }

    /// The message with `params` replaced.
    public func with(params: JSONValue) -> JSONRPCMessage {
        guard case .object(var members) = value else { return self }
        members["params"] = params
        return JSONRPCMessage(.object(members))
    }

    /// The message with `id` replaced (a multiplexed upstream numbers requests itself).
    public func with(id: JSONValue) -> JSONRPCMessage {
        guard case .object(var members) = value else { return self }
        members["id"] = id
        return JSONRPCMessage(.object(members))
    }
}

/// JSON-RPC and MCP error codes the gateway answers with.
public enum JSONRPCCode {
    public static let parseError = -32700
    public static let invalidRequest = -32600
    public static let methodNotFound = -32601
    public static let invalidParams = -32602
    public static let internalError = -32603
    /// The x402 MCP transport's payment-required error (the PaymentRequired in `error.data`).
    public static let paymentRequired = 402
    /// Tollgate's refusals before any terms: no or unknown credentials, missing scope, too many requests,
    /// unavailable (`error.data` carries the HTTP status, reason, detail and correlation id).
    public static let unauthorized = -32001
    public static let forbidden = -32003
    public static let rateLimited = -32029
    public static let unavailable = -32050
}

extension JSONValue {
    /// The value as a JSON object's members, or an empty object for null/absent.
    var members: [String: JSONValue] { object ?? [:] }

}
