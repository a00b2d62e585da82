import Testing
import TollgateCore
import TollgateSQLite

/// Usage events, package balances and refunds in the real store.
@Suite struct SQLiteStoreMeteringTests {
    static func usage(_ correlationId: String, quantity: Int, source: UsageEvent.Source = .payment, amount: String = "10000",
                      at millis: Int64 = 1_764_000_000_000) -> UsageEvent {
        UsageEvent(correlationId: correlationId, clientId: "alice", payer: "0xabc0000000000000000000000000000000000001", resource: "records",
                   unit: "record", quantity: quantity, paidQuantity: quantity, source: source, amount: source == .package ? "0" : amount,
                   asset: source == .package ? "" : "0x036cbd53842c5426634e7929541ec2318f3dcf7e", atMillis: millis)
    }

    /// A settled payment of `amount` for flow `flow`, optionally buying `units` of package `bundle`.
    static func settle(_ store: SQLiteStore, flow: String, nonce: String, amount: String = "10000", units: Int? = nil, consumed: Int = 1) async throws {
        let key = TemporaryDatabase.key(nonce: nonce)
        _ = try await store.reserve(TemporaryDatabase.reservation(key, correlationId: flow), events: [])
        var payment = TemporaryDatabase.payment(key, correlationId: flow)
        payment.amount = amount
        let grant = units.map { PackageGrant(clientId: "alice", package: "bundle", unit: "request", units: $0) }
        try await store.finish(key, state: .settled, payment: payment, response: nil,
                               metering: MeteringRecord(usage: usage(flow, quantity: consumed, amount: amount), grant: grant), events: [])
    }

