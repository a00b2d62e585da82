import Foundation
import HTTPTypes
import Testing
@testable import TollgateCore

/// Claiming a proof: busy, failing, resumed, taken over, in doubt, settled or conflicting claims.
extension JourneyTests {
    // MARK: reserve

    static func reserving(settings: Gateway.Settings = settings()) -> Journey {
        var journey = decoding(settings: settings)
        _ = journey.next(.proofDecoded(.proof(offerAndProof(settings: settings).1)), at: now)
        _ = journey.next(.admitted(nil), at: now)
        _ = journey.next(.verifiedLocally(.valid(payer: payer)), at: now)
        _ = journey.next(.payerChecked(.init(refused: false, limited: nil, railReady: true)), at: now)
        return journey
    }

    @Test func theFacilitatorVerifiesAlongsideTheClaimOnlyWhereTheSettingsSaySo() {
        var apart = Self.settings()
        apart.verifiesWithClaim = false
        var journey = Self.decoding(settings: apart)
        _ = journey.next(.proofDecoded(.proof(Self.offerAndProof(settings: apart).1)), at: Self.now)
        _ = journey.next(.admitted(nil), at: Self.now)
        _ = journey.next(.verifiedLocally(.valid(payer: Self.payer)), at: Self.now)
        guard case .reserve(_, _, let alongside) = journey.next(.payerChecked(.init(refused: false, limited: nil, railReady: true)), at: Self.now) else {
            Issue.record("a good proof is claimed")
            return
        }
        #expect(alongside == nil)
    }

    @Test func aClaimedProofIsVerifiedByTheFacilitator() {
        var journey = Self.reserving()
        guard case .verifyWithFacilitator = journey.next(.reserved(.success(.reserved)), at: Self.now) else {
            Issue.record("a claim is followed by the facilitator's verification")
            return
        }
    }

    @Test func aBusyOrFailingClaimIsA503NeverA402() {
        var busy = Self.reserving()
        guard case .respond(.inProgress) = busy.next(.reservationBusy, at: Self.now) else {
            Issue.record("a proof being handled by another request waits")
            return
        }
        var failing = Self.reserving()
        guard case .respond(.unavailable(.storeUnavailable, _, let events)) = failing.next(.reserved(.failure(.init("disk full"))), at: Self.now) else {
            Issue.record("a store that cannot claim is a 503")
            return
        }
        #expect(events.last?.outcome == .error)
    }

    @Test func aClaimAnotherInstanceIsWorkingOnIsNeverTakenOver() {
        // HTTP: the copy waits (503), exactly as it would behind this instance's own in-flight lock.
        var http = Self.reserving()
        guard case .respond(.inProgress) = http.next(.reserved(.success(.busy(correlationId: "tg_offer"))), at: Self.now) else {
            Issue.record("a copy of a proof another instance is handling waits")
            return
        }
        // MCP: the copy is refused as a replay of the authorization in use, never run.
        var settings = Self.settings()
        settings.repeatedProofs = .refused
        var mcp = Self.reserving(settings: settings)
        guard case .respond(.refuseCopy(_, _, _, let events)) = mcp.next(.reserved(.success(.busy(correlationId: "tg_offer"))), at: Self.now) else {
            Issue.record("an MCP copy of a proof another instance is handling is refused")
            return
        }
        #expect(events.last?.details["first_state"] == "in_flight")
    }

    @Test func theSamePurchaseRetriedResumesItsClaim() {
        var journey = Self.reserving()
        guard case .lookUpSettlement(_, exclusive: false) = journey.next(.reserved(.success(.alreadyClaimed(correlationId: "tg_offer", state: .settling))),
                                                                          at: Self.now) else {
            Issue.record("a retry of this purchase resumes its claim (already held in flight by its reservation)")
            return
        }
        // No intent recorded yet for a claim being settled: its money may be moving.
        guard case .respond(.inProgress) = journey.next(.settlementLookedUp(.success(nil), receipt: [:]), at: Self.now) else {
            Issue.record("a claim being settled is answered with a wait, never a 402")
            return
        }
    }

