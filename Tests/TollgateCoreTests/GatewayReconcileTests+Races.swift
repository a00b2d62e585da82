import HTTPTypes
import Logging
import Testing
import TollgateCore
import TollgateStoreConformance

/// Two resolutions of one settlement racing (another instance, a takeover, a refund elsewhere): never a 402, never served and refunded both.
extension GatewayReconcileTests {
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
}
