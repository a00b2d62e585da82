import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

/// A purchase bound to its request alone (a proof that names no offer, as x402 v1) by an anonymous caller, whose
/// settlement was left in doubt. Once it settles, its authorization is public on chain, and the request line is easy to
/// guess: a third party replaying it must not get the answer (and leave the payer a 402). The payer is refunded instead.
@Suite struct GatewayRequestBoundRetryTests {
    static func harness() -> GatewayHarness {
        var open = GatewayHarness.datasets
        open.allowsAnonymous = true
        return GatewayHarness(routes: RouteTable([open]), echoesOffers: false)
    }

    /// The payer's first request: `/settle` answered nothing (held unknown, 503 "send the same proof again").
    static func purchaseInDoubt(_ harness: GatewayHarness, apiKey: String?) async throws -> TestProof {
        let proof = harness.proof(offerToken: nil)
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        let first = await harness.send("/datasets/prices", apiKey: apiKey, proof: proof)
        try #require(first.status == .serviceUnavailable, "\(first.status) \(first.reason ?? "")")
        #expect(first.reason == "settlement_unknown")
        return proof
    }

    @Test func aThirdPartyReplayingAnAnonymousRequestBoundPurchaseGetsARefundNotTheAnswer() async throws {
        let harness = Self.harness()
        let proof = try await Self.purchaseInDoubt(harness, apiKey: nil)

        // Someone who read the authorization off the chain spells it anew and asks for the same public resource first.
        var fields = HTTPFields()
        fields[ScriptedRail.proofField] = try proof.prettyPrintedHeader()
        let thief = await harness.send("/datasets/prices", apiKey: nil, fields: fields)

        #expect(thief.status == .badGateway, "\(thief.status) \(thief.reason ?? "")")
        #expect(thief.reason == "not_delivered")
        #expect(!thief.text.contains("the data"))
        let refund = try #require(thief.headerFields[.tollgateRefund])
        #expect(harness.upstream.received.count == 1, "the work is not run again for the replay")

        // The payer's own retry is told of the same refund: one refund, to the authorization's payer.
        let payer = await harness.send("/datasets/prices", apiKey: nil, proof: proof)
        #expect(payer.status == .badGateway)
        #expect(payer.headerFields[.tollgateRefund] == refund)
        let refunds = await harness.store.refundsRecorded
        #expect(refunds.count == 1)
        #expect(refunds.first?.payer.lowercased() == proof.payer.lowercased())
        // The first `/settle`, and the replay's resolution asking the same facilitator once more with the same body.
        #expect(harness.rail.settleCalls == 2 && harness.rail.resettleCalls == 1)
    }

    /// An identified client's retry of the same kind of purchase is recognised by its key: it gets its answer.
    @Test func anIdentifiedClientsRequestBoundRetryIsStillServed() async throws {
        let harness = Self.harness()
        let proof = try await Self.purchaseInDoubt(harness, apiKey: GatewayHarness.aliceKey)

        let retry = await harness.send("/datasets/prices", apiKey: GatewayHarness.aliceKey, proof: proof)

        #expect(retry.status == .ok, "\(retry.status) \(retry.reason ?? "")")
        #expect(retry.text == "the data")
        #expect(await harness.store.refundsRecorded.isEmpty)
    }

    /// A proof that echoes the offer (x402 v2) is bound to a correlation id only its client saw: an anonymous retry of
    /// it is served as before.
    @Test func anAnonymousRetryOfAnOfferEchoingPurchaseIsStillServed() async throws {
        var open = GatewayHarness.datasets
        open.allowsAnonymous = true
        let harness = GatewayHarness(routes: RouteTable([open]))
        let (_, proof) = try await harness.offerAndProof(apiKey: nil)
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        #expect(await harness.send("/datasets/prices", apiKey: nil, proof: proof).status == .serviceUnavailable)

        let retry = await harness.send("/datasets/prices", apiKey: nil, proof: proof)

        #expect(retry.status == .ok, "\(retry.status) \(retry.reason ?? "")")
        #expect(retry.text == "the data")
    }
}
