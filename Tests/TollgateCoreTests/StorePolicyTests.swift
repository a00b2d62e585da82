import Testing
import TollgateCore

/// The policy every store applies: refunds, spend holds, package units, retention (pure functions, no store).
@Suite struct StorePolicyTests {
    static let payment = PaymentRecord(correlationId: "tg_a", rail: "r", network: "eip155:8453", asset: "0xusdc", payer: "0xp", payee: "0xq",
                                       amount: "1000", nonce: "0x1", transaction: "0xt", clientId: "alice", resource: "datasets", unit: "request",
                                       quantity: 1, settledAtMillis: 1)

    func request(_ amount: String? = nil, reason: String = "late") -> RefundRequest {
        RefundRequest(correlationId: "tg_a", amount: amount.flatMap { TokenAmount(atomic: $0) }, reason: reason, actor: "t")
    }

    @Test func refundRequestsAreCheckedBeforeAnyStore() throws {
        #expect(try RefundPolicy.validated(request(reason: "  slow \n")).reason == "slow")
        #expect(throws: TollgateError(.invalid, "give a reason (1–500 characters)")) { try RefundPolicy.validated(request(reason: " ")) }
        #expect(throws: TollgateError.self) { try RefundPolicy.validated(request(reason: String(repeating: "x", count: 501))) }
        #expect(throws: TollgateError(.invalid, "the amount must be greater than zero")) { try RefundPolicy.validated(request("0")) }
    }

    @Test func aPayoutNeverExceedsWhatIsLeft() throws {
        let all = try RefundPolicy.payout(request(), of: Self.payment, refunded: TokenAmount(atomic: "400")!, id: "rf_1", nowMillis: 5)
        #expect(all.amount == "600")
        #expect(all.state == .pendingPayout)
        #expect(all.createdAtMillis == 5)
        #expect(try RefundPolicy.payout(request("600"), of: Self.payment, refunded: TokenAmount(atomic: "400")!, id: "rf_2", nowMillis: 5).amount == "600")
        #expect(throws: TollgateError.self) { try RefundPolicy.payout(request("601"), of: Self.payment, refunded: TokenAmount(atomic: "400")!, id: "x", nowMillis: 5) }
        do {
            _ = try RefundPolicy.payout(request(), of: Self.payment, refunded: TokenAmount(atomic: "1000")!, id: "x", nowMillis: 5)
            Issue.record("refunded twice")
        } catch {
            #expect(error.code == .alreadyRefunded)
        }
    }

    @Test func aCreditNeverExceedsTheUnitsSpent() throws {
        let usage = UsageEvent(correlationId: "tg_a", clientId: "alice", payer: "0xp", resource: "datasets", unit: "record", quantity: 5,
                               paidQuantity: 5, source: .package, amount: "0", asset: "", atMillis: 1)
        let credit = try RefundPolicy.credit(request("2"), of: usage, credited: TokenAmount(atomic: "3")!, id: "rf_1", nowMillis: 9)
        #expect(credit.state == .credited)
        #expect(credit.closedAtMillis == 9)
        #expect(throws: TollgateError.self) { try RefundPolicy.credit(request("3"), of: usage, credited: TokenAmount(atomic: "3")!, id: "x", nowMillis: 9) }
    }

    @Test func closingNeedsAPendingPayoutAndATransaction() throws {
        let refund = try RefundPolicy.payout(request(), of: Self.payment, refunded: .zero, id: "rf_1", nowMillis: 1)
        let transaction = try RefundPolicy.payoutTransaction("0x" + String(repeating: "AB", count: 32))
        #expect(transaction == "0x" + String(repeating: "ab", count: 32))
        #expect(throws: TollgateError.self) { try RefundPolicy.payoutTransaction("0x12") }
        let closed = try RefundPolicy.closed(refund, transaction: transaction, nowMillis: 2)
        #expect(closed.state == .paid)
        #expect(throws: TollgateError.self) { try RefundPolicy.closed(closed, transaction: transaction, nowMillis: 3) }
    }

