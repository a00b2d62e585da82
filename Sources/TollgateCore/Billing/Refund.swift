/// Money or units given back for one flow. A refund never deletes history: it is a record of its own,
/// audited, and an on-chain refund stays `pending_payout` until the operator's payout process closes it
/// with the payout transaction.
public struct Refund: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        /// Owed to the payer on chain; the operator pays it out and closes the record.
        case pendingPayout = "pending_payout"
        /// Paid out (closed with the payout transaction id).
        case paid
        /// Units given back to a package balance at once; nothing to pay out.
        case credited
    }

    public enum Kind: String, Sendable, Hashable, Codable {
        /// An x402 payment: the amount is atomic units of `asset`.
        case payout
        /// Units spent from a package balance: the amount is a count of `unit`.
        case packageCredit = "package_credit"
    }

    /// `rf_` and 16 hex digits.
    public var id: String
    public var correlationId: String
    public var kind: Kind
    public var state: State
    public var clientId: String
    public var payer: String
    public var resource: String
    /// Atomic amount (payout) or a count of units (package credit), as a decimal string.
    public var amount: String
    public var asset: String
    public var network: String
    public var unit: String
    public var reason: String
    /// Who asked for it (`cli:<user>`, `admin:<actor>`, or `tollgate` for automatic refunds).
    public var actor: String
    /// Created by the gateway itself (a settled request that was not delivered).
    public var automatic: Bool
    public var createdAtMillis: Int64
    public var closedAtMillis: Int64?
    public var payoutTransaction: String?

    public init(id: String, correlationId: String, kind: Kind, state: State, clientId: String, payer: String, resource: String,
                amount: String, asset: String, network: String, unit: String, reason: String, actor: String, automatic: Bool,
                createdAtMillis: Int64, closedAtMillis: Int64? = nil, payoutTransaction: String? = nil) {
        self.id = id
        self.correlationId = correlationId
        self.kind = kind
        self.state = state
        self.clientId = clientId
        self.payer = payer
        self.resource = resource
        self.amount = amount
        self.asset = asset
        self.network = network
        self.unit = unit
        self.reason = reason
        self.actor = actor
        self.automatic = automatic
        self.createdAtMillis = createdAtMillis
        self.closedAtMillis = closedAtMillis
        self.payoutTransaction = payoutTransaction
    }
}

/// A request to give back (part of) what one flow cost.
public struct RefundRequest: Sendable, Hashable {
    public var correlationId: String
    /// nil refunds everything not yet refunded. Atomic units for a payment, a count of units for a package spend.
    public var amount: TokenAmount?
    public var reason: String
    public var actor: String
    public var automatic: Bool
    /// A refund because the answer was never delivered: recorded only while the flow's settlement is still settled and
    /// undelivered, read in the refund's own transaction (a retry that delivered the answer meanwhile, on this
    /// instance or another, wins: `TollgateError.Code.delivered`).
    public var onlyIfUndelivered: Bool
    /// The caller's idempotency key (the admin API's `Idempotency-Key`): the same request sent again with it (a retry
    /// after a timeout, whose first try may have been recorded) gets the refund recorded the first time, never a second.
    public var requestKey: String?

    public init(correlationId: String, amount: TokenAmount? = nil, reason: String, actor: String, automatic: Bool = false,
                onlyIfUndelivered: Bool = false, requestKey: String? = nil) {
        self.correlationId = correlationId
        self.amount = amount
        self.reason = reason
        self.actor = actor
        self.automatic = automatic
        self.onlyIfUndelivered = onlyIfUndelivered
        self.requestKey = requestKey
    }
}

/// The codes of refused refunds (thrown as `TollgateError`): `.notFound` when no flow with this correlation id
/// was paid or spent units, `.invalid` when the amount, reason or transaction id is not acceptable, and these.
extension TollgateError.Code {
    /// The amount asked exceeds what was paid minus what was already refunded.
    public static let exceedsPaid = Self("exceeds_paid")
    /// Everything was already refunded.
    public static let alreadyRefunded = Self("already_refunded")
    /// The refund to close does not exist.
    public static let unknownRefund = Self("unknown_refund")
    /// The refund is not `pending_payout` (already paid, or a package credit).
    public static let notPending = Self("not_pending")
    /// A refund `onlyIfUndelivered` found the answer delivered, or the settlement no longer settled.
    public static let delivered = Self("delivered")
    /// A delivery found its settlement refunded or under review (`RefundPolicy.checkDeliverable`): nothing was recorded.
    public static let settlementClosed = Self("settlement_closed")
    /// An automatic refund of a package purchase whose units were spent meanwhile (the balance no longer holds the share
    /// to take back): nothing was recorded; it is listed for an operator's review instead.
    public static let unitsSpent = Self("units_spent")
    /// An idempotency key already used for a different refund (another flow, amount or reason).
    public static let idempotencyConflict = Self("idempotency_conflict")
    /// A payout transaction that cannot pay this refund: it is a payment's own settlement, or it already closes another
    /// refund and the close did not say it pays several (`batch`).
    public static let payoutTransactionUsed = Self("payout_transaction_used")
}

extension TollgateError {
    /// Whether this is a refund refused for what was asked (unknown flow or refund, amount, state), not a store failure.
    public var isRefundRefusal: Bool {
        [.notFound, .invalid, .exceedsPaid, .alreadyRefunded, .unknownRefund, .notPending, .unitsSpent, .idempotencyConflict,
         .payoutTransactionUsed].contains(code)
    }
}

/// Where refunds are recorded. Each call commits its audit event (stage `refund`) in the same transaction.
public protocol RefundLedger: Sendable {
    /// Records a refund for a flow: a package spend is re-credited at once (`credited`); a payment becomes
    /// `pending_payout`. The total refunded for a flow never exceeds what it paid. Throws `TollgateError` (refund codes).
    /// A payment refunded in full has its answer never served again: in the same transaction its settlement intent
    /// becomes `refunded` and its kept answer stops being offered, so a retry of the proof is told of the refund (502
    /// `not_delivered`) instead of getting the answer as well.
    func refund(_ request: RefundRequest, nowMillis: Int64) async throws -> Refund

    /// Refunds, newest first, optionally only those in `state` or of one flow.
    func refunds(state: Refund.State?, correlationId: String?, limit: Int) async throws -> [Refund]

    /// Closes a `pending_payout` refund with the transaction that paid it out. Throws `TollgateError` (refund codes):
    /// `payoutTransactionUsed` when the transaction is a recorded payment's settlement, or already closes another refund
    /// and `batch` is false (`RefundPolicy.checkPayout`). With `batch`, one transaction paying several refunds at once.
    func closeRefund(id: String, payoutTransaction: String, batch: Bool, actor: String, nowMillis: Int64) async throws -> Refund
}

extension RefundLedger {
    /// `closeRefund` with a transaction that pays this refund alone.
    public func closeRefund(id: String, payoutTransaction: String, actor: String, nowMillis: Int64) async throws -> Refund {
        try await closeRefund(id: id, payoutTransaction: payoutTransaction, batch: false, actor: actor, nowMillis: nowMillis)
    }
}
