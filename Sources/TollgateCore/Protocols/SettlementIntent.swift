import Foundation

/// One `/settle` call as it was (or is about to be) sent: to which authority, with which exact body. Asking
/// again means asking the same authority with the same body, never another one: the first may have moved
/// the money.
public struct SettlementAttempt: Sendable, Hashable, Codable {
    /// The authority's name (a facilitator's base URL).
    public var authority: String
    /// The request body, opaque to everything but the rail.
    public var request: [UInt8]

    public init(authority: String, request: [UInt8]) {
        self.authority = authority
        self.request = request
    }

    private enum CodingKeys: String, CodingKey { case authority, request }

    /// The body is written as one base64 string: as an array of numbers, encoding a 2 KB body one element at a time
    /// cost more CPU than the rest of a paid request's store work (and it ran on the store's one writer).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(authority, forKey: .authority)
        try container.encode(encodedRequest, forKey: .request)
    }

    /// The body as it is stored: standard base64.
    var encodedRequest: String { Data(request).base64EncodedString() }

    /// Reads both spellings: the base64 string, and the array of numbers that intents recorded before it used.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        authority = try container.decode(String.self, forKey: .authority)
        if let text = try? container.decode(String.self, forKey: .request) {
            guard let bytes = Data(base64Encoded: text) else {
                throw DecodingError.dataCorruptedError(forKey: .request, in: container, debugDescription: "the settlement request is not base64")
            }
            request = Array(bytes)
        } else {
            request = try container.decode([UInt8].self, forKey: .request)
        }
    }
}

/// What the gateway records before it asks to settle, so a crash, a timeout or a lost answer leaves a record
/// from which the payment can be resolved: settled (payment row, the prepared answer for the client's retry,
/// or a refund), failed (nothing moved), or still unknown.
public struct SettlementIntent: Sendable, Hashable, Codable {
    public var key: ProofKey
    public var correlationId: String
    public var attempt: SettlementAttempt
    /// The ledger row to write once settled (`transaction` and `settledAtMillis` are filled in then).
    public var payment: PaymentRecord
    public var metering: MeteringRecord?
    /// The answer already produced (settlement after delivery), without its receipt; nil when the request is
    /// settled before it is forwarded.
    public var response: StoredResponse?
    /// Whether the request may be forwarded again when its answer was lost (a route whose work must not run
    /// twice gets a refund instead).
    public var redeliverable: Bool
    /// The authorization's `validBefore` (Unix seconds): unused after it, it can never move money.
    public var validBefore: Int64
    public var createdAtMillis: Int64

    public init(key: ProofKey, correlationId: String, attempt: SettlementAttempt, payment: PaymentRecord, metering: MeteringRecord?,
                response: StoredResponse?, redeliverable: Bool, validBefore: Int64, createdAtMillis: Int64) {
        self.validBefore = validBefore
        self.key = key
        self.correlationId = correlationId
        self.attempt = attempt
        self.payment = payment
        self.metering = metering
        self.response = response
        self.redeliverable = redeliverable
        self.createdAtMillis = createdAtMillis
    }
}

/// An intent with the state of its reservation, as the reconciler and a retry see it.
public struct OpenSettlement: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable, Codable {
        /// Not resolved yet (the reservation is `settling`, `pending` or `unknown`).
        case open
        case settled
        case failed
        /// Settled, but there is no evidence that allows paying a refund automatically: an operator decides.
        case review
        case refunded

        /// Refunded or under review: nothing delivers it any more, and no later resolution reopens it.
        public var isClosed: Bool { self == .refunded || self == .review }
    }

    public var intent: SettlementIntent
    public var state: Reservation.State
    public var outcome: Outcome
    /// Whether the answer reached (or was made available to) the client.
    public var delivered: Bool
    /// The settlement's transaction, once known.
    public var transaction: String?
    /// Another process sharing the store works on it now: its claim is live (claimed, settling, or settled and not yet
    /// delivered) and that process renewed its lease within the store's grace (`TollgateStore.renewClaims`). Whatever
    /// this process would do (settle it again, refund it) could race that work. Always false on a store one process uses.
    public var leasedElsewhere = false

    /// Whether a request may be working on it now, so that another process's lease on it means something
    /// (`Reservation.State.isLive`).
    public var isLive: Bool { state.isLive(undeliveredSettlement: outcome == .settled && !delivered) }

    public init(intent: SettlementIntent, state: Reservation.State, outcome: Outcome, delivered: Bool, transaction: String? = nil) {
        self.transaction = transaction
        self.intent = intent
        self.state = state
        self.outcome = outcome
        self.delivered = delivered
    }
}

/// What the chain says about one authorization, where the rail can read it (an RPC URL is configured).
public enum ChainAuthorization: Sendable, Hashable {
    /// Never used as of the block the rail read, whose timestamp is `blockTime` (Unix seconds). Only the chain's own time
    /// says it can no longer be used (`neverMoves(validBefore:)`): a node behind the chain's head, or a clock ahead of
    /// it, would otherwise call an authorization still being mined expired.
    case unused(blockTime: Int64)
    /// Transferred; the transaction when the rail found it (a receipt: evidence for a refund).
    case used(transaction: String?)
    /// Spent by a transaction that paid nobody the payment names (the payer signed another authorization with the same
    /// nonce, to itself, and sent it first): nothing moved to the payee.
    case usedElsewhere(transaction: String?)
    /// Cancelled by its signer: no money moved.
    case cancelled

    /// Whether the authorization can no longer move money: cancelled, or unused at a block at or past its `validBefore`
    /// (EIP-3009 refuses it from that time on; block times never go back).
    public func neverMoves(validBefore: Int64) -> Bool {
        switch self {
        case .cancelled: true
        case .unused(let blockTime): blockTime >= validBefore
        case .used, .usedElsewhere: false
        }
    }
}
