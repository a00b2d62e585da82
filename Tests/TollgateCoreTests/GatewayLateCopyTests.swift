import HTTPTypes
import Synchronization
import Testing
@testable import TollgateCore
import TollgateStoreConformance

/// A copy of a proof presented late (its offer expired meanwhile, or its terms changed) while its purchase is still
/// being worked on, written as a client that times out and sends the same proof again would: never fresh terms while the
/// first request may still deliver and settle, which a stock client would pay as well.
@Suite struct GatewayLateCopyTests {
    /// The first request's upstream runs past the offer's life (`settle: after`, so its claim is still `reserved`); the
    /// client's copy meanwhile waits (503), and the same bytes sent once the first delivered get its kept answer. One
    /// settlement, one delivery.
    @Test func aLateCopyWhileTheFirstRequestStillRunsWaitsThenGetsTheKeptAnswer() async throws {
        let harness = GatewayHarness()
        let (_, proof) = try await harness.offerAndProof()
        let copy = Mutex<GatewayResponse?>(nil)
        harness.upstream.update {
            $0.meanwhile = {
                harness.clock.advance(seconds: Int64(GatewayHarness.offerValiditySeconds) + 30)
                let answer = await harness.send("/datasets/prices", proof: proof)
                copy.withLock { $0 = answer }
            }
        }

        let first = await harness.send("/datasets/prices", proof: proof)

        #expect(first.status == .ok)
        let late = try #require(copy.withLock { $0 })
        #expect(late.status == .serviceUnavailable, "the copy was answered \(late.status) \(late.text)")
        #expect(late.offerTokens.isEmpty, "no fresh terms while the first request runs")
        harness.upstream.update { $0.meanwhile = nil }
        let again = await harness.send("/datasets/prices", proof: proof)
        #expect(again.status == .ok, "\(again.text)")
        #expect(again.text == first.text)
        #expect(harness.rail.settleCalls == 1)
        #expect(harness.upstream.received.count == 1)
    }

    /// Another instance works on the claim (its lease is live): the late copy waits. Once the lease lapsed with the claim
    /// still `reserved` (that process stopped before asking to settle: nothing moved), the copy is refused as expired.
    @Test func aLateCopyOfAClaimAnotherInstanceWorksOnWaitsUntilItsLeaseLapses() async throws {
        let harness = GatewayHarness()
        let (offer, proof) = try await harness.offerAndProof()
        let claim = Reservation(key: proof.key, correlationId: try #require(offer.correlationId), clientId: "alice", resource: "datasets",
                                validBefore: harness.clock.nowSeconds + 300)
        #expect(try await harness.store.reserve(claim, events: []) == .reserved)
        await harness.store.leaseElsewhere(proof.key)
        harness.clock.advance(seconds: Int64(GatewayHarness.offerValiditySeconds) + 30)

        let worked = await harness.send("/datasets/prices", proof: proof)
        #expect(worked.status == .serviceUnavailable, "\(worked.status) \(worked.text)")

        await harness.store.leaseLapses(proof.key)
        let abandoned = await harness.send("/datasets/prices", proof: proof)
        #expect(abandoned.status == .paymentRequired)
        #expect(abandoned.reason == "offer_expired", "\(abandoned.text)")
        #expect(harness.rail.settleCalls == 0)
    }

    /// The operator changes the price while a purchase's settlement is in doubt (its `/settle` answer was lost): the
    /// retry of the same proof, on an offer whose terms are no longer offered, resolves that purchase (here: settled,
    /// its prepared answer served) instead of answering the new price.
    @Test func aRetryAfterThePriceChangedResolvesItsPurchaseInDoubt() async throws {
        let store = InMemoryStore()
        let before = GatewayHarness(store: store)
        let (_, proof) = try await before.offerAndProof()
        before.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        let first = await before.send("/datasets/prices", proof: proof)
        #expect(first.status == .serviceUnavailable)
        #expect(await store.state(of: proof.key) == .unknown)

        var dearer = GatewayHarness.pricing
        dearer.accepts = [.init(asset: GatewayHarness.asset, amount: TokenAmount(atomic: "20000")!, payTo: GatewayHarness.payTo)]
        var route = GatewayHarness.datasets
        route.pricing = dearer
        let after = GatewayHarness(routes: RouteTable([route]), store: store)
        after.rail.update { $0.settlements = [.success(.settled)] }
        let retry = await after.send("/datasets/prices", proof: proof)

        #expect(retry.status == .ok, "\(retry.status) \(retry.text)")
        #expect(retry.offerTokens.isEmpty)
        #expect(await store.state(of: proof.key) == .settled)
        #expect(after.rail.resettleCalls == 1)
    }
}
