import Foundation
import Logging
import Testing
import TollgateConfiguration
import TollgateCore
import TollgateGateway
import TollgatePostgres
import TollgateStoreConformance

/// Whose a claim is, on a shared store: a lease on the database's clock, renewed while its owner works on it.
@Suite("PostgreSQL: claim leases")
struct PostgresClaimLeaseTests {
    typealias F = StoreConformance

    /// The system clock moved by `offset` milliseconds: an instance whose clock is wrong.
    struct SkewedClock: GatewayClock {
        let offset: Int64
        func nowMillis() -> Int64 { SystemClock().nowMillis() + offset }
    }

    static func instance(_ configuration: PostgresStoreConfiguration, clock: any GatewayClock = SystemClock()) async throws -> PostgresStore {
        try await PostgresStores.open(configuration, auditKeys: F.auditKeys, logger: TestDatabase.logger, clock: clock)
    }

    /// An instance whose clock is ten minutes slow writes claims that look ten minutes old to one on time; one ten minutes
    /// fast writes claims that stay young for ten minutes. Neither clock decides: the database's does.
    @Test("instances whose clocks disagree by ten minutes agree on which claims are live")
    func skewedInstanceClocksDoNotDecide() async throws {
        var configuration = try await TestDatabase.create()
        configuration.settlingGraceSeconds = 60
        let slow = try await Self.instance(configuration, clock: SkewedClock(offset: -600_000))
        let fast = try await Self.instance(configuration, clock: SkewedClock(offset: 600_000))
        let onTime = try await Self.instance(configuration)
        defer { slow.close(); fast.close(); onTime.close() }

        // Claimed a moment ago by the slow instance: live, so a copy elsewhere waits instead of taking it over.
        #expect(try await slow.reserve(F.reservation(F.key(31), "tg_slow"), events: []) == .reserved)
        #expect(try await onTime.reserve(F.reservation(F.key(31), "tg_slow"), events: []) == .busy(correlationId: "tg_slow"))

        // Claimed by the fast instance, which then stopped: once the grace has passed, a copy carries the purchase on.
        #expect(try await fast.reserve(F.reservation(F.key(32), "tg_fast"), events: []) == .reserved)
        #expect(try await onTime.reserve(F.reservation(F.key(32), "tg_fast"), events: []) == .busy(correlationId: "tg_fast"))
        try await TestDatabase.ageLeases(configuration, byMillis: 61_000)
        #expect(try await onTime.reserve(F.reservation(F.key(32), "tg_fast"), events: [])
                == .alreadyClaimed(correlationId: "tg_fast", state: .reserved))
        // Taken over, it is the on-time instance's: a copy at the slow one waits.
        #expect(try await slow.reserve(F.reservation(F.key(32), "tg_fast"), events: []) == .busy(correlationId: "tg_fast"))
    }

    /// A request waiting on a slow upstream for longer than the grace keeps its claim: the renewer renews what is in
    /// flight. Once its owner stops renewing (the process stopped), the claim is taken over, and the old owner's
    /// renewals no longer touch it.
    @Test("a claim in flight outlives the grace while its owner renews it, and is taken over once it stops")
    func aClaimInFlightIsRenewed() async throws {
        var configuration = try await TestDatabase.create()
        configuration.settlingGraceSeconds = 3
        let (a, b, c) = (try await Self.instance(configuration), try await Self.instance(configuration), try await Self.instance(configuration))
        defer { a.close(); b.close(); c.close() }
        let proof = F.key(33)
        let interval = try #require(a.claimRenewalInterval)
        #expect(interval == .seconds(1))

        #expect(try await a.reserve(F.reservation(proof, "tg_slow_upstream"), events: []) == .reserved)
        let inFlight = PaymentsInFlight()
        inFlight.begin(proof)
        let renewer = ClaimLeaseRenewer(store: a, inFlight: inFlight, interval: interval, logger: TestDatabase.logger)
        let renewing = Task { try await renewer.run() }
        // Half as long again as the grace: without the renewals, the claim would have lapsed.
        try await Task.sleep(for: .milliseconds(4_500))
        #expect(try await b.reserve(F.reservation(proof, "tg_slow_upstream"), events: []) == .busy(correlationId: "tg_slow_upstream"))
        // Settling is a sign of life as well; a starting instance leaves a settling claim whose lease is young alone, and
        // another instance's reconciler sees it is worked on.
        try await a.recordSettlementIntent(F.intent(proof, "tg_slow_upstream"), events: [])
        #expect(try await b.abandonSettling { _ in [] }.isEmpty)
        #expect(try await b.openSettlement(proof)?.leasedElsewhere == true)
        #expect(try await a.openSettlement(proof)?.leasedElsewhere == false)

        // The owner stops: its lease lapses and a copy at b carries the purchase on.
        renewing.cancel()
        _ = await renewing.result
        try await TestDatabase.ageLeases(configuration, byMillis: 3_100)
        #expect(try await b.openSettlement(proof)?.leasedElsewhere == false)
        #expect(try await b.reserve(F.reservation(proof, "tg_slow_upstream"), events: [])
                == .alreadyClaimed(correlationId: "tg_slow_upstream", state: .settling))
        // a, back from a pause, renews what it thinks is its own: b's claim is not, and lapses as b left it.
        try await TestDatabase.ageLeases(configuration, byMillis: 3_100)
        try await a.renewClaims([proof])
        #expect(try await c.abandonSettling { _ in [] }.map(\.intent.correlationId) == ["tg_slow_upstream"])
    }

    /// An owner held up past the grace (a pause, a partition) finds its claim taken over and settled on by another
    /// instance; what it then does to the claim as if it were still its own must not undo that: its release (its
    /// facilitator refused the proof, say) leaves the claim, the other's intent and spend holds as they are.
    @Test("a release by an owner whose claim another instance took over releases nothing")
    func aReleaseByALapsedOwnerLeavesTheClaim() async throws {
        var configuration = try await TestDatabase.create()
        configuration.settlingGraceSeconds = 60
        let (a, b) = (try await Self.instance(configuration), try await Self.instance(configuration))
        defer { a.close(); b.close() }
        let proof = F.key(34)
        #expect(try await a.reserve(F.reservation(proof, "tg_paused"), events: []) == .reserved)
        #expect(try await a.holdSpend([F.hold("100", maximum: "1000")], correlationId: "tg_paused") == nil)
        try await TestDatabase.ageLeases(configuration, byMillis: 61_000)
        #expect(try await b.reserve(F.reservation(proof, "tg_paused"), events: []) == .alreadyClaimed(correlationId: "tg_paused", state: .reserved))
        try await b.recordSettlementIntent(F.intent(proof, "tg_paused"), events: [])

        #expect(try await a.release(proof, events: []) == false)
        #expect(try await b.reservationState(proof) == .settling)
        #expect(try await b.openSettlement(proof)?.outcome == .open)
        #expect(try await b.spendTotal(subject: "client:alice", bucket: "eip155:84532/0xusdc/2026-11") == TokenAmount(atomic: "100"))
        // Its owner releases it (nothing was sent after all): released.
        #expect(try await b.release(proof, events: []))
        #expect(try await b.reservationState(proof) == nil)
    }

    /// The paused owner of a taken-over claim must not settle it: its intent is refused and nothing of it written, so
    /// its `/settle` is never sent (only the new owner settles). A dead owner's claim is another matter: whoever records
    /// its intent (a reconciler, a retry) becomes its owner and renews it.
    @Test("an intent for a claim another live instance holds is refused and writes nothing; a dead owner's is taken")
    func anIntentForAClaimHeldElsewhereIsRefused() async throws {
        var configuration = try await TestDatabase.create()
        configuration.settlingGraceSeconds = 60
        let (a, b, c) = (try await Self.instance(configuration), try await Self.instance(configuration), try await Self.instance(configuration))
        defer { a.close(); b.close(); c.close() }
        let proof = F.key(35)
        #expect(try await a.reserve(F.reservation(proof, "tg_paused_intent"), events: []) == .reserved)
        try await TestDatabase.ageLeases(configuration, byMillis: 61_000)
        #expect(try await b.reserve(F.reservation(proof, "tg_paused_intent"), events: [])
                == .alreadyClaimed(correlationId: "tg_paused_intent", state: .reserved))

        let refused = await #expect(throws: TollgateError.self) {
            try await a.recordSettlementIntent(F.intent(proof, "tg_paused_intent"), events: [F.event("tg_paused_intent")])
        }
        #expect(refused?.code == .claimHeldElsewhere)
        #expect(try await b.reservationState(proof) == .reserved)
        #expect(try await b.openSettlement(proof) == nil)
        #expect(try await b.events(correlationId: "tg_paused_intent").isEmpty)

        // b stops; c, finding the claim's lease lapsed, records the intent, owns the claim, and a copy elsewhere waits.
        try await TestDatabase.ageLeases(configuration, byMillis: 61_000)
        try await c.recordSettlementIntent(F.intent(proof, "tg_paused_intent"), events: [])
        #expect(try await c.reservationState(proof) == .settling)
        #expect(try await a.reserve(F.reservation(proof, "tg_paused_intent"), events: []) == .busy(correlationId: "tg_paused_intent"))
        #expect(try await a.openSettlement(proof)?.leasedElsewhere == true)
        #expect(try await c.openSettlement(proof)?.leasedElsewhere == false)
    }

    /// An owner held up before it recorded its intent finds, back from the pause, that another instance took the claim
    /// over and sent `/settle` since (its answer lost: `unknown`; still `settling`; settled), or released it (its client was
    /// told nothing was charged). Its intent is refused and nothing of it written: were it sent, its `/settle` told "used"
    /// would end a payment that moved as failed, or charge one its client was told was not.
    @Test("an intent over another instance's settlement, or a released claim, is refused and writes nothing")
    func anIntentOverAnotherInstancesSettlementIsRefused() async throws {
        var configuration = try await TestDatabase.create()
        configuration.settlingGraceSeconds = 60
        let (a, b) = (try await Self.instance(configuration), try await Self.instance(configuration))
        defer { a.close(); b.close() }
        func refused(_ proof: ProofKey, _ flow: String) async {
            let refusal = await #expect(throws: TollgateError.self) {
                try await a.recordSettlementIntent(F.intent(proof, flow, createdAt: 2), events: [F.event(flow)])
            }
            #expect(refusal?.code == .claimHeldElsewhere, "\(flow)")
        }
        let endings: [(String, (ProofKey, String) async throws -> Reservation.State?)] = [
            ("tg_taken_unknown", { proof, _ in try await b.finish(proof, state: .unknown, payment: nil, events: []); return .unknown }),
            ("tg_taken_pending", { proof, _ in try await b.finish(proof, state: .pending, payment: nil, events: []); return .pending }),
            ("tg_taken_settling", { _, _ in try await TestDatabase.ageLeases(configuration, byMillis: 61_000); return .settling }),
            ("tg_taken_settled", { proof, flow in
                try await b.finish(proof, state: .settled, payment: F.payment(proof, flow), response: nil, metering: nil, delivery: nil, events: [])
                return .settled
            }),
            ("tg_taken_released", { proof, _ in
                try await b.finish(proof, state: .failed, payment: nil, events: [])
                #expect(try await b.release(proof, events: []))
                return try await b.reservationState(proof)
            }),
        ]
        for (index, (flow, end)) in endings.enumerated() {
            let proof = F.key(40 + index)
            #expect(try await a.reserve(F.reservation(proof, flow), events: []) == .reserved)
            try await TestDatabase.ageLeases(configuration, byMillis: 61_000)
            #expect(try await b.reserve(F.reservation(proof, flow), events: []) == .alreadyClaimed(correlationId: flow, state: .reserved))
            try await b.recordSettlementIntent(F.intent(proof, flow, createdAt: 1), events: [])
            let state = try await end(proof, flow)
            let before = try await b.openSettlement(proof)

            await refused(proof, flow)

            #expect(try await b.reservationState(proof) == state, "\(flow)")
            let after = try await b.openSettlement(proof)
            #expect(after?.outcome == before?.outcome && after?.intent.createdAtMillis == before?.intent.createdAtMillis, "\(flow)")
            #expect(try await b.events(correlationId: flow).isEmpty, "\(flow)")
        }
        // A claim nobody took over stays its owner's: its intent is recorded, and another attempt's after it.
        #expect(try await a.reserve(F.reservation(F.key(49), "tg_own"), events: []) == .reserved)
        try await a.recordSettlementIntent(F.intent(F.key(49), "tg_own"), events: [])
        try await a.recordSettlementIntent(F.intent(F.key(49), "tg_own", createdAt: 2), events: [])
        #expect(try await a.reservationState(F.key(49)) == .settling)
    }

    /// An owner held up after it recorded its intent and before its `/settle` went out: another instance takes the claim
    /// over (a retry there, or the reconciler) and settles it, so the paused owner's own first `/settle` is told the
    /// authorization is used. What it then records as the claim's end is refused: the claim stays the other's, open, its
    /// spend held, and the other's settlement is what stands.
    @Test("a lapsed owner's own refusal or doubt leaves the claim another instance took over as that one keeps it")
    func aLapsedOwnersFinishLeavesAnotherOwnersSettlement() async throws {
        var configuration = try await TestDatabase.create()
        configuration.settlingGraceSeconds = 60
        let (a, b, c) = (try await Self.instance(configuration), try await Self.instance(configuration), try await Self.instance(configuration))
        defer { a.close(); b.close(); c.close() }
        let bucket = "eip155:84532/0xusdc/2026-11"

        // Taken over by a retry at b.
        let proof = F.key(50)
        #expect(try await a.reserve(F.reservation(proof, "tg_paused_settle"), events: []) == .reserved)
        #expect(try await a.holdSpend([F.hold("100", maximum: "1000")], correlationId: "tg_paused_settle") == nil)
        try await a.recordSettlementIntent(F.intent(proof, "tg_paused_settle"), events: [])
        try await TestDatabase.ageLeases(configuration, byMillis: 61_000)
        #expect(try await b.reserve(F.reservation(proof, "tg_paused_settle"), events: [])
                == .alreadyClaimed(correlationId: "tg_paused_settle", state: .settling))
        for state in [Reservation.State.failed, .unknown, .pending] {
            #expect(try await a.finishOwnClaim(proof, state: state, events: [F.event("tg_paused_settle")]) == false)
        }
        #expect(try await b.reservationState(proof) == .settling)
        #expect(try await b.openSettlement(proof)?.outcome == .open)
        #expect(try await b.spendTotal(subject: "client:alice", bucket: bucket) == TokenAmount(atomic: "100"))
        #expect(try await b.events(correlationId: "tg_paused_settle").count == 3, "what the paused owner was told is audited")
        try await b.finish(proof, state: .settled, payment: F.payment(proof, "tg_paused_settle"), response: nil, metering: nil, delivery: nil,
                           events: [])
        #expect(try await b.spendTotal(subject: "client:alice", bucket: bucket) == TokenAmount(atomic: "100"))
        #expect(try await b.openSettlement(proof)?.outcome == .settled)

        // Taken over by a reconciler at c: taken only once the owner's lease lapsed, and the owner's end is refused after.
        let second = F.key(51)
        #expect(try await a.reserve(F.reservation(second, "tg_paused_reconciled"), events: []) == .reserved)
        // Asked without taking (a late copy of the proof at c): live at a, so it waits; a itself holds it.
        #expect(try await c.isClaimLeasedElsewhere(second))
        #expect(try await a.isClaimLeasedElsewhere(second) == false)
        try await a.recordSettlementIntent(F.intent(second, "tg_paused_reconciled"), events: [])
        #expect(try await c.takeClaim(second) == false)
        try await TestDatabase.ageLeases(configuration, byMillis: 61_000)
        // Lapsed: no longer live, and asking took nothing (a still owns it until someone takes it).
        #expect(try await c.isClaimLeasedElsewhere(second) == false)
        #expect(try await a.isClaimLeasedElsewhere(second) == false)
        #expect(try await c.takeClaim(second))
        #expect(try await a.finishOwnClaim(second, state: .failed, events: []) == false)
        #expect(try await a.reservationState(second) == .settling)
        #expect(try await c.takeClaim(second), "its own claim")
        #expect(try await c.finishOwnClaim(second, state: .unknown, events: []))
        #expect(try await c.reservationState(second) == .unknown)
        #expect(try await c.takeClaim(F.key(52)), "no claim: nothing to take from anyone")

        // Taking a claim is no sign of a request working on it: however often a reconciler takes one, a retry reaching
        // another instance carries the purchase on instead of waiting.
        let third = F.key(53)
        #expect(try await a.reserve(F.reservation(third, "tg_reconciled_often"), events: []) == .reserved)
        try await a.recordSettlementIntent(F.intent(third, "tg_reconciled_often"), events: [])
        try await TestDatabase.ageLeases(configuration, byMillis: 61_000)
        for _ in 0..<3 { #expect(try await c.takeClaim(third)) }
        #expect(try await b.reserve(F.reservation(third, "tg_reconciled_often"), events: [])
                == .alreadyClaimed(correlationId: "tg_reconciled_often", state: .settling))
        // Adopted by b's retry (a fresh lease): now live there, so c takes it no more.
        #expect(try await c.takeClaim(third) == false)

        // Resolved by a reconciler (its write stamps the lease) and left: a retry elsewhere carries it on at once.
        let fourth = F.key(54)
        #expect(try await a.reserve(F.reservation(fourth, "tg_resolved_left"), events: []) == .reserved)
        try await a.recordSettlementIntent(F.intent(fourth, "tg_resolved_left"), events: [])
        try await TestDatabase.ageLeases(configuration, byMillis: 61_000)
        #expect(try await c.takeClaim(fourth))
        try await c.finish(fourth, state: .settled, payment: F.payment(fourth, "tg_resolved_left"), response: nil, metering: nil, delivery: nil,
                           events: [])
        #expect(try await b.reserve(F.reservation(fourth, "tg_resolved_left"), events: []) == .busy(correlationId: "tg_resolved_left"),
                "the resolution's write looks like a request at work")
        try await c.leaveClaim(fourth)
        #expect(try await b.reserve(F.reservation(fourth, "tg_resolved_left"), events: [])
                == .alreadyClaimed(correlationId: "tg_resolved_left", state: .settled))
        #expect(try await a.finishOwnClaim(fourth, state: .failed, events: []) == false, "left, it is still not the paused owner's")
    }

    /// The gateway on a shared store renews its claims in flight every third of the grace; on a store one process uses
    /// alone (the in-flight lock says it there) nothing runs.
    @Test("a gateway on PostgreSQL runs the lease renewer, every third of the grace")
    func theGatewayRenewsItsClaimsOnASharedStore() async throws {
        var configuration = try await TestDatabase.create()
        configuration.settlingGraceSeconds = 30
        let store = try await Self.instance(configuration)
        defer { store.close() }
        let environment = ["TOLLGATE_TEST_SECRET": String(repeating: "s", count: 32)]
        let keys = try SecretResolver.keyRing([.init(id: "k1", origin: .environment("TOLLGATE_TEST_SECRET"))], environment: environment)
        let (gateway, _) = try ConfigurationLoader.parse(PostgresConfigurationTests.yaml("  postgres: {host: 127.0.0.1, user: u, database: d}"))
        let assembly = GatewayAssembly(configuration: gateway, keys: keys, store: store, logger: TestDatabase.logger)
        let renewers = assembly.services.compactMap { $0 as? ClaimLeaseRenewer }
        #expect(renewers.map(\.interval) == [.seconds(10)])
        #expect(InMemoryStore().claimRenewalInterval == nil)
    }
}

