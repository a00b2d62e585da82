import Foundation
import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

extension TestProof {
    /// The same proof in another spelling: indented, keys in declaration order.
    func prettyPrintedHeader() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .prettyPrinted
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// Single use: a proof is settled at most once, and one offer buys one delivery.
@Suite struct GatewayReplayTests {
    /// The same identified client retrying the same proof (its response was lost) gets the stored
    /// response and receipt; nothing is verified, forwarded or settled again.
    @Test func sameClientRetryGetsTheStoredResponse() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        let first = await harness.send("/datasets/prices", proof: proof)
        #expect(first.status == .ok)

        let retry = await harness.send("/datasets/prices", proof: proof)

        #expect(retry.status == .ok)
        #expect(retry.body == first.body)
        #expect(retry.headerFields[ScriptedRail.receiptField] == first.headerFields[ScriptedRail.receiptField])
        #expect(retry.correlationId == offer.correlationId)
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.rail.verifyCalls == 1)
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.payments.count == 1)
        let events = try await harness.events(offer.correlationId)
        #expect(events.last?.reason == "stored_response")
    }

    /// A replay refused while being served (its record could not be written) keeps its own trail: support sees the
    /// retry recognised as this purchase (`idempotent_retry`), then the refusal, not a lone denial.
    @Test func aReplayRefusedWhileServedKeepsItsTrail() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        #expect(await harness.send("/datasets/prices", proof: proof).status == .ok)
        await harness.store.failOnce(.append)
        let retry = await harness.send("/datasets/prices", proof: proof)
        #expect(retry.status == .serviceUnavailable)
        let events = try await harness.events(offer.correlationId)
        let recognised = try #require(events.lastIndex { $0.stage == .reserve && $0.reason == "idempotent_retry" })
        #expect(events[recognised...].contains { $0.stage == .respond && $0.outcome == .denied && $0.reason == "store_unavailable" })
        #expect(!events[recognised...].contains { $0.reason == "stored_response" })
    }

    @Test func aStoredResponseIsNotServedWhenItsDeliveryCannotBeRecorded() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()
        #expect(await harness.send("/datasets/prices", proof: proof).status == .ok)
        await harness.store.fail(.append)
        let retry = await harness.send("/datasets/prices", proof: proof)
        #expect(retry.status == .serviceUnavailable)
        #expect(retry.reason == "store_unavailable")
        #expect(retry.body != Array("the data".utf8))
        #expect(harness.rail.settleCalls == 1)
    }

    /// When no response was stored (expired window, or too large), a replay is refused: the 402 names the
    /// refused flow (the one that paid) and attaches a fresh offer, whose new correlation id is `offerCorrelationId`.
    @Test func replayWithoutAStoredResponseIs402WithFreshOffer() async throws {
        let harness = GatewayHarness()
        // Larger than the stored-response limit (1 MiB): delivered, but not kept.
        harness.upstream.update { $0.body = Array(repeating: 65, count: (1 << 20) + 1) }
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

    /// A second authorization for an offer another one paid (a client that lost the answer and signed again): 409, no
    /// fresh terms to pay twice with, nothing charged; the first proof still gets its kept answer.
    @Test func secondProofForAPaidOfferIs409OfferAlreadyUsed() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof(nonce: "0x01")
        #expect(await harness.send("/datasets/prices", proof: proof).status == .ok)
        var second = proof
        second.nonce = "0x02"

        let response = await harness.send("/datasets/prices", proof: second)

        #expect(response.status == .conflict)
        #expect(response.reason == "offer_already_used")
        #expect(response.offerTokens.isEmpty)
        #expect(harness.rail.verifyCalls == 1, "an offer claimed lately is not verified alongside its next claim")
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.state(of: second.key) == nil)
        let first = await harness.send("/datasets/prices", proof: proof)
        #expect(first.status == .ok && first.text == "the data")
        #expect(harness.rail.settleCalls == 1)
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

        // Exactly one delivery and one settlement; the other copies get the stored result, or a 503 while the
        // first is running (never a 402 then: a stock client would pay again).
        #expect(statuses.allSatisfy { $0.0 == 200 || ($0.0 == 503 && $0.1 == "payment_in_progress") })
        #expect(statuses.contains { $0.0 == 200 })
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.payments.count == 1)
    }
}

