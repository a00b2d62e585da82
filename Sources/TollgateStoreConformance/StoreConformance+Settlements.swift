import Testing
import TollgateCore

/// Settlement intents: recorded, resolved, paged, abandoned after a restart.
extension StoreConformance {
    // MARK: settlement intents

    public static func intent(_ key: ProofKey, _ correlationId: String, response: StoredResponse? = nil, createdAt: Int64 = 1) -> SettlementIntent {
        SettlementIntent(key: key, correlationId: correlationId, attempt: SettlementAttempt(authority: "https://f1", request: Array("{}".utf8)),
                         payment: payment(key, correlationId), metering: nil, response: response, redeliverable: true, validBefore: 2_000_000_000,
                         createdAtMillis: createdAt)
    }

    static func settlementIntents(_ open: Factory) async throws {
        let store = try await open(nil)
        for (index, flow) in ["tg_a", "tg_b", "tg_c"].enumerated() {
            #expect(try await store.reserve(reservation(key(index + 1), flow), events: []) == .reserved)
            try await store.recordSettlementIntent(intent(key(index + 1), flow, createdAt: Int64(index)), events: [])
        }
        #expect(try await store.reservationState(key(1)) == .settling)
        // Another attempt replaces the first.
        var second = intent(key(1), "tg_a")
        second.attempt = SettlementAttempt(authority: "https://f2", request: Array("{}".utf8))
        try await store.recordSettlementIntent(second, events: [])
        let open = try #require(try await store.openSettlement(key(1)))
        #expect(open.intent.attempt.authority == "https://f2")
        #expect(open.state == .settling)
        #expect(open.outcome == .open)
        // Settled but not delivered stays unresolved; failed is resolved.
        try await store.finish(key(1), state: .settled, payment: payment(key(1), "tg_a"), response: nil, metering: nil, delivery: nil, events: [])
        try await store.finish(key(2), state: .failed, payment: nil, events: [])
        let unresolved = try await store.unresolvedSettlements(limit: 10)
        #expect(unresolved.map(\.intent.correlationId) == ["tg_a", "tg_c"])
        // Paged: the next page starts after the last one read, whatever was resolved since.
        #expect(try await store.unresolvedSettlements(limit: 1).map(\.intent.correlationId) == ["tg_a"])
        #expect(try await store.unresolvedSettlements(after: try #require(unresolved.first).cursor, limit: 10).map(\.intent.correlationId) == ["tg_c"])
        #expect(try await store.unresolvedSettlements(after: try #require(unresolved.last).cursor, limit: 10).isEmpty)
        #expect(try await store.openSettlement(key(1))?.transaction == payment(key(1), "tg_a").transaction)
        try await store.resolveSettlement(key(1), outcome: .review, delivered: false, events: [])
        #expect(try await store.settlementsForReview(limit: 10).map(\.intent.correlationId) == ["tg_a"])
        // After a restart, what was settling is unknown: its /settle may have been sent.
        let abandoned = try await store.abandonSettling { open in [event(open.intent.correlationId)] }
        #expect(abandoned.map(\.intent.correlationId) == ["tg_c"])
        #expect(try await store.reservationState(key(3)) == .unknown)
        #expect(try await store.events(correlationId: "tg_c").count == 1)
    }

