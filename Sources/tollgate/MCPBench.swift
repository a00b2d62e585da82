import AsyncHTTPClient
import Foundation
import HTTPTypes
import TollgateCore
import TollgateMCP
import TollgateX402

/// `tollgate bench --mcp-tool NAME`: the same phases against an MCP endpoint that charges with the x402 MCP
/// transport (tollgate mcp, or any paid MCP server): a tools/call answered by a PaymentRequired result, then the
/// paid flow (call, sign, call again with `_meta["x402/payment"]`, a receipt). Calls are in the per-request era
/// (2026-07-28), so no session is needed.
struct MCPBenchClient: Sendable {
    let upstream: MCPHTTPUpstream
    let payer: ExactEVMPayer
    let tool: String
    let arguments: JSONValue
    let extra: [(String, String)]

    init(url: String, http: HTTPClient, payer: ExactEVMPayer, tool: String, arguments: JSONValue, extra: [(String, String)]) {
        upstream = MCPHTTPUpstream(url: url, client: http, timeoutSeconds: 30, maxResponseBytes: 8 << 20)
        self.payer = payer
        self.tool = tool
        self.arguments = arguments
        self.extra = extra
    }

    /// One tools/call: the JSON-RPC answer.
    func call(payment: JSONValue? = nil) async throws -> JSONRPCMessage {
        var fields: HTTPFields = [
            .mcpProtocolVersion: MCPEra.perRequestVersion, .mcpMethod: "tools/call", .mcpName: MCPRoutingHeaders.encoded(tool),
        ]
        for (name, value) in extra { if let field = HTTPField.Name(name) { fields[field] = value } }
        return try await upstream.call(message(payment: payment), callerFields: fields, contract: [:]).message
    }

    /// The tools/call request, with the payment in `_meta` when there is one.
    func message(payment: JSONValue?) -> JSONRPCMessage {
        var meta: [String: JSONValue] = [
            MCPEra.protocolVersionKey: .string(MCPEra.perRequestVersion),
            "io.modelcontextprotocol/clientInfo": .object(["name": .string("tollgate-bench"), "version": .string("1")]),
            "io.modelcontextprotocol/clientCapabilities": .object([:]),
        ]
        if let payment { meta[ToolCall.paymentKey] = payment }
        return JSONRPCMessage(.object([
            "jsonrpc": .string("2.0"), "id": .integer(1), "method": .string("tools/call"),
            "params": .object(["name": .string(tool), "arguments": arguments, "_meta": .object(meta)]),
        ]))
    }

    /// The `_meta["x402/payment"]` value that pays `terms`.
    func payment(for terms: X402.PaymentRequired) throws -> JSONValue {
        try JSONValue.encoding(try payer.pay(terms, now: Int64(Date().timeIntervalSince1970)))
    }

    /// The PaymentRequired of an answer, decoded: a tool result with `isError` (the transport's form), or the
    /// JSON-RPC error with code 402 and the terms in `error.data` that the x402 SDK also defines.
    static func terms(_ answer: JSONRPCMessage) -> X402.PaymentRequired? {
        let terms: JSONValue?
        if let error = answer.error {
            terms = error["code"]?.int == JSONRPCCode.paymentRequired ? error["data"] : nil
        } else {
            terms = answer.result?["isError"] == .bool(true) ? answer.result?["structuredContent"] : nil
        }
        guard let terms else { return nil }
        return try? JSONDecoder().decode(X402.PaymentRequired.self, from: Data(terms.canonicalBytes))
    }

    /// The paid flow: an unpaid call, a signature, the paid call; true when it came back with a successful receipt.
    func paidFlow() async throws -> Bool {
        guard let terms = Self.terms(try await call()) else { return false }
        let paid = try await call(payment: try payment(for: terms)).result
        return paid?["isError"] != .bool(true) && paid?["_meta"]?[ToolCall.paymentResponseKey]?["success"] == .bool(true)
    }
}
