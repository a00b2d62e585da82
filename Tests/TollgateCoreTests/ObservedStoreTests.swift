import Synchronization
import Testing
import TollgateCore
import TollgateStoreConformance

/// `ObservedStore` passes every call through and reports exactly the events the base store committed.
@Suite struct ObservedStoreTests {
    /// Keeps what it is shown.
    final class Recorder: AuditObserver {
        private let batches = Mutex<[[AuditEvent]]>([])
        func observe(_ events: [AuditEvent]) { batches.withLock { $0.append(events) } }
        var seen: [[AuditEvent]] { batches.withLock { $0 } }
        var stages: [String] { seen.flatMap { $0.map(\.stage.rawValue) } }
    }

    static func event(_ stage: AuditEvent.Stage, _ outcome: AuditEvent.Outcome = .ok, flow: String = "tg_flow") -> AuditEvent {
        AuditEvent(correlationId: flow, timeMillis: 1_700_000_000_000, stage: stage, outcome: outcome, resource: "datasets")
    }

    static let key = ProofKey(network: "eip155:84532", asset: "0xasset", payer: "0xpayer", nonce: "0x01")

    static func reservation(_ key: ProofKey = Self.key, flow: String = "tg_flow") -> Reservation {
        Reservation(key: key, correlationId: flow, clientId: "anonymous", resource: "datasets", validBefore: 2_000_000_000)
    }

    @Test func appendedEventsReachTheObserverOnlyOnceWritten() async throws {
        let base = InMemoryStore()
        let recorder = Recorder()
        let store = ObservedStore(base, observer: recorder)
        try await store.append([Self.event(.offer, .issued), Self.event(.admit, .denied)])
        #expect(recorder.seen == [[Self.event(.offer, .issued), Self.event(.admit, .denied)]])

        await base.fail(.append)
        await #expect(throws: TollgateError.self) { try await store.append([Self.event(.identify, .denied)]) }
        #expect(recorder.seen.count == 1)
        #expect(try await store.events(correlationId: "tg_flow").count == 2)
    }