    /// Refunds of a package purchase take back their share of the units counted on every refund so far: partial refunds
    /// together take back all of them, as one refund of the whole does (each rounded on its own took back less: three
    /// refunds of 1 of 3 paid for 10 units took 9, a refund of 1 then of 9999 of 10000 for one unit took none).
    @Test func partialRefundsTogetherTakeBackEveryUnit() throws {
        func refunds(paid: String, granted: Int, amounts: [String], automatic: Bool = false, balance: Int = 1000) throws -> [Int] {
            var payment = Self.payment
            payment.amount = paid
            var refunded = TokenAmount.zero, taken: [Int] = [], balance = balance
            for amount in amounts {
                var ask = request(amount)
                ask.automatic = automatic
                let refund = try RefundPolicy.payout(ask, of: payment, refunded: refunded, id: "rf", nowMillis: 1)
                let back = try RefundPolicy.takeBack(granted: granted, paid: paid, refundedBefore: refunded, refund: refund, balance: balance)
                taken.append(back.units)
                balance = back.balance
                refunded = refunded.adding(TokenAmount(atomic: amount)!)!
            }
            return taken
        }
        #expect(try refunds(paid: "3", granted: 10, amounts: ["1", "1", "1"]) == [3, 3, 4])
        #expect(try refunds(paid: "10000", granted: 1, amounts: ["1", "9999"]) == [0, 1])
        #expect(try refunds(paid: "3", granted: 10, amounts: ["3"]) == [10])
        // Spent since: an operator's refund takes what is left and names the rest; an automatic one is refused.
        var payment = Self.payment
        payment.amount = "3"
        let operators = try RefundPolicy.payout(request("3"), of: payment, refunded: .zero, id: "rf", nowMillis: 1)
        let back = try RefundPolicy.takeBack(granted: 10, paid: "3", refundedBefore: .zero, refund: operators, balance: 4)
        #expect([back.units, back.short, back.balance] == [4, 6, 0])
        #expect(RefundPolicy.recordedEvent(operators, takeBack: back).details["units_short"] == "6")
        var automatic = request()
        automatic.automatic = true
        let lost = try RefundPolicy.payout(automatic, of: payment, refunded: .zero, id: "rf", nowMillis: 1)
        #expect { try RefundPolicy.takeBack(granted: 10, paid: "3", refundedBefore: .zero, refund: lost, balance: 9) } throws: {
            ($0 as? TollgateError)?.code == .unitsSpent
        }
        #expect(try RefundPolicy.takeBack(granted: 10, paid: "3", refundedBefore: .zero, refund: lost, balance: 10).units == 10)
    }

    @Test func unitsTakenBackAreExactIntegers() throws {
        // Past what a Double holds exactly: 10^30 + 1 of 3 × 10^30 + 3 is exactly a third.
        #expect(TokenAmount.proportion(of: 9, part: TokenAmount(atomic: "1000000000000000000000000000001")!,
                                       whole: TokenAmount(atomic: "3000000000000000000000000000003")!) == 3)
        #expect(TokenAmount.proportion(of: 1_000_000, part: TokenAmount(atomic: "999999999999999999999999")!,
                                       whole: TokenAmount(atomic: "1000000000000000000000000")!) == 999_999)
        #expect(TokenAmount.proportion(of: 7, part: TokenAmount(atomic: "5")!, whole: TokenAmount(atomic: "5")!) == 7)
        #expect(TokenAmount.proportion(of: 7, part: .zero, whole: TokenAmount(atomic: "5")!) == 0)
        #expect(TokenAmount.proportion(of: Int.max, part: TokenAmount(atomic: "1")!, whole: TokenAmount(atomic: String(repeating: "9", count: 77))!) == 0)
    }

    func hold(_ amount: String, max: String, subject: String = "client:alice") -> SpendHold {
        SpendHold(subject: subject, bucket: "b", amount: TokenAmount(atomic: amount)!, maximum: TokenAmount(atomic: max)!)
    }

    @Test func spendHoldsAreAllOrNothingAndIdempotent() {
        let a = hold("4", max: "10"), b = hold("4", max: "5", subject: "payer:0x1")
        #expect(SpendHolds.decide([a, b], totals: [:], counted: []) == .hold([.init(hold: a, total: TokenAmount(atomic: "4")!),
                                                                              .init(hold: b, total: TokenAmount(atomic: "4")!)]))
        // Equal to the cap fits; past it refuses the whole set.
        #expect(SpendHolds.decide([a], totals: [.init(a): TokenAmount(atomic: "6")!], counted: []) == .hold([.init(hold: a, total: TokenAmount(atomic: "10")!)]))
        #expect(SpendHolds.decide([a, b], totals: [.init(b): TokenAmount(atomic: "2")!], counted: []) == .exceeds(b))
        // A bucket this flow already counts is not held again.
        #expect(SpendHolds.decide([a, b], totals: [.init(b): TokenAmount(atomic: "4")!], counted: [.init(b)]) == .hold([.init(hold: a, total: TokenAmount(atomic: "4")!)]))
        #expect(SpendHolds.released(TokenAmount(atomic: "3")!, amount: TokenAmount(atomic: "4")!) == .zero)
        #expect(SpendHolds.afterFinish(.settled) == .committed)
        #expect(SpendHolds.afterFinish(.failed) == .released)
        #expect(SpendHolds.afterFinish(.unknown) == nil)
        #expect(SpendHolds.afterFinish(.pending) == nil)
    }

    @Test func packageBalancesNeverGoBelowZero() {
        #expect(PackageUnits.afterHold(balance: 5, units: 5) == 0)
        #expect(PackageUnits.afterHold(balance: 4, units: 5) == nil)
        #expect(PackageUnits.afterFinish(balance: 2, held: 3, consumed: 1) == 4)
        #expect(PackageUnits.afterFinish(balance: 2, held: 3, consumed: 9) == 0)
        #expect(PackageUnits.afterFinish(balance: 2, held: 3, consumed: -4) == 5)
        #expect(PackageUnits.afterGrant(balance: 1, granted: 10, consumed: 2) == 9)
        #expect(PackageUnits.afterGrant(balance: 1, granted: 2, consumed: 10) == 1)
        #expect(PackageUnits.afterCredit(balance: 2, units: 3) == 5)
    }

    @Test func retentionKeepsWhatMayStillMove() {
        #expect(StoreRetention.purgeableStates == [.reserved, .failed])
        #expect(StoreRetention.releasableStates == [.reserved, .settling])
        #expect(StoreRetention.isResolved(.settled, delivered: true))
        #expect(!StoreRetention.isResolved(.settled, delivered: false))
        #expect(!StoreRetention.isResolved(.review, delivered: true))
        #expect(StoreRetention.intentOutcome(.failed) == .failed)
        #expect(StoreRetention.intentOutcome(.pending) == nil)
    }
}