    @Test func aClaimAStoppedProcessLeftIsTakenOver() {
        var journey = Self.reserving()
        guard case .recordTakeover(let events) = journey.next(.reserved(.success(.alreadyClaimed(correlationId: "tg_offer", state: .reserved))),
                                                              at: Self.now) else {
            Issue.record("a reserved claim of this purchase is taken over")
            return
        }
        #expect(events.last?.reason == "claim_taken_over")
        guard case .verifyWithFacilitator = journey.next(.takeoverRecorded(true), at: Self.now) else {
            Issue.record("the takeover continues with verification")
            return
        }
        var unrecorded = Self.reserving()
        _ = unrecorded.next(.reserved(.success(.alreadyClaimed(correlationId: "tg_offer", state: .reserved))), at: Self.now)
        guard case .respond(.unavailable(.storeUnavailable, _, _)) = unrecorded.next(.takeoverRecorded(false), at: Self.now) else {
            Issue.record("an unrecorded takeover goes no further")
            return
        }
    }

    @Test func anotherFlowsClaimInDoubtIsA503AndASettledOneIsAReplay() {
        var inDoubt = Self.reserving()
        guard case .respond(.inProgress) = inDoubt.next(.reserved(.success(.alreadyClaimed(correlationId: "tg_other", state: .unknown))), at: Self.now) else {
            Issue.record("money that may be moving is never answered with a 402")
            return
        }
        var settled = Self.reserving()
        guard case .loadStoredResponse = settled.next(.reserved(.success(.alreadyClaimed(correlationId: "tg_other", state: .settled))), at: Self.now) else {
            Issue.record("a settled claim looks for its stored answer")
            return
        }
        // The stored answer belongs to another flow: a replay, refused.
        let stored = StoredResponse(correlationId: "tg_other", clientId: "alice", request: "GET /datasets/prices", status: 200, headers: [],
                                    body: [], expiresAt: Self.now / 1000 + 60, paymentIdentifier: nil)
        let refused = settled.next(.storedLoaded(.success(stored)), at: Self.now)
        #expect(refused.refusal == .nonceAlreadyUsed)

        // A claim whose settlement failed took nothing: refused, but never said to be used (a paying client would read
        // "already used" as paid).
        var failed = Self.reserving()
        #expect(failed.next(.reserved(.success(.alreadyClaimed(correlationId: "tg_offer", state: .failed))), at: Self.now).refusal == .settlementFailed)
    }

    @Test func theOwnerOfASettledPurchaseGetsItsStoredAnswer() {
        var journey = Self.reserving()
        _ = journey.next(.reserved(.success(.alreadyClaimed(correlationId: "tg_offer", state: .settled))), at: Self.now)
        // A claim settled the ordinary way has no intent left to resume: it is answered as a replay.
        guard case .loadStoredResponse = journey.next(.settlementLookedUp(.success(nil), receipt: [:]), at: Self.now) else {
            Issue.record("a spent claim looks for its stored answer")
            return
        }
        let stored = StoredResponse(correlationId: "tg_offer", clientId: "alice", request: "GET /datasets/prices", status: 200, headers: [],
                                    body: Array("paid".utf8), expiresAt: Self.now / 1000 + 60, paymentIdentifier: nil)
        guard case .respond(.replayStored(let replayed, _, _)) = journey.next(.storedLoaded(.success(stored)), at: Self.now) else {
            Issue.record("the owner gets the stored answer")
            return
        }
        #expect(replayed.body == Array("paid".utf8))
    }

    @Test func anIdentifierConflictIsA409AndAnOfferPaidTwiceIsRefused() {
        var conflict = Self.reserving()
        let denial = conflict.next(.reserved(.success(.identifierConflict(correlationId: "tg_other"))), at: Self.now).denial
        #expect(denial?.status == .conflict)
        #expect(denial?.durable == true)
        #expect(denial?.before.last?.reason == "payment_identifier_conflict")

        // Paid and settled by another authorization: a 409, never fresh terms (a client that lost that answer would pay again).
        var offerPaid = Self.reserving()
        let paid = offerPaid.next(.reserved(.success(.offerAlreadyUsed(state: .settled))), at: Self.now).denial
        #expect(paid?.status == .conflict && paid?.reason == .offerAlreadyUsed)
        // Another authorization that failed or was released moved nothing: fresh terms.
        for state in [Reservation.State.failed] {
            var offerUsed = Self.reserving()
            #expect(offerUsed.next(.reserved(.success(.offerAlreadyUsed(state: state))), at: Self.now).refusal == .offerAlreadyUsed)
        }
    }
}
