import HTTPTypes
import Logging
import Testing
import TollgateCore
import TollgateStoreConformance

/// What flows that never ended still hold comes back through the janitor, and only then: spend held against a cap by
/// a claim whose release could not be written, units held by a prepaid request whose finish could not be written.
@Suite struct GatewayJanitorTests {
    static let logger = Logger(label: "tollgate.tests") { _ in SwiftLogNoOpLogHandler() }

    static func janitor(_ harness: GatewayHarness, at clock: any GatewayClock) -> ReservationJanitor {
        ReservationJanitor(store: harness.store, clock: clock, logger: logger)
    }

    @Test func spendHeldByAClaimWhoseReleaseWasLostComesBackOnceItsProofHasExpired() async throws {
        let cap = SpendCap(subject: .client, period: .day, network: GatewayHarness.network, asset: GatewayHarness.asset.address,
                           maximum: TokenAmount(atomic: "15000")!)
        let harness = GatewayHarness(spendCaps: [cap])
        // The upstream fails, so the claim is released, but the release is never written: the claim stays `reserved`
        // with its spend held.
        harness.upstream.update { $0.status = .serviceUnavailable }
        await harness.store.fail(.release)
        let first = try await harness.offerAndProof(nonce: "0x01")
        #expect(await harness.send("/datasets/prices", proof: first.proof).status != .ok)
        #expect(harness.rail.settleCalls == 0)
        await harness.store.recover()
        harness.upstream.update { $0.status = .ok }
        let second = try await harness.offerAndProof(nonce: "0x02")
        #expect(await harness.send("/datasets/prices", proof: second.proof).reason == "spend_cap_exceeded")
        // While the first proof could still be presented, the janitor keeps its hold.
        await Self.janitor(harness, at: harness.clock).sweep()
        #expect(await harness.send("/datasets/prices", proof: try await harness.offerAndProof(nonce: "0x03").proof).reason == "spend_cap_exceeded")
        // Once it has expired (validBefore + the janitor's margin), the spend goes back, with an event in the first flow.
        harness.clock.advance(seconds: 300 + 3_600 + 1)
        await Self.janitor(harness, at: harness.clock).sweep()
        #expect(await harness.store.claims.values.contains { $0.reservation.correlationId == first.offer.correlationId } == false)
        #expect(try await harness.events(first.offer.correlationId).map(\.reason).contains(Reason.claimLapsed.rawValue))
        let fourth = try await harness.offerAndProof(nonce: "0x04")
        #expect(await harness.send("/datasets/prices", proof: fourth.proof).status == .ok)
        #expect(harness.rail.settleCalls == 1)
    }

    @Test func unitsHeldByARequestWhoseSpendWasNotRecordedComeBackAfterTheLapse() async throws {
        let harness = GatewayHarness(routes: RouteTable([GatewayMeteringTests.package]))
        await harness.store.setBalance(client: "alice", package: "bundle", units: 4)
        // The upstream answers but the spend cannot be written: the content is not served, the hold stays.
        await harness.store.fail(.finish)
        let unrecorded = await harness.send("/bundle?n=3")
        #expect(unrecorded.status == .serviceUnavailable)
        #expect(unrecorded.reason == "store_unavailable")
        await harness.store.recover()
        #expect(await harness.store.balance(client: "alice", package: "bundle") == 1)
        #expect(await harness.send("/bundle?n=3").status == .paymentRequired)
        // A janitor now gives back nothing: the hold may be a live request's.
        let now = SystemClock().nowMillis()
        await Self.janitor(harness, at: FixedClock(millis: now)).sweep()
        #expect(await harness.store.balance(client: "alice", package: "bundle") == 1)
        // Past the lapse the units come back, once.
        let later = FixedClock(millis: now + (PackageUnits.lapseSeconds + 1) * 1000)
        await Self.janitor(harness, at: later).sweep()
        await Self.janitor(harness, at: later).sweep()
        #expect(await harness.store.balance(client: "alice", package: "bundle") == 4)
        #expect(await harness.send("/bundle?n=3").status == .ok)
        #expect(await harness.store.balance(client: "alice", package: "bundle") == 1)
    }
}
