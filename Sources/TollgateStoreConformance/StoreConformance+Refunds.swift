import Testing
import TollgateCore

/// Refunds: never more than paid, even racing; idempotency keys; package purchases; closing with a payout transaction.
extension StoreConformance {
    static func refunds(_ open: Factory) async throws {
        let store = try await open(nil)
        try await settle(store, key(1), "tg_a", amount: "1000")
        #expect(try await store.storedResponse(key(1), now: 1_000) != nil)
        await expect(throwing: .invalid) { try await store.refund(RefundRequest(correlationId: "tg_a", reason: "  ", actor: "t"), nowMillis: 1) }
        let racing = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    do {
                        _ = try await store.refund(RefundRequest(correlationId: "tg_a", amount: TokenAmount(atomic: "300"), reason: "late", actor: "t"),
                                                   nowMillis: 1)
                        return true
                    } catch let error as TollgateError {
                        #expect(error.code == .exceedsPaid)
                        return false
                    }
                }
            }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(racing == 3)
        // Refunded in part, the answer stays its owner's; refunded in full, it is no longer offered to a retry.
        #expect(try await store.storedResponse(key(1), now: 1_000) != nil)
        let rest = try await store.refund(RefundRequest(correlationId: "tg_a", reason: "rest", actor: "t"), nowMillis: 2)
        #expect(try await store.storedResponse(key(1), now: 1_000) == nil)
        #expect(rest.amount == "100")
        #expect(rest.state == .pendingPayout)
        do {
            _ = try await store.refund(RefundRequest(correlationId: "tg_a", reason: "again", actor: "t"), nowMillis: 3)
            Issue.record("a flow refunded in full was refunded again")
        } catch let error as TollgateError {
            #expect(error.code == .alreadyRefunded)
        }
        #expect(try await store.refunds(state: .pendingPayout, correlationId: "tg_a", limit: 100).count == 4)
        let closed = try await store.closeRefund(id: rest.id, payoutTransaction: "0x" + String(repeating: "B", count: 64), actor: "t", nowMillis: 4)
        #expect(closed.state == .paid)
        #expect(closed.payoutTransaction == "0x" + String(repeating: "b", count: 64))
        await expect(throwing: .notPending) {
            try await store.closeRefund(id: rest.id, payoutTransaction: "0x" + String(repeating: "b", count: 64), actor: "t", nowMillis: 5)
        }
        // The attack on the payout record (a mistake or an insider): another pending refund of the flow marked paid with a
        // transaction that paid someone else's refund, or with the payment's own settlement, so the payer would be told it
        // was paid while nothing went back. Refused; a batch payout says so; a payment's settlement never closes a refund.
        let other = try #require(try await store.refunds(state: .pendingPayout, correlationId: "tg_a", limit: 100).first)
        await expect(throwing: .payoutTransactionUsed) {
            try await store.closeRefund(id: other.id, payoutTransaction: "0x" + String(repeating: "b", count: 64), actor: "t", nowMillis: 5)
        }
        await expect(throwing: .payoutTransactionUsed) {
            try await store.closeRefund(id: other.id, payoutTransaction: "0x" + String(repeating: "A", count: 64), batch: true, actor: "t", nowMillis: 5)
        }
        // A ledger keeps the facilitator's spelling of its transaction: pasted as `trace` shows it, in lowercase, or with its
        // hex in upper case, it is still refused.
        var mixed = payment(key(40), "tg_mixed_tx")
        mixed.transaction = "0xAbC" + String(repeating: "d", count: 61)
        #expect(try await store.reserve(reservation(key(40), "tg_mixed_tx"), events: []) == .reserved)
        try await store.finish(key(40), state: .settled, payment: mixed, response: nil, events: [])
        for pasted in [mixed.transaction, mixed.transaction.lowercased(), "0x" + mixed.transaction.dropFirst(2).uppercased()] {
            await expect(throwing: .payoutTransactionUsed) {
                try await store.closeRefund(id: other.id, payoutTransaction: pasted, batch: true, actor: "t", nowMillis: 5)
            }
            // Support finds the payment by any spelling too (no event names it: the ledger's own row).
            let found = try await store.flows(matching: try TraceKey(parsing: pasted), limit: 10)
            #expect(found.correlationIds == ["tg_mixed_tx"] && found.matchedAs == ["transaction": ["payment"]], "\(pasted): \(found)")
        }
        // One the ledger keeps in upper-case hex, pasted in lowercase.
        var upper = payment(key(41), "tg_upper_tx")
        upper.transaction = "0x" + String(repeating: "F", count: 64)
        #expect(try await store.reserve(reservation(key(41), "tg_upper_tx"), events: []) == .reserved)
        try await store.finish(key(41), state: .settled, payment: upper, response: nil, events: [])
        await expect(throwing: .payoutTransactionUsed) {
            try await store.closeRefund(id: other.id, payoutTransaction: upper.transaction.lowercased(), batch: true, actor: "t", nowMillis: 5)
        }
        #expect(try await store.refunds(state: .pendingPayout, correlationId: "tg_a", limit: 100).contains { $0.id == other.id })
        let batched = try await store.closeRefund(id: other.id, payoutTransaction: "0x" + String(repeating: "B", count: 64), batch: true,
                                                  actor: "t", nowMillis: 6)
        #expect(batched.state == .paid)
        #expect(batched.payoutTransaction == closed.payoutTransaction)
        let payouts = try await store.events(correlationId: "tg_a").map(\.event).filter { $0.reason == "payout_recorded" }
        #expect(payouts.map { [$0.details["refund_id"], $0.details["batch"]] } == [[rest.id, nil], [other.id, "true"]])
        // A settlement intent of a refunded payment says so: a retry reads `refunded`, not a delivered settlement.
        #expect(try await store.reserve(reservation(key(3), "tg_intent"), events: []) == .reserved)
        try await store.recordSettlementIntent(intent(key(3), "tg_intent"), events: [])
        try await store.finish(key(3), state: .settled, payment: payment(key(3), "tg_intent"), response: response("tg_intent"), events: [])
        #expect(try await store.openSettlement(key(3))?.outcome == .settled)
        _ = try await store.refund(RefundRequest(correlationId: "tg_intent", reason: "disputed", actor: "t"), nowMillis: 9)
        #expect(try await store.openSettlement(key(3))?.outcome == .refunded)
        #expect(try await store.storedResponse(key(3), now: 1_000) == nil)
        // A payment that bought units: a partial refund takes back the refunded share, rounded down (integers only).
        try await settle(store, key(2), "tg_buy", amount: "3", metering: MeteringRecord(
            usage: usageEvent("tg_buy", quantity: 0), grant: PackageGrant(clientId: "alice", package: "bundle", unit: "record", units: 10)))
        _ = try await store.refund(RefundRequest(correlationId: "tg_buy", amount: TokenAmount(atomic: "1"), reason: "partial", actor: "t"), nowMillis: 6)
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 7])
        // Units spent from a package are credited back at once, never more than were spent.
        #expect(try await store.holdUnits(UnitHold(correlationId: "tg_use", clientId: "alice", package: "bundle", units: 5), events: []) == .held(remaining: 2))
        try await store.finishUnits(correlationId: "tg_use", consumed: 5, usage: usageEvent("tg_use", quantity: 5, source: .package), events: [])
        let credit = try await store.refund(RefundRequest(correlationId: "tg_use", amount: TokenAmount(atomic: "4"), reason: "bad rows", actor: "t"),
                                            nowMillis: 7)
        #expect(credit.state == .credited)
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 6])
        await expect(throwing: .exceedsPaid) {
            try await store.refund(RefundRequest(correlationId: "tg_use", amount: TokenAmount(atomic: "2"), reason: "more", actor: "t"), nowMillis: 8)
        }
        await expect(throwing: .notFound) { try await store.refund(RefundRequest(correlationId: "tg_none", reason: "x", actor: "t"), nowMillis: 9) }
    }

    /// A refund sent again with its idempotency key (a retry after a timeout whose first try was recorded, or eight at
    /// once) is recorded once and answered with that refund; the key used for another refund is a conflict.
    static func idempotentRefunds(_ open: Factory) async throws {
        let store = try await open(auditKeys)
        try await settle(store, key(1), "tg_paid", amount: "1000")
        let ask = RefundRequest(correlationId: "tg_paid", amount: TokenAmount(atomic: "300"), reason: "late", actor: "admin:ops", requestKey: "k-1")
        let answers = try await withThrowingTaskGroup(of: Refund.self) { group in
            for _ in 0..<8 { group.addTask { try await store.refund(ask, nowMillis: 1) } }
            return try await group.reduce(into: [Refund]()) { $0.append($1) }
        }
        #expect(Set(answers.map(\.id)).count == 1)
        #expect(try await store.refunds(state: nil, correlationId: "tg_paid", limit: 10).map(\.amount) == ["300"])
        #expect(try await store.events(correlationId: "tg_paid").filter { $0.event.stage == .refund }.count == 1)
        // The same key for another amount, flow or reason: refused, nothing recorded.
        for other in [RefundRequest(correlationId: "tg_paid", amount: TokenAmount(atomic: "200"), reason: "late", actor: "admin:ops", requestKey: "k-1"),
                      RefundRequest(correlationId: "tg_paid", amount: TokenAmount(atomic: "300"), reason: "later", actor: "admin:ops", requestKey: "k-1")] {
            await expect(throwing: .idempotencyConflict) { try await store.refund(other, nowMillis: 2) }
        }
        // Another key is another refund; no key, as before.
        var second = ask
        second.requestKey = "k-2"
        _ = try await store.refund(second, nowMillis: 3)
        _ = try await store.refund(RefundRequest(correlationId: "tg_paid", amount: TokenAmount(atomic: "300"), reason: "late", actor: "t"), nowMillis: 4)
        #expect(try await store.refunds(state: nil, correlationId: "tg_paid", limit: 10).count == 3)
        await expect(throwing: .invalid) {
            try await store.refund(RefundRequest(correlationId: "tg_paid", reason: "x", actor: "t", requestKey: "has space"), nowMillis: 5)
        }
        #expect(try await store.verifyAuditLog().isIntact)
    }

    /// Refunds of a package purchase: partial refunds together take back every unit bought (each counted on the refunds
    /// before it), an automatic refund whose units were spent since is refused with nothing written (the client used
    /// what it paid for: an operator decides), and an operator's refund then takes what is left and names the rest in its
    /// audit event.
    static func packageRefunds(_ open: Factory) async throws {
        let store = try await open(auditKeys)
        func bought(_ nonce: Int, _ flow: String, units: Int) async throws {
            try await settle(store, key(nonce), flow, amount: "3", metering: MeteringRecord(
                usage: usageEvent(flow, quantity: 0), grant: PackageGrant(clientId: "alice", package: "bundle", unit: "record", units: units)))
        }
        try await bought(1, "tg_thirds", units: 10)
        for expected in [7, 4, 0] {
            _ = try await store.refund(RefundRequest(correlationId: "tg_thirds", amount: TokenAmount(atomic: "1"), reason: "partial", actor: "ops"),
                                       nowMillis: 1)
            #expect(try await store.packageBalances(clientId: "alice") == ["bundle": expected])
        }

        try await bought(2, "tg_spent", units: 10)
        #expect(try await store.holdUnits(UnitHold(correlationId: "tg_use", clientId: "alice", package: "bundle", units: 6), events: []) == .held(remaining: 4))
        try await store.finishUnits(correlationId: "tg_use", consumed: 6, usage: usageEvent("tg_use", quantity: 6, source: .package), events: [])
        let lost = RefundRequest(correlationId: "tg_spent", reason: "not delivered: connection_failed", actor: "tollgate", automatic: true)
        await expect(throwing: .unitsSpent) { try await store.refund(lost, nowMillis: 2) }
        #expect(try await store.refunds(state: nil, correlationId: "tg_spent", limit: 10).isEmpty)
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 4])
        let decided = try await store.refund(RefundRequest(correlationId: "tg_spent", reason: "operator: refund anyway", actor: "ops"), nowMillis: 3)
        #expect(decided.amount == "3")
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 0])
        let recorded = try await store.events(correlationId: "tg_spent").last { $0.event.stage == .refund }?.event.details
        #expect(recorded?["units_taken_back"] == "4" && recorded?["units_short"] == "6", "\(recorded ?? [:])")
        #expect(try await store.verifyAuditLog().isIntact)
    }
}
