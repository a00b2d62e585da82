import HTTPTypes
import Testing
import TollgateCore
import TollgateStoreConformance

/// A settled answer its door could not write (the connection broke after settlement): kept for its owner's retry when
/// the owner can fetch it again, refunded at once otherwise; never both served and refunded, whatever was served
/// meanwhile on another connection.
@Suite struct GatewayLostDeliveryTests {
    static let route = "/datasets/prices"

    /// A settled delivery to `apiKey` (nil: anonymous) on a route open to anonymous callers: the harness, the proof,
    /// the answer as served and the delivery its door was told of.
    static func delivered(apiKey: String?, automaticRefunds: Bool = true) async throws -> (GatewayHarness, TestProof, GatewayResponse, SettledDelivery) {
        let harness = GatewayMeteringTests.anonymousDatasets(automaticRefunds: automaticRefunds)
        let (_, proof) = try await harness.offerAndProof(apiKey: apiKey)
        let first = await harness.send(route, apiKey: apiKey, proof: proof)
        #expect(first.status == .ok)
        return (harness, proof, first, try #require(first.settledDelivery))
    }

    /// What the `connection_failed` event of the flow says became of the payment.
    static func then(_ harness: GatewayHarness, _ flow: String) async throws -> String? {
        try await harness.events(flow).last { $0.reason == Reason.connectionFailed.rawValue }?.details["then"]
    }

    /// Anonymous: nobody can fetch the answer again, so it is refunded at once and a retry is told of the refund.
    @Test func anAnswerNobodyCanFetchAgainIsRefundedAtOnce() async throws {
        let (harness, proof, _, lost) = try await Self.delivered(apiKey: nil)
        // Answers that were not settled carry no delivery to watch.
        #expect(await harness.send(Self.route, apiKey: nil).settledDelivery == nil)

        await harness.gateway.undelivered(lost, detail: "connection reset")

        let refund = try #require(await harness.store.refundsRecorded.first)
        #expect(refund.automatic)
        #expect(refund.correlationId == lost.correlationId)
        #expect(refund.reason == "not delivered: connection_failed")
        #expect(try await Self.then(harness, lost.correlationId) == "refund_due")
        let retry = await harness.send(Self.route, apiKey: nil, proof: proof)
        #expect(retry.status == .badGateway)
        #expect(retry.reason == "not_delivered")
        #expect(retry.headerFields[.tollgateRefund] == refund.id)
        #expect(harness.upstream.received.count == 1)
    }

    /// The loss's write fails once (the store busy a moment): it is tried again, so the answer nobody can fetch again
    /// is refunded rather than left delivered, neither served nor refunded.
    @Test func aLossWhoseRecordFailsOnceIsRecordedOnTheNextTry() async throws {
        let (harness, _, _, lost) = try await Self.delivered(apiKey: nil)
        await harness.store.failOnce(.finish)
        await harness.gateway.undelivered(lost, detail: "connection reset")
        #expect(await harness.store.refundsRecorded.map(\.correlationId) == [lost.correlationId])
        #expect(try await Self.then(harness, lost.correlationId) == "refund_due")
    }

    /// The store down for seconds (a PostgreSQL primary failing over) while the loss is recorded: the tries go on, their
    /// waits doubling, until it is back, so the paid answer nobody received is refunded, not left recorded as delivered.
    @Test func aLossRecordedWhileTheStoreIsDownForSecondsIsRecordedOnceItIsBack() async throws {
        let (harness, _, _, lost) = try await Self.delivered(apiKey: nil)
        await harness.store.fail(.finish)
        let recording = Task { await harness.gateway.undelivered(lost, detail: "connection reset") }
        try await Task.sleep(for: .seconds(2))
        #expect(await harness.store.refundsRecorded.isEmpty)
        await harness.store.recover()
        await recording.value
        #expect(await harness.store.refundsRecorded.map(\.correlationId) == [lost.correlationId])
        #expect(try await Self.then(harness, lost.correlationId) == "refund_due")
    }

    /// The loss is often reported by a request whose connection just failed, its task cancelled: it is recorded all the
    /// same, by a store that refuses cancelled callers too, and a failed try is tried again after its wait.
    @Test func aLossReportedFromACancelledTaskIsRecorded() async throws {
        let (harness, _, _, lost) = try await Self.delivered(apiKey: nil)
        await harness.store.refuseCancelledCallers()
        await harness.store.failOnce(.finish)
        let clock = ContinuousClock(), started = clock.now
        await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await harness.gateway.undelivered(lost, detail: "connection reset")
        }.value
        #expect(await harness.store.refundsRecorded.map(\.correlationId) == [lost.correlationId])
        #expect(try await Self.then(harness, lost.correlationId) == "refund_due")
        #expect(clock.now - started >= .milliseconds(200), "the second try waits its turn")
    }

