import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

/// A flood of unpaid requests while the store refuses writes: memory stays bounded, and terms are not issued once
/// they could no longer be audited.
@Suite struct GatewayAuditBacklogTests {
    @Test("with the store refusing writes, a flood fills the audit backlog, then 402s become 503 store_unavailable; after recovery the held events are written and terms are issued again")
    func aFullBacklogRefusesTermsItCannotAudit() async throws {
        let harness = GatewayHarness(auditCapacity: 4, auditBacklogLimit: 16)
        await harness.store.fail(.append)
        var statuses: [HTTPResponse.Status] = []
        for _ in 0..<40 { statuses.append(await harness.send("/datasets/prices").status) }
        #expect(statuses.prefix(16).allSatisfy { $0 == .paymentRequired })
        #expect(statuses.dropFirst(16).allSatisfy { $0 == .serviceUnavailable })

        let refused = await harness.send("/datasets/prices")
        #expect(refused.status == .serviceUnavailable)
        #expect(refused.reason == "store_unavailable")
        #expect(refused.offerTokens.isEmpty)
        #expect(refused.headerFields[.retryAfter] != nil)

        // Forged proofs end in a fresh offer: refused the same way, never answered with terms.
        let forged = await harness.send("/datasets/prices", proof: harness.proof(nonce: "0x99", offerToken: "forged"))
        #expect(forged.status == .serviceUnavailable)
        #expect(forged.offerTokens.isEmpty)
        // Identification still comes first: an unknown key is 401 whatever the backlog.
        #expect(await harness.send("/datasets/prices", apiKey: "unknown-api-key-0123456789").status == .unauthorized)
        #expect(harness.rail.verifyCalls == 0)

        await harness.store.recover()
        await harness.batcher.flush()
        let written = await harness.store.recorded
        #expect(written.count == 16)
        #expect(written.allSatisfy { $0.event.stage == .offer && $0.event.outcome == .issued })

        let (offer, proof) = try await harness.offerAndProof(nonce: "0x02")
        #expect(offer.status == .paymentRequired)
        #expect(await harness.send("/datasets/prices", proof: proof).status == .ok)
    }

    @Test("a refused proof and the fresh offer that follows it are recorded together or not at all: with room for one event, neither is kept (the 503's own refusal takes it)")
    func aRefusalAndItsOfferAreRecordedTogether() async throws {
        let harness = GatewayHarness(auditCapacity: 4, auditBacklogLimit: 17)
        await harness.store.fail(.append)
        for _ in 0..<16 { #expect(await harness.send("/datasets/prices").status == .paymentRequired) }
        let forged = await harness.send("/datasets/prices", proof: harness.proof(nonce: "0x98", offerToken: "forged"))
        #expect(forged.status == .serviceUnavailable)
        #expect(forged.reason == "store_unavailable")
        await harness.store.recover()
        await harness.batcher.flush()
        let written = await harness.store.recorded.map(\.event)
        // The sixteen 402s, and the 503's own refusal (one event: it fits); nothing of the refused proof or its offer.
        #expect(written.count == 17)
        #expect(written.prefix(16).allSatisfy { $0.stage == .offer && $0.outcome == .issued })
        #expect(written.last?.outcome == .denied)
        #expect(written.last?.reason == "store_unavailable")
        #expect(!written.contains { $0.stage == .proof || $0.stage == .verify })
    }
}