    @Test func usageIsRecordedOncePerFlowAndSummedPerPeriod() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        try await Self.settle(store, flow: "f1", nonce: "0x01", amount: "7000", consumed: 7)
        try await Self.settle(store, flow: "f2", nonce: "0x02", amount: "3000", consumed: 3)
        // Recording the same flow again (a retried write) changes nothing.
        try await store.recordDelivery(TemporaryDatabase.key(nonce: "0x01"), response: nil,
                                       metering: MeteringRecord(usage: Self.usage("f1", quantity: 99)), delivery: .next(), events: [])
        let summary = try await store.usage(clientId: "alice", fromMillis: 1_763_000_000_000, toMillis: 1_765_000_000_000)
        #expect(summary.count == 1)
        #expect(summary.first?.events == 2)
        #expect(summary.first?.quantity == 10)
        #expect(summary.first?.paid == ["0x036cbd53842c5426634e7929541ec2318f3dcf7e": "10000"])
        #expect(try await store.usage(clientId: "bob", fromMillis: 0, toMillis: .max).isEmpty)
        #expect(try await store.usage(clientId: "alice", fromMillis: 1_765_000_000_000, toMillis: .max).isEmpty)
    }

    @Test func concurrentSpendingNeverTakesABalanceBelowZero() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        try await Self.settle(store, flow: "buy", nonce: "0x01", units: 26, consumed: 1)  // 25 left
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 25])

        let held = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<60 {
                group.addTask {
                    let hold = UnitHold(correlationId: "spend-\(index)", clientId: "alice", package: "bundle", units: 2)
                    guard case .held = try await store.holdUnits(hold, events: []) else { return false }
                    try await store.finishUnits(correlationId: "spend-\(index)", consumed: 2,
                                                usage: Self.usage("spend-\(index)", quantity: 2, source: .package), events: [])
                    return true
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(held == 12)
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 1])
        #expect(try await store.holdUnits(UnitHold(correlationId: "last", clientId: "alice", package: "bundle", units: 2), events: [])
            == .insufficient(balance: 1))
    }

    @Test func unconsumedUnitsGoBackAndOverConsumptionStopsAtZero() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        try await Self.settle(store, flow: "buy", nonce: "0x01", units: 11, consumed: 1)  // 10 left
        #expect(try await store.holdUnits(UnitHold(correlationId: "a", clientId: "alice", package: "bundle", units: 5), events: []) == .held(remaining: 5))
        try await store.finishUnits(correlationId: "a", consumed: 2, usage: nil, events: [])
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 8])
        #expect(try await store.holdUnits(UnitHold(correlationId: "b", clientId: "alice", package: "bundle", units: 1), events: []) == .held(remaining: 7))
        try await store.finishUnits(correlationId: "b", consumed: 50, usage: nil, events: [])
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 0])
        // Finishing twice does not move the balance again.
        try await store.finishUnits(correlationId: "a", consumed: 0, usage: nil, events: [])
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 0])
    }

    @Test func refundsAreFullOrPartialAndNeverExceedWhatWasPaid() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        try await Self.settle(store, flow: "paid", nonce: "0x01", amount: "10000")

        let partial = try await store.refund(RefundRequest(correlationId: "paid", amount: TokenAmount(atomic: "4000"), reason: "late", actor: "cli:ops"),
                                             nowMillis: 1)
        #expect(partial.state == .pendingPayout)
        #expect(partial.kind == .payout)
        #expect(partial.amount == "4000")
        #expect(partial.payer == "0xabc0000000000000000000000000000000000001")
        await #expect(throws: TollgateError(.exceedsPaid, "6001 exceeds what is left to refund: 6000 of 10000 paid (atomic units)")) {
            _ = try await store.refund(RefundRequest(correlationId: "paid", amount: TokenAmount(atomic: "6001"), reason: "x", actor: "a"), nowMillis: 2)
        }
        let rest = try await store.refund(RefundRequest(correlationId: "paid", reason: "the rest", actor: "cli:ops"), nowMillis: 3)
        #expect(rest.amount == "6000")
        let again = await #expect(throws: TollgateError.self) {
            _ = try await store.refund(RefundRequest(correlationId: "paid", reason: "again", actor: "a"), nowMillis: 4)
        }
        #expect(again?.code == .alreadyRefunded)
        let unknown = await #expect(throws: TollgateError.self) {
            _ = try await store.refund(RefundRequest(correlationId: "tg_unknown", reason: "x", actor: "a"), nowMillis: 4)
        }
        #expect(unknown?.code == .notFound)
        let blank = await #expect(throws: TollgateError.self) {
            _ = try await store.refund(RefundRequest(correlationId: "paid", reason: "  ", actor: "a"), nowMillis: 4)
        }
        #expect(blank?.code == .invalid)

        #expect(try await store.refunds(state: .pendingPayout, correlationId: nil, limit: 10).map(\.id).sorted() == [partial.id, rest.id].sorted())
        let closed = try await store.closeRefund(id: partial.id, payoutTransaction: "0x" + String(repeating: "ab", count: 32), actor: "cli:ops", nowMillis: 5)
        #expect(closed.state == .paid)
        #expect(try await store.refunds(state: .pendingPayout, correlationId: nil, limit: 10).map(\.id) == [rest.id])
        let alreadyPaid = await #expect(throws: TollgateError.self) {  // already paid
            _ = try await store.closeRefund(id: partial.id, payoutTransaction: "0x" + String(repeating: "ab", count: 32), actor: "a", nowMillis: 6)
        }
        #expect(alreadyPaid?.code == .notPending)
        let notAHash = await #expect(throws: TollgateError.self) {  // not a transaction hash
            _ = try await store.closeRefund(id: rest.id, payoutTransaction: "0x12", actor: "a", nowMillis: 6)
        }
        #expect(notAHash?.code == .invalid)
        let report = try await store.usage(clientId: "alice", fromMillis: 0, toMillis: .max)
        #expect(report.first?.refunded == ["0x036cbd53842c5426634e7929541ec2318f3dcf7e": "10000"])
        let trail = try await store.events(correlationId: "paid").filter { $0.event.stage == .refund }
        #expect(trail.map(\.event.reason) == ["refund_recorded", "refund_recorded", "payout_recorded"])
    }

    @Test func concurrentRefundsOfOneFlowNeverExceedThePayment() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        try await Self.settle(store, flow: "paid", nonce: "0x01", amount: "10000")
        let accepted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    (try? await store.refund(RefundRequest(correlationId: "paid", amount: TokenAmount(atomic: "3000"), reason: "race", actor: "a"),
                                             nowMillis: 1)) != nil
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(accepted == 3)
    }

    @Test func refundingPackageUnitsCreditsThemBackAtOnce() async throws {
        let database = try TemporaryDatabase()
        defer { database.remove() }
        let store = database.store
        try await Self.settle(store, flow: "buy", nonce: "0x01", amount: "500000", units: 11, consumed: 1)  // 10 left
        _ = try await store.holdUnits(UnitHold(correlationId: "spend", clientId: "alice", package: "bundle", units: 4), events: [])
        try await store.finishUnits(correlationId: "spend", consumed: 4, usage: Self.usage("spend", quantity: 4, source: .package), events: [])
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 6])

        let credit = try await store.refund(RefundRequest(correlationId: "spend", amount: TokenAmount(atomic: "3"), reason: "bad results", actor: "a"),
                                            nowMillis: 1)
        #expect(credit.state == .credited)
        #expect(credit.kind == .packageCredit)
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 9])
        #expect(try await store.usage(clientId: "alice", fromMillis: 0, toMillis: .max).first?.creditedUnits == 3)
        await #expect(throws: TollgateError.self) {
            _ = try await store.refund(RefundRequest(correlationId: "spend", amount: TokenAmount(atomic: "2"), reason: "more", actor: "a"), nowMillis: 2)
        }

        // Refunding half the purchase takes back half the units it bought (5 of 10 bought... of 11), as far as the balance holds them.
        let payout = try await store.refund(RefundRequest(correlationId: "buy", amount: TokenAmount(atomic: "250000"), reason: "half", actor: "a"),
                                            nowMillis: 3)
        #expect(payout.state == .pendingPayout)
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 4])
    }
}
