import Testing
import TollgateCore
import TollgateSQLite

@Suite struct SQLiteStoreReservationTests {
    @Test func secondClaimOfAProofNamesTheFirstFlowAndState() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let key = TemporaryDatabase.key()

        #expect(try await store.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_first"), events: []) == .reserved)
        #expect(try await store.reservationState(key) == .reserved)
        #expect(try await store.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_second"), events: [])
            == .alreadyClaimed(correlationId: "tg_first", state: .reserved))

        try await store.finish(key, state: .settled, payment: nil, events: [])
        #expect(try await store.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_third"), events: [])
            == .alreadyClaimed(correlationId: "tg_first", state: .settled))
    }

    @Test func proofKeyIsCaseInsensitive() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let lower = TemporaryDatabase.key(nonce: "0xabcdef", payer: "0xabc0000000000000000000000000000000000001")
        let upper = TemporaryDatabase.key(nonce: "0xABCDEF", payer: "0xABC0000000000000000000000000000000000001")
        #expect(try await database.store.reserve(TemporaryDatabase.reservation(lower, correlationId: "tg_1"), events: []) == .reserved)
        #expect(try await database.store.reserve(TemporaryDatabase.reservation(upper, correlationId: "tg_2"), events: [])
            == .alreadyClaimed(correlationId: "tg_1", state: .reserved))
    }

    @Test func anotherProofForTheSameOfferIsOfferAlreadyUsed() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let first = TemporaryDatabase.key(nonce: "0x01")
        let second = TemporaryDatabase.key(nonce: "0x02")

        #expect(try await store.reserve(TemporaryDatabase.reservation(first, correlationId: "tg_offer"), events: []) == .reserved)
        try await store.finish(first, state: .pending, payment: nil, events: [])
        let events = [TemporaryDatabase.event("tg_offer", .reserve, at: 1)]
        #expect(try await store.reserve(TemporaryDatabase.reservation(second, correlationId: "tg_offer"), events: events)
            == .offerAlreadyUsed(state: .pending))
        #expect(try await store.reservationState(second) == nil)
        #expect(try await store.events(correlationId: "tg_offer").isEmpty, "a refused claim writes no events")
    }

    @Test func releaseDeletesOnlyReservedClaims() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let released = TemporaryDatabase.key(nonce: "0x01")
        var kept: [ProofKey: Reservation.State] = [:]
        for (index, state) in [Reservation.State.settled, .pending, .failed, .unknown].enumerated() {
            kept[TemporaryDatabase.key(nonce: "0x1\(index)")] = state
        }
        _ = try await store.reserve(TemporaryDatabase.reservation(released, correlationId: "tg_released"), events: [])
        for (key, state) in kept {
            _ = try await store.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_\(key.nonce)"), events: [])
            try await store.finish(key, state: state, payment: nil, events: [])
        }

        try await store.release(released, events: [TemporaryDatabase.event("tg_released", .forward, at: 5)])
        for key in kept.keys { try await store.release(key, events: []) }

        #expect(try await store.reservationState(released) == nil)
        #expect(try await store.events(correlationId: "tg_released").map(\.event.stage) == [.forward])
        for (key, state) in kept { #expect(try await store.reservationState(key) == state) }
        // A released proof (and its offer) can be claimed again.
        #expect(try await store.reserve(TemporaryDatabase.reservation(released, correlationId: "tg_released"), events: []) == .reserved)
    }

    @Test func finishRecordsTheLedgerEntryAndState() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let key = TemporaryDatabase.key()
        let payment = TemporaryDatabase.payment(key, correlationId: "tg_paid")
        _ = try await store.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_paid"), events: [])

        try await store.finish(key, state: .settled, payment: payment,
                               events: [TemporaryDatabase.event("tg_paid", .settle, at: 7), TemporaryDatabase.event("tg_paid", .respond, at: 8)])

        #expect(try await store.reservationState(key) == .settled)
        #expect(try await store.payments(correlationId: "tg_paid") == [payment])
        #expect(try await store.payments(correlationId: "tg_other").isEmpty)
        #expect(try await store.events(correlationId: "tg_paid").map(\.event.stage) == [.settle, .respond])
    }

    @Test func purgeRemovesOnlyExpiredReservedOrFailedClaims() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let cases: [(nonce: String, state: Reservation.State, validBefore: Int64, purged: Bool)] = [
            ("0x01", .reserved, 100, true), ("0x02", .failed, 100, true), ("0x03", .settled, 100, false),
            ("0x04", .pending, 100, false), ("0x05", .unknown, 100, false), ("0x06", .reserved, 500, false),
            ("0x07", .failed, 500, false), ("0x08", .reserved, 200, false),
        ]
        for item in cases {
            let key = TemporaryDatabase.key(nonce: item.nonce)
            _ = try await store.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_\(item.nonce)", validBefore: item.validBefore), events: [])
            if item.state != .reserved { try await store.finish(key, state: item.state, payment: nil, events: []) }
        }

        #expect(try await store.purgeReservations(expiredBefore: 200) == 2)

        for item in cases {
            let state = try await store.reservationState(TemporaryDatabase.key(nonce: item.nonce))
            #expect(state == (item.purged ? nil : item.state), "nonce \(item.nonce)")
        }
    }

    @Test func concurrentClaimsOfOneProofReserveExactlyOnce() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let key = TemporaryDatabase.key()

        let outcomes = try await withThrowingTaskGroup(of: (String, ReservationOutcome).self) { group in
            for index in 0..<50 {
                group.addTask {
                    let correlationId = "tg_\(index)"
                    return (correlationId, try await store.reserve(TemporaryDatabase.reservation(key, correlationId: correlationId), events: []))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }

        let winners = outcomes.filter { $0.1 == .reserved }
        #expect(winners.count == 1)
        let winner = try #require(winners.first?.0)
        #expect(outcomes.filter { $0.1 == .alreadyClaimed(correlationId: winner, state: .reserved) }.count == 49)
    }
}
