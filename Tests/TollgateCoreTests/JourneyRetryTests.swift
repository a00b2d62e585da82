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

    // MARK: other outcomes

    @Test func aSettlementResolvedFailedIsRefusedWithAFreshOffer() {
        var journey = Self.resolving()
        guard case .respond(.refuse(_, .settlementFailed, let detail, nil, let events, false)) =
            journey.next(.resolved(Self.open(.failed, state: .failed), receipt: [:]), at: Self.now) else {
            Issue.record("nothing moved: a fresh 402")
            return
        }
        #expect(detail == "the settlement of this authorization was refused; nothing was charged")
        #expect(events.map(\.stage) == [.proof, .verify])
    }

    @Test func aSettlementStillOpenIsA503PaymentInProgress() {
        var journey = Self.resolving()
        guard case .respond(.inProgress(let events, let detail)) = journey.next(.resolved(Self.open(.open, state: .unknown), receipt: [:]), at: Self.now) else {
            Issue.record("still in doubt: wait, never a 402")
            return
        }
        #expect(detail.hasPrefix("this payment's settlement could not be confirmed yet; it is held for reconciliation"))
        #expect(events.map(\.stage) == [.proof, .verify])

        // A claim in doubt with no intent (recorded before intents were): a wait as well.
        for state in [Reservation.State.settling, .pending, .unknown] {
            var noIntent = Self.resuming(state)
            guard case .respond(.inProgress(_, let detail)) = noIntent.next(.settlementLookedUp(.success(nil), receipt: [:]), at: Self.now) else {
                Issue.record("a claim \(state) with no intent waits")
                continue
            }
            #expect(detail == "this payment's settlement is not confirmed yet; retry later, do not pay again")
        }
    }

    @Test func aRefundedOrReviewedSettlementIsA502NotDeliveredNamingItsRefund() {
        var refunded = Self.resuming(.settled)
        guard case .lookUpRefund(correlationId: "tg_offer") =
            refunded.next(.settlementLookedUp(.success(Self.open(.refunded, state: .settled)), receipt: Self.receipt), at: Self.now) else {
            Issue.record("the refund of a settled, undeliverable payment is looked up")
            return
        }
        guard case .respond(.commit(let events, then: .deny(let denial))) = refunded.next(.refundLookedUp(.success(Self.refund)), at: Self.now) else {
            Issue.record("a 502 with the refund")
            return
        }
        #expect(events.map(\.stage) == [.proof, .verify])
        #expect(denial.status == .badGateway)
        #expect(denial.reason == Reason("not_delivered"))
        #expect(denial.durable)
        #expect(denial.fields[.tollgateRefund] == "rf_7")
        #expect(denial.extra["refund_id"] == "rf_7")
        #expect(denial.detail == "the payment settled (0xtx) but its answer was lost and this request must not run twice; "
            + "refund rf_7 (10000 usdc) is recorded")

        var review = Self.resolving()
        _ = review.next(.resolved(Self.open(.review, state: .settled, transaction: nil), receipt: [:]), at: Self.now)
        let held = review.next(.refundLookedUp(.success(nil)), at: Self.now)
        guard case .respond(.commit(_, then: .deny(let reviewed))) = held else {
            Issue.record("a 502 saying it waits for review")
            return
        }
        #expect(reviewed.fields[.tollgateRefund] == nil)
        #expect(reviewed.extra["refund_id"] == "")
        #expect(reviewed.detail.hasPrefix("the payment settled (transaction unknown)"))
        #expect(reviewed.detail.hasSuffix("it is held for review by the operator; support can trace this flow"))
    }

    @Test func workThatMustNotRunTwiceIsRefundedThenAnsweredUndeliverable() {
        var journey = Self.settledUndelivered(redeliverable: false)
        guard case .refundOrReview(let open, actor: "retry") = journey.next(.storedLoaded(.success(nil)), at: Self.now) else {
            Issue.record("never forwarded again: refunded or listed for review")
            return
        }
        #expect(open.outcome == .settled)
        guard case .lookUpRefund(correlationId: "tg_offer") = journey.next(.refundedOrReviewed(changedMeanwhile: false), at: Self.now) else {
            Issue.record("then the refund is looked up")
            return
        }
        #expect(journey.next(.refundLookedUp(.success(Self.refund)), at: Self.now).committedDenial?.fields[.tollgateRefund] == "rf_7")

        // Delivered meanwhile by another instance (no refund, no review written): the settlement is read again, and its
        // owner gets the answer instead of "held for review".
        var elsewhere = Self.settledUndelivered(redeliverable: false)
        _ = elsewhere.next(.storedLoaded(.success(nil)), at: Self.now)
        guard case .lookUpSettlement(Self.key, exclusive: false) = elsewhere.next(.refundedOrReviewed(changedMeanwhile: true), at: Self.now) else {
            Issue.record("changed meanwhile: the settlement is read again")
            return
        }
        let delivered = Self.open(.settled, state: .settled, delivered: true, redeliverable: false)
        guard case .loadStoredResponse(Self.key) = elsewhere.next(.settlementLookedUp(.success(delivered), receipt: Self.receipt), at: Self.now) else {
            Issue.record("delivered: its kept answer is read for its owner")
            return
        }
    }

    // MARK: late retries

    /// A journey whose offer expired before it was presented: the next input is the stored answer looked up.
    static func late() -> Journey {
        var journey = JourneyTests.decoding()
        _ = journey.next(.proofDecoded(.proof(JourneyTests.offerAndProof(expiresAt: now / 1000 - 1).1)), at: now)
        let action = journey.next(.admitted(nil), at: now)
        guard case .loadStoredResponse(key) = action else { fatalError("expected the stored answer to be read, got \(action)") }
        return journey
    }

    @Test func aLateRetryWithTheStoredAnswerOfItsOwnerGetsItReplayed() {
        var journey = Self.late()
        guard case .lookUpSettlement(Self.key, exclusive: false) = journey.next(.storedLoaded(.success(Self.prepared)), at: Self.now) else {
            Issue.record("the owner's stored answer is served as its settlement allows: the settlement is read first")
            return
        }
        // Its settlement purged (an hour after delivery): the kept answer is replayed.
        guard case .respond(.replayStored(let stored, _, let events)) = journey.next(.settlementLookedUp(.success(nil), receipt: [:]), at: Self.now) else {
            Issue.record("the owner's stored answer is replayed")
            return
        }
        #expect(stored.body == Self.prepared.body)
        #expect(events.isEmpty)

        // A stored answer of another client is not this retry's: its settlement is looked for next.
        var other = Self.late()
        var bobs = Self.prepared
        bobs.clientId = "bob"
        guard case .lookUpSettlement(Self.key, exclusive: false) = other.next(.storedLoaded(.success(bobs)), at: Self.now) else {
            Issue.record("not the owner: the settlement is read")
            return
        }
    }

    /// The owner's answer kept for a settlement resolved after the client gave up (settled, never delivered): a late
    /// retry records the delivery before serving it, as an in-time retry does; without that, the reconciler would refund
    /// an answer that was served. Refunded meanwhile, it gets the refund instead.
    @Test func aLateRetryOfASettlementResolvedButNeverDeliveredRecordsTheDeliveryBeforeServingIt() {
        for (outcome, delivered) in [(OpenSettlement.Outcome.settled, false), (.settled, true), (.refunded, false)] {
            var journey = Self.late()
            _ = journey.next(.storedLoaded(.success(Self.prepared)), at: Self.now)
            let own = Self.open(outcome, state: .settled, delivered: delivered)
            guard case .verifyLocally = journey.next(.settlementLookedUp(.success(own), receipt: Self.receipt), at: Self.now) else {
                Issue.record("its own settlement: the proof is checked as of the intent")
                return
            }
            guard case .lookUpSettlement(Self.key, exclusive: true) = journey.next(.verifiedLocally(.valid(payer: JourneyTests.payer)), at: Self.now) else {
                Issue.record("then the settlement is read with the authorization in flight")
                return
            }
            let next = journey.next(.settlementLookedUp(.success(own), receipt: Self.receipt), at: Self.now)
            switch (outcome, delivered) {
            case (.settled, false):
                guard case .loadStoredResponse(Self.key) = next,
                      case .markDelivered(Self.key, _, _) = journey.next(.storedLoaded(.success(Self.prepared)), at: Self.now) else {
                    Issue.record("settled, undelivered: the delivery is recorded first (\(next))")
                    return
                }
                #expect(journey.next(.deliveryMarked(.success(true)), at: Self.now).isReplay)
            case (.settled, _):
                guard case .loadStoredResponse(Self.key) = next else { Issue.record("delivered: the kept answer is read (\(next))"); return }
                #expect(journey.next(.storedLoaded(.success(Self.prepared)), at: Self.now).isReplay)
            default:
                guard case .lookUpRefund(correlationId: "tg_offer") = next else { Issue.record("refunded: its refund (\(next))"); return }
            }
        }
    }

    /// With no settlement of its own on record (another flow's, or none: resolved ones are purged), the claim on the
    /// proof decides: never claimed, released or failed, the original refusal; spent, "used" (it paid, never "expired",
    /// which reads as nothing taken); in doubt, wait.
    @Test(arguments: [Reservation.State?.none, .reserved, .failed, .settled, .unknown])
    func aLateRetryWithNoSettlementOfItsOwnIsAnsweredByTheClaimOnItsProof(claim: Reservation.State?) {
        let other = Self.open(.open, state: .unknown, correlationId: "tg_other")
        for found in [other, nil] {
            var journey = Self.late()
            _ = journey.next(.storedLoaded(.success(nil)), at: Self.now)
            guard case .lookUpClaim(Self.key) = journey.next(.settlementLookedUp(.success(found), receipt: [:]), at: Self.now) else {
                Issue.record("the claim on the proof is read")
                return
            }
            let answer = journey.next(.claimLookedUp(.success(claim)), at: Self.now)
            switch claim {
            case .settled?:
                #expect(answer.refusal != nil && answer.refusal != .offerExpired)
            case .unknown?:
                guard case .respond(.inProgress) = answer else { Issue.record("in doubt: wait, do not pay again"); return }
            default:
                #expect(answer.refusal == .offerExpired)
            }
        }
    }

    @Test func aLateRetryOfItsOwnClaimIsCheckedAsOfTheIntentThenResumedInFlight() {
        var journey = Self.late()
        _ = journey.next(.storedLoaded(.success(nil)), at: Self.now)
        guard case .verifyLocally(_, _, atSeconds: let at?) =
            journey.next(.settlementLookedUp(.success(Self.open(.open, state: .unknown)), receipt: [:]), at: Self.now) else {
            Issue.record("the proof is checked as of the time its claim was made")
            return
        }
        #expect(at == (Self.now - 90_000) / 1000)
        guard case .lookUpSettlement(Self.key, exclusive: true) = journey.next(.verifiedLocally(.valid(payer: JourneyTests.payer)), at: Self.now) else {
            Issue.record("then the authorization is taken in flight and its settlement read again")
            return
        }
        guard case .resolve(_, actor: "retry") = journey.next(.settlementLookedUp(.success(Self.open(.open, state: .unknown)), receipt: [:]), at: Self.now) else {
            Issue.record("and resolved as any retry")
            return
        }
        guard case .respond(.refuse(_, .settlementFailed, _, _, let events, _)) =
            journey.next(.resolved(Self.open(.failed, state: .failed), receipt: [:]), at: Self.now) else {
            Issue.record("refused as any retry")
            return
        }
        #expect(events.isEmpty)

        var busy = Self.late()
        _ = busy.next(.storedLoaded(.success(nil)), at: Self.now)
        _ = busy.next(.settlementLookedUp(.success(Self.open(.open, state: .unknown)), receipt: [:]), at: Self.now)
        _ = busy.next(.verifiedLocally(.valid(payer: JourneyTests.payer)), at: Self.now)
        guard case .respond(.inProgress(_, let detail)) = busy.next(.reservationBusy, at: Self.now) else {
            Issue.record("another request of this process holds it: wait")
            return
        }
        #expect(detail == "this payment is being processed by an earlier request; retry shortly, do not pay again")

        var forged = Self.late()
        _ = forged.next(.storedLoaded(.success(nil)), at: Self.now)
        _ = forged.next(.settlementLookedUp(.success(Self.open(.open, state: .unknown)), receipt: [:]), at: Self.now)
        #expect(forged.next(.verifiedLocally(.invalid(.signatureInvalid, detail: "no")), at: Self.now).refusal == .offerExpired)

        var settledThenDelivered = Self.late()
        _ = settledThenDelivered.next(.storedLoaded(.success(nil)), at: Self.now)
        _ = settledThenDelivered.next(.settlementLookedUp(.success(Self.open(.settled, state: .settled, delivered: true)), receipt: [:]), at: Self.now)
        _ = settledThenDelivered.next(.verifiedLocally(.valid(payer: JourneyTests.payer)), at: Self.now)
        // Spent and delivered: its kept answer is looked for (its owner's), else the authorization is used, not expired.
        guard case .loadStoredResponse = settledThenDelivered.next(.settlementLookedUp(.success(Self.open(.settled, state: .settled, delivered: true)),
                                                                                       receipt: [:]), at: Self.now) else {
            Issue.record("a spent, delivered claim looks for its kept answer")
            return
        }
        let spent = settledThenDelivered.next(.storedLoaded(.success(nil)), at: Self.now)
        #expect(spent.refusal != nil && spent.refusal != .offerExpired)
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
