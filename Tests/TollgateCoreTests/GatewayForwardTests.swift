import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

/// Upstream failures after a verified payment: nothing is settled and the proof may be presented again.
@Suite struct GatewayForwardTests {
    @Test func upstreamUnreachableIs502WithoutSettlement() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.upstream.update { $0.failure = TollgateError(.upstreamUnavailable, "connection refused") }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .badGateway)
        #expect(response.reason == "upstream_unavailable")
        #expect(response.correlationId == offer.correlationId)
        #expect(harness.upstream.received.count == 1)
        #expect(harness.rail.verifyCalls == 1)
        #expect(harness.rail.settleCalls == 0)
        #expect(await harness.store.state(of: proof.key) == nil)
        #expect(await harness.store.payments.isEmpty)
        let events = try await harness.events(offer.correlationId)
        #expect(events.map(\.stage) == [.offer, .proof, .verify, .reserve, .facilitatorVerify, .forward, .respond])
        #expect(events.first { $0.stage == .forward }?.outcome == .error)
    }

    @Test func upstreamErrorIsPassedOnWithoutSettlementAndTheProofStaysUsable() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.upstream.update {
            $0.status = .internalServerError
            $0.body = Array("backend broke".utf8)
        }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .internalServerError)
        #expect(response.text == "backend broke")
        #expect(response.headerFields[ScriptedRail.receiptField] == nil)
        #expect(harness.rail.settleCalls == 0)
        #expect(await harness.store.state(of: proof.key) == nil)
        #expect(await harness.store.payments.isEmpty)
        let events = try await harness.events(offer.correlationId)
        #expect(events.map(\.stage) == [.offer, .proof, .verify, .reserve, .facilitatorVerify, .forward, .respond])
        #expect(events.last?.reason == "upstream_refused")
        #expect(events.last?.details["settled"] == "false")

        harness.upstream.update { $0.status = .ok }
        let retry = await harness.send("/datasets/prices", proof: proof)
        #expect(retry.status == .ok)
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.upstream.received.count == 2)
        #expect(await harness.store.state(of: proof.key) == .settled)
    }
}
