import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

/// Proofs refused by the local checks (echoed offer, then the rail's local verification):
/// a fresh 402 with the reason, no reservation, no facilitator call, nothing forwarded.
@Suite struct GatewayOfferCheckTests {
    enum Tamper: String, CaseIterable, Sendable {
        case offerMissing, forgedMAC, expired, otherClient, otherTarget, amountChanged, payToChanged

        var expectedReason: String {
            switch self {
            case .offerMissing: "offer_missing"
            case .forgedMAC: "offer_invalid"
            case .expired: "offer_expired"
            case .otherClient: "offer_client_mismatch"
            case .otherTarget: "offer_resource_mismatch"
            case .amountChanged, .payToChanged: "offer_terms_mismatch"
            }
        }
    }

    @Test(arguments: Tamper.allCases)
    func refusedOfferIs402WithoutReservationOrFacilitatorCall(tamper: Tamper) async throws {
        let harness = GatewayHarness()
        let (offer, honest) = try await harness.offerAndProof("/datasets/prices")
        var proof = honest
        var target = "/datasets/prices"
        var apiKey = GatewayHarness.aliceKey
        switch tamper {
        case .offerMissing:
            proof.offerToken = nil
        case .forgedMAC:
            let original = try harness.offers.verify(try #require(proof.offerToken)).get()
            let forger = OfferSigner(keys: KeyRing([SecretKey(id: "k1", secret: Array(repeating: 8, count: 32))!])!)
            proof.offerToken = forger.sign(original).token
        case .expired:
            harness.clock.advance(seconds: Int64(GatewayHarness.offerValiditySeconds) + 1)
            proof.validBefore = String(harness.clock.nowSeconds + 300)
        case .otherClient:
            apiKey = GatewayHarness.bobKey
        case .otherTarget:
            target = "/datasets/other"
        case .amountChanged:
            proof.amount = "1"
        case .payToChanged:
            proof.payTo = "0x000000000000000000000000000000000000dead"
        }

        let response = await harness.send(target, apiKey: apiKey, proof: proof)

        #expect(response.status == .paymentRequired)
        #expect(response.reason == tamper.expectedReason)
        #expect(response.headerFields[ScriptedRail.challengeErrorField] == tamper.expectedReason)
        #expect(response.offerTokens.count == 1)
        let fresh = try #require(response.json?.offerCorrelationId)
        #expect(fresh != offer.correlationId)
        #expect(try harness.offers.verify(try #require(response.offerTokens.first)).get().correlationId == fresh)
        #expect(harness.rail.verifyCalls == 0)
        #expect(harness.rail.settleCalls == 0)
        #expect(harness.upstream.received.isEmpty)
        #expect(await harness.store.claims.isEmpty)
        #expect(await harness.store.writeCalls == 1, "only the flushed offer batch")

        // The 402 names the refused flow, which records why and links to the fresh offer's flow.
        let refusedFlow = try #require(response.correlationId)
        #expect(response.json?.correlationId == refusedFlow)
        let verify = try #require(try await harness.events(refusedFlow).last { $0.stage == .verify })
        #expect(verify.outcome == .denied)
        #expect(verify.reason == tamper.expectedReason)
        #expect(verify.details["next_correlation_id"] == fresh)
        let offered = try await harness.events(fresh)
        #expect(offered.map(\.stage) == [.offer])
        #expect(offered.first?.details["previous_correlation_id"] == refusedFlow)
    }

    @Test func localVerdictInvalidIs402WithItsReason() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.localVerdict = .invalid(.signatureInvalid, detail: "recovered another address") }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .paymentRequired)
        #expect(response.reason == "invalid_exact_evm_payload_signature")
        #expect(response.correlationId == offer.correlationId)
        #expect(response.json?.offerCorrelationId != nil)
        #expect(response.json?.offerCorrelationId != offer.correlationId)
        #expect(harness.rail.verifyCalls == 0)
        #expect(harness.upstream.received.isEmpty)
        #expect(await harness.store.claims.isEmpty)
        let events = try await harness.events(offer.correlationId)
        #expect(events.map(\.stage) == [.offer, .proof, .verify])
        #expect(events.last?.reason == "invalid_exact_evm_payload_signature")
    }
}
