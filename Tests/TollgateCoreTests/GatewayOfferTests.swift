import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

/// The unpaid path: a 402 with signed terms that writes nothing synchronously.
@Suite struct GatewayOfferTests {
    @Test func pricedRouteWithoutProofIs402WithTerms() async throws {
        let harness = GatewayHarness()
        let response = await harness.send("/datasets/prices?day=1")

        #expect(response.status == .paymentRequired)
        let correlationId = try #require(response.correlationId)
        #expect(correlationId.hasPrefix("tg_"))
        #expect(response.headerFields[.cacheControl] == "no-store")
        #expect(response.headerFields[.contentType] == "application/json")
        #expect(response.headerFields[ScriptedRail.challengeErrorField] == "Payment required")
        #expect(response.json?.error == "payment_required")
        #expect(response.reason == "payment_required")
        #expect(response.json?.correlationId == correlationId)
        #expect(response.json?.client == "alice")
        #expect(response.json?.price == "0.01")

        let token = try #require(response.offerTokens.first)
        #expect(response.offerTokens.count == 1)
        let offer = try harness.offers.verify(token).get()
        #expect(offer.correlationId == correlationId)
        #expect(offer.client == "alice")
        #expect(offer.resource == "datasets")
        #expect(offer.request == "GET /datasets/prices?day=1")
        #expect(offer.amount == GatewayHarness.price)
        #expect(offer.payTo == GatewayHarness.payTo)
        #expect(offer.expiresAt == harness.clock.nowSeconds + Int64(GatewayHarness.offerValiditySeconds))

        #expect(harness.upstream.received.isEmpty)
        #expect(harness.rail.verifyCalls == 0)
        // Nothing is written synchronously on the unpaid path…
        #expect(await harness.store.writeCalls == 0)
        #expect(await harness.store.appendCalls == 0)
        #expect(await harness.store.recorded.isEmpty)
        // …the offer event arrives with the next batch.
        await harness.batcher.flush()
        #expect(await harness.store.appendCalls == 1)
        let events = try await harness.events(correlationId)
        #expect(events.map(\.stage) == [.offer])
        #expect(events.first?.outcome == .issued)
        #expect(events.first?.reason == "payment_required")
        #expect(events.first?.details["request"] == "GET /datasets/prices?day=1")
    }

    @Test func eachRequestGetsItsOwnCorrelationIdAndOffer() async throws {
        let harness = GatewayHarness()
        let first = await harness.send("/datasets/prices")
        let second = await harness.send("/datasets/prices")
        #expect(first.correlationId != second.correlationId)
        #expect(first.offerTokens != second.offerTokens)
    }

    @Test func offerBindsTheRequestBody() async throws {
        let harness = GatewayHarness()
        let response = await harness.gateway.handle(GatewayRequest(
            method: .post, target: "/datasets/query", headerFields: [ClientDirectory.apiKeyField: GatewayHarness.aliceKey],
            body: Array("{\"q\":1}".utf8)))
        #expect(response.status == .paymentRequired)
        let offer = try harness.offers.verify(try #require(response.offerTokens.first)).get()
        #expect(offer.request == "POST /datasets/query")
        #expect(offer.bodyDigest?.count == 64)
    }

    @Test func malformedProofIs402WithItsReason() async throws {
        let harness = GatewayHarness()
        let response = await harness.send("/datasets/prices", fields: [ScriptedRail.proofField: "not json"])
        #expect(response.status == .paymentRequired)
        #expect(response.reason == "invalid_payload")
        #expect(response.headerFields[ScriptedRail.challengeErrorField] == "invalid_payload")
        #expect(response.offerTokens.count == 1)
        #expect(harness.rail.verifyCalls == 0)
        #expect(await harness.store.claims.isEmpty)
        #expect(await harness.store.writeCalls == 0)
        let events = try await harness.events(response.correlationId)
        #expect(events.map(\.stage) == [.proof, .offer])
        #expect(events.first?.outcome == .denied)
        #expect(events.first?.reason == "invalid_payload")
    }
}