    /// A payment settled after its client gave up (resolved later): its answer is kept, not delivered. A retry may
    /// deliver it (`deliverSettled`) while the reconciler refunds it as lost (`onlyIfUndelivered`), on two instances
    /// at once: whichever commits first wins, and the other writes nothing.
    static func deliveredOrRefunded(_ open: Factory) async throws {
        let store = try await open(nil)
        func settledUndelivered(_ nonce: Int, _ flow: String) async throws {
            #expect(try await store.reserve(reservation(key(nonce), flow), events: []) == .reserved)
            try await store.recordSettlementIntent(intent(key(nonce), flow, response: response(flow)), events: [])
            try await store.finish(key(nonce), state: .settled, payment: payment(key(nonce), flow), response: response(flow), metering: nil,
                                   delivery: nil, events: [])
        }
        func lostAnswerRefund(_ flow: String) -> RefundRequest {
            RefundRequest(correlationId: flow, reason: "not delivered", actor: "tollgate", automatic: true, onlyIfUndelivered: true)
        }
        // Refunded first: the delivery is refused, and the answer is not served.
        try await settledUndelivered(1, "tg_refunded")
        _ = try await store.refund(lostAnswerRefund("tg_refunded"), nowMillis: 1)
        #expect(try await store.deliverSettled(key(1), delivery: .next(), events: [event("tg_refunded")]) == false)
        #expect(try await store.openSettlement(key(1))?.outcome == .refunded)
        #expect(try await store.openSettlement(key(1))?.delivered == false)
        #expect(try await store.storedResponse(key(1), now: 1_000) == nil)
        #expect(try await store.events(correlationId: "tg_refunded").map(\.event.stage) == [.refund])
        // Delivered first: the refund of a lost answer is refused, and nothing is refunded.
        try await settledUndelivered(2, "tg_delivered")
        #expect(try await store.deliverSettled(key(2), delivery: .next(), events: [event("tg_delivered")]) == true)
        await expect(throwing: .delivered) { try await store.refund(lostAnswerRefund("tg_delivered"), nowMillis: 2) }
        #expect(try await store.refunds(state: nil, correlationId: "tg_delivered", limit: 10).isEmpty)
        #expect(try await store.openSettlement(key(2))?.delivered == true)
        #expect(try await store.storedResponse(key(2), now: 1_000) != nil)
        #expect(try await store.events(correlationId: "tg_delivered").map(\.event.stage) == [.respond])
        // Listed for review only while settled and undelivered: never a delivered answer, and once listed it is not delivered.
        #expect(try await store.holdForReview(key(2), events: [event("tg_delivered")]) == false)
        #expect(try await store.openSettlement(key(2))?.outcome == .settled)
        try await settledUndelivered(4, "tg_review")
        #expect(try await store.holdForReview(key(4), events: [event("tg_review")]) == true)
        #expect(try await store.settlementsForReview(limit: 10).map(\.intent.correlationId) == ["tg_review"])
        #expect(try await store.deliverSettled(key(4), delivery: .next(), events: [event("tg_review")]) == false)
        #expect(try await store.events(correlationId: "tg_review").count == 1)
        // A delivery recorded after the work ran (`settle: before`, a redelivery) is refused once the payment was refunded,
        // and one recorded first stops the refund.
        try await settledUndelivered(5, "tg_before")
        _ = try await store.refund(lostAnswerRefund("tg_before"), nowMillis: 3)
        await expect(throwing: .settlementClosed) {
            try await store.recordDelivery(key(5), response: response("tg_before"), metering: nil, delivery: .next(), events: [event("tg_before")])
        }
        #expect(try await store.openSettlement(key(5))?.delivered == false)
        #expect(try await store.storedResponse(key(5), now: 1_000) == nil)
        // A settlement answered after the refund (another instance's /settle, late) does not reopen it: a finish that
        // delivers is refused and writes nothing, one that only resolves leaves the refund (or the review) standing, so
        // no later retry delivers it either.
        let trail = try await store.events(correlationId: "tg_before").count
        for (nonce, flow, closed) in [(5, "tg_before", OpenSettlement.Outcome.refunded), (4, "tg_review", .review)] {
            await expect(throwing: .settlementClosed) {
                try await store.finish(key(nonce), state: .settled, payment: payment(key(nonce), flow), response: response(flow), metering: nil,
                                       delivery: .next(), events: [event(flow)])
            }
            try await store.finish(key(nonce), state: .settled, payment: payment(key(nonce), flow), response: nil, metering: nil, delivery: nil,
                                   events: [])
            #expect(try await store.openSettlement(key(nonce))?.outcome == closed, "\(flow)")
            #expect(try await store.openSettlement(key(nonce))?.delivered == false, "\(flow)")
            #expect(try await store.deliverSettled(key(nonce), delivery: .next(), events: [event(flow)]) == false, "\(flow)")
        }
        #expect(try await store.storedResponse(key(5), now: 1_000) == nil)
        #expect(try await store.events(correlationId: "tg_before").count == trail)
        try await settledUndelivered(6, "tg_before_first")
        try await store.recordDelivery(key(6), response: response("tg_before_first"), metering: nil, delivery: .next(), events: [event("tg_before_first")])
        await expect(throwing: .delivered) { try await store.refund(lostAnswerRefund("tg_before_first"), nowMillis: 3) }
        // An operator's refund is not about delivery: it is recorded either way.
        _ = try await store.refund(RefundRequest(correlationId: "tg_delivered", reason: "goodwill", actor: "ops"), nowMillis: 3)
        // No intent at all (nothing says the answer was lost), or no such flow: refused, nothing written.
        try await settle(store, key(3), "tg_plain")
        await expect(throwing: .delivered) { try await store.refund(lostAnswerRefund("tg_plain"), nowMillis: 4) }
        #expect(try await store.deliverSettled(key(99), delivery: .next(), events: [event("tg_none")]) == false)
        // Racing, flow after flow: exactly one of the two wins each time.
        for flow in 0..<12 {
            let name = "tg_race\(flow)"
            try await settledUndelivered(10 + flow, name)
            async let delivered = store.deliverSettled(key(10 + flow), delivery: .next(), events: [event(name)])
            async let refunded: Bool = {
                do {
                    _ = try await store.refund(lostAnswerRefund(name), nowMillis: 5)
                    return true
                } catch let error as TollgateError where error.code == .delivered {
                    return false
                }
            }()
            let (answered, paidBack) = try await (delivered, refunded)
            #expect(answered != paidBack, "\(name): delivered \(answered), refunded \(paidBack)")
            let settlement = try await store.openSettlement(key(10 + flow))
            #expect(settlement?.delivered == answered)
            #expect(settlement?.outcome == (answered ? .settled : .refunded))
            #expect((try await store.storedResponse(key(10 + flow), now: 1_000) != nil) == answered)
        }
    }

