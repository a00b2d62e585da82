import Testing
import TollgateCore
import TollgateSQLite

@Suite struct SQLiteStoreSpendTests {
    static func hold(_ amount: String, cap: String = "10") -> SpendHold {
        SpendHold(subject: "client:alice", bucket: "eip155:84532/0xabc/day:2026-11-25", amount: TokenAmount(atomic: amount)!,
                  maximum: TokenAmount(atomic: cap)!)
    }

    func total(_ store: SQLiteStore) async throws -> String {
        try await store.spendTotal(subject: "client:alice", bucket: "eip155:84532/0xabc/day:2026-11-25").atomic
    }

    @Test func holdsUpToTheCapAndReleasesWhatWasNotCharged() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let settledKey = TemporaryDatabase.key(nonce: "0x01"), failedKey = TemporaryDatabase.key(nonce: "0x02"), releasedKey = TemporaryDatabase.key(nonce: "0x03")
        for (key, flow) in [(settledKey, "f1"), (failedKey, "f2"), (releasedKey, "f3")] {
            #expect(try await store.reserve(TemporaryDatabase.reservation(key, correlationId: flow), events: []) == .reserved)
            #expect(try await store.holdSpend([Self.hold("3")], correlationId: flow) == nil)
        }
        #expect(try await total(store) == "9")
        #expect(try await store.holdSpend([Self.hold("2")], correlationId: "f4") == Self.hold("2"))
        #expect(try await total(store) == "9")

        try await store.finish(settledKey, state: .settled, payment: nil, events: [])
        try await store.finish(failedKey, state: .failed, payment: nil, events: [])
        try await store.release(releasedKey, events: [])
        #expect(try await total(store) == "3")
    }

    @Test func concurrentHoldsNeverExceedTheCap() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        let granted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<40 {
                group.addTask { try await store.holdSpend([Self.hold("1")], correlationId: "flow-\(index)") == nil }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(granted == 10)
        #expect(try await total(store) == "10")
    }

    @Test func tokenAmountArithmetic() {
        let big = TokenAmount(atomic: "999999999999999999999999")!
        #expect(big.adding(TokenAmount(atomic: "1")!)?.atomic == "1000000000000000000000000")
        #expect(TokenAmount(atomic: "1000")!.subtracting(TokenAmount(atomic: "1")!)?.atomic == "999")
        #expect(TokenAmount(atomic: "1")!.subtracting(TokenAmount(atomic: "2")!) == nil)
        let max = TokenAmount(atomic: "115792089237316195423570985008687907853269984665640564039457584007913129639935")!
        #expect(max.adding(max) == nil)
    }
}

@Suite struct SQLiteStorePaymentIdentifierTests {
    @Test func anIdentifierNamesOnePaymentPerClient() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        func reservation(_ nonce: String, flow: String, client: String = "alice", fingerprint: String) -> Reservation {
            Reservation(key: TemporaryDatabase.key(nonce: nonce), correlationId: flow, clientId: client, resource: "datasets",
                        validBefore: 2_000_000_000, paymentIdentifier: "order-0001-abcdefgh", fingerprint: fingerprint)
        }
        #expect(try await store.reserve(reservation("0x01", flow: "f1", fingerprint: "aa"), events: []) == .reserved)
        #expect(try await store.reserve(reservation("0x02", flow: "f2", fingerprint: "bb"), events: []) == .identifierConflict(correlationId: "f1"))
        #expect(try await store.reserve(reservation("0x01", flow: "f3", fingerprint: "aa"), events: []) == .alreadyClaimed(correlationId: "f1", state: .reserved))
        #expect(try await store.reserve(reservation("0x03", flow: "f4", client: "bob", fingerprint: "cc"), events: []) == .reserved)
    }
}
