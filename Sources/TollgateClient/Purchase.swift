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
        /// Paid, not delivered: the server's receipt says it settled, or the server named a refund for it, or a server
        /// said it was already used and it then expired (`saidUsedAtMillis`). A refund may follow; it is never re-sent.
        case settled
        /// The server answered the one send with a 402 whose reason is coded as a refusal before any settlement (an x402
        /// `invalid_…` code, `insufficient_funds`, a Tollgate gateway's offer check: `SettlementRefusal.refusedBeforeSettlement`),
        /// and no failed settlement that leaves the money in doubt. A 402 with no reason, one this client cannot read,
        /// or any other leaves it `unknown` instead: a server whose settlement threw answers so. It may still hold the
        /// authorization, so, like every authorization signed, it keeps counting against the budget; its request may be
        /// paid anew.
        case refused
        /// No answer that settles the question (re-sent as often as allowed, refused after a re-send, or a server that
        /// says it is still settling): it may or may not have settled. Nothing new is signed for the same request while
        /// it is so; the next run sends it again, and once its validBefore has passed asks the server one last time.
        case unknown
        /// Its validBefore had passed when the server, shown it once more, answered with fresh terms: the server holds
        /// no payment for it, and EIP-3009 lets nothing settle after validBefore, so a new authorization may be signed
        /// for the same request. A refusal can still be a lie, so it keeps counting against the budget.
        case lapsed
        /// Given up by the wallet's owner (`tollgate wallet abandon`) once it was in doubt past its validBefore: the
        /// server kept leaving the question open (a 503, a 5xx, no answer), so its request could never be paid again.
        /// It may have settled with its answer lost (ask the operator, with its correlation id), so it keeps counting
        /// against the budget; it is never sent again, and no longer stops a new authorization for its request.
        case abandoned
    }

    /// A purchase in doubt: signed or sent with no answer that settles the question. While one exists for a request,
    /// nothing new is signed for it (it may still settle, or may have settled with its answer lost).
    public static let inDoubtStates: [State] = [.signed, .sent, .unknown]

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
    /// When a server first said this authorization was already used (the rail's `nonce_already_used`) while it could
    /// still settle. That settles nothing at once (a server may say so of a copy while the first send still runs), but
    /// once the authorization has expired the purchase ends settled, not lapsed, whatever the server answers then: a
    /// server whose settlement timed out answers a fresh 402 although the transfer landed, and its facilitator later
    /// calls the authorization expired rather than used, so a refusal alone would have it paid twice.
    public var saidUsedAtMillis: Int64? = nil
    /// When a server first refused this authorization in a way that may hide money that moved: "already used", a
    /// settlement that failed without saying the transfer was refused (a facilitator's timeout), or a 402 whose reason is
    /// not coded as a refusal before any settlement (none, terms this client cannot read, an exception's text; sent
    /// again, one its first send landing would cause). Once it has expired, a later answer holding nothing for it (fresh
    /// terms) does not lapse it: the server that timed out or threw keeps nothing, and the transfer may have landed. Only
    /// the chain (`PaymentClient.chains`) or its owner (`abandon`) ends it then.
    public var mayHaveMovedAtMillis: Int64? = nil

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
        case saidUsedAtMillis = "said_used_at"
        case mayHaveMovedAtMillis = "may_have_moved_at"
    }

    /// The amount as a decimal with its symbol ("0.01 USDC").
    public var price: String {
        (TokenAmount(atomic: amount)?.decimalString(decimals: decimals) ?? amount) + " " + symbol
    }

    /// A proof is re-sent as usual (the same request, as often as `attempts` allows) only while it has this long left:
    /// a verifier wants 6 s, and the request needs time too.
    public static let resendMarginSeconds: Int64 = 15

    /// How long after its validBefore an authorization is taken to be dead, for clocks that disagree (this machine's,
    /// the server's, the chain's): before that, an authorization the server holds might still settle.
    public static let expirySkewSeconds: Int64 = 30

    /// Signed or sent, with no answer that settles the question.
    public var isInDoubt: Bool { Self.inDoubtStates.contains(state) }

    /// Far enough from its validBefore to be sent as if new: a server takes it, or resumes the claim it has of it.
    public func isResendable(nowSeconds: Int64) -> Bool {
        validBefore > nowSeconds + Self.resendMarginSeconds
    }

    /// Past its validBefore, clock skew included: it can never settle any more, so what the server says of it now is
    /// final (its kept answer, a settlement it resolved, or that it holds nothing).
    public func hasExpired(nowSeconds: Int64) -> Bool {
        validBefore + Self.expirySkewSeconds <= nowSeconds
    }
}
