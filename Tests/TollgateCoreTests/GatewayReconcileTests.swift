import HTTPTypes
import Logging
import Testing
import TollgateCore
import TollgateStoreConformance

/// Settlements left in doubt (a crash, a timeout, a lost answer) are resolved by the client's retry and by the
/// reconciler; one authorization buys one delivery either way.
@Suite struct GatewayReconcileTests {
    static let jobs = GatewayMeteringTests.jobs
    static let postJobs: Route = {
        var route = GatewayMeteringTests.route("/render", resource: "render", price: "0.002", unit: "request",
                                               metering: Metering(settle: .before), method: .post)
        route.redeliver = false
        return route
    }()

    /// A chain reader that cannot answer (a hosted node limiting `eth_getLogs`, a timeout).
    static let unreadable = RailFailure(.badStatus, "eth_getLogs failed: block range too large", authority: "http://node.test")

    static func harness() -> GatewayHarness {
        GatewayHarness(routes: RouteTable([GatewayHarness.datasets, jobs, postJobs]))
    }

    @Test func aSettledButUndeliveredGETIsForwardedAgainUnderTheSameCorrelationId() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof("/jobs?seconds=3", amount: "6000")
        // `settle: before`: the answer to `/settle` is lost, so nothing was forwarded.
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        let first = await harness.send("/jobs?seconds=3", proof: proof)
        #expect(first.status == .serviceUnavailable)
        #expect(harness.upstream.received.isEmpty)

        let again = await harness.send("/jobs?seconds=3", proof: proof)

        #expect(again.status == .ok)
        #expect(harness.upstream.received.count == 1)
        #expect(harness.upstream.received.first?.headerFields[.tollgateCorrelationId] == offer.correlationId)
        #expect(await harness.store.payments.count == 1)
        let stages = try await harness.stages(offer.correlationId)
        #expect(stages.suffix(3) == ["forward", "meter", "respond"])

