import Testing
import TollgateCore
import TollgateSQLite

@Suite struct SQLiteStoreAuditTests {
    @Test func eventsAreHashChainedAcrossWrites() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let key = TemporaryDatabase.key()
        let written = [
            TemporaryDatabase.event("tg_a", .offer, at: 1, reason: "payment_required"),
            TemporaryDatabase.event("tg_a", .proof, at: 2), TemporaryDatabase.event("tg_a", .reserve, at: 3),
            TemporaryDatabase.event("tg_a", .settle, at: 4), TemporaryDatabase.event("tg_a", .respond, at: 5, reason: "delivered"),
        ]
        try await store.append([written[0]])
        #expect(try await store.reserve(TemporaryDatabase.reservation(key, correlationId: "tg_a"), events: Array(written[1...2])) == .reserved)
        try await store.finish(key, state: .settled, payment: nil, events: Array(written[3...4]))

        let recorded = try await store.events(correlationId: "tg_a")
        #expect(recorded.map(\.event) == written)
        #expect(recorded.first?.previousHash == AuditChain.genesis)
        var previous = AuditChain.genesis
        for entry in recorded {
            #expect(entry.previousHash == previous, "seq \(entry.seq)")
            #expect(entry.hash == AuditChain.hash(previous: previous, event: entry.event), "seq \(entry.seq)")
            #expect(entry.hash.count == 64)
            previous = entry.hash
        }
        #expect(zip(recorded, recorded.dropFirst()).allSatisfy { $0.seq < $1.seq })
    }

    @Test func chainLinksEventsOfDifferentFlows() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let first = TemporaryDatabase.event("tg_a", .offer, at: 1)
        let second = TemporaryDatabase.event("tg_b", .offer, at: 2)
        try await database.store.append([first, second])

        let a = try #require(try await database.store.events(correlationId: "tg_a").first)
        let b = try #require(try await database.store.events(correlationId: "tg_b").first)
        #expect(a.previousHash == AuditChain.genesis)
        #expect(b.previousHash == a.hash)
        #expect(b.hash == AuditChain.hash(previous: a.hash, event: second))
    }

    @Test func eventsOfAFlowAreOrderedByTimeNotByWriteOrder() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        // A batched unpaid-path event can be written after later paid-path events of the same flow.
        try await store.append([TemporaryDatabase.event("tg_a", .proof, at: 2_000), TemporaryDatabase.event("tg_a", .respond, at: 3_000)])
        try await store.append([TemporaryDatabase.event("tg_other", .offer, at: 500)])
        try await store.append([TemporaryDatabase.event("tg_a", .offer, at: 1_000)])

        let recorded = try await store.events(correlationId: "tg_a")
        #expect(recorded.map(\.event.stage) == [.offer, .proof, .respond])
        #expect(recorded.map(\.event.timeMillis) == [1_000, 2_000, 3_000])
        #expect(recorded.allSatisfy { $0.event.correlationId == "tg_a" })
    }

    @Test func hashCoversEveryField() {
        let event = TemporaryDatabase.event("tg_a", .offer, at: 1)
        let base = AuditChain.hash(previous: AuditChain.genesis, event: event)
        var edited = [event, event, event, event]
        edited[0].correlationId = "tg_b"
        edited[1].timeMillis = 2
        edited[2].details["n"] = "2"
        edited[3].reason = "x"
        for variant in edited { #expect(AuditChain.hash(previous: AuditChain.genesis, event: variant) != base) }
        #expect(AuditChain.hash(previous: base, event: event) != base)
    }
}
