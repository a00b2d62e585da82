import HTTPTypes
import Testing
import TollgateCore

/// A delivered success is settled exactly once; settlement trouble never turns into a fresh 402.
@Suite struct GatewaySettlementTests {
    @Test func paidRequestIsForwardedSettledRecordedAndAudited() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof("/datasets/prices?day=1")
        let correlationId = try #require(offer.correlationId)

        let response = await harness.send("/datasets/prices?day=1", proof: proof)

        #expect(response.status == .ok)
        #expect(response.text == "the data")
        #expect(response.headerFields[ScriptedRail.receiptField] == "settled 0xtx1")
        #expect(response.headerFields[.cacheControl] == "private")
        #expect(response.correlationId == correlationId)
        #expect(harness.rail.verifyCalls == 1)
        #expect(harness.rail.settleCalls == 1)

        let forwarded = try #require(harness.upstream.received.first)
        #expect(harness.upstream.received.count == 1)
        #expect(harness.contract.isValid(forwarded.headerFields, method: .get, target: "/datasets/prices?day=1"))
        #expect(forwarded.headerFields[.tollgateClient] == "alice")
        #expect(forwarded.headerFields[.tollgatePayer] == proof.payer)
        #expect(forwarded.headerFields[.tollgateAmount] == "10000 \(GatewayHarness.asset.address.lowercased())@\(GatewayHarness.network)")
        #expect(forwarded.headerFields[.tollgateUnit] == "request=1")
        #expect(forwarded.headerFields[.tollgateCorrelationId] == correlationId)
        #expect(forwarded.headerFields[ClientDirectory.apiKeyField] == nil)

        let payment = try #require(await harness.store.payments(correlationId: correlationId).first)
        #expect(await harness.store.payments.count == 1)
        #expect(payment.transaction == "0xtx1")
        #expect(payment.amount == "10000")
        #expect(payment.payer == proof.payer.lowercased())
        #expect(payment.clientId == "alice")
        #expect(payment.resource == "datasets")
        #expect(await harness.store.state(of: proof.key) == .settled)

        let events = try await harness.events(correlationId)
        #expect(events.map(\.stage) == [.offer, .proof, .verify, .reserve, .facilitatorVerify, .forward, .settle, .meter, .respond])
        #expect(events.last?.reason == "delivered")
        #expect(events.first { $0.stage == .settle }?.details["transaction"] == "0xtx1")
    }

    @Test func pendingSettlementIsAskedAgainOnce() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.success(.pending), .success(.settled)] }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .ok)
        #expect(response.headerFields[ScriptedRail.receiptField] == "settled 0xtx2")
        #expect(harness.rail.settleCalls == 2)
        #expect(await harness.store.state(of: proof.key) == .settled)
        #expect(await harness.store.payments.map(\.transaction) == ["0xtx2"])
        #expect(try await harness.stages(offer.correlationId)
            == ["offer", "proof", "verify", "reserve", "facilitator_verify", "forward", "settle", "settle", "meter", "respond"])
    }

    @Test func settlementStillPendingIs503AndKeepsTheProofClaimed() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.success(.pending), .success(.pending)] }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .serviceUnavailable)
        #expect(response.reason == "settlement_pending")
        #expect(response.headerFields[.retryAfter] == "5")
        #expect(response.offerTokens.isEmpty)
        #expect(response.correlationId == offer.correlationId)
        #expect(harness.rail.settleCalls == 2)
        #expect(await harness.store.state(of: proof.key) == .pending)
        #expect(await harness.store.payments.isEmpty)

        let again = await harness.send("/datasets/prices", proof: proof)
        #expect(again.status == .paymentRequired)
        #expect(again.reason == "invalid_exact_evm_nonce_already_used")
        #expect(harness.rail.settleCalls == 2)
        #expect(harness.upstream.received.count == 1)
    }

    @Test func failedSettlementIs402WithReceiptAndNoBody() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.success(.failed)] }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .paymentRequired)
        #expect(response.body.isEmpty)
        #expect(response.headerFields[ScriptedRail.receiptField] == "failed 0xtx1")
        #expect(response.headerFields[.cacheControl] == "no-store")
        #expect(response.correlationId == offer.correlationId)
        #expect(harness.rail.settleCalls == 1)
        #expect(await harness.store.state(of: proof.key) == .failed)
        #expect(await harness.store.payments.isEmpty)
        let events = try await harness.events(offer.correlationId)
        #expect(events.suffix(2).map(\.stage) == [.settle, .respond])
        #expect(events.last?.reason == "settlement_failed")

        let again = await harness.send("/datasets/prices", proof: proof)
        #expect(again.status == .paymentRequired)
        #expect(again.reason == "invalid_exact_evm_nonce_already_used")
        #expect(harness.rail.settleCalls == 1)
    }

    @Test func settlementOutageIs503SettlementUnknown() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.outage)] }

        let response = await harness.send("/datasets/prices", proof: proof)

        #expect(response.status == .serviceUnavailable)
        #expect(response.reason == "settlement_unknown")
        #expect(response.headerFields[.retryAfter] == "5")
        #expect(harness.rail.settleCalls == 1)
        #expect(await harness.store.state(of: proof.key) == .unknown)
        #expect(await harness.store.payments.isEmpty)
        let events = try await harness.events(offer.correlationId)
        #expect(events.suffix(2).map(\.stage) == [.settle, .respond])
        #expect(events.last?.reason == "settlement_unknown")

        let again = await harness.send("/datasets/prices", proof: proof)
        #expect(again.status == .paymentRequired)
        #expect(harness.rail.settleCalls == 1)
    }
}
