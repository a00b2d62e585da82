import Testing
import TollgateCore

/// What flows that never ended give back (`ReservationJanitor`): spend held by abandoned claims, units of unfinished
/// prepaid requests; once each, in batches, never what money may still move on.
extension StoreConformance {
    static func abandonedClaims(_ open: Factory) async throws {
        let store = try await open(auditKeys)
        let bucket = hold("1", maximum: "1").bucket
        func total() async throws -> String { try await store.spendTotal(subject: "client:alice", bucket: bucket).atomic }
        // Every flow holds 5; its request then ends as named (a `reserved` claim's request stopped before it settled or
        // released). All the proofs have expired.
        let ends: [Reservation.State] = [.reserved, .settling, .pending, .unknown, .settled, .failed]
        for (index, end) in ends.enumerated() {
            let proof = key(20 + index), flow = "tg_\(end.rawValue)"
            #expect(try await store.reserve(reservation(proof, flow, validBefore: 1_000), events: []) == .reserved)
            #expect(try await store.holdSpend([hold("5", maximum: "100")], correlationId: flow) == nil)
            switch end {
            case .reserved: break
            case .settling: try await store.recordSettlementIntent(intent(proof, flow), events: [])
            case .settled: try await store.finish(proof, state: .settled, payment: payment(proof, flow), events: [])
            default: try await store.finish(proof, state: end, payment: nil, events: [])
            }
        }
        // Failed gave its 5 back; the others count: 25.
        #expect(try await total() == "25")
        #expect(try await store.purgeReservations(expiredBefore: 2_000) == 2)
        // The abandoned claim's 5 came back; money may still move on settling, pending and unknown ones, and settled is spent.
        #expect(try await total() == "20")
        #expect(try await store.reservationState(key(20)) == nil)
        #expect(try await store.reservationState(key(21)) == .settling)
        let lapsed = try await store.events(correlationId: "tg_reserved").map(\.event)
        #expect(lapsed.map(\.reason) == [Reason.claimLapsed.rawValue])
        #expect(lapsed.first?.stage == .reserve)
        #expect(try await store.events(correlationId: "tg_failed").isEmpty)
        // Purging again gives nothing back twice, and the flow's hold is gone with its claim: holding for it again counts.
        #expect(try await store.purgeReservations(expiredBefore: 2_000) == 0)
        #expect(try await total() == "20")
        #expect(try await store.verifyAuditLog().isIntact)
    }

