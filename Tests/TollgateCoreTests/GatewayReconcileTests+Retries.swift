import HTTPTypes
import Logging
import Testing
import TollgateCore
import TollgateStoreConformance

/// Late and concurrent retries of a settlement in doubt: delivered, told of a refund, or waiting instead of paying again.
extension GatewayReconcileTests {
    /// Settled by the reconciler after the client gave up, then fetched by its owner after the offer expired: the late
    /// retry records the delivery, so the reconciler, once the window has passed, refunds nothing that was served.
    @Test func aLateRetryOfASettlementTheReconcilerResolvedIsDeliveredAndNeverRefundedAfterwards() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        #expect(await harness.send("/datasets/prices", proof: proof).reason == "settlement_unknown")
        let resolved = try await harness.gateway.reconcile(startup: false)
        #expect(resolved.settled == [try #require(offer.correlationId)])

        harness.clock.advance(seconds: 600)
        let late = await harness.send("/datasets/prices", proof: proof)
        #expect(late.status == .ok)
        #expect(late.text == "the data")
        #expect(try await harness.store.openSettlement(proof.key)?.delivered == true)

        harness.clock.advance(seconds: 3_601)
        let report = try await harness.gateway.reconcile(startup: false)
        #expect(report.refunded.isEmpty)
        #expect(await harness.store.refundsRecorded.isEmpty)
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.payments.count == 1)
    }

    /// On a shared store, a late retry (its authorization expired since; no `reserve`, so no lease check there) of a
    /// settlement another instance's live request works on waits: it neither resolves nor serves nor refunds it.
    @Test func aLateRetryOfASettlementLiveElsewhereWaits() async throws {
        let harness = Self.harness()
        let (_, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        #expect(await harness.send("/datasets/prices", proof: proof).reason == "settlement_unknown")
        // Another instance's retry carries the purchase on: its `/settle` is out now.
        let intent = try #require(try await harness.store.openSettlement(proof.key)?.intent)
        try await harness.store.recordSettlementIntent(intent, events: [])
        await harness.store.leaseElsewhere(proof.key)

        harness.clock.advance(seconds: 600)
        let late = await harness.send("/datasets/prices", proof: proof)

        #expect(late.status == .serviceUnavailable, "\(late.status) \(late.reason ?? "")")
        #expect(late.reason == "payment_in_progress")
        #expect(harness.rail.resettleCalls == 0)
        #expect(try await harness.store.openSettlement(proof.key)?.outcome == .open)
        #expect(harness.upstream.received.count == 1)

        // That instance stops: the late retry resolves and gets its answer.
        await harness.store.leaseLapses(proof.key)
        let later = await harness.send("/datasets/prices", proof: proof)
        #expect(later.status == .ok, "\(later.status) \(later.reason ?? "")")
        #expect(later.text == "the data")
    }

    /// A client whose first payment's settlement is in doubt signs the same offer again (with or without a payment
    /// identifier): the second authorization must wait, never be sent fresh terms (a stock client would pay them too,
    /// and the first may still land); once the first is resolved settled, its own proof gets the answer.
    @Test func aSecondAuthorizationForAnOfferInDoubtWaitsInsteadOfFreshTerms() async throws {
        for identifier in [nil, "order-0004-abcdefgh"] as [String?] {
            let harness = Self.harness()
            let (offer, first) = try await harness.offerAndProof()
            var named = first
            named.paymentIdentifier = identifier
            harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
            #expect(await harness.send("/datasets/prices", proof: named).reason == "settlement_unknown")

            var again = harness.proof(nonce: "0x02", offerToken: try #require(offer.offerTokens.first))
            again.paymentIdentifier = identifier
            let second = await harness.send("/datasets/prices", proof: again)

            #expect(second.status == .serviceUnavailable, "\(identifier ?? "no identifier"): \(second.status) \(second.reason ?? "")")
            #expect(second.reason == "payment_in_progress")
            #expect(second.offerTokens.isEmpty, "no fresh terms")
            #expect(harness.rail.settleCalls == 1)
            let resolved = await harness.send("/datasets/prices", proof: named)
            #expect(resolved.status == .ok && resolved.text == "the data")
        }
    }

    /// Refunded at once (`settle: before`, the work failed) by an instance whose lease is still young: the client's
    /// retry at another instance is told of the refund, not asked to wait as if the work were still running there.
    @Test func aRefundedSettlementIsNotLiveElsewhere() async throws {
        let harness = Self.harness()
        let (_, proof) = try await harness.offerAndProof("/render", method: .post, amount: "2000")
        harness.upstream.update { $0.status = .internalServerError }
        let first = await harness.send("/render", method: .post, proof: proof)
        let refund = try #require(first.headerFields[.tollgateRefund])
        await harness.store.leaseElsewhere(proof.key)

        let again = await harness.send("/render", method: .post, proof: proof)

        #expect(again.status == .badGateway, "\(again.status) \(again.reason ?? "")")
        #expect(again.headerFields[.tollgateRefund] == refund)
        #expect(harness.upstream.received.count == 1)
    }

    @Test func aRetryWhileTheFirstRequestRunsWaitsInsteadOfPayingAgain() async throws {
        let harness = Self.harness()
        let (_, proof) = try await harness.offerAndProof()
        // 10 s: the second request must be answered while the first is still held, even on a loaded machine.
        harness.upstream.update { $0.delay = .seconds(10) }

        async let first = harness.send("/datasets/prices", proof: proof)
        // Once the first request is at the upstream, its claim is in flight.
        let deadline = ContinuousClock.now + .seconds(30)
        while harness.upstream.received.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let second = await harness.send("/datasets/prices", proof: proof)
        let delivered = await first

        #expect(delivered.status == .ok)
        #expect(second.status == .serviceUnavailable)
        #expect(second.offerTokens.isEmpty)
        #expect(harness.rail.settleCalls == 1)
    }
}
