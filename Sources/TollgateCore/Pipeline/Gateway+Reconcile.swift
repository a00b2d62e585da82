/// What one reconciliation pass did, flow by flow (correlation ids).
public struct ReconcileReport: Sendable, Hashable, Codable {
    /// `settling` claims of a stopped process, now `unknown` (their `/settle` may have been sent).
    public var abandoned: [String] = []
    public var settled: [String] = []
    public var failed: [String] = []
    public var stillUnknown: [String] = []
    /// Settled, undelivered, refunded automatically (refund ids).
    public var refunded: [String] = []
    /// Settled, undelivered, within the idempotency window: a retry may still get the answer (kept, or the route run
    /// again) or, for work that must not run twice, its refund; the reconciler refunds it once the window has passed and
    /// the answer kept for the retry, if any, has expired.
    public var awaitingRetry: [String] = []
    /// Settled and undelivered with no evidence for an automatic refund: an operator decides.
    public var review: [String] = []
    /// Left to another instance sharing the store, whose live request works on them now (its claim's lease is
    /// younger than the grace: `OpenSettlement.leasedElsewhere`); a later pass takes those it leaves.
    public var workedOnElsewhere: [String] = []
    /// Where the next page starts: this pass stopped at its limit. Nil once the end of the list was reached.
    public var next: SettlementCursor?

    public init() {}

    /// Adds a later page's outcomes to this report and takes its place in the list.
    public mutating func append(_ page: ReconcileReport) {
        abandoned += page.abandoned
        settled += page.settled
        failed += page.failed
        stillUnknown += page.stillUnknown
        refunded += page.refunded
        awaitingRetry += page.awaitingRetry
        review += page.review
        workedOnElsewhere += page.workedOnElsewhere
        next = page.next
    }
}

extension Gateway {
    /// Resolves settlements left in doubt: `settling` claims of a stopped process (only when `startup` is true,
    /// or when older than `staleAfterSeconds`: a live request of another process may still own them), then
    /// `pending` and `unknown` ones, then settled payments whose answer was not delivered once the idempotency window
    /// has passed (work that must not run twice too: its request may still run at another instance), with
    /// `--gateway-stopped` as without. A settlement whose claim another instance's live request holds (its lease renewed,
    /// on a shared store) is left to it (`ReconcileReport.workedOnElsewhere`).
    ///
    /// One pass looks at `limit` unresolved intents from `after` (the start of the list when nil) and says where the next
    /// one starts (`ReconcileReport.next`): intents that stay unknown for good never keep newer ones from being looked at.
    /// `reconcileAll` runs every page.
    public func reconcile(startup: Bool, staleAfterSeconds: Int64 = 300, limit: Int = 200, after: SettlementCursor? = nil) async throws
        -> ReconcileReport {
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
        let page = try await store.unresolvedSettlements(after: after, limit: limit)
        report.next = page.count < limit ? nil : page.last?.cursor
        for listed in page {
            let key = listed.intent.key, id = listed.intent.correlationId
            guard inFlight.begin(key) else { continue }
            defer { inFlight.end(key) }
            // Read again now that the claim is ours: a retry may have resolved (and delivered) it since the list was read.
            guard var open = try await store.openSettlement(key), open.outcome == .open || (open.outcome == .settled && !open.delivered)
            else { continue }
            if open.leasedElsewhere {
                report.workedOnElsewhere.append(id)
                continue
            }
            if open.outcome == .open {
                if open.state == .settling, nowMillis - open.intent.createdAtMillis < staleAfterSeconds * 1000 { continue }
                // Taken before `/settle` is sent again (a lapsed owner, back from a pause, then finds it is not its own any
                // more and records nothing over this resolution), unless another instance's live request took it meanwhile.
                guard try await store.takeClaim(key) else {
                    report.workedOnElsewhere.append(id)
                    continue
                }
                open = await resolve(open, actor: "reconciler")
                switch open.outcome {
                case .open: report.stillUnknown.append(id); continue
                case .failed: report.failed.append(id); continue
                default: report.settled.append(id)
                }
            }
            guard open.outcome == .settled, !open.delivered else { continue }
            // Even work that must not run twice waits: its request may still be running at another instance (or in
            // another process), whose delivery would then be recorded after this refund. A retry of the proof refunds it
            // at once (under the in-flight lock of the instance it reaches). An answer kept for its owner waits out its
            // own expiry too: kept when the work ended (a lost delivery's), it may outlive a window counted from the
            // intent when the work took long, and refunded it could no longer be fetched.
            let fetchableUntilMillis = open.intent.response.map { ($0.expiresAt + 1) * 1000 } ?? Int64.min
            let waited = nowMillis - open.intent.createdAtMillis >= Int64(settings.idempotencyWindowSeconds) * 1000
                && nowMillis >= fetchableUntilMillis
            // Its delivery, if any, is the client's retry's, at whichever instance it reaches: a claim this pass took (its
            // lease renewed meanwhile, so nobody delivers what is being refunded) is left once the pass is done with it.
            if !waited {
                report.awaitingRetry.append(id)
                try? await store.leaveClaim(key)
                continue
            }
            switch await refundOrReview(open, actor: "reconciler") {
            case .refunded(let refund): report.refunded.append(refund.id)
            case .review: report.review.append(id)
            case .settledMeanwhile: break
            }
            try? await store.leaveClaim(key)
        }
        return report
    }

    /// Runs `reconcile` over the whole list of unresolved intents, page after page (`tollgate reconcile`).
    public func reconcileAll(startup: Bool, staleAfterSeconds: Int64 = 300, limit: Int = 200) async throws -> ReconcileReport {
        var report = try await reconcile(startup: startup, staleAfterSeconds: staleAfterSeconds, limit: limit)
        while let next = report.next {
            report.append(try await reconcile(startup: false, staleAfterSeconds: staleAfterSeconds, limit: limit, after: next))
        }
        return report
    }
}
