import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

/// After the local checks: facilitator readiness and verdict, and the store's reservation.
/// Unavailability is a 503 with `Retry-After`, never a 402 and never free access.
@Suite struct GatewayVerificationFailureTests {
    @Test func railNotReadyIs503BeforeAnyReservation() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.ready = false }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .serviceUnavailable)
        #expect(response.headerFields[.retryAfter] == "5")
        #expect(response.reason == "facilitator_unavailable")
        #expect(response.offerTokens.isEmpty)
        #expect(response.correlationId == offer.correlationId)
        #expect(harness.rail.verifyCalls == 0)
        #expect(harness.upstream.received.isEmpty)
        #expect(await harness.store.claims.isEmpty)
        #expect(try await harness.stages(offer.correlationId) == ["offer", "proof", "verify", "facilitator_verify", "respond"])
    }

    @Test func facilitatorOutageIs503AndReleasesTheProof() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.facilitator = .failure(ScriptedRail.outage) }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .serviceUnavailable)
        #expect(response.headerFields[.retryAfter] == "5")
        #expect(response.reason == "facilitator_unavailable")
        #expect(harness.rail.verifyCalls == 1)
        #expect(harness.rail.settleCalls == 0)
        #expect(harness.upstream.received.isEmpty)
        #expect(await harness.store.state(of: proof.key) == nil)
        let events = try await harness.events(offer.correlationId)
        #expect(events.map(\.stage) == [.offer, .proof, .verify, .reserve, .facilitatorVerify, .respond])
        #expect(events.first { $0.stage == .facilitatorVerify }?.outcome == .error)

        // The same proof works once the facilitator is back.
        harness.rail.update { $0.facilitator = .success(.valid(payer: proof.payer)) }
        let retry = await harness.send("/datasets/prices", proof: proof)
        #expect(retry.status == .ok)
        #expect(harness.rail.settleCalls == 1)
    }

    @Test func facilitatorRefusalIs402WithItsReasonAndReleasesTheProof() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.facilitator = .success(.invalid(Reason("invalid_exact_evm_insufficient_funds"), detail: "balance 0")) }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .paymentRequired)
        #expect(response.reason == "invalid_exact_evm_insufficient_funds")
        #expect(response.offerTokens.count == 1)
        #expect(response.correlationId == offer.correlationId)
        #expect(response.json?.offerCorrelationId != nil)
        #expect(response.json?.offerCorrelationId != offer.correlationId)
        #expect(harness.rail.verifyCalls == 1)
        #expect(harness.rail.settleCalls == 0)
        #expect(harness.upstream.received.isEmpty)
        #expect(await harness.store.state(of: proof.key) == nil)
        let events = try await harness.events(offer.correlationId)
        #expect(events.map(\.stage) == [.offer, .proof, .verify, .reserve, .facilitatorVerify])
        #expect(events.last?.outcome == .denied)
        #expect(events.last?.reason == "invalid_exact_evm_insufficient_funds")
    }

    /// On a shared store, this instance was held up while its facilitator verified (longer than the grace): another
    /// instance took the claim over from a copy of the proof and may be settling it. The facilitator's refusal here
    /// releases nothing, and the answer is a 503 to wait, not a 402 that would have the client pay again.
    @Test func aRefusalForAClaimAnotherInstanceTookOverIs503NotA402() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        let store = harness.store, key = proof.key
        harness.rail.update {
            $0.facilitator = .success(.invalid(Reason("invalid_exact_evm_insufficient_funds"), detail: "balance 0"))
            $0.onVerify = { await store.leaseElsewhere(key) }
        }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .serviceUnavailable)
        #expect(response.reason == "payment_in_progress")
        #expect(response.offerTokens.isEmpty)
        #expect(await harness.store.state(of: proof.key) == .reserved)
        let events = try await harness.events(offer.correlationId)
        #expect(events.map(\.stage).suffix(3) == [.facilitatorVerify, .reserve, .respond], "\(events.map(\.stage))")
        #expect(events.contains { $0.reason == "payment_in_progress" })
    }

    @Test(arguments: [true, false])
    func storeFailureOnReserveIs503(verifiesWithClaim: Bool) async throws {
        let harness = GatewayHarness(verifiesWithClaim: verifiesWithClaim)
        let (offer, proof) = try await harness.offerAndProof()
        await harness.store.fail(.reserve)

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .serviceUnavailable)
        #expect(response.headerFields[.retryAfter] == "5")
        #expect(response.reason == "store_unavailable")
        #expect(response.offerTokens.isEmpty)
        // Verified alongside the claim (its answer unused), or not at all when verification waits for the claim.
        #expect(harness.rail.verifyCalls == (verifiesWithClaim ? 1 : 0))
        #expect(harness.rail.settleCalls == 0)
        #expect(harness.upstream.received.isEmpty)
        #expect(await harness.store.claims.isEmpty)
        let events = try await harness.events(offer.correlationId)
        #expect(events.map(\.stage) == [.offer, .proof, .verify, .reserve, .respond])
        #expect(events.first { $0.stage == .reserve }?.reason == "store_unavailable")
    }
}
