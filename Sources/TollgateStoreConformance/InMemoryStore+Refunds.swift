import TollgateCore

/// Refunds and their payouts, by Core's `RefundPolicy`, like every store.
extension InMemoryStore {
    public func refund(_ request: RefundRequest, nowMillis: Int64) async throws -> Refund {
        let request = try RefundPolicy.validated(request)
        if let key = request.requestKey, let recorded = refundKeys[key].flatMap({ id in refundsRecorded.first { $0.id == id } }) {
            return try RefundPolicy.replay(recorded, of: request)
        }
        let previous = refundsRecorded.filter { $0.correlationId == request.correlationId }
        let refund: Refund
        var takeBack: RefundPolicy.TakeBack?
        if let payment = payments.first(where: { $0.correlationId == request.correlationId }) {
            if request.onlyIfUndelivered {
                let intent = claims.first(where: { $0.value.reservation.correlationId == request.correlationId }).flatMap { intents[$0.key] }
                try RefundPolicy.checkUndelivered(request, outcome: intent?.outcome, delivered: intent?.delivered ?? false)
            }
            let refunded = RefundPolicy.total(previous.filter { $0.kind == .payout }.map(\.amount))
            refund = try RefundPolicy.payout(request, of: payment, refunded: refunded, id: RefundPolicy.newId(), nowMillis: nowMillis)
            if let grant = grants[request.correlationId], let balance = balances["\(grant.clientId)/\(grant.package)"] {
                let taken = try RefundPolicy.takeBack(granted: grant.units, paid: payment.amount, refundedBefore: refunded, refund: refund, balance: balance)
                balances["\(grant.clientId)/\(grant.package)"] = taken.balance
                takeBack = taken
            }
            // All the money given back, the answer is not given again: a retry of the proof is told of the refund instead.
            if RefundPolicy.completes(refund, refunded: refunded, of: payment), let key = claims.first(where: { $0.value.reservation.correlationId == request.correlationId })?.key {
                intents[key]?.outcome = .refunded
                updated[key] = nowMillis
                if let kept = responses[key] { responses[key] = (kept.response, false) }
            }
        } else if let spent = usage[request.correlationId], spent.source == .package {
            refund = try RefundPolicy.credit(request, of: spent, credited: RefundPolicy.total(previous.filter { $0.kind == .packageCredit }.map(\.amount)),
                                             id: RefundPolicy.newId(), nowMillis: nowMillis)
            let key = "\(spent.clientId)/\(unitHolds[request.correlationId]?.hold.package ?? spent.resource)"
            balances[key] = PackageUnits.afterCredit(balance: balances[key] ?? 0, units: Int(refund.amount) ?? 0)
        } else {
            throw TollgateError(.notFound, "no payment or package spend is recorded for \(request.correlationId)")
        }
        refundsRecorded.append(refund)
        if let key = request.requestKey { refundKeys[key] = refund.id }
        write([RefundPolicy.recordedEvent(refund, takeBack: takeBack)])
        return refund
    }

    public func refunds(state: Refund.State?, correlationId: String?, limit: Int) async throws -> [Refund] {
        Array(refundsRecorded.reversed().filter { (state == nil || $0.state == state) && (correlationId == nil || $0.correlationId == correlationId) }
            .prefix(max(1, min(limit, 10_000))))
    }

    public func closeRefund(id: String, payoutTransaction: String, batch: Bool, actor: String, nowMillis: Int64) async throws -> Refund {
        let transaction = try RefundPolicy.payoutTransaction(payoutTransaction)
        guard let index = refundsRecorded.firstIndex(where: { $0.id == id }) else { throw TollgateError(.unknownRefund, "no refund \(id)") }
        let refund = try RefundPolicy.closed(refundsRecorded[index], transaction: transaction, nowMillis: nowMillis)
        try RefundPolicy.checkPayout(transaction, closing: id, settledFlows: payments.filter { $0.transaction.lowercased() == transaction }.map(\.correlationId),
                                     closedRefunds: refundsRecorded.filter { $0.payoutTransaction == transaction }.map(\.id), batch: batch)
        refundsRecorded[index] = refund
        write([RefundPolicy.payoutEvent(refund, batch: batch, actor: actor, nowMillis: nowMillis)])
        return refund
    }
}
