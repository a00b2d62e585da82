/// What one reconciliation pass did, flow by flow (correlation ids).
public struct ReconcileReport: Sendable, Hashable, Codable {
    /// `settling` claims of a stopped process, now `unknown` (their `/settle` may have been sent).
    public var abandoned: [String] = []
    public var settled: [String] = []
    public var failed: [String] = []
    public var stillUnknown: [String] = []
    /// Settled, undelivered, refunded automatically (refund ids).
    public var refunded: [String] = []
    /// Settled, undelivered, waiting for the client's retry (its answer is stored, or the route may run again).
    public var awaitingRetry: [String] = []
    /// Settled and undelivered with no evidence for an automatic refund: an operator decides.
    public var review: [String] = []

    public init() {}
}

extension Gateway {
    /// Resolves settlements left in doubt: `settling` claims of a stopped process (only when `startup` is true,
    /// or when older than `staleAfterSeconds`: a live request of another process may still own them), then
    /// `pending` and `unknown` ones, then settled payments whose answer was not delivered and can no longer be
    /// (the route must not run twice, or the client did not come back within the idempotency window).
    public func reconcile(startup: Bool, staleAfterSeconds: Int64 = 300, limit: Int = 200) async throws -> ReconcileReport {
        var report = ReconcileReport()
        let clock = self.clock
        if startup {
            let abandoned = try await store.abandonSettling { open in
                [AuditEvent(correlationId: open.intent.correlationId, timeMillis: clock.nowMillis(), stage: .settle, outcome: .error,
                            reason: Reason.settlementUnknown.rawValue, clientId: open.intent.payment.clientId, resource: open.intent.payment.resource,
                            details: ["detail": "the gateway stopped while settling; the outcome is unknown until it is resolved",
                                      "authority": open.intent.attempt.authority])]
            }
            report.abandoned = abandoned.map(\.intent.correlationId)
        }
        let nowMillis = clock.nowMillis()
        for listed in try await store.unresolvedSettlements(limit: limit) {
            let key = listed.intent.key, id = listed.intent.correlationId
            guard inFlight.begin(key) else { continue }
            defer { inFlight.end(key) }
            // Read again now that the claim is ours: a retry may have resolved (and delivered) it since the list was read.
            guard var open = try await store.openSettlement(key), open.outcome == .open || (open.outcome == .settled && !open.delivered)
            else { continue }
            if open.outcome == .open {
                if open.state == .settling, nowMillis - open.intent.createdAtMillis < staleAfterSeconds * 1000 { continue }
                open = await resolve(open, actor: "reconciler")
                switch open.outcome {
                case .open: report.stillUnknown.append(id); continue
                case .failed: report.failed.append(id); continue
                default: report.settled.append(id)
                }
            }
            guard open.outcome == .settled, !open.delivered else { continue }
            let waited = nowMillis - open.intent.createdAtMillis >= Int64(settings.idempotencyWindowSeconds) * 1000
            let replayable = open.intent.response != nil || open.intent.redeliverable
            if replayable && !waited {
                report.awaitingRetry.append(id)
                continue
            }
            if let refund = await refundOrReview(open, actor: "reconciler") {
                report.refunded.append(refund.id)
            } else {
                report.review.append(id)
            }
        }
        return report
    }
}
