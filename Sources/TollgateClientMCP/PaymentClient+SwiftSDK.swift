import Foundation
import MCP
import TollgateClient
import TollgateCore
import TollgateMCP

extension PaymentClient {
    /// Calls `tool` through a swift-sdk `Client` (modelcontextprotocol/swift-sdk), paying a PaymentRequired result
    /// within the budget, recorded in the ledger, never twice for one call (the x402 MCP transport: the payment goes
    /// in `_meta["x402/payment"]`, the receipt comes back in the result's `_meta["x402/payment-response"]`).
    /// `server` names the server for the ledger and the budget's `hosts` limits (its URL).
    public func callTool(_ client: Client, server: String, tool: String, arguments: [String: Value]? = nil,
                         confirm: @Sendable (Quote) async -> Bool = { _ in true }) async throws -> (result: CallTool.Result, outcome: ToolOutcome) {
        let json = try JSONValue.encoding(arguments ?? [:])
        let outcome = try await callTool(server: server, tool: tool, arguments: json, confirm: confirm) { payment in
            var meta: Metadata?
            if let payment {
                meta = Metadata(additionalFields: [ToolCall.paymentKey: try JSONDecoder().decode(Value.self, from: Data(payment.canonicalBytes))])
            }
            do {
                let result = try await client.callTool(name: tool, arguments: arguments, meta: meta).value
                return JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "result": try JSONValue.encoding(result)]))
            } catch let error as MCPError {
                guard let answer = try Self.answer(error) else { throw error }
                return answer
            }
        }
        guard let result = outcome.answer.result else {
            let problem = "the tool call was refused: \(outcome.answer.error?["message"]?.string ?? "no result")"
            if let purchase = outcome.purchase, purchase.isInDoubt {
                throw PaymentClient.inDoubt(purchase, nowSeconds: Int64(Date().timeIntervalSince1970), problem: problem)
            }
            throw ClientError(.serverRefused, problem)
        }
        return (try JSONDecoder().decode(CallTool.Result.self, from: Data(result.canonicalBytes)), outcome)
    }

    /// What a swift-sdk error to a paid call is: a JSON-RPC error answer (among them the 402 form some servers use), or
    /// nil for no answer, after which the same proof is sent again (it may have been taken; sending it again cannot pay
    /// twice). The swift-sdk's HTTP transport reports HTTP 408, 429, 5xx and other unexpected statuses as an
    /// `internalError` with its own message, which says nothing of the payment: no answer, like a closed connection. A
    /// server's own JSON-RPC error -32603 is an `internalError` too, with the server's message: an answer.
    static func answer(_ error: MCPError) throws -> JSONRPCMessage? {
        switch error {
        case .connectionClosed, .transportError: return nil
        case .internalError(let detail?) where transportStatuses.contains(where: detail.hasPrefix): return nil
        default: return JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "error": try JSONValue.encoding(error)]))
        }
    }

    /// How the swift-sdk's HTTP transport words an HTTP status that carried no JSON-RPC answer (408, 429, 5xx, others).
    static let transportStatuses = ["Request timeout", "Too many requests", "Server error: ", "Unexpected HTTP response"]
}
