import Foundation
import MCP
import TollgateCore
import TollgateMCP

/// Between the swift-sdk's values (`Value`, `Metadata`, `CallTool.Result`, `MCPError`) and Tollgate's JSON-RPC
/// messages (`JSONValue`, `JSONRPCMessage`), which `MCPToolGate` decides on.
enum MCPBridge {
    /// An SDK value as Tollgate's JSON tree, through its JSON form, which is what the SDK itself sends (a data value
    /// becomes its data URL).
    static func json(_ value: some Encodable) throws -> JSONValue {
        try JSONValue.encoding(value)
    }

    /// A JSON tree as an SDK value, member by member. Not through `Value`'s decoder: it turns a string that reads as
    /// a data URL into data, which it writes back differently, so a receipt or an answer would not be the one stored.
    static func value(_ json: JSONValue) -> Value {
        switch json {
        case .null: .null
        case .bool(let value): .bool(value)
        case .integer(let value): Int(exactly: value).map(Value.int) ?? .double(Double(value))
        case .number(let value): .double(value)
        case .string(let value): .string(value)
        case .array(let items): .array(items.map(Self.value))
        case .object(let members): .object(members.mapValues(Self.value))
        }
    }

    /// `_meta` with exactly these fields (`Metadata`'s own initialiser drops a `progressToken` it is not given).
    static func metadata(_ fields: [String: JSONValue]) -> Metadata {
        var metadata = Metadata()
        metadata.fields = fields.mapValues(Self.value)
        return metadata
    }

    /// The `tools/call` request the gate decides on. Its id is never sent anywhere: the answer comes back here.
    static func request(_ params: CallTool.Parameters) throws -> JSONRPCMessage {
        JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .string("in-process"), "method": .string(CallTool.name),
                                "params": try json(params)]))
    }

    /// The parameters as the tool sees them: the payment is the gateway's business, not the tool's.
    static func withoutPayment(_ params: CallTool.Parameters) -> CallTool.Parameters {
        guard var meta = params._meta, meta.fields[ToolCall.paymentKey] != nil else { return params }
        meta.fields.removeValue(forKey: ToolCall.paymentKey)
        return CallTool.Parameters(name: params.name, arguments: params.arguments, meta: meta.fields.isEmpty ? nil : meta)
    }

    /// A tool result as the gate answered it (content, `structuredContent`, `isError`, `_meta` with the receipt).
    static func result(_ json: JSONValue) throws -> CallTool.Result {
        let content = try JSONDecoder().decode([Tool.Content].self, from: Data((json["content"] ?? .array([])).canonicalBytes))
        var isError: Bool?
        if case .bool(let flag)? = json["isError"] { isError = flag }
        return CallTool.Result(content: content, structuredContent: json["structuredContent"].map(Self.value), isError: isError,
                               _meta: json["_meta"]?.object.map(Self.metadata))
    }

    /// A tool's thrown `MCPError` as the JSON-RPC error answer to `id`.
    static func message(_ error: MCPError, id: JSONValue) -> JSONRPCMessage {
        guard let encoded = try? json(error) else { return .error(id: id, code: error.code, message: "\(error)") }
        return JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": id, "error": encoded]))
    }

    /// A JSON-RPC error (the tool's own, or the gateway's refusal) as the `MCPError` the SDK answers with, code kept.
    static func mcpError(_ error: JSONValue) -> MCPError {
        let code = error["code"]?.int ?? JSONRPCCode.internalError
        let message = error["message"]?.string ?? "error \(code)"
        // The SDK decodes -32000 and -32001 as its own transport failures; Tollgate's refusals in the server range
        // (-32001 unauthorized, -32003, -32029, -32050) are answers with a code, not a broken connection.
        if (-32099 ... -32000).contains(code) { return .serverError(code: code, message: message) }
        return (try? JSONDecoder().decode(MCPError.self, from: Data(error.canonicalBytes))) ?? .serverError(code: code, message: message)
    }
}
