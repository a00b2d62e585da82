import Testing
import TollgateCore

extension StoreConformance {
    /// A delivery that did not reach its client reopens its flow only while it is the flow's one delivery since it was last
    /// undelivered: a replay or another delivery recorded besides it leaves the flow delivered, so an answer served
    /// meanwhile is never refunded as lost. Reopened, the answer is kept for its owner when it can fetch it again (`keptForOwner`); a
    /// replay is then refused (the retry goes through the settlement and `deliverSettled`).
    static func lostDeliveries(_ open: Factory) async throws {
        let store = try await open(auditKeys)
        let now: Int64 = 1_000
        /// A settled flow, delivered with a token of its own, its answer kept for `client` until `expiresAt`.
        func delivered(_ nonce: Int, _ flow: String, client: String = "alice", expiresAt: Int64 = 2_000_000_000,
                       metering: MeteringRecord? = nil) async throws -> SettledDelivery {
            #expect(try await store.reserve(reservation(key(nonce), flow, client: client), events: []) == .reserved)
            try await store.recordSettlementIntent(intent(key(nonce), flow), events: [])
            var kept = response(flow, expiresAt: expiresAt)
            kept.clientId = client
            let token = DeliveryToken.next()
            try await store.finish(key(nonce), state: .settled, payment: payment(key(nonce), flow, client: client), response: kept,
                                   metering: metering, delivery: token, events: [])
            return SettledDelivery(correlationId: flow, key: key(nonce), token: token)
        }
        func reopen(_ delivery: SettledDelivery, keep: Bool = true) async throws -> ReopenedDelivery {
            try await store.reopenDelivery(delivery, keepForOwner: keep, nowSeconds: now) { _ in [event(delivery.correlationId)] }
        }
        func isDelivered(_ nonce: Int) async throws -> Bool? { try await store.openSettlement(key(nonce))?.delivered }

        let lost = try await delivered(1, "tg_owner")
        #expect(try await reopen(lost) == .keptForOwner)
        #expect(try await isDelivered(1) == false)
        #expect(try await store.unresolvedSettlements(limit: 10).map(\.intent.correlationId) == ["tg_owner"])
        // Reopened: a replay is refused and writes nothing; the retry's delivery is recorded under its own token.
        #expect(try await store.recordReplay(key(1), events: [event("tg_owner")]) == false)
        #expect(try await store.events(correlationId: "tg_owner").count == 1)
        let retry = DeliveryToken.next()
        #expect(try await store.deliverSettled(key(1), delivery: retry, events: []))
        // The first loss reported again, after the retry's delivery: nothing changes, and the report is audited.
        #expect(try await reopen(lost) == .unchanged)
        #expect(try await isDelivered(1) == true)
        #expect(try await store.events(correlationId: "tg_owner").count == 2)
        // The retry's own delivery is the flow's one delivery: its loss reopens it in turn.
        #expect(try await reopen(SettledDelivery(correlationId: "tg_owner", key: key(1), token: retry)) == .keptForOwner)
        #expect(try await store.deliverSettled(key(1), delivery: .next(), events: []))

        // Work settled before it ran (`settle: before`): its delivery, recorded after, is the one a loss reopens.
        #expect(try await store.reserve(reservation(key(8), "tg_before"), events: []) == .reserved)
        try await store.recordSettlementIntent(intent(key(8), "tg_before"), events: [])
        try await store.finish(key(8), state: .settled, payment: payment(key(8), "tg_before"), response: nil, metering: nil, delivery: nil, events: [])
        let ran = DeliveryToken.next()
        try await store.recordDelivery(key(8), response: response("tg_before"), metering: nil, delivery: ran, events: [])
        #expect(try await reopen(SettledDelivery(correlationId: "tg_before", key: key(8), token: ran)) == .keptForOwner)

        // Two retries of a reopened flow served at once (two instances): delivered twice, so neither loss reopens it (one
        // of them may have reached its client). The same for two deliveries of work that ran twice (`recordDelivery`).
        let twice = try await delivered(6, "tg_twice")
        #expect(try await reopen(twice) == .keptForOwner)
        let (second, third) = (DeliveryToken.next(), DeliveryToken.next())
        #expect(try await store.deliverSettled(key(6), delivery: second, events: []))
        #expect(try await store.deliverSettled(key(6), delivery: third, events: []))
        for token in [third, second] {
            #expect(try await reopen(SettledDelivery(correlationId: "tg_twice", key: key(6), token: token)) == .unchanged)
        }
        let ranTwice = try await delivered(7, "tg_ran_twice")
        #expect(try await reopen(ranTwice) == .keptForOwner)
        let (redelivered, late) = (DeliveryToken.next(), DeliveryToken.next())
        try await store.recordDelivery(key(7), response: nil, metering: nil, delivery: redelivered, events: [])
        try await store.recordDelivery(key(7), response: nil, metering: nil, delivery: late, events: [])
        for token in [late, redelivered] {
            #expect(try await reopen(SettledDelivery(correlationId: "tg_ran_twice", key: key(7), token: token)) == .unchanged)
        }
        #expect(try await isDelivered(6) == true)
        #expect(try await isDelivered(7) == true)

        // A replay recorded after the delivery: the delivery's loss changes nothing.
        let replayed = try await delivered(2, "tg_replayed")
        #expect(try await store.recordReplay(key(2), events: [event("tg_replayed")]))
        #expect(try await reopen(replayed) == .unchanged)
        #expect(try await isDelivered(2) == true)

        // Nothing its owner can fetch again (an anonymous answer, an expired one): reopened, for the caller to refund.
        let anonymous = try await delivered(3, "tg_anonymous", client: "anonymous")
        #expect(try await reopen(anonymous) == .notKept)
        let expired = try await delivered(4, "tg_expired", expiresAt: 500)
        #expect(try await reopen(expired) == .notKept)
        #expect(try await isDelivered(4) == false)
        // Not kept, the answer is withdrawn: a retry finds none to be served (the refund follows).
        #expect(try await store.storedResponse(key(3), now: now) == nil)
        // Nor when the caller says a retry would fail the same way, nor for a package purchase (its units could be spent
        // while it waits, and a refund takes back only what the balance still holds).
        let unreadable = try await delivered(9, "tg_unreadable")
        #expect(try await reopen(unreadable, keep: false) == .notKept)
        #expect(try await store.storedResponse(key(9), now: now) == nil)
        let bought = try await delivered(20, "tg_package", metering: MeteringRecord(
            usage: usageEvent("tg_package", quantity: 0), grant: PackageGrant(clientId: "alice", package: "bundle", unit: "record", units: 10)))
        #expect(try await reopen(bought) == .notKept)
        // Another flow's name on the token, an unknown authorization: unchanged.
        let spelled = try await delivered(5, "tg_spelled")
        #expect(try await reopen(SettledDelivery(correlationId: "tg_other", key: spelled.key, token: spelled.token)) == .unchanged)
        #expect(try await reopen(SettledDelivery(correlationId: "tg_nobody", key: key(98), token: .next())) == .unchanged)
        #expect(try await isDelivered(5) == true)
        // A replay with no intent on record (purged after its delivery): its events are written.
        #expect(try await store.recordReplay(key(99), events: [event("tg_purged")]))
        #expect(try await store.events(correlationId: "tg_purged").count == 1)

        // The loss and a replay racing (two instances): one of them wins, never both.
        for nonce in 10..<16 {
            let racing = try await delivered(nonce, "tg_race_\(nonce)")
            async let reopened = reopen(racing)
            async let replay = store.recordReplay(key(nonce), events: [event("tg_race_\(nonce)")])
            let (outcome, served) = try await (reopened, replay)
            #expect((outcome == .keptForOwner) != served, "reopened \(outcome), replay recorded \(served)")
            #expect(try await isDelivered(nonce) == served)
        }
        #expect(try await store.verifyAuditLog().isIntact)
    }
}
