import HTTPTypes
import Testing
@testable import TollgateCore

/// The retry of a claim whose settlement is in doubt or whose answer was lost, driven by hand through every branch
/// with no server, store, rail or upstream: each test feeds what the store, the rail and the upstream said and
/// checks the next action.
@Suite struct JourneyRetryTests {
    static let now = JourneyTests.now
    static let key = JourneyTests.offerAndProof().1.key
    static let receipt = JourneyTests.receipt

    /// The answer prepared with the intent (settlement after delivery), as the ledger keeps it for the retry.
    static let prepared = StoredResponse(correlationId: "tg_offer", clientId: "alice", request: "GET /datasets/prices", status: 200,
                                         headers: [["content-type", "application/json"]], body: Array(#"{"p":1}"#.utf8),
                                         expiresAt: now / 1000 + 3600, paymentIdentifier: nil)

    static func open(_ outcome: OpenSettlement.Outcome, state: Reservation.State, delivered: Bool = false, transaction: String? = "0xtx",
                     redeliverable: Bool = true, correlationId: String = "tg_offer") -> OpenSettlement {
        let payment = PaymentRecord(correlationId: correlationId, rail: "test", network: GatewayHarness.network, asset: GatewayHarness.asset.address,
                                    payer: JourneyTests.payer, payee: GatewayHarness.payTo, amount: "10000", nonce: "0x01", transaction: "",
                                    clientId: "alice", resource: "datasets", unit: "request", quantity: 1, settledAtMillis: now)
        let intent = SettlementIntent(key: key, correlationId: correlationId, attempt: JourneyTests.attempt, payment: payment, metering: nil,
                                      response: prepared, redeliverable: redeliverable, validBefore: now / 1000 + 300, createdAtMillis: now - 90_000)
        return OpenSettlement(intent: intent, state: state, outcome: outcome, delivered: delivered, transaction: transaction)
    }

    static let refund = Refund(id: "rf_7", correlationId: "tg_offer", kind: .payout, state: .pendingPayout, clientId: "alice", payer: JourneyTests.payer,
                               resource: "datasets", amount: "10000", asset: "usdc", network: GatewayHarness.network, unit: "request",
                               reason: "not delivered", actor: "tollgate", automatic: true, createdAtMillis: now)

    /// The same purchase presented again while its claim is `state`: the claim is held already, its settlement is read.
    static func resuming(_ state: Reservation.State = .unknown, settings: Gateway.Settings = JourneyTests.settings()) -> Journey {
        var journey = JourneyTests.reserving(settings: settings)
        let action = journey.next(.reserved(.success(.alreadyClaimed(correlationId: "tg_offer", state: state))), at: now)
        guard case .lookUpSettlement(key, exclusive: false) = action else { fatalError("expected the settlement to be read, got \(action)") }
        return journey
    }

    /// A claim in doubt, asked again: the next input is what `Gateway.resolve` found.
    static func resolving() -> Journey {
        var journey = resuming()
        let action = journey.next(.settlementLookedUp(.success(open(.open, state: .unknown)), receipt: [:]), at: now)
        guard case .resolve(let asked, actor: "retry") = action, asked.intent.key == key else { fatalError("expected resolve, got \(action)") }
        return journey
    }

    /// Resolved settled and not delivered: the prepared answer is looked for.
    static func settledUndelivered(redeliverable: Bool = true, from journey: Journey = resolving()) -> Journey {
        var journey = journey
        let action = journey.next(.resolved(open(.settled, state: .settled, redeliverable: redeliverable), receipt: receipt), at: now)
        guard case .loadStoredResponse(key) = action else { fatalError("expected the prepared answer to be read, got \(action)") }
        return journey
    }

    // MARK: settled in doubt, then resolved

    @Test func aSettlementResolvedSettledServesThePreparedAnswerOnce() {
        var journey = Self.settledUndelivered()
        guard case .markDelivered(Self.key, _, let events) = journey.next(.storedLoaded(.success(Self.prepared)), at: Self.now) else {
            Issue.record("the prepared answer's delivery is recorded before it is served")
            return
        }
        // The events held since the claim, then why it is served and what was served.
        #expect(events.map(\.stage) == [.proof, .verify, .reserve, .respond])
        #expect(events.map(\.reason).suffix(2) == ["settlement_resolved", "delivered"])
        #expect(events[2].details["transaction"] == "0xtx")
        #expect(events[3].details["source"] == "prepared_answer")
        #expect(events[3].details["bytes"] == "7")
        guard case .respond(.replayResolved(let answer, let paid)) = journey.next(.deliveryMarked(.success(true)), at: Self.now) else {
            Issue.record("then served")
            return
        }
        #expect(answer.body == Self.prepared.body)
        #expect(answer.headerFields[.tollgateCorrelationId] == "tg_offer")
        #expect(paid.flow.correlationId == "tg_offer")

        var unrecorded = Self.settledUndelivered()
        _ = unrecorded.next(.storedLoaded(.success(Self.prepared)), at: Self.now)
        let denial = unrecorded.next(.deliveryMarked(.failure(.init("disk full"))), at: Self.now).denial
        #expect(denial?.status == .serviceUnavailable)
        #expect(denial?.reason == .storeUnavailable)
        #expect(denial?.detail == "the gateway cannot record this delivery right now; retry later")
    }

    /// A prepared answer the retry's client may not see whole (private fields) and that cannot be filtered: its delivery
    /// is never recorded, so the payment is refunded (or listed for review) and the retry is told of it, never served
    /// it, nor its delivery recorded first.
    @Test func aPreparedAnswerThatCannotBeFilteredForItsClientIsRefundedNotDelivered() {
        var route = GatewayHarness.datasets
        route.privateFields = Route.PrivateFields(scope: "read:private", fields: ["secret"])
        var journey = Self.resuming(settings: JourneyTests.settings(routes: RouteTable([route])))
        guard case .loadStoredResponse(Self.key) = journey.next(.settlementLookedUp(.success(Self.open(.settled, state: .settled)),
                                                                                   receipt: Self.receipt), at: Self.now) else {
            Issue.record("settled, undelivered: the prepared answer is read")
            return
        }
        var unfilterable = Self.prepared
        unfilterable.body = Array("<html>secret: s3</html>".utf8)
        guard case .refundOrReview(let open, actor: "retry") = journey.next(.storedLoaded(.success(unfilterable)), at: Self.now) else {
            Issue.record("an answer that cannot be filtered is refunded, its delivery never recorded")
            return
        }
        #expect(open.intent.correlationId == "tg_offer")
        guard case .lookUpRefund = journey.next(.refundedOrReviewed(changedMeanwhile: false), at: Self.now) else {
            Issue.record("then the refund is read")
            return
        }
        guard case .respond(.commit(let events, then: .deny(let denial))) = journey.next(.refundLookedUp(.success(Self.refund)), at: Self.now) else {
            Issue.record("a 502 naming the refund")
            return
        }
        #expect(denial.status == .badGateway)
        #expect(denial.fields[.tollgateRefund] == "rf_7")
        #expect(events.contains { $0.reason == "unfilterable_response" })
        #expect(!events.contains { $0.reason == "delivered" })
        // A JSON answer is served with its private fields removed.
        var filtered = Self.resuming(settings: JourneyTests.settings(routes: RouteTable([route])))
        _ = filtered.next(.settlementLookedUp(.success(Self.open(.settled, state: .settled)), receipt: Self.receipt), at: Self.now)
        var secret = Self.prepared
        secret.body = Array(#"{"p":1,"secret":"s3"}"#.utf8)
        _ = filtered.next(.storedLoaded(.success(secret)), at: Self.now)
        guard case .respond(.replayResolved(let answer, _)) = filtered.next(.deliveryMarked(.success(true)), at: Self.now) else {
            Issue.record("a filtered answer is served")
            return
        }
        #expect(!String(decoding: answer.body, as: UTF8.self).contains("secret"))
    }

    /// The reconciler (or an operator, or another instance) refunded the payment between the read and the delivery:
    /// the store refuses to mark it delivered, and the answer is not served; the settlement read again names the refund.
    @Test func aDeliveryRefusedBecauseThePaymentWasRefundedMeanwhileServesTheRefundNotTheAnswer() {
        var journey = Self.settledUndelivered()
        _ = journey.next(.storedLoaded(.success(Self.prepared)), at: Self.now)
        guard case .lookUpSettlement(Self.key, exclusive: false) = journey.next(.deliveryMarked(.success(false)), at: Self.now) else {
            Issue.record("a refused delivery reads the settlement again")
            return
        }
        guard case .lookUpRefund(correlationId: "tg_offer") =
                journey.next(.settlementLookedUp(.success(Self.open(.refunded, state: .settled)), receipt: [:]), at: Self.now) else {
            Issue.record("refunded meanwhile: the refund is looked up")
            return
        }
        let denial = journey.next(.refundLookedUp(.success(Self.refund)), at: Self.now).committedDenial
        #expect(denial?.status == .badGateway)
        #expect(denial?.fields[.tollgateRefund] == "rf_7")

        // Refused twice (the settlement read again still says settled, undelivered): never a loop, a 503.
        var twice = Self.settledUndelivered()
        _ = twice.next(.storedLoaded(.success(Self.prepared)), at: Self.now)
        _ = twice.next(.deliveryMarked(.success(false)), at: Self.now)
        _ = twice.next(.settlementLookedUp(.success(Self.open(.settled, state: .settled)), receipt: Self.receipt), at: Self.now)
        guard case .markDelivered = twice.next(.storedLoaded(.success(Self.prepared)), at: Self.now) else {
            Issue.record("still settled and undelivered: its delivery is asked once more")
            return
        }
        guard case .respond(.unavailable(.storeUnavailable, _, _)) = twice.next(.deliveryMarked(.success(false)), at: Self.now) else {
            Issue.record("refused twice: a 503, the answer not served")
            return
        }
    }

    @Test func aSettlementResolvedSettledWithNoAnswerKeptIsForwardedAgainUnderTheSameCorrelationId() {
        var journey = Self.settledUndelivered()
        guard case .forward(let contract) = journey.next(.storedLoaded(.success(nil)), at: Self.now) else {
            Issue.record("a redeliverable request is forwarded again")
            return
        }
        #expect(contract.correlationId == "tg_offer")
        #expect(contract.client == "alice")
        let answer = UpstreamResponse(status: .ok, headerFields: [.contentType: "application/json"], body: Array("rows".utf8))
        guard case .recordDelivery(Self.key, let stored, let metering, _, let events) =
            journey.next(.upstreamAnswered(.success(answer), elapsedMillis: 4), at: Self.now) else {
            Issue.record("the redelivery is recorded as a delivery of the settled payment")
            return
        }
        #expect(stored?.body == answer.body)
        #expect(stored?.correlationId == "tg_offer")
        #expect(metering.usage.quantity == 1)
        #expect(events.map(\.stage) == [.proof, .verify, .reserve, .forward, .meter, .respond])
        #expect(events[2].reason == "redelivery")
        guard case .respond(.delivered(let response)) = journey.next(.recorded(true), at: Self.now) else {
            Issue.record("then served with the settlement's receipt")
            return
        }
        #expect(response.headerFields[HTTPField.Name("Receipt")!] == "r")
        #expect(response.settledDelivery?.correlationId == "tg_offer")

        var unrecorded = Self.settledUndelivered()
        _ = unrecorded.next(.storedLoaded(.success(nil)), at: Self.now)
        _ = unrecorded.next(.upstreamAnswered(.success(answer), elapsedMillis: 4), at: Self.now)
        let denial = unrecorded.next(.recorded(false), at: Self.now).denial
        #expect(denial?.status == .serviceUnavailable)
        #expect(denial?.detail == "the payment is settled but the delivery could not be recorded; retry later")
    }

    @Test func aRedeliveryGoesThroughTheDeliveryFilter() {
        var route = GatewayHarness.datasets
        route.privateFields = Route.PrivateFields(scope: "read:private", fields: ["secret"])
        var journey = Self.settledUndelivered(from: {
            var journey = Self.resuming(settings: JourneyTests.settings(routes: RouteTable([route])))
            _ = journey.next(.settlementLookedUp(.success(Self.open(.open, state: .unknown)), receipt: [:]), at: Self.now)
            return journey
        }())
        _ = journey.next(.storedLoaded(.success(nil)), at: Self.now)
        let answer = UpstreamResponse(status: .ok, headerFields: [:], body: Array(#"{"secret":"s3","v":1}"#.utf8))
        guard case .recordDelivery(_, let stored, _, _, let events) = journey.next(.upstreamAnswered(.success(answer), elapsedMillis: 1), at: Self.now) else {
            Issue.record("a filtered redelivery is recorded")
            return
        }
        #expect(stored.map { String(decoding: $0.body, as: UTF8.self).contains("secret") } == false)
        #expect(events.contains { $0.reason == "private_fields_removed" })
    }

    @Test func aRedeliveryTheUpstreamDoesNotAnswerStaysSettledForTheNextRetry() {
        var silent = Self.settledUndelivered()
        _ = silent.next(.storedLoaded(.success(nil)), at: Self.now)
        guard case .respond(.commit(let events, then: .deny(let denial))) =
            silent.next(.upstreamAnswered(.failure(.init("down")), elapsedMillis: 1), at: Self.now) else {
            Issue.record("a redelivery with no answer is a 502, its events committed")
            return
        }
        #expect(denial.status == .badGateway)
        #expect(denial.durable)
        #expect(denial.detail == "the upstream did not answer; the payment is settled: send the same proof again later, do not pay again")
        #expect(events.last?.details == ["settled": "true", "redelivery": "failed"])

        var refused = Self.settledUndelivered()
        _ = refused.next(.storedLoaded(.success(nil)), at: Self.now)
        let failing = UpstreamResponse(status: .internalServerError, headerFields: [:], body: [])
        guard case .respond(.commit(let failEvents, then: .passedOn(let passed, _, _, _))) =
            refused.next(.upstreamAnswered(.success(failing), elapsedMillis: 1), at: Self.now) else {
            Issue.record("an upstream's refusal of the redelivery is passed on")
            return
        }
        #expect(passed.status == .internalServerError)
        #expect(failEvents.last?.reason == "upstream_refused")
    }

    @Test func anAnswerSettledAndDeliveredAlreadyIsAnsweredAsAReplay() {
        var journey = Self.resuming(.settled)
        guard case .loadStoredResponse(Self.key) =
            journey.next(.settlementLookedUp(.success(Self.open(.settled, state: .settled, delivered: true)), receipt: Self.receipt), at: Self.now) else {
            Issue.record("a spent claim looks for its stored answer, as any replay")
            return
        }
        guard case .respond(.replayStored) = journey.next(.storedLoaded(.success(Self.prepared)), at: Self.now) else {
            Issue.record("its owner gets it")
            return
        }
    }

    // MARK: a store that cannot be read

    @Test func aStoreFailingOnAnyReadIsA503NeverAForwardNorA402() {
        let down = Journey.Failure("disk I/O error")
        var answers: [(String, Journey.Action)] = []

        var settlement = Self.resuming()
        answers.append(("the claim's settlement", settlement.next(.settlementLookedUp(.failure(down), receipt: [:]), at: Self.now)))

        var prepared = Self.settledUndelivered()
        answers.append(("the prepared answer", prepared.next(.storedLoaded(.failure(down)), at: Self.now)))

        var refund = Self.resuming(.settled)
        _ = refund.next(.settlementLookedUp(.success(Self.open(.refunded, state: .settled)), receipt: [:]), at: Self.now)
        answers.append(("the refund", refund.next(.refundLookedUp(.failure(down)), at: Self.now)))

        var lateAnswer = Self.late()
        answers.append(("a late retry's stored answer", lateAnswer.next(.storedLoaded(.failure(down)), at: Self.now)))

        var lateSettlement = Self.late()
        _ = lateSettlement.next(.storedLoaded(.success(nil)), at: Self.now)
        answers.append(("a late retry's settlement", lateSettlement.next(.settlementLookedUp(.failure(down), receipt: [:]), at: Self.now)))

        var lateResumed = Self.late()
        _ = lateResumed.next(.storedLoaded(.success(nil)), at: Self.now)
        _ = lateResumed.next(.settlementLookedUp(.success(Self.open(.open, state: .unknown)), receipt: [:]), at: Self.now)
        _ = lateResumed.next(.verifiedLocally(.valid(payer: JourneyTests.payer)), at: Self.now)
        answers.append(("a late retry's settlement in flight", lateResumed.next(.settlementLookedUp(.failure(down), receipt: [:]), at: Self.now)))

        for (read, action) in answers {
            guard case .respond(.unavailable(.storeUnavailable, let detail, _)) = action else {
                Issue.record("\(read) unreadable: expected a 503, got \(action)")
                continue
            }
            #expect(detail == "the gateway cannot read this payment's state right now; retry later")
        }
    }

    @Test func aRetryStepOutOfTurnIsA503NotACrash() {
        var journey = Self.resolving()
        #expect(journey.next(.refundedOrReviewed(changedMeanwhile: false), at: Self.now).denial?.status == .serviceUnavailable)
    }
}

extension Journey.Action {
    /// The refusal of an answer whose events are committed first.
    var committedDenial: Journey.Denial? {
        if case .respond(.commit(_, then: .deny(let denial))) = self { return denial }
        return nil
    }

    /// A kept answer served again (recorded delivered, or delivered before).
    var isReplay: Bool {
        switch self {
        case .respond(.replayStored), .respond(.replayResolved): true
        default: false
        }
    }
}
