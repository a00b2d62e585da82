import HTTPTypes

/// Stage `decide` (limits): the payment is held against every spend cap on its asset and every quota on its
/// unit, all or nothing, before anything is forwarded; the store applies the hold as one conditional write, so
/// a cap is never exceeded under concurrency.
extension Journey {
    mutating func holdSpend(_ paid: PaidFlow, events: [AuditEvent]) -> Action {
        let holds = SpendHold.needed(by: paid, caps: settings.spendCaps, quotas: settings.quotas, atMillis: paid.periodMillis(now: nowMillis))
        guard !holds.isEmpty else { return deliver(paid, events: events) }
        state = .holdingSpend(paid, events: events)
        return .holdSpend(holds, correlationId: flow.correlationId)
    }

    mutating func spendHeld(_ result: Result<SpendHold?, Failure>, _ paid: PaidFlow, events: [AuditEvent]) -> Action {
        switch result {
        case .failure(let failure):
            return finish(.release(paid.proof.key, events: [], then: .unavailable(
                .storeUnavailable, detail: "the gateway cannot record spend right now",
                events: events + [event(.decide, .error, .storeUnavailable, ["detail": failure.detail])])))
        case .success(.some(let exceeded)):
            let isQuota = exceeded.bucket.hasPrefix(Quota.bucketPrefix)
            let reason: Reason = isQuota ? .quotaExceeded : .spendCapExceeded
            let denied = event(.decide, .denied, reason, ["subject": exceeded.subject, "bucket": exceeded.bucket,
                                                          "cap": exceeded.maximum.atomic, "settled": "false"])
            return finish(.release(paid.proof.key, events: events + [denied], then: .deny(Denial(
                status: .forbidden, error: "forbidden", stage: .respond, reason: reason,
                detail: "this payment would exceed the \(isQuota ? "quota" : "spend cap") of \(exceeded.subject); nothing was charged",
                durable: true))))
        case .success(.none):
            return deliver(paid, events: events)
        }
    }
}

extension PaidFlow {
    /// The moment whose period (day, month) the payment counts in: when its offer was issued, not when the request
    /// runs, so a takeover of the claim after the period ended holds in the same bucket as the first run did (the
    /// flow counts once), never in both. Never later than `now`, nor earlier than the epoch.
    func periodMillis(now: Int64) -> Int64 {
        let issued = Offer.boundedExpiry(offer.offer.expiresAt) - Int64(pricing.offerValiditySeconds)
        return min(now, max(issued, 0) * 1000)
    }
}

extension SpendHold {
    /// The holds a payment needs: one per spend cap on its asset and one per quota on its unit (client and
    /// organisation limits only for identified clients: all anonymous callers are not one spender).
    static func needed(by paid: PaidFlow, caps: [SpendCap], quotas: [Quota], atMillis now: Int64) -> [SpendHold] {
        let offer = paid.offer.offer, identity = paid.identity, payer = paid.proof.key.payer
        func subject(_ kind: SpendCap.Subject) -> String? {
            switch (kind, identity) {
            case (.client, .client(let client)): "client:\(client.id)"
            case (.organisation, .client(let client)): client.organisation.map { "organisation:\($0)" }
            case (.payer, _): "payer:\(payer.lowercased())"
            default: nil
            }
        }
        let spend = caps.compactMap { cap -> SpendHold? in
            guard cap.network == offer.network, cap.asset == offer.asset, let subject = subject(cap.subject) else { return nil }
            return SpendHold(subject: subject, bucket: "\(cap.network)/\(cap.asset)/\(cap.period.rawValue):\(cap.period.key(millis: now))",
                             amount: offer.amount, maximum: cap.maximum)
        }
        let units = quotas.compactMap { quota -> SpendHold? in
            guard quota.unit == offer.unit, let subject = subject(quota.subject) else { return nil }
            return SpendHold(subject: subject, bucket: "\(Quota.bucketPrefix)\(quota.unit)/\(quota.period.rawValue):\(quota.period.key(millis: now))",
                             amount: TokenAmount(atomic: String(offer.quantity))!, maximum: TokenAmount(atomic: String(quota.maximum))!)
        }
        return spend + units
    }
}
