import HTTPTypes
import Testing
@testable import TollgateCore

/// Late retries: an offer expired before the proof was presented, answered from its owner's stored answer or claim.
extension JourneyRetryTests {
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

    /// A claim still `reserved` that a live request works on (this process holds it in flight, or another instance's
    /// lease is live: the gateway answers `reservationBusy`) is the first request still running its upstream: its late
    /// copy waits, never a fresh 402 that a stock client would pay again.
    @Test func aLateCopyOfAProofStillWorkedOnWaits() {
        var journey = Self.late()
        _ = journey.next(.storedLoaded(.success(nil)), at: Self.now)
        _ = journey.next(.settlementLookedUp(.success(nil), receipt: [:]), at: Self.now)
        guard case .respond(.inProgress) = journey.next(.reservationBusy, at: Self.now) else {
            Issue.record("a claim worked on: wait, do not pay again")
            return
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
}
