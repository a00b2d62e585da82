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
        try await store.finish(key(1), state: .settled, payment: payment(key(1), "tg_a"), response: nil, metering: nil, delivered: false, events: [])
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
}
