import Foundation
import GRDB
import TollgateCore

/// One payment the client authorized, as the ledger keeps it: what was bought, what was signed (kept before it is
/// sent, so a retry re-sends it and a crash leaves it to be found), and how it ended. What a user needs to dispute
/// a charge: the request, the amount, the payee, the server's correlation id, the receipt and its transaction hash.
public struct Purchase: Sendable, Hashable, Codable, FetchableRecord, PersistableRecord {
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        /// Signed and written; not known to have left this machine.
        case signed
        /// Sent at least once; no final answer yet.
        case sent
        /// The server delivered (2xx), usually with a receipt.
        case delivered
        /// The server answered that it did not take the payment (a 402 again, a 4xx): it may still hold the
        /// authorization, so it counts against the budget until it expires.
        case refused
        /// Re-sent as often as allowed without an answer: it may or may not have settled.
        case unknown
    }

    public static let databaseTableName = "purchase"

    /// The `payment-identifier` sent with it (`pay_` + 32 hex digits): one per purchase, the same on every re-send.
    public var id: String
    public var createdAtMillis: Int64
    public var method: String
    public var url: String
    public var host: String
    /// The MCP tool, for a paid tool call.
    public var tool: String?
    /// SHA-256 of method, URL (or tool) and body (or arguments): what makes a later run the same purchase.
    public var requestKey: String
    public var network: String
    public var asset: String
    public var symbol: String
    public var decimals: Int
    public var payee: String
    /// Atomic units of the asset.
    public var amount: String
    /// Budget units (millionths of the asset's unit).
    public var units: Int64
    public var payer: String
    public var x402Version: Int
    /// The header (or `_meta` key) the proof travels in, and its value: the signed authorization.
    public var proofName: String
    public var proof: String
    public var nonce: String
    /// Unix seconds after which the authorization cannot settle any more.
    public var validBefore: Int64
    public var state: State
    public var attempts: Int
    public var status: Int?
    public var correlationId: String?
    public var transaction: String?
    /// The decoded `PAYMENT-RESPONSE` (JSON), when the server sent one.
    public var receipt: String?
    public var reason: String?
    public var updatedAtMillis: Int64

    enum CodingKeys: String, CodingKey {
        case id, method, url, host, tool, network, asset, symbol, decimals, payee, amount, units, payer, proof, nonce, state, attempts, status
        case receipt, reason, transaction
        case createdAtMillis = "created_at"
        case requestKey = "request_key"
        case x402Version = "x402_version"
        case proofName = "proof_name"
        case validBefore = "valid_before"
        case correlationId = "correlation_id"
        case updatedAtMillis = "updated_at"
    }

    /// The amount as a decimal with its symbol ("0.01 USDC").
    public var price: String {
        (TokenAmount(atomic: amount)?.decimalString(decimals: decimals) ?? amount) + " " + symbol
    }

    /// Whether it still counts against the budget at `nowSeconds`: everything does but a refused authorization that
    /// can no longer settle.
    public func counts(nowSeconds: Int64) -> Bool {
        !(state == .refused && validBefore < nowSeconds)
    }

    /// Signed or sent, not answered, and still able to settle: a later run of the same request re-sends it.
    public func isReusable(nowSeconds: Int64) -> Bool {
        [.signed, .sent, .unknown].contains(state) && validBefore > nowSeconds + 5
    }
}

