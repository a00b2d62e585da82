import Foundation
import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

/// `audit.denials` and `refunds.automatic`, as the gateway applies them (`Gateway.Settings`).
@Suite struct GatewayAuditSettingsTests {
    static func harness(automaticRefunds: Bool = true, auditsDenials: Bool = true) -> GatewayHarness {
        GatewayHarness(routes: RouteTable([GatewayHarness.routes.routes[0], GatewayHarness.datasets, GatewayMeteringTests.jobs]),
                       automaticRefunds: automaticRefunds, auditsDenials: auditsDenials)
    }

    @Test(arguments: [true, false])
    func refusalsOffThePaidPathAreAuditedUnlessDenialsAreOff(audited: Bool) async throws {
        let harness = Self.harness(auditsDenials: audited)
        let missing = await harness.send("/datasets/prices", apiKey: nil)
        #expect(missing.status == .unauthorized)
        let unknown = await harness.send("/datasets/prices", apiKey: "not-a-key-0123456789")
        #expect(unknown.status == .unauthorized)
        let forbidden = await harness.send("/datasets/prices?export=1", apiKey: GatewayHarness.bobKey)
        #expect(forbidden.status == .forbidden)
        let nowhere = await harness.send("/nowhere")
        #expect(nowhere.status == .notFound)
        for response in [missing, unknown, forbidden, nowhere] {
            #expect(try await harness.events(response.correlationId).count == (audited ? 1 : 0))
        }
        // Offers are not denials: a 402 is audited either way.
        let offer = await harness.send("/datasets/prices")
        #expect(offer.status == .paymentRequired)
        #expect(try await harness.stages(offer.correlationId) == ["offer"])
    }

    @Test func paidPathRefusalsAreRecordedEvenWithDenialsOff() async throws {
        let harness = Self.harness(auditsDenials: false)
        harness.upstream.update { $0.failure = TollgateError(.upstreamUnavailable, "down") }
        let (offer, proof) = try await harness.offerAndProof()
        let response = await harness.send("/datasets/prices", proof: proof)
        #expect(response.status == .badGateway)
        let respond = try #require(try await harness.events(offer.correlationId).last)
        #expect(respond.stage == .respond && respond.outcome == .denied)
    }

    @Test func aRefusalOfARequestCarryingAProofIsRecordedEvenWithDenialsOff() async throws {
        let harness = GatewayHarness(payerAllowList: ["0xAbC0000000000000000000000000000000000001"], auditsDenials: false)
        let offered = try await harness.offerAndProof()
        let stranger = harness.proof(payer: "0x9990000000000000000000000000000000000009", offerToken: offered.proof.offerToken)
        let refused = await harness.send("/datasets/prices", proof: stranger)
        #expect(refused.reason == "payer_revoked")
        let decision = try #require(try await harness.events(refused.correlationId).last)
        #expect(decision.stage == .decide && decision.outcome == .denied && decision.reason == "payer_revoked")
    }

    @Test func withoutAutomaticRefundsAnUndeliveredPrepaidJobIsHeldForManualReview() async throws {
        let harness = Self.harness(automaticRefunds: false)
        harness.upstream.update { $0.failure = TollgateError(.upstreamUnavailable, "down") }
        let (offer, proof) = try await harness.offerAndProof("/jobs?seconds=3", amount: "6000")
        let response = await harness.send("/jobs?seconds=3", proof: proof)

        #expect(response.status == .badGateway)
        #expect(harness.rail.settleCalls == 1)
        #expect(await harness.store.refundsRecorded.isEmpty)
        #expect(response.headerFields[.tollgateRefund] == nil)
        #expect(response.text.contains("held for manual review"))
        let events = try await harness.events(offer.correlationId)
        #expect(events.suffix(3).map(\.stage.rawValue) == ["settle", "forward", "respond"])
        #expect(events.last?.details["refund"] == "manual_review")
        #expect(await harness.store.payments(correlationId: offer.correlationId ?? "").count == 1)
    }

    @Test func withoutAutomaticRefundsAnUpstreamRefusalIsPassedOnWithoutARefund() async throws {
        let harness = Self.harness(automaticRefunds: false)
        harness.upstream.update { $0.status = .internalServerError }
        let (offer, proof) = try await harness.offerAndProof("/jobs?seconds=3", amount: "6000")
        let response = await harness.send("/jobs?seconds=3", proof: proof)

        #expect(response.status == .internalServerError)
        #expect(response.headerFields[.tollgateRefund] == nil)
        #expect(await harness.store.refundsRecorded.isEmpty)
        let respond = try #require(try await harness.events(offer.correlationId).last)
        #expect(respond.details["refund"] == "manual_review" && respond.details["settled"] == "true")
    }

    @Test func automaticRefundsStayTheDefault() async throws {
        let harness = Self.harness()
        harness.upstream.update { $0.failure = TollgateError(.upstreamUnavailable, "down") }
        let (_, proof) = try await harness.offerAndProof("/jobs?seconds=3", amount: "6000")
        let response = await harness.send("/jobs?seconds=3", proof: proof)
        let refund = try #require(await harness.store.refundsRecorded.first)
        #expect(response.headerFields[.tollgateRefund] == refund.id)
    }
}
