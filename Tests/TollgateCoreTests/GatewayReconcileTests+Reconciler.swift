import HTTPTypes
import Logging
import Testing
import TollgateCore
import TollgateStoreConformance

/// The reconciler's passes: page by page, refunds after the idempotency window, settlements another instance works on.
extension GatewayReconcileTests {
    /// Three settlements in doubt, oldest first; the facilitator never answers for the two oldest.
    static func threeInDoubt(_ harness: GatewayHarness) async throws -> [String] {
        var flows: [String] = []
        for nonce in ["0x01", "0x02", "0x03"] {
            let (offer, proof) = try await harness.offerAndProof(nonce: nonce)
            harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
            #expect(await harness.send("/datasets/prices", proof: proof).reason == "settlement_unknown")
            flows.append(try #require(offer.correlationId))
            harness.clock.advance(seconds: 1)
        }
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer), .failure(ScriptedRail.lostAnswer), .success(.settled)] }
        return flows
    }

    /// Settlements that stay unknown for good must not keep newer ones from being resolved: each pass takes the next
    /// page, and the pass after the last starts again from the oldest.
    @Test func eachPassTakesTheNextPageSoOldUnknownsNeverStarveNewerOnes() async throws {
        let harness = Self.harness()
        let flows = try await Self.threeInDoubt(harness)

        let first = try await harness.gateway.reconcile(startup: false, limit: 2)
        #expect(first.stillUnknown == Array(flows.prefix(2)))
        let next = try #require(first.next)
        let second = try await harness.gateway.reconcile(startup: false, limit: 2, after: next)

        #expect(second.settled == [flows[2]])
        #expect(second.next == nil)
        #expect(await harness.store.payments.count == 1)
        // Back at the start, the oldest are asked again.
        let third = try await harness.gateway.reconcile(startup: false, limit: 2, after: second.next)
        #expect(third.settled == Array(flows.prefix(2)))
    }

    @Test func theReconcilerServiceMovesOnPageByPage() async throws {
        let harness = Self.harness()
        let flows = try await Self.threeInDoubt(harness)
        // The two oldest stay unknown for as long as this test runs; only the newest can settle.
        harness.rail.update {
            $0.settlements = [.failure(ScriptedRail.lostAnswer), .failure(ScriptedRail.lostAnswer), .success(.settled)]
                + Array(repeating: .failure(ScriptedRail.lostAnswer), count: 10_000)
        }
        let logger = Logger(label: "tollgate.tests") { _ in SwiftLogNoOpLogHandler() }
        let reconciler = SettlementReconciler(gateway: harness.gateway, interval: .milliseconds(20), pageSize: 2, logger: logger)
        let running = Task { try await reconciler.run() }
        defer { running.cancel() }
        let newest = try #require(await harness.store.claims.values.first { $0.reservation.correlationId == flows[2] }).reservation.key
        for _ in 0..<1_000 where await harness.store.state(of: newest) != .settled {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(await harness.store.state(of: newest) == .settled)
        #expect(await harness.store.payments.map(\.correlationId) == [flows[2]])
    }

    @Test func reconcilingEverythingRunsEveryPage() async throws {
        let harness = Self.harness()
        let flows = try await Self.threeInDoubt(harness)

        let report = try await harness.gateway.reconcileAll(startup: false, limit: 2)

        #expect(report.stillUnknown == Array(flows.prefix(2)))
        #expect(report.settled == [flows[2]])
        #expect(report.next == nil)
        #expect(harness.rail.resettleCalls == 3)
    }

    @Test func aSettledAnswerNobodyCameBackForIsRefundedAfterTheIdempotencyWindow() async throws {
        let harness = Self.harness()
        let (_, proof) = try await harness.offerAndProof()
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/datasets/prices", proof: proof)
        _ = try await harness.gateway.reconcile(startup: false)
        #expect(await harness.store.refundsRecorded.isEmpty)

        harness.clock.advance(seconds: 3601)
        let report = try await harness.gateway.reconcile(startup: false)

        #expect(report.refunded.count == 1)
        #expect(await harness.store.refundsRecorded.first?.automatic == true)
    }

    /// Work that must not run twice, settled and not delivered: its request may still be running at another instance,
    /// which would record its delivery after a refund. The reconciler waits out the window before refunding it.
    @Test func theReconcilerWaitsBeforeRefundingWorkThatMustNotRunTwice() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof("/render", method: .post, amount: "2000")
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/render", method: .post, proof: proof)

        let resolved = try await harness.gateway.reconcile(startup: false)
        #expect(resolved.settled == [try #require(offer.correlationId)])
        #expect(resolved.awaitingRetry == [offer.correlationId])
        #expect(await harness.store.refundsRecorded.isEmpty)

        harness.clock.advance(seconds: 3_601)
        let later = try await harness.gateway.reconcile(startup: false)
        #expect(later.refunded.count == 1)
        #expect(await harness.store.refundsRecorded.first?.correlationId == offer.correlationId)
    }

    /// On a shared store, a settlement another instance's live request works on (its lease renewed: `settle: before`
    /// running the work, or its `/settle` out for minutes): this instance's reconciler neither settles it again nor
    /// refunds it, whatever its clock says of the intent's age. Once the lease lapses, it is resolved as any other.
    @Test func theReconcilerLeavesASettlementAnotherInstanceWorksOn() async throws {
        let harness = Self.harness()
        let (offer, proof) = try await harness.offerAndProof("/render", method: .post, amount: "2000")
        harness.rail.update { $0.settlements = [.failure(ScriptedRail.lostAnswer)] }
        _ = await harness.send("/render", method: .post, proof: proof)
        // A retry of the proof at another instance carries the purchase on: it is sending `/settle` now.
        let intent = try #require(try await harness.store.openSettlement(proof.key)?.intent)
        try await harness.store.recordSettlementIntent(intent, events: [])
        await harness.store.leaseElsewhere(proof.key)
        harness.clock.advance(seconds: 7_200)
        harness.rail.update { $0.settlements = [.success(.settled)] }

        let leased = try await harness.gateway.reconcile(startup: false)
        #expect(leased.settled.isEmpty && leased.refunded.isEmpty && leased.stillUnknown.isEmpty, "\(leased)")
        #expect(leased.workedOnElsewhere == [try #require(offer.correlationId)])
        #expect(harness.rail.resettleCalls == 0)
        #expect(try await harness.store.openSettlement(proof.key)?.outcome == .open)

        await harness.store.leaseLapses(proof.key)
        let lapsed = try await harness.gateway.reconcile(startup: false)
        #expect(lapsed.settled == [try #require(offer.correlationId)])
        #expect(lapsed.refunded.count == 1)
        #expect(harness.rail.resettleCalls == 1)
    }
}