/// The x402 `payment-identifier` extension: an idempotency key chosen by the client.
@Suite struct GatewayPaymentIdentifierTests {
    @Test func sameIdentifierSamePayloadGetsTheStoredResponseEvenAnonymously() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()
        var named = proof
        named.paymentIdentifier = "order-0001-abcdefgh"
        #expect(await harness.send("/datasets/prices", proof: named).status == .ok)
        let retry = await harness.send("/datasets/prices", proof: named)
        #expect(retry.status == .ok)
        #expect(harness.rail.settleCalls == 1)
    }

    /// The retry of a named purchase whose proof was re-encoded on the way (another key order, blanks): the identifier names
    /// the same authorization, so the retry gets its answer, never a 409 (which leaves a paying client without what it paid
    /// for); another authorization under that identifier is still a conflict.
    @Test func sameIdentifierSameAuthorizationInAnotherSpellingGetsTheStoredResponse() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()
        var named = proof
        named.paymentIdentifier = "order-0003-abcdefgh"
        let paid = await harness.send("/datasets/prices", proof: named)
        #expect(paid.status == .ok)
        let respelled = try named.prettyPrintedHeader()
        #expect(respelled != named.header)
        var fields = HTTPFields()
        fields[ScriptedRail.proofField] = respelled
        let retry = await harness.send("/datasets/prices", fields: fields)
        #expect(retry.status == .ok, "\(retry.status) \(retry.reason ?? "")")
        #expect(retry.text == paid.text)
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.upstream.received.count == 1)
    }

    @Test func anIdentifierAddedToACapturedAnonymousProofGetsNothing() async throws {
        var open = GatewayHarness.datasets
        open.allowsAnonymous = true
        let harness = GatewayHarness(routes: RouteTable([open]))
        let (_, proof) = try await harness.offerAndProof(apiKey: nil)
        let paid = await harness.send("/datasets/prices", apiKey: nil, proof: proof)
        #expect(paid.status == .ok)

        // Someone who saw the anonymous proof names it with an identifier of their own.
        var captured = proof
        captured.paymentIdentifier = "stolen-0001-abcdefgh"
        let replay = await harness.send("/datasets/prices", apiKey: nil, proof: captured)
        #expect(replay.status == .paymentRequired)
        #expect(replay.text != paid.text)
        #expect(harness.rail.settleCalls == 1)
    }

    @Test func aStoredAnswerIsOnlyForTheRequestAndClientThatPaidForIt() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof("/datasets/prices?day=1")
        #expect(await harness.send("/datasets/prices?day=1", proof: proof).status == .ok)

        // The same proof for another query, or by another client: not a retry of that purchase.
        let otherQuery = await harness.send("/datasets/prices?day=2", proof: proof)
        #expect(otherQuery.status == .paymentRequired)
        let otherClient = await harness.send("/datasets/prices?day=1", apiKey: GatewayHarness.bobKey, proof: proof)
        #expect(otherClient.status == .paymentRequired)
        #expect(harness.upstream.received.count == 1)
    }

    @Test func sameIdentifierAnotherPayloadIs409() async throws {
        let harness = GatewayHarness()
        let first = try await harness.offerAndProof(nonce: "0x01")
        var named = first.proof
        named.paymentIdentifier = "order-0002-abcdefgh"
        #expect(await harness.send("/datasets/prices", proof: named).status == .ok)
        let second = try await harness.offerAndProof(nonce: "0x02")
        var reused = second.proof
        reused.paymentIdentifier = "order-0002-abcdefgh"
        let conflict = await harness.send("/datasets/prices", proof: reused)
        #expect(conflict.status == .conflict)
        #expect(conflict.reason == "payment_identifier_conflict")
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.upstream.received.count == 1)
        // Another client may use the same identifier for its own payment.
        let bob = try await harness.offerAndProof(apiKey: GatewayHarness.bobKey, nonce: "0x03")
        var bobs = bob.proof
        bobs.paymentIdentifier = "order-0002-abcdefgh"
        #expect(await harness.send("/datasets/prices", apiKey: GatewayHarness.bobKey, proof: bobs).status == .ok)
    }
}
