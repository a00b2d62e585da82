import HTTPTypes
import Testing
import TollgateCore

/// Single use: a proof is settled at most once, and one offer buys one delivery.
@Suite struct GatewayReplayTests {
    /// The 402 names the refused flow (for a replay: the flow that paid) and attaches a fresh offer,
    /// whose new correlation id is `offerCorrelationId`.
    @Test func replayOfSettledProofIs402WithFreshOffer() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        let first = await harness.send("/datasets/prices", proof: proof)
        #expect(first.status == .ok)

        let replay = await harness.send("/datasets/prices", proof: proof)

        #expect(replay.status == .paymentRequired)
        #expect(replay.reason == "invalid_exact_evm_nonce_already_used")
        #expect(replay.offerTokens.count == 1)
        #expect(replay.correlationId == offer.correlationId)
        let fresh = try #require(replay.json?.offerCorrelationId)
        #expect(fresh != offer.correlationId)
        #expect(try harness.offers.verify(try #require(replay.offerTokens.first)).get().correlationId == fresh)
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.rail.verifyCalls == 1)
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.payments.count == 1)

        let events = try await harness.events(offer.correlationId)
        let denied = try #require(events.last)
        #expect(denied.stage == .reserve)
        #expect(denied.outcome == .denied)
        #expect(denied.details["first_correlation_id"] == offer.correlationId)
        #expect(denied.details["first_state"] == "settled")
        #expect(denied.details["next_correlation_id"] == fresh)
        #expect(try await harness.events(fresh).first?.details["previous_correlation_id"] == offer.correlationId)
    }

    @Test func secondProofForAPaidOfferIs402OfferAlreadyUsed() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof(nonce: "0x01")
        #expect(await harness.send("/datasets/prices", proof: proof).status == .ok)
        var second = proof
        second.nonce = "0x02"

        let response = await harness.send("/datasets/prices", proof: second)

        #expect(response.status == .paymentRequired)
        #expect(response.reason == "offer_already_used")
        #expect(harness.rail.verifyCalls == 1)
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.state(of: second.key) == nil)
    }

    @Test func concurrentPresentationsOfOneProofDeliverOnce() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()

        let statuses = await withTaskGroup(of: (Int, String?).self) { group in
            for _ in 0..<20 {
                group.addTask {
                    let response = await harness.send("/datasets/prices", proof: proof)
                    return (response.status.code, response.reason)
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }

        #expect(statuses.filter { (200..<300).contains($0.0) }.count == 1)
        #expect(statuses.filter { $0.0 == 402 }.count == 19)
        #expect(statuses.filter { $0.0 == 402 }.allSatisfy { $0.1 == "invalid_exact_evm_nonce_already_used" })
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.payments.count == 1)
    }
}