    static func manyAbandoned(_ open: Factory) async throws {
        let store = try await open(nil)
        let count = StoreRetention.purgeBatch * 2 + 7
        let bucket = hold("1", maximum: "1").bucket
        try await settle(store, key(1), "tg_buy", metering: MeteringRecord(usage: usageEvent("tg_buy", quantity: 0),
                                                                         grant: PackageGrant(clientId: "alice", package: "bundle", unit: "record", units: count)))
        for index in 0..<count {
            let flow = "tg_m\(index)"
            #expect(try await store.reserve(reservation(key(100 + index), flow, validBefore: 1_000), events: []) == .reserved)
            #expect(try await store.holdSpend([hold("1", maximum: "100000")], correlationId: flow) == nil)
            #expect(try await store.holdUnits(UnitHold(correlationId: flow, clientId: "alice", package: "bundle", units: 1), events: [])
                == .held(remaining: count - index - 1))
        }
        #expect(try await store.spendTotal(subject: "client:alice", bucket: bucket).atomic == String(count))
        #expect(try await store.purgeReservations(expiredBefore: 2_000) == count)
        #expect(try await store.spendTotal(subject: "client:alice", bucket: bucket).isZero)
        #expect(try await store.lapseUnitHolds(heldBeforeMillis: 4_000_000_000_000) == count)
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": count])
    }

    static func lapsedUnitHolds(_ open: Factory) async throws {
        let store = try await open(auditKeys)
        try await settle(store, key(1), "tg_buy", metering: MeteringRecord(usage: usageEvent("tg_buy", quantity: 0),
                                                                         grant: PackageGrant(clientId: "alice", package: "bundle", unit: "record", units: 10)))
        func balance() async throws -> Int? { try await store.packageBalances(clientId: "alice")["bundle"] }
        for (flow, remaining) in [("tg_lost", 7), ("tg_done", 4), ("tg_late", 1)] {
            #expect(try await store.holdUnits(UnitHold(correlationId: flow, clientId: "alice", package: "bundle", units: 3), events: [])
                == .held(remaining: remaining))
        }
        #expect(try await balance() == 1)
        try await store.finishUnits(correlationId: "tg_done", consumed: 2, usage: nil, events: [])
        #expect(try await balance() == 2)
        // Holds taken after the cutoff are live requests': nothing lapses.
        let past = Int64(1_000_000_000_000)
        #expect(try await store.lapseUnitHolds(heldBeforeMillis: past) == 0)
        #expect(try await balance() == 2)
        // Past the cutoff, the two unfinished holds go back (not the finished one), each once.
        let future = Int64(4_000_000_000_000)
        #expect(try await store.lapseUnitHolds(heldBeforeMillis: future) == 2)
        #expect(try await balance() == 8)
        #expect(try await store.lapseUnitHolds(heldBeforeMillis: future) == 0)
        #expect(try await balance() == 8)
        let given = try await store.events(correlationId: "tg_lost").map(\.event)
        #expect(given.map(\.reason) == [Reason.unitsLapsed.rawValue])
        #expect(given.first?.details["units"] == "3")
        #expect(try await store.events(correlationId: "tg_done").isEmpty)
        // A request finishing after its hold lapsed still spends what it consumed (its units went back already), once.
        try await store.finishUnits(correlationId: "tg_late", consumed: 2, usage: usageEvent("tg_late", quantity: 2, source: .package), events: [])
        #expect(try await balance() == 6)
        try await store.finishUnits(correlationId: "tg_late", consumed: 2, usage: nil, events: [])
        #expect(try await balance() == 6)
        let late = try await store.events(correlationId: "tg_late").map(\.event).filter { $0.reason == Reason.unitsSpentAfterLapse.rawValue }
        #expect(late.map { [$0.details["taken"], $0.details["short"]] } == [["2", "0"]])
        // Never below zero: consumption past the balance takes what is there, and the shortfall is audited.
        try await store.finishUnits(correlationId: "tg_lost", consumed: 9, usage: usageEvent("tg_lost", quantity: 9, source: .package), events: [])
        #expect(try await balance() == 0)
        let short = try await store.events(correlationId: "tg_lost").map(\.event).filter { $0.reason == Reason.unitsSpentAfterLapse.rawValue }
        #expect(short.map { [$0.details["taken"], $0.details["short"]] } == [["6", "3"]])
        #expect(short.first?.outcome == .error)
        // Its usage says what was taken, and a credit refund gives back no more than that.
        let credit = try await store.refund(RefundRequest(correlationId: "tg_lost", reason: "not delivered", actor: "t"), nowMillis: 1)
        #expect(credit.amount == "6")
        #expect(try await balance() == 6)
        // A lapsed hold whose request consumed nothing takes nothing and audits no late spend.
        #expect(try await store.holdUnits(UnitHold(correlationId: "tg_idle", clientId: "alice", package: "bundle", units: 3), events: [])
            == .held(remaining: 3))
        #expect(try await store.lapseUnitHolds(heldBeforeMillis: future) == 1)
        try await store.finishUnits(correlationId: "tg_idle", consumed: 0, usage: nil, events: [])
        #expect(try await balance() == 6)
        #expect(try await store.events(correlationId: "tg_idle").map(\.event.reason) == [Reason.unitsLapsed.rawValue])
        #expect(try await store.verifyAuditLog().isIntact)
    }
}