    @Test func aReservationReportsItsEventsOnlyWhenItClaims() async throws {
        let base = InMemoryStore()
        let recorder = Recorder()
        let store = ObservedStore(base, observer: recorder)
        let events = [Self.event(.proof, .received), Self.event(.verify), Self.event(.reserve)]
        #expect(try await store.reserve(Self.reservation(), events: events) == .reserved)
        #expect(recorder.seen == [events])

        // The same proof again: nothing written, nothing observed.
        let again = try await store.reserve(Self.reservation(flow: "tg_other"), events: [Self.event(.reserve, flow: "tg_other")])
        #expect(again == .alreadyClaimed(correlationId: "tg_flow", state: .reserved))
        #expect(recorder.seen.count == 1)

        await base.fail(.reserve)
        let other = ProofKey(network: "eip155:84532", asset: "0xasset", payer: "0xpayer", nonce: "0x02")
        await #expect(throws: TollgateError.self) {
            try await store.reserve(Self.reservation(other, flow: "tg_third"), events: [Self.event(.reserve, flow: "tg_third")])
        }
        #expect(recorder.seen.count == 1)
    }

    @Test func releaseAndFinishReportOnSuccessOnly() async throws {
        let base = InMemoryStore()
        let recorder = Recorder()
        let store = ObservedStore(base, observer: recorder)
        _ = try await store.reserve(Self.reservation(), events: [])

        await base.fail(.release, .finish)
        await #expect(throws: TollgateError.self) { try await store.release(Self.key, events: [Self.event(.forward, .error)]) }
        await #expect(throws: TollgateError.self) {
            try await store.finish(Self.key, state: .settled, payment: nil, events: [Self.event(.settle)])
        }
        await #expect(throws: TollgateError.self) {
            try await store.recordDelivery(Self.key, response: nil, metering: nil, delivery: .next(), events: [Self.event(.respond)])
        }
        await #expect(throws: TollgateError.self) {
            try await store.finishUnits(correlationId: "tg_flow", consumed: 1, usage: nil, events: [Self.event(.meter)])
        }
        #expect(recorder.stages == [])

        await base.recover()
        try await store.release(Self.key, events: [Self.event(.forward, .error)])
        try await store.finish(Self.key, state: .settled, payment: nil, events: [Self.event(.settle), Self.event(.respond)])
        try await store.recordDelivery(Self.key, response: nil, metering: nil, delivery: .next(), events: [Self.event(.meter)])
        try await store.finishUnits(correlationId: "tg_flow", consumed: 1, usage: nil, events: [Self.event(.meter)])
        #expect(recorder.stages == ["forward", "settle", "respond", "meter", "meter"])
        #expect(try await base.events(correlationId: "tg_flow").map(\.event.stage.rawValue) == ["forward", "settle", "respond", "meter", "meter"])
    }

    @Test func aUnitHoldReportsItsEventsOnlyWhenHeld() async throws {
        let base = InMemoryStore()
        let recorder = Recorder()
        let store = ObservedStore(base, observer: recorder)
        let hold = UnitHold(correlationId: "tg_flow", clientId: "analyst", package: "reports", units: 3)
        #expect(try await store.holdUnits(hold, events: [Self.event(.meter)]) == .insufficient(balance: 0))
        #expect(recorder.seen.isEmpty)
        await base.setBalance(client: "analyst", package: "reports", units: 5)
        #expect(try await store.holdUnits(hold, events: [Self.event(.meter)]) == .held(remaining: 2))
        #expect(recorder.stages == ["meter"])
    }

    @Test func aRecordedRefundIsReportedWithItsFacts() async throws {
        let base = InMemoryStore()
        let recorder = Recorder()
        let store = ObservedStore(base, observer: recorder)
        _ = try await store.reserve(Self.reservation(), events: [])
        let payment = PaymentRecord(correlationId: "tg_flow", rail: "x402-exact-evm", network: "eip155:84532", asset: "0xasset", payer: "0xpayer",
                                    payee: "0xpayee", amount: "10000", nonce: "0x01", transaction: "0xtx", clientId: "anonymous",
                                    resource: "datasets", unit: "request", quantity: 1, settledAtMillis: 1)
        try await store.finish(Self.key, state: .settled, payment: payment, events: [])
        #expect(recorder.stages == [])

        let unknown = await #expect(throws: TollgateError.self) {
            try await store.refund(RefundRequest(correlationId: "tg_unknown", reason: "x", actor: "tollgate"), nowMillis: 5)
        }
        #expect(unknown?.code == .notFound)
        #expect(recorder.seen.isEmpty)

        let refund = try await store.refund(RefundRequest(correlationId: "tg_flow", reason: "not delivered", actor: "tollgate", automatic: true),
                                            nowMillis: 5)
        let reported = try #require(recorder.seen.first?.first)
        #expect(recorder.seen.count == 1)
        #expect(reported.stage == .refund && reported.outcome == .ok && reported.correlationId == "tg_flow")
        #expect(reported.resource == "datasets")
        #expect(reported.details["refund"] == refund.id)
        #expect(reported.details["kind"] == "payout")
        #expect(reported.details["amount"] == "10000")
        #expect(reported.details["asset"] == "0xasset")
        #expect(reported.details["automatic"] == "true")
        #expect(try await store.refunds(state: nil, correlationId: "tg_flow", limit: 10) == [refund])
    }

    @Test func readsAndHousekeepingPassThroughUnobserved() async throws {
        let base = InMemoryStore()
        let recorder = Recorder()
        let store = ObservedStore(base, observer: recorder)
        _ = try await store.reserve(Self.reservation(), events: [])
        #expect(try await store.storedResponse(Self.key, now: 0) == nil)
        #expect(try await store.holdSpend([], correlationId: "tg_flow") == nil)
        #expect(try await store.purgeReservations(expiredBefore: 3_000_000_000) == 1)
        // An empty batch is not reported either.
        #expect(recorder.seen.isEmpty)
    }
}