    /// Two resolutions of one open settlement race (the gateway's reconciler and `tollgate reconcile`, a retry and the
    /// reconciler): one's `/settle` lands, the other is told the authorization was used or the transaction reverted and
    /// records `failed` or `unknown` after the first recorded `settled`. A settled outcome is one way: neither the intent
    /// nor the claim goes back, the ledger row stays, and the flow is not listed as open again.
    static func settledIsOneWay(_ open: Factory) async throws {
        let store = try await open(auditKeys)
        let proof = key(7), flow = "tg_one_way"
        #expect(try await store.reserve(reservation(proof, flow), events: []) == .reserved)
        try await store.recordSettlementIntent(intent(proof, flow, response: response(flow)), events: [])
        try await store.finish(proof, state: .settled, payment: payment(proof, flow), events: [event(flow)])
        for late in [Reservation.State.failed, .unknown] {
            try await store.finish(proof, state: late, payment: nil, events: [event(flow)])
            #expect(try await store.reservationState(proof) == .settled, "after a late \(late)")
            let kept = try await store.openSettlement(proof)
            #expect(kept?.outcome == .settled, "after a late \(late)")
            #expect(kept?.transaction == payment(proof, flow).transaction)
        }
        #expect(try await store.payments(correlationId: flow).count == 1)
        // Settled and not yet delivered: still the reconciler's to deliver or refund, never dropped as failed.
        #expect(try await store.unresolvedSettlements(after: nil, limit: 10).map(\.intent.correlationId) == [flow])
        #expect(try await store.verifyAuditLog().isIntact)
    }
}