    /// Identified: the answer is kept for its owner's retry, which gets it (the upstream does not run again) and records
    /// its delivery; nothing is refunded, then or after the window. The loss reported again changes nothing.
    @Test func anAnswerItsOwnerCanFetchAgainIsKeptForTheRetry() async throws {
        let key = GatewayHarness.aliceKey
        let (harness, proof, first, lost) = try await Self.delivered(apiKey: key)

        await harness.gateway.undelivered(lost, detail: "connection reset")

        #expect(await harness.store.refundsRecorded.isEmpty)
        #expect(try await harness.store.openSettlement(proof.key)?.delivered == false)
        #expect(try await Self.then(harness, lost.correlationId) == "kept_for_retry")
        let retry = await harness.send(Self.route, apiKey: key, proof: proof)
        #expect(retry.status == .ok)
        #expect(retry.body == first.body)
        #expect(harness.upstream.received.count == 1)
        #expect(try await harness.store.openSettlement(proof.key)?.delivered == true)
        // The retry's delivery is watched in its turn, under a token of its own.
        let again = try #require(retry.settledDelivery)
        #expect(again.token != lost.token)

        await harness.gateway.undelivered(lost, detail: "reported twice")
        #expect(try await harness.store.openSettlement(proof.key)?.delivered == true)
        harness.clock.advance(seconds: 3_601)
        _ = try await harness.gateway.reconcile(startup: false)
        #expect(await harness.store.refundsRecorded.isEmpty)
    }

    /// The attack on a reopening: the owner's retry on another connection is served the kept answer before the first
    /// delivery's loss is handled. The loss then changes nothing (the answer was delivered): no refund, now or after
    /// the window, and the retry's own door was not told to watch a replay.
    @Test func aLossHandledAfterAReplayWasServedChangesNothing() async throws {
        let key = GatewayHarness.aliceKey
        let (harness, proof, first, lost) = try await Self.delivered(apiKey: key)
        let replay = await harness.send(Self.route, apiKey: key, proof: proof)
        #expect(replay.status == .ok)
        #expect(replay.body == first.body)
        #expect(replay.settledDelivery == nil)

        await harness.gateway.undelivered(lost, detail: "connection reset")

        #expect(try await Self.then(harness, lost.correlationId) == "unchanged")
        #expect(try await harness.store.openSettlement(proof.key)?.delivered == true)
        harness.clock.advance(seconds: 3_601)
        _ = try await harness.gateway.reconcile(startup: false)
        #expect(await harness.store.refundsRecorded.isEmpty)
        #expect(harness.upstream.received.count == 1)
    }

    /// Kept, and nobody came back within the window: the reconciler refunds it, and a retry after that is told of the
    /// refund instead of being served the answer too.
    @Test func aKeptAnswerNobodyCameBackForIsRefundedAfterTheWindow() async throws {
        let key = GatewayHarness.aliceKey
        let (harness, proof, first, lost) = try await Self.delivered(apiKey: key)
        await harness.gateway.undelivered(lost, detail: "connection reset")
        _ = try await harness.gateway.reconcile(startup: false)
        #expect(await harness.store.refundsRecorded.isEmpty)

        harness.clock.advance(seconds: 3_601)
        let report = try await harness.gateway.reconcile(startup: false)

        let refund = try #require(await harness.store.refundsRecorded.first)
        #expect(report.refunded == [refund.id])
        #expect(refund.correlationId == lost.correlationId)
        let retry = await harness.send(Self.route, apiKey: key, proof: proof)
        #expect(retry.status == .badGateway)
        #expect(retry.headerFields[.tollgateRefund] == refund.id)
        #expect(retry.body != first.body)
        #expect(harness.upstream.received.count == 1)
    }

    /// `settle: before` and work that outlasts most of the window: the answer is kept when the work ends, so it stays
    /// fetchable for a window from then, past the window counted from the settlement's intent. The reconciler does not
    /// refund what its owner can still fetch (paid back, the answer would be refused to the retry: the work lost for
    /// nothing); once the kept answer expired, it refunds.
    static func keptAfterLongWork() async throws -> (GatewayHarness, TestProof, GatewayResponse, SettledDelivery) {
        let harness = GatewayReconcileTests.harness()
        let clock = harness.clock
        harness.upstream.update { $0.meanwhile = { clock.advance(seconds: 3_000) } }
        let (_, proof) = try await harness.offerAndProof("/jobs?seconds=3", amount: "6000")
        let first = await harness.send("/jobs?seconds=3", proof: proof)
        #expect(first.status == .ok)
        let lost = try #require(first.settledDelivery)
        await harness.gateway.undelivered(lost, detail: "connection reset")
        #expect(try await Self.then(harness, lost.correlationId) == "kept_for_retry")
        // A window after the intent, well within the kept answer's.
        harness.clock.advance(seconds: 700)
        let report = try await harness.gateway.reconcile(startup: false)
        #expect(report.awaitingRetry == [lost.correlationId])
        #expect(await harness.store.refundsRecorded.isEmpty)
        return (harness, proof, first, lost)
    }

