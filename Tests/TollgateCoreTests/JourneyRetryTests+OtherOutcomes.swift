import HTTPTypes
import Testing
@testable import TollgateCore

/// A claim in doubt resolved otherwise than settled: failed, still open, refunded or reviewed, work that must not run twice.
extension JourneyRetryTests {
    // MARK: other outcomes

    @Test func aSettlementResolvedFailedIsRefusedWithAFreshOffer() {
        var journey = Self.resolving()
        guard case .respond(.refuse(_, .settlementFailed, let detail, nil, let events, false)) =
            journey.next(.resolved(Self.open(.failed, state: .failed), receipt: [:]), at: Self.now) else {
            Issue.record("nothing moved: a fresh 402")
            return
        }
        #expect(detail == "the settlement of this authorization was refused; nothing was charged")
        #expect(events.map(\.stage) == [.proof, .verify])
    }

    @Test func aSettlementStillOpenIsA503PaymentInProgress() {
        var journey = Self.resolving()
        guard case .respond(.inProgress(let events, let detail)) = journey.next(.resolved(Self.open(.open, state: .unknown), receipt: [:]), at: Self.now) else {
            Issue.record("still in doubt: wait, never a 402")
            return
        }
        #expect(detail.hasPrefix("this payment's settlement could not be confirmed yet; it is held for reconciliation"))
        #expect(events.map(\.stage) == [.proof, .verify])

        // A claim in doubt with no intent (recorded before intents were): a wait as well.
        for state in [Reservation.State.settling, .pending, .unknown] {
            var noIntent = Self.resuming(state)
            guard case .respond(.inProgress(_, let detail)) = noIntent.next(.settlementLookedUp(.success(nil), receipt: [:]), at: Self.now) else {
                Issue.record("a claim \(state) with no intent waits")
                continue
            }
            #expect(detail == "this payment's settlement is not confirmed yet; retry later, do not pay again")
        }
    }

    @Test func aRefundedOrReviewedSettlementIsA502NotDeliveredNamingItsRefund() {
        var refunded = Self.resuming(.settled)
        guard case .lookUpRefund(correlationId: "tg_offer") =
            refunded.next(.settlementLookedUp(.success(Self.open(.refunded, state: .settled)), receipt: Self.receipt), at: Self.now) else {
            Issue.record("the refund of a settled, undeliverable payment is looked up")
            return
        }
        guard case .respond(.commit(let events, then: .deny(let denial))) = refunded.next(.refundLookedUp(.success(Self.refund)), at: Self.now) else {
            Issue.record("a 502 with the refund")
            return
        }
        #expect(events.map(\.stage) == [.proof, .verify])
        #expect(denial.status == .badGateway)
        #expect(denial.reason == Reason("not_delivered"))
        #expect(denial.durable)
        #expect(denial.fields[.tollgateRefund] == "rf_7")
        #expect(denial.extra["refund_id"] == "rf_7")
        #expect(denial.detail == "the payment settled (0xtx) but its answer was lost and this request must not run twice; "
            + "refund rf_7 (10000 usdc) is recorded")

        var review = Self.resolving()
        _ = review.next(.resolved(Self.open(.review, state: .settled, transaction: nil), receipt: [:]), at: Self.now)
        let held = review.next(.refundLookedUp(.success(nil)), at: Self.now)
        guard case .respond(.commit(_, then: .deny(let reviewed))) = held else {
            Issue.record("a 502 saying it waits for review")
            return
        }
        #expect(reviewed.fields[.tollgateRefund] == nil)
        #expect(reviewed.extra["refund_id"] == "")
        #expect(reviewed.detail.hasPrefix("the payment settled (transaction unknown)"))
        #expect(reviewed.detail.hasSuffix("it is held for review by the operator; support can trace this flow"))
    }

    @Test func workThatMustNotRunTwiceIsRefundedThenAnsweredUndeliverable() {
        var journey = Self.settledUndelivered(redeliverable: false)
        guard case .refundOrReview(let open, actor: "retry") = journey.next(.storedLoaded(.success(nil)), at: Self.now) else {
            Issue.record("never forwarded again: refunded or listed for review")
            return
        }
        #expect(open.outcome == .settled)
        guard case .lookUpRefund(correlationId: "tg_offer") = journey.next(.refundedOrReviewed(changedMeanwhile: false), at: Self.now) else {
            Issue.record("then the refund is looked up")
            return
        }
        #expect(journey.next(.refundLookedUp(.success(Self.refund)), at: Self.now).committedDenial?.fields[.tollgateRefund] == "rf_7")

        // Delivered meanwhile by another instance (no refund, no review written): the settlement is read again, and its
        // owner gets the answer instead of "held for review".
        var elsewhere = Self.settledUndelivered(redeliverable: false)
        _ = elsewhere.next(.storedLoaded(.success(nil)), at: Self.now)
        guard case .lookUpSettlement(Self.key, exclusive: false) = elsewhere.next(.refundedOrReviewed(changedMeanwhile: true), at: Self.now) else {
            Issue.record("changed meanwhile: the settlement is read again")
            return
        }
        let delivered = Self.open(.settled, state: .settled, delivered: true, redeliverable: false)
        guard case .loadStoredResponse(Self.key) = elsewhere.next(.settlementLookedUp(.success(delivered), receipt: Self.receipt), at: Self.now) else {
            Issue.record("delivered: its kept answer is read for its owner")
            return
        }
    }
}
