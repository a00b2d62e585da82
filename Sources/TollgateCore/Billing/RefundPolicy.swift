import Foundation

/// What a refund may be, decided before and apart from any store: the request's checks, what is left to give
/// back, the record it becomes, the package units a payout takes back, closing. A store reads the flow's
/// payment (or package spend) and what was refunded so far, asks these functions, and writes the answer in the
/// same transaction as the reads, so two refunds racing can never together exceed what the flow cost.
/// Amounts are integer atomic units (or whole units) throughout.
public enum RefundPolicy {
    /// The longest reason accepted, in characters.
    public static let maxReasonLength = 500

    /// The request as recorded (reason trimmed), or why it is refused before anything is read.
    public static func validated(_ request: RefundRequest) throws(TollgateError) -> RefundRequest {
        var request = request
        request.reason = request.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !request.reason.isEmpty, request.reason.count <= maxReasonLength else {
            throw TollgateError(.invalid, "give a reason (1–\(maxReasonLength) characters)")
        }
        if let amount = request.amount, amount.isZero { throw TollgateError(.invalid, "the amount must be greater than zero") }
        if let key = request.requestKey, !(1...200).contains(key.utf8.count) || !key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
            throw TollgateError(.invalid, "the idempotency key must be 1–200 printable ASCII characters without spaces")
        }
        return request
    }

    /// The refund an idempotency key already recorded, for `request` sent again with the same key: the same flow, amount
    /// (or none asked) and reason get it back, nothing new is recorded; anything else under that key is a conflict.
    public static func replay(_ recorded: Refund, of request: RefundRequest) throws(TollgateError) -> Refund {
        guard recorded.correlationId == request.correlationId, request.amount.map({ $0.atomic == recorded.amount }) ?? true,
              recorded.reason == request.reason else {
            throw TollgateError(.idempotencyConflict, "the idempotency key \(request.requestKey ?? "") already recorded refund \(recorded.id) "
                                + "(flow \(recorded.correlationId), \(recorded.amount)); use a new key for another refund")
        }
        return recorded
    }

    /// Refuses a refund `onlyIfUndelivered` unless the flow's settlement intent, as read in the refund's transaction,
    /// is settled and undelivered (nil outcome: no intent is recorded, so nothing says the answer was lost).
    public static func checkUndelivered(_ request: RefundRequest, outcome: OpenSettlement.Outcome?, delivered: Bool) throws(TollgateError) {
        guard request.onlyIfUndelivered else { return }
        guard outcome == .settled, !delivered else {
            throw TollgateError(.delivered, "\(request.correlationId) is \(delivered ? "delivered" : outcome?.rawValue ?? "not recorded as settled"); "
                                    + "nothing to refund for an answer not delivered")
        }
    }

    /// Refuses to record a delivery whose settlement intent was refunded or put under review (by the reconciler, an
    /// operator, another instance) while the request ran: the answer is then not served, and a retry is told of the refund.
    public static func checkDeliverable(_ outcome: OpenSettlement.Outcome?) throws(TollgateError) {
        guard let outcome, outcome.isClosed else { return }
        throw TollgateError(.settlementClosed, "the payment was \(outcome == .refunded ? "refunded" : "put under review") before its delivery was recorded")
    }

    /// A refund of an on-chain payment: `pending_payout`, for `request.amount` or everything not yet refunded.
    /// - Parameter refunded: the payout refunds already recorded for the flow, summed.
    public static func payout(_ request: RefundRequest, of payment: PaymentRecord, refunded: TokenAmount, id: String,
                              nowMillis: Int64) throws(TollgateError) -> Refund {
        let paid = TokenAmount(atomic: payment.amount) ?? .zero
        let remaining = paid.subtracting(refunded) ?? .zero
        guard !remaining.isZero else { throw TollgateError(.alreadyRefunded, "\(request.correlationId) is already refunded in full (\(paid.atomic))") }
        let amount = request.amount ?? remaining
        guard amount <= remaining else {
            throw TollgateError(.exceedsPaid, "\(amount.atomic) exceeds what is left to refund: \(remaining.atomic) of \(paid.atomic) paid (atomic units)")
        }
        return Refund(id: id, correlationId: request.correlationId, kind: .payout, state: .pendingPayout, clientId: payment.clientId,
                      payer: payment.payer, resource: payment.resource, amount: amount.atomic, asset: payment.asset, network: payment.network,
                      unit: payment.unit, reason: request.reason, actor: request.actor, automatic: request.automatic, createdAtMillis: nowMillis)
    }

    /// A refund of units spent from a package: `credited` at once, for `request.amount` units or all not yet credited.
    /// - Parameter credited: the units already credited back for the flow.
    public static func credit(_ request: RefundRequest, of usage: UsageEvent, credited: TokenAmount, id: String,
                              nowMillis: Int64) throws(TollgateError) -> Refund {
        // Only what the balance gave: a spend the balance could not cover in full records what it took (`Finish.recorded`).
        let consumed = TokenAmount(atomic: String(max(0, min(usage.quantity, usage.paidQuantity)))) ?? .zero
        let remaining = consumed.subtracting(credited) ?? .zero
        guard !remaining.isZero else { throw TollgateError(.alreadyRefunded, "the units of \(request.correlationId) are already credited back") }
        let amount = request.amount ?? remaining
        guard amount <= remaining, Int(amount.atomic) != nil else {
            throw TollgateError(.exceedsPaid, "\(amount.atomic) units exceed what is left to credit: \(remaining.atomic) of \(consumed.atomic) spent")
        }
        return Refund(id: id, correlationId: request.correlationId, kind: .packageCredit, state: .credited, clientId: usage.clientId,
                      payer: usage.payer, resource: usage.resource, amount: amount.atomic, asset: "", network: "", unit: usage.unit,
                      reason: request.reason, actor: request.actor, automatic: request.automatic, createdAtMillis: nowMillis,
                      closedAtMillis: nowMillis)
    }

    /// What a payout refund takes back of the package its payment bought.
    public struct TakeBack: Sendable, Hashable {
        /// Units taken from the balance.
        public var units: Int
        /// Units the refund's share names that the balance no longer holds (spent since the purchase).
        public var short: Int
        /// The balance after.
        public var balance: Int
    }

    /// The units a payout refund takes back from the package the payment bought: the refunded share of the units granted,
    /// counted on every refund of the flow so far (partial refunds together take back what one refund of the whole would,
    /// all of them once everything is refunded), as far as `balance` holds them. An automatic refund whose share was spent
    /// meanwhile is refused (`unitsSpent`): its client used what it paid for, so an operator decides; an operator's
    /// refund goes through, its shortfall recorded in its audit event.
    public static func takeBack(granted: Int, paid: String, refundedBefore: TokenAmount, refund: Refund, balance: Int) throws(TollgateError) -> TakeBack {
        let whole = TokenAmount(atomic: paid) ?? .zero
        let after = refundedBefore.adding(TokenAmount(atomic: refund.amount) ?? .zero) ?? whole
        let due = max(0, TokenAmount.proportion(of: granted, part: after, whole: whole) - TokenAmount.proportion(of: granted, part: refundedBefore, whole: whole))
        let units = min(due, max(0, balance))
        if units < due, refund.automatic {
            throw TollgateError(.unitsSpent, "\(refund.correlationId) bought \(granted) units, and \(due - units) of the \(due) to take back "
                                + "were spent since: not refunded automatically (listed for review)")
        }
        return TakeBack(units: units, short: due - units, balance: max(0, balance) - units)
    }

    /// The sum of recorded refund amounts (unreadable amounts count as zero).
    /// Whether `refund`, after `refunded` before it, gives back all `payment` paid: its answer is then not served again.
    public static func completes(_ refund: Refund, refunded: TokenAmount, of payment: PaymentRecord) -> Bool {
        guard let amount = TokenAmount(atomic: refund.amount), let after = refunded.adding(amount), let paid = TokenAmount(atomic: payment.amount) else {
            return false
        }
        return after >= paid
    }

    public static func total(_ amounts: [String]) -> TokenAmount {
        amounts.reduce(TokenAmount.zero) { total, amount in TokenAmount(atomic: amount).flatMap { total.adding($0) } ?? total }
    }

    /// The payout transaction as recorded (lowercase), or why it is refused.
    public static func payoutTransaction(_ text: String) throws(TollgateError) -> String {
        let transaction = text.lowercased()
        guard transaction.utf8.count == 66, transaction.hasPrefix("0x"), HexString.decode(String(transaction.dropFirst(2))) != nil else {
            throw TollgateError(.invalid, "the payout transaction must be 0x followed by 64 hex digits")
        }
        return transaction
    }

    /// Refuses a payout transaction that cannot have paid refund `id`: one a recorded payment settled with (the flow's
    /// own transaction pasted for its refund's: the payer would be told the refund is paid while nothing went back), or
    /// one that already closes other refunds, unless the close says it pays several at once (`batch`). Without a chain
    /// node the gateway cannot see what a transaction paid; it can still refuse the ones it knows to be something else.
    public static func checkPayout(_ transaction: String, closing id: String, settledFlows: [String], closedRefunds: [String],
                                   batch: Bool) throws(TollgateError) {
        if let flow = settledFlows.first {
            throw TollgateError(.payoutTransactionUsed, """
                \(transaction) is the settlement transaction of the payment of flow \(flow), not a payout: record the transaction \
                that paid refund \(id) back
                """)
        }
        let others = closedRefunds.filter { $0 != id }.sorted()
        guard batch || others.isEmpty else {
            throw TollgateError(.payoutTransactionUsed, """
                \(transaction) already closes refund \(others.joined(separator: ", ")): if this one transaction pays several refunds \
                at once, close with batch (--batch)
                """)
        }
    }

    /// `refund` closed as paid out by `transaction` (already checked by `payoutTransaction`); only a `pending_payout` closes.
    public static func closed(_ refund: Refund, transaction: String, nowMillis: Int64) throws(TollgateError) -> Refund {
        guard refund.state == .pendingPayout else {
            throw TollgateError(.notPending, "refund \(refund.id) is \(refund.state.rawValue), not pending_payout")
        }
        var refund = refund
        refund.state = .paid
        refund.closedAtMillis = nowMillis
        refund.payoutTransaction = transaction
        return refund
    }

    /// A new refund id: `rf_` and 16 hex digits.
    public static func newId() -> String { "rf_" + AdminEvent.randomHex() }

    /// The audit event of a recorded refund (`automatic_refund` or `refund_recorded`).
    /// The event of a recorded refund; with what it took back of a package the payment bought, when it did.
    public static func recordedEvent(_ refund: Refund, takeBack: TakeBack? = nil) -> AuditEvent {
        var event = event(refund, reason: refund.automatic ? "automatic_refund" : "refund_recorded", actor: refund.actor, nowMillis: refund.createdAtMillis)
        if let takeBack {
            event.details["units_taken_back"] = String(takeBack.units)
            if takeBack.short > 0 { event.details["units_short"] = String(takeBack.short) }
        }
        return event
    }

    /// The event of a payout recorded (`payout_recorded`); detail `batch` ("true") when the close said its transaction
    /// may pay several refunds.
    public static func payoutEvent(_ refund: Refund, batch: Bool, actor: String, nowMillis: Int64) -> AuditEvent {
        var event = event(refund, reason: "payout_recorded", actor: actor, nowMillis: nowMillis)
        if batch { event.details["batch"] = "true" }
        return event
    }

    /// The audit event of a refund, under the refunded flow's correlation id so its trace shows it.
    public static func event(_ refund: Refund, reason: String, actor: String, nowMillis: Int64) -> AuditEvent {
        var details = ["refund_id": refund.id, "kind": refund.kind.rawValue, "state": refund.state.rawValue, "amount": refund.amount,
                       "automatic": String(refund.automatic), "actor": actor, "reason_text": refund.reason]
        if !refund.asset.isEmpty { details["asset"] = refund.asset }
        if !refund.network.isEmpty { details["network"] = refund.network }
        if refund.kind == .packageCredit { details["unit"] = refund.unit }
        if let transaction = refund.payoutTransaction { details["payout_transaction"] = transaction }
        return AuditEvent(correlationId: refund.correlationId, timeMillis: nowMillis, stage: .refund, outcome: .ok, reason: reason,
                          clientId: refund.clientId, resource: refund.resource, details: details)
    }
}