        // Delivered now: presenting it once more forwards nothing.
        _ = await harness.send("/jobs?seconds=3", proof: proof)
        #expect(harness.upstream.received.count == 1)
    }

    /// The facilitator accepts a settlement as pending, then cannot be reached for the second ask: the money may move,
    /// so the claim and its intent stay for the retry and the reconciler; the client is told to wait, never that
    /// nothing was charged, and its retry settles and is served without the upstream running again.
    @Test func aPendingSettlementWhoseFacilitatorGoesAwayStaysOnRecord() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.success(.pending), .failure(ScriptedRail.outage)] }
        let first = await harness.send("/datasets/prices", proof: proof)
        #expect(first.status == .serviceUnavailable)
        #expect(first.reason == "settlement_unknown")
        #expect(await harness.store.state(of: proof.key) == .unknown)
        let open = try #require(try await harness.store.openSettlement(proof.key))
        #expect(open.outcome == .open)
        #expect(harness.upstream.received.count == 1)
        let reasons = try await harness.events(offer.correlationId).compactMap(\.reason)
        // Asked, pending, then unknown at the settle stage and in the answer.
        #expect(reasons.suffix(3) == ["settlement_pending", "settlement_unknown", "settlement_unknown"], "\(reasons)")

        // The same proof again once the facilitator is back: settled by asking again, the kept answer served, the
        // upstream not called again, one payment.
        let again = await harness.send("/datasets/prices", proof: proof)
        #expect(again.status == .ok)
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.payments.count == 1)
        #expect(await harness.store.state(of: proof.key) == .settled)
    }

    @Test func workThatMustNotRunTwiceIsRefundedWithTheTransactionAsEvidence() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof("/render", method: .post, amount: "2000")
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/render", method: .post, proof: proof)

        let again = await harness.send("/render", method: .post, proof: proof)

        #expect(again.status == .badGateway)
        #expect(again.reason == "not_delivered")
        #expect(harness.upstream.received.isEmpty)
        let refund = try #require(await harness.store.refundsRecorded.first)
        #expect(refund.correlationId == offer.correlationId)
        #expect(refund.automatic)
        #expect(again.headerFields[.tollgateRefund] == refund.id)
    }

    @Test func withoutATransactionNoMoneyIsPaidOutAutomatically() async throws {
        let harness = Self.harness()
        let (_, proof) = try await harness.offerAndProof("/render", method: .post, amount: "2000")
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/render", method: .post, proof: proof)
        // Settled only by the facilitator's word that the nonce is spent: no transaction, no automatic refund.
        harness.rail.update {
            $0.settlements = [.success(.failed)]
            $0.failureReason = "invalid_exact_evm_nonce_already_used"
        }

        let again = await harness.send("/render", method: .post, proof: proof)

        #expect(again.status == .badGateway)
        #expect(await harness.store.refundsRecorded.isEmpty)
        let review = try await harness.store.settlementsForReview(limit: 10)
        #expect(review.map(\.intent.key) == [proof.key])
    }

    /// A `/settle` whose answer was lost, sent again once the authorization's window passed (or the balance its own
    /// transfer spent): the facilitator's refusal is what the first attempt landing would cause, so it is never taken for
    /// "nothing moved" (the client would be told to pay again). The chain decides; without one it stays unknown. A
    /// refusal the first attempt would have met too (the signature) ends it. The chain's "unused" proves nothing moved
    /// only once the authorization expired by the chain's own time (a block at or past its validBefore): before, the first
    /// attempt may still be mined, whatever the gateway's clock says (a node behind the head). A chain reader that cannot
    /// answer decides nothing: "nonce used" is then not taken for paid (the payer may have cancelled it, or spent it on
    /// itself, and the facilitator cannot tell); only with no reader at all is the facilitator's word taken.
    @Test(arguments: [
        ("invalid_exact_evm_payload_authorization_valid_before", nil, false, "unknown"),
        ("insufficient_funds", nil, false, "unknown"),
        ("unexpected_settle_error", nil, false, "unknown"),
        ("invalid_exact_evm_payload_authorization_valid_before", .success(.used(transaction: "0xabc")), false, "settled"),
        ("unexpected_settle_error", .success(.unused(blockTime: 0)), false, "unknown"),
        ("invalid_exact_evm_payload_authorization_valid_before", .success(.unused(blockTime: 4_000_000_000)), false, "failed"),
        ("invalid_exact_evm_payload_authorization_valid_before", .success(.unused(blockTime: 0)), true, "unknown"),
        ("invalid_exact_evm_payload_authorization_valid_before", .failure(Self.unreadable), true, "unknown"),
        ("invalid_exact_evm_payload_signature", nil, false, "failed"),
        // The nonce spent by a transaction that paid nobody this payment names: the payer spent it first, elsewhere.
        ("invalid_exact_evm_nonce_already_used", .success(.usedElsewhere(transaction: "0xself")), false, "failed"),
        ("invalid_exact_evm_nonce_already_used", .success(.used(transaction: "0xours")), false, "settled"),
        ("invalid_exact_evm_nonce_already_used", .success(.cancelled), false, "failed"),
        ("invalid_exact_evm_nonce_already_used", .failure(Self.unreadable), false, "unknown"),
        ("invalid_exact_evm_nonce_already_used", nil, false, "settled"),
        ("invalid_exact_evm_payload_authorization_valid_before", .success(.usedElsewhere(transaction: "0xself")), false, "failed"),
    ] as [(String, Result<ChainAuthorization, RailFailure>?, Bool, String)])
    func aResentSettlementRefusedForAReasonItsLandingWouldCauseIsNotFailed(reason: String, chain: Result<ChainAuthorization, RailFailure>?,
                                                                           expired: Bool, outcome: String) async throws {
        let harness = Self.harness()
        try await Self.reconcileALostSettlement(harness, asked: .failed, reason: reason, chain: chain, expired: expired, outcome: outcome)
        #expect(harness.rail.resettleCalls == 1)
    }

    /// A paid request whose `/settle` answer was lost, reconciled with the facilitator answering `asked` (`reason` when
    /// failed) and the chain reading `chain`, `expired` the gateway's clock past the authorization; `outcome` expected.
    static func reconcileALostSettlement(_ harness: GatewayHarness, asked: Settlement.Status, reason: String = "", chain: Result<ChainAuthorization, RailFailure>?,
                                         expired: Bool = false, outcome: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/datasets/prices", proof: proof)
        if expired { harness.clock.advance(seconds: 301) }
        harness.rail.update {
            $0.settlements = [.success(asked)]
            $0.failureReason = reason
            $0.chain = try? chain?.get()
            if case .failure(let failure)? = chain { $0.chainFailure = failure }
        }

        let report = try await harness.gateway.reconcile(startup: false)

        let id = try #require(offer.correlationId, sourceLocation: sourceLocation)
        #expect(report.settled.contains(id) == (outcome == "settled"), sourceLocation: sourceLocation)
        #expect(report.failed.contains(id) == (outcome == "failed"), sourceLocation: sourceLocation)
        #expect(report.stillUnknown.contains(id) == (outcome == "unknown"), "\(report)", sourceLocation: sourceLocation)
    }

    /// A facilitator that answers "pending" each time it is asked again would hold the flow for ever: the chain, where it
    /// can be read, ends it (used for this payment: settled; cancelled: failed); otherwise it stays unknown.
    @Test(arguments: [
        (nil, "unknown"),
        (.success(.used(transaction: "0xours")), "settled"),
        (.success(.cancelled), "failed"),
        (.success(.unused(blockTime: 0)), "unknown"),
        (.failure(Self.unreadable), "unknown"),
    ] as [(Result<ChainAuthorization, RailFailure>?, String)])
    func aSettlementPendingForEverIsEndedByTheChain(chain: Result<ChainAuthorization, RailFailure>?, outcome: String) async throws {
        try await Self.reconcileALostSettlement(Self.harness(), asked: .pending, chain: chain, outcome: outcome)
    }

    /// Two resolutions of one settlement race: the reconciler's `/settle` lands while a retry's resend of the same body
    /// is refused as a reverted transaction (the landed one spent the authorization, so the refusal proves nothing and
    /// the retry's resolution cannot tell). The settled outcome stands, and the retry is served the answer prepared with
    /// the intent, never a 402 telling its client that nothing was charged, nor a 503 asking it to come back. A refusal
    /// that would prove nothing moved (a facilitator refusing the signature it took a moment ago) is no 402 either.
    @Test(arguments: ["invalid_transaction_state", "invalid_exact_evm_payload_signature"])
    func aRetryLosingItsResolutionToAnotherIsServedNotRefused(refusal: String) async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof()
        let flow = try #require(offer.correlationId)
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        #expect(await harness.send("/datasets/prices", proof: proof).reason == "settlement_unknown")
        let store = harness.store
        var landed = StoreConformance.payment(proof.key, flow, amount: GatewayHarness.price.atomic)
        landed.transaction = "0xlanded"
        let payment = landed
        harness.rail.update {
            $0.settlements = [.success(.failed)]
            $0.failureReason = refusal
            $0.onResettle = {
                let prepared = try? await store.openSettlement(proof.key)?.intent.response
                try? await store.finish(proof.key, state: .settled, payment: payment, response: prepared, metering: nil, delivery: nil, events: [])
            }
        }

        let retry = await harness.send("/datasets/prices", proof: proof)

        #expect(retry.status == .ok, "\(retry.status) \(retry.reason ?? "")")
        #expect(retry.text == "the data")
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.state(of: proof.key) == .settled)
        let settlement = try await harness.store.openSettlement(proof.key)
        #expect(settlement?.outcome == .settled && settlement?.delivered == true && settlement?.transaction == "0xlanded")
        #expect(await harness.store.payments.count == 1)
    }

    @Test func theReconcilerResolvesAbandonedSettlementsAtStartUpAndTheRetryGetsTheAnswer() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/datasets/prices", proof: proof)
        await harness.store.setState(.settling, of: proof.key)

        let report = try await harness.gateway.reconcile(startup: true)

        #expect(report.abandoned == [try #require(offer.correlationId)])
        #expect(report.settled == [offer.correlationId])
        #expect(report.awaitingRetry == [offer.correlationId])
        #expect(await harness.store.state(of: proof.key) == .settled)
        #expect(await harness.store.payments.count == 1)
        #expect(try await harness.events(offer.correlationId).contains { $0.reason == "settlement_resolved" && $0.details["actor"] == "reconciler" })

        let again = await harness.send("/datasets/prices", proof: proof)
        #expect(again.status == .ok)
        #expect(again.text == "the data")
        #expect(harness.rail.resettleCalls == 1)
        #expect(harness.upstream.received.count == 1)
    }
}
