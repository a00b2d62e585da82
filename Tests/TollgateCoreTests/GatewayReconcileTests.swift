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
    /// only once the authorization expired: before, the first attempt may still be mined.
    @Test(arguments: [
        ("invalid_exact_evm_payload_authorization_valid_before", nil, false, "unknown"),
        ("insufficient_funds", nil, false, "unknown"),
        ("unexpected_settle_error", nil, false, "unknown"),
        ("invalid_exact_evm_payload_authorization_valid_before", ChainAuthorization.used(transaction: "0xabc"), false, "settled"),
        ("unexpected_settle_error", ChainAuthorization.unused, false, "unknown"),
        ("invalid_exact_evm_payload_authorization_valid_before", ChainAuthorization.unused, true, "failed"),
        ("invalid_exact_evm_payload_signature", nil, false, "failed"),
        // The nonce spent by a transaction that paid nobody this payment names: the payer spent it first, elsewhere.
        ("invalid_exact_evm_nonce_already_used", ChainAuthorization.usedElsewhere(transaction: "0xself"), false, "failed"),
        ("invalid_exact_evm_nonce_already_used", ChainAuthorization.used(transaction: "0xours"), false, "settled"),
        ("invalid_exact_evm_payload_authorization_valid_before", ChainAuthorization.usedElsewhere(transaction: "0xself"), false, "failed"),
    ] as [(String, ChainAuthorization?, Bool, String)])
    func aResentSettlementRefusedForAReasonItsLandingWouldCauseIsNotFailed(reason: String, chain: ChainAuthorization?, expired: Bool,
                                                                           outcome: String) async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/datasets/prices", proof: proof)
        if expired { harness.clock.advance(seconds: 301) }
        harness.rail.update {
            $0.settlements = [.success(.failed)]
            $0.failureReason = reason
            $0.chain = chain
        }

        let report = try await harness.gateway.reconcile(startup: false)

        let id = try #require(offer.correlationId)
        #expect(report.settled.contains(id) == (outcome == "settled"))
        #expect(report.failed.contains(id) == (outcome == "failed"))
        #expect(report.stillUnknown.contains(id) == (outcome == "unknown"), "\(report)")
        #expect(harness.rail.resettleCalls == 1)
    }

    /// Two resolutions of one settlement race: the reconciler's `/settle` lands while a retry's resend of the same body
    /// is refused as a reverted transaction (its own attempt moved nothing). The settled outcome stands, and the retry is
    /// served the answer prepared with the intent, never a 402 telling its client that nothing was charged.
    @Test func aRetryLosingItsResolutionToAnotherIsServedNotRefused() async throws {
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
            $0.failureReason = "invalid_transaction_state"
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

    /// Three settlements in doubt, oldest first; the facilitator never answers for the two oldest.
    static func threeInDoubt(_ harness: GatewayHarness) async throws -> [String] {
        var flows: [String] = []
        for nonce in ["0x01", "0x02", "0x03"] {
            let (offer, proof) = try await harness.offerAndProof(nonce: nonce)
            harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
            #expect(await harness.send("/datasets/prices", proof: proof).reason == "settlement_unknown")
            flows.append(try #require(offer.correlationId))
            harness.clock.advance(seconds: 1)
        }
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer), .failure(ScriptedRail.lostAnswer), .success(.settled)] }
        return flows
    }

    /// Settlements that stay unknown for good must not keep newer ones from being resolved: each pass takes the next
    /// page, and the pass after the last starts again from the oldest.
    @Test func eachPassTakesTheNextPageSoOldUnknownsNeverStarveNewerOnes() async throws {
        let harness = Self.harness()
        let flows = try await Self.threeInDoubt(harness)

        let first = try await harness.gateway.reconcile(startup: false, limit: 2)
        #expect(first.stillUnknown == Array(flows.prefix(2)))
        let next = try #require(first.next)
        let second = try await harness.gateway.reconcile(startup: false, limit: 2, after: next)

        #expect(second.settled == [flows[2]])
        #expect(second.next == nil)
        #expect(await harness.store.payments.count == 1)
        // Back at the start, the oldest are asked again.
        let third = try await harness.gateway.reconcile(startup: false, limit: 2, after: second.next)
        #expect(third.settled == Array(flows.prefix(2)))
    }

    @Test func theReconcilerServiceMovesOnPageByPage() async throws {
        let harness = Self.harness()
        let flows = try await Self.threeInDoubt(harness)
        // The two oldest stay unknown for as long as this test runs; only the newest can settle.
        harness.rail.update {
            $0.settlements = [.failure(ScriptedRail.lostAnswer), .failure(ScriptedRail.lostAnswer), .success(.settled)]
                + Array(repeating: .failure(ScriptedRail.lostAnswer), count: 10_000)
        }
        let logger = Logger(label: "tollgate.tests") { _ in SwiftLogNoOpLogHandler() }
        let reconciler = SettlementReconciler(gateway: harness.gateway, interval: .milliseconds(20), pageSize: 2, logger: logger)
        let running = Task { try await reconciler.run() }
        defer { running.cancel() }
        let newest = try #require(await harness.store.claims.values.first { $0.reservation.correlationId == flows[2] }).reservation.key
        for _ in 0..<1_000 where await harness.store.state(of: newest) != .settled {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(await harness.store.state(of: newest) == .settled)
        #expect(await harness.store.payments.map(\.correlationId) == [flows[2]])
    }

    @Test func reconcilingEverythingRunsEveryPage() async throws {
        let harness = Self.harness()
        let flows = try await Self.threeInDoubt(harness)

        let report = try await harness.gateway.reconcileAll(startup: false, limit: 2)

        #expect(report.stillUnknown == Array(flows.prefix(2)))
        #expect(report.settled == [flows[2]])
        #expect(report.next == nil)
        #expect(harness.rail.resettleCalls == 3)
    }

    @Test func aSettledAnswerNobodyCameBackForIsRefundedAfterTheIdempotencyWindow() async throws {
        let harness = Self.harness()
        let (_, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/datasets/prices", proof: proof)
        _ = try await harness.gateway.reconcile(startup: false)
        #expect(await harness.store.refundsRecorded.isEmpty)

        harness.clock.advance(seconds: 3601)
        let report = try await harness.gateway.reconcile(startup: false)

        #expect(report.refunded.count == 1)
        #expect(await harness.store.refundsRecorded.first?.automatic == true)
    }

    /// Work that must not run twice, settled and not delivered: its request may still be running at another instance,
    /// which would record its delivery after a refund. The reconciler waits out the window before refunding it.
    @Test func theReconcilerWaitsBeforeRefundingWorkThatMustNotRunTwice() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof("/render", method: .post, amount: "2000")
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/render", method: .post, proof: proof)

        let resolved = try await harness.gateway.reconcile(startup: false)
        #expect(resolved.settled == [try #require(offer.correlationId)])
        #expect(resolved.awaitingRetry == [offer.correlationId])
        #expect(await harness.store.refundsRecorded.isEmpty)

        harness.clock.advance(seconds: 3_601)
        let later = try await harness.gateway.reconcile(startup: false)
        #expect(later.refunded.count == 1)
        #expect(await harness.store.refundsRecorded.first?.correlationId == offer.correlationId)
    }

    /// On a shared store, a settlement another instance's live request works on (its lease renewed: `settle: before`
    /// running the work, or its `/settle` out for minutes): this instance's reconciler neither settles it again nor
    /// refunds it, whatever its clock says of the intent's age. Once the lease lapses, it is resolved as any other.
    @Test func theReconcilerLeavesASettlementAnotherInstanceWorksOn() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof("/render", method: .post, amount: "2000")
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/render", method: .post, proof: proof)
        // A retry of the proof at another instance carries the purchase on: it is sending `/settle` now.
        let intent = try #require(try await harness.store.openSettlement(proof.key)?.intent)
        try await harness.store.recordSettlementIntent(intent, events: [])
        await harness.store.leaseElsewhere(proof.key)
        harness.clock.advance(seconds: 7_200)
        harness.rail.update { $0.settlements = [.success(.settled)] }

        let leased = try await harness.gateway.reconcile(startup: false)
        #expect(leased.settled.isEmpty && leased.refunded.isEmpty && leased.stillUnknown.isEmpty, "\(leased)")
        #expect(leased.workedOnElsewhere == [try #require(offer.correlationId)])
        #expect(harness.rail.resettleCalls == 0)
        #expect(try await harness.store.openSettlement(proof.key)?.outcome == .open)

        await harness.store.leaseLapses(proof.key)
        let lapsed = try await harness.gateway.reconcile(startup: false)
        #expect(lapsed.settled == [try #require(offer.correlationId)])
        #expect(lapsed.refunded.count == 1)
        #expect(harness.rail.resettleCalls == 1)
    }

    /// `settle: after`, two instances: while this request's `/settle` is out, a retry of the same proof at another instance
    /// resolves the settlement, loses its answer and refunds it. This request's settlement, answered late, must then not
    /// deliver: its write is refused (nothing recorded twice, the refund not undone), the answer is not served, and a
    /// retry is told of the refund. The other instance knew no transaction (a nonce found used); this one's is kept.
    @Test func aSettlementAnsweredAfterItsFlowWasRefundedElsewhereIsNotDelivered() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof()
        let flow = try #require(offer.correlationId)
        let store = harness.store
        var elsewhere = StoreConformance.payment(proof.key, flow, amount: GatewayHarness.price.atomic)
        elsewhere.transaction = ""
        let resolved = elsewhere
        harness.rail.update {
            $0.onSettle = {
                try? await store.finish(proof.key, state: .settled, payment: resolved, response: nil, metering: nil, delivery: nil, events: [])
                _ = try? await store.refund(RefundRequest(correlationId: flow, reason: "not delivered: connection_failed", actor: "tollgate",
                                                          automatic: true, onlyIfUndelivered: true), nowMillis: 1)
            }
        }
        let first = await harness.send("/datasets/prices", proof: proof)
        #expect(first.status == .badGateway)
        #expect(first.reason == "settlement_closed")
        #expect(first.settledDelivery == nil)
        let refund = try #require(await harness.store.refundsRecorded.first)
        #expect(await harness.store.refundsRecorded.count == 1)
        let settlement = try await harness.store.openSettlement(proof.key)
        #expect(settlement?.outcome == .refunded)
        #expect(settlement?.delivered == false)
        #expect(settlement?.transaction == "0xtx1")
        let events = try await harness.events(flow)
        #expect(events.contains { $0.stage == .settle && $0.outcome == .ok && $0.details["transaction"] == "0xtx1" })
        #expect(!events.contains { $0.reason == "delivered" })
        harness.rail.update { $0.onSettle = nil }
        let retry = await harness.send("/datasets/prices", proof: proof)
        #expect(retry.status == .badGateway)
        #expect(retry.headerFields[.tollgateRefund] == refund.id)
        #expect(harness.upstream.received.count == 1)
    }

    /// Two instances: while this request's `/settle` is out, another instance that took the claim over settles the same
    /// authorization, so this request's own `/settle` is told the nonce is used (on a first send, the sign of an
    /// authorization spent elsewhere). The settled outcome stands, and the client is told to send the proof again, never
    /// answered 402 (a stock client would pay a second time); the retry is served the answer prepared with the intent.
    @Test func aFirstSettleToldUsedWhileAnotherResolutionSettledItIsNeverA402() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof()
        let flow = try #require(offer.correlationId)
        let store = harness.store
        var elsewhere = StoreConformance.payment(proof.key, flow, amount: GatewayHarness.price.atomic)
        elsewhere.transaction = "0xelsewhere"
        let resolved = elsewhere
        harness.rail.update {
            $0.settlements = [.success(.failed)]
            $0.failureReason = Reason.nonceAlreadyUsed.rawValue
            $0.onSettle = {
                let prepared = try? await store.openSettlement(proof.key)?.intent.response
                try? await store.finish(proof.key, state: .settled, payment: resolved, response: prepared, metering: nil, delivery: nil, events: [])
            }
        }

        let first = await harness.send("/datasets/prices", proof: proof)

        #expect(first.status == .serviceUnavailable, "\(first.status) \(first.reason ?? "")")
        #expect(first.reason == "payment_in_progress")
        #expect(first.text.contains("do not pay again") && first.text.contains("0xelsewhere"))
        #expect(try await harness.store.openSettlement(proof.key)?.outcome == .settled)
        let trail = try await harness.events(flow)
        #expect(!trail.contains { $0.details["status"] == "402" }, "the trail must not say the client was refused")
        #expect(trail.contains { $0.reason == "payment_in_progress" && $0.details["detail"]?.contains("another resolution") == true })
        harness.rail.update { $0.onSettle = nil }
        let retry = await harness.send("/datasets/prices", proof: proof)
        #expect(retry.status == .ok, "\(retry.status) \(retry.reason ?? "")")
        #expect(retry.text == "the data")
        #expect(harness.upstream.received.count == 1)
        #expect(harness.rail.settleCalls == 1)
        #expect(await harness.store.payments.count == 1)
        #expect(try await harness.store.openSettlement(proof.key)?.delivered == true)
    }

    /// Two instances: this one is held up after recording its intent; another takes the claim over (a retry of the same
    /// proof there) and settles it, so this one's first `/settle`, sent late, is told the authorization is used. The claim
    /// is not this instance's any more: its refusal is not recorded over the other's work, and its client is told to send
    /// the proof again, never 402; the retry gets the answer the other instance settled.
    @Test func aHeldUpOwnersRefusalAfterATakeoverIsNeverA402() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof()
        let flow = try #require(offer.correlationId)
        let store = harness.store
        harness.rail.update {
            $0.settlements = [.success(.failed)]
            $0.failureReason = Reason.nonceAlreadyUsed.rawValue
            $0.onSettle = { await store.leaseElsewhere(proof.key) }
        }

        let first = await harness.send("/datasets/prices", proof: proof)

        #expect(first.status == .serviceUnavailable, "\(first.status) \(first.reason ?? "")")
        #expect(first.reason == "payment_in_progress")
        #expect(first.text.contains("do not pay again"))
        #expect(await harness.store.state(of: proof.key) == .settling)
        #expect(try await harness.store.openSettlement(proof.key)?.outcome == .open)
        let trail = try await harness.events(flow)
        #expect(!trail.contains { $0.details["status"] == "402" })
        #expect(trail.contains { $0.reason == Reason.nonceAlreadyUsed.rawValue }, "what this instance was told is audited")

        // The other instance's settlement lands and it stops; the retry here gets the answer.
        var elsewhere = StoreConformance.payment(proof.key, flow, amount: GatewayHarness.price.atomic)
        elsewhere.transaction = "0xelsewhere"
        let prepared = try await store.openSettlement(proof.key)?.intent.response
        try await store.finish(proof.key, state: .settled, payment: elsewhere, response: prepared, metering: nil, delivery: nil, events: [])
        await store.leaseLapses(proof.key)
        harness.rail.update { $0.onSettle = nil }
        let retry = await harness.send("/datasets/prices", proof: proof)
        #expect(retry.status == .ok, "\(retry.status) \(retry.reason ?? "")")
        #expect(retry.text == "the data")
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.upstream.received.count == 1)
    }

    /// `settle: before`: while the work runs, another instance (or an operator) refunds the settled payment. The answer
    /// is then not served, and the retry is told of the refund: never the work's answer and the refund both.
    @Test func aRefundWhileSettledWorkRunsElsewhereMeansItsAnswerIsNotServed() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof("/render", method: .post, amount: "2000")
        let flow = try #require(offer.correlationId)
        let store = harness.store
        harness.upstream.update {
            $0.meanwhile = {
                _ = try? await store.refund(RefundRequest(correlationId: flow, reason: "not delivered", actor: "tollgate", automatic: true,
                                                          onlyIfUndelivered: true), nowMillis: 1)
            }
        }
        let first = await harness.send("/render", method: .post, proof: proof)
        #expect(first.status == .badGateway)
        #expect(first.reason == "settlement_closed")
        #expect(first.text != "the data")
        // What ran is on record, with why its answer was not served.
        let events = try await harness.events(flow)
        #expect(events.contains { $0.stage == .forward && $0.outcome == .ok })
        #expect(events.last { $0.stage == .respond }?.reason == "settlement_closed")
        #expect(!events.contains { $0.reason == "delivered" })
        let refund = try #require(await harness.store.refundsRecorded.first)
        harness.upstream.update { $0.meanwhile = nil }
        let retry = await harness.send("/render", method: .post, proof: proof)
        #expect(retry.status == .badGateway)
        #expect(retry.headerFields[.tollgateRefund] == refund.id)
        #expect(harness.upstream.received.count == 1)
        #expect(try await harness.store.openSettlement(proof.key)?.delivered == false)
    }

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