    @Test func anAnswerKeptAfterLongWorkIsNotRefundedWhileItsOwnerCanFetchIt() async throws {
        let (harness, proof, first, _) = try await Self.keptAfterLongWork()
        let retry = await harness.send("/jobs?seconds=3", proof: proof)
        #expect(retry.status == .ok)
        #expect(retry.body == first.body)
        #expect(harness.upstream.received.count == 1)
        #expect(await harness.store.refundsRecorded.isEmpty)
    }

    @Test func anAnswerKeptAfterLongWorkIsRefundedOnceItExpired() async throws {
        let (harness, proof, first, lost) = try await Self.keptAfterLongWork()
        harness.clock.advance(seconds: 2_901)
        let report = try await harness.gateway.reconcile(startup: false)
        let refund = try #require(await harness.store.refundsRecorded.first)
        #expect(report.refunded == [refund.id])
        #expect(refund.correlationId == lost.correlationId)
        let retry = await harness.send("/jobs?seconds=3", proof: proof)
        #expect(retry.headerFields[.tollgateRefund] == refund.id)
        #expect(retry.body != first.body)
        #expect(harness.upstream.received.count == 1)
    }

    /// A failure a retry would meet again (a result that cannot be read): refunded at once even for its owner, and the
    /// answer withdrawn, so the retry is told of the refund.
    @Test func aLossARetryWouldMeetAgainIsRefundedAtOnce() async throws {
        let key = GatewayHarness.aliceKey
        let (harness, proof, first, lost) = try await Self.delivered(apiKey: key)

        await harness.gateway.undelivered(lost, detail: "the result could not be read", keepForRetry: false)

        let refund = try #require(await harness.store.refundsRecorded.first)
        #expect(refund.correlationId == lost.correlationId)
        #expect(try await Self.then(harness, lost.correlationId) == "refund_due")
        let retry = await harness.send(Self.route, apiKey: key, proof: proof)
        #expect(retry.headerFields[.tollgateRefund] == refund.id)
        #expect(retry.body != first.body)
    }

    /// A settlement no transaction proves (a facilitator that reported success without one): an answer nobody can fetch
    /// again is not paid back on the gateway's word alone; it is listed for review, as the reconciler would list it.
    @Test func aLostAnswerWhoseSettlementNoTransactionProvesIsListedForReview() async throws {
        let harness = GatewayMeteringTests.anonymousDatasets(automaticRefunds: true)
        harness.rail.update { $0.transaction = "" }
        let (_, proof) = try await harness.offerAndProof(apiKey: nil)
        let first = await harness.send(Self.route, apiKey: nil, proof: proof)
        let lost = try #require(first.settledDelivery)

        await harness.gateway.undelivered(lost, detail: "connection reset")

        #expect(try await Self.then(harness, lost.correlationId) == "review")
        #expect(await harness.store.refundsRecorded.isEmpty)
        #expect(try await harness.store.openSettlement(proof.key)?.delivered == false)
        harness.clock.advance(seconds: 3_601)
        let report = try await harness.gateway.reconcile(startup: false)
        #expect(report.review == [lost.correlationId])
        #expect(await harness.store.refundsRecorded.isEmpty)
    }

    /// Automatic refunds off: an answer nobody can fetch again waits for the operator, listed for review by the
    /// reconciler after the window; nothing is refunded by the gateway, and the answer is withdrawn (a retry of this
    /// GET would run it again, as for any settled, undelivered request).
    @Test func withAutomaticRefundsOffALostAnswerIsListedForReview() async throws {
        let (harness, proof, _, lost) = try await Self.delivered(apiKey: nil, automaticRefunds: false)

        await harness.gateway.undelivered(lost, detail: "connection reset")

        #expect(try await Self.then(harness, lost.correlationId) == "review")
        #expect(try await harness.store.openSettlement(proof.key)?.delivered == false)
        #expect(try await harness.store.storedResponse(proof.key, now: harness.clock.nowSeconds) == nil)
        harness.clock.advance(seconds: 3_601)
        let report = try await harness.gateway.reconcile(startup: false)
        #expect(report.review == [lost.correlationId])
        #expect(await harness.store.refundsRecorded.isEmpty)
        #expect(harness.upstream.received.count == 1)
    }

    /// The owner's retry is lost too: its own loss reopens the flow again, and the next retry still gets the answer.
    @Test func aRetrysLostDeliveryIsKeptAgain() async throws {
        let key = GatewayHarness.aliceKey
        let (harness, proof, first, lost) = try await Self.delivered(apiKey: key)
        await harness.gateway.undelivered(lost, detail: "connection reset")
        let retry = try #require(await harness.send(Self.route, apiKey: key, proof: proof).settledDelivery)

        await harness.gateway.undelivered(retry, detail: "connection reset again")

        #expect(try await harness.store.openSettlement(proof.key)?.delivered == false)
        let last = await harness.send(Self.route, apiKey: key, proof: proof)
        #expect(last.status == .ok)
        #expect(last.body == first.body)
        #expect(await harness.store.refundsRecorded.isEmpty)
        #expect(harness.upstream.received.count == 1)
    }
}
