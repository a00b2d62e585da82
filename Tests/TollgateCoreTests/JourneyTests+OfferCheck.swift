import Foundation
import HTTPTypes
import Testing
@testable import TollgateCore

/// The offer check: a proof echoes a signed offer for its client, request and terms; local verification and the payer's standing.
extension JourneyTests {
    // MARK: offer check

    @Test func aProofMustEchoAnOfferThisGatewaySigned() {
        var missing = Self.decoding()
        var (_, proof) = Self.offerAndProof()
        proof.accepted.offerToken = nil
        _ = missing.next(.proofDecoded(.proof(proof)), at: Self.now)
        #expect(missing.next(.admitted(nil), at: Self.now).refusal == .offerMissing)

        var forged = Self.decoding()
        proof.accepted.offerToken = "forged.token"
        _ = forged.next(.proofDecoded(.proof(proof)), at: Self.now)
        #expect(forged.next(.admitted(nil), at: Self.now).refusal == .offerInvalid)
    }

    @Test func anOfferBindsItsClientRequestAndTerms() {
        var otherClient = Self.decoding()
        _ = otherClient.next(.proofDecoded(.proof(Self.offerAndProof(client: "bob").1)), at: Self.now)
        #expect(otherClient.next(.admitted(nil), at: Self.now).refusal == .offerClientMismatch)

        var otherRequest = Self.decoding()
        _ = otherRequest.next(.proofDecoded(.proof(Self.offerAndProof(target: "/datasets/volumes").1)), at: Self.now)
        #expect(otherRequest.next(.admitted(nil), at: Self.now).refusal == .offerResourceMismatch)

        // Accepted terms that are not the offer's (the client's own edit): refused at once.
        var edited = Self.decoding()
        var (_, tampered) = Self.offerAndProof()
        tampered.accepted.amount = "1"
        _ = edited.next(.proofDecoded(.proof(tampered)), at: Self.now)
        #expect(edited.next(.admitted(nil), at: Self.now).refusal == .offerTermsMismatch)
    }

    /// An offer whose terms the operator no longer offers (the price changed since the 402) may be the retry of a purchase
    /// in doubt or in flight: its claim is looked up first, as for an expired offer, and only nothing to resume is refused.
    @Test func anOfferOnTermsNoLongerOfferedIsLookedUpAsALateRetryBeforeItIsRefused() {
        var cheaper = Self.decoding()
        _ = cheaper.next(.proofDecoded(.proof(Self.offerAndProof(amount: TokenAmount(atomic: "1")!).1)), at: Self.now)
        guard case .loadStoredResponse = cheaper.next(.admitted(nil), at: Self.now) else {
            Issue.record("terms changed since the offer: its own purchase is looked up first")
            return
        }
        _ = cheaper.next(.storedLoaded(.success(nil)), at: Self.now)
        _ = cheaper.next(.settlementLookedUp(.success(nil), receipt: [:]), at: Self.now)
        #expect(cheaper.next(.claimLookedUp(.success(nil)), at: Self.now).refusal == .offerTermsMismatch)

        var inDoubt = Self.decoding()
        _ = inDoubt.next(.proofDecoded(.proof(Self.offerAndProof(amount: TokenAmount(atomic: "1")!).1)), at: Self.now)
        _ = inDoubt.next(.admitted(nil), at: Self.now)
        _ = inDoubt.next(.storedLoaded(.success(nil)), at: Self.now)
        _ = inDoubt.next(.settlementLookedUp(.success(nil), receipt: [:]), at: Self.now)
        guard case .respond(.inProgress) = inDoubt.next(.claimLookedUp(.success(.unknown)), at: Self.now) else {
            Issue.record("its claim in doubt: wait, never the new terms")
            return
        }
    }

    @Test func anExpiredOfferIsLookedUpAsALateRetryBeforeItIsRefused() {
        var journey = Self.decoding()
        _ = journey.next(.proofDecoded(.proof(Self.offerAndProof(expiresAt: Self.now / 1000 - 1).1)), at: Self.now)
        guard case .loadStoredResponse = journey.next(.admitted(nil), at: Self.now) else {
            Issue.record("an expired offer may be a retry of its own purchase")
            return
        }
        #expect(journey.flow.correlationId == "tg_offer")
        _ = journey.next(.storedLoaded(.success(nil)), at: Self.now)
        // No settlement of its own, and no claim on the proof: the original refusal.
        _ = journey.next(.settlementLookedUp(.success(nil), receipt: [:]), at: Self.now)
        #expect(journey.next(.claimLookedUp(.success(nil)), at: Self.now).refusal == .offerExpired)

        var answered = Self.decoding()
        _ = answered.next(.proofDecoded(.proof(Self.offerAndProof(expiresAt: Self.now / 1000 - 1).1)), at: Self.now)
        _ = answered.next(.admitted(nil), at: Self.now)
        let stored = StoredResponse(correlationId: "tg_offer", clientId: "alice", request: "GET /datasets/prices", status: 200, headers: [],
                                    body: Array("paid".utf8), expiresAt: Self.now / 1000 + 60, paymentIdentifier: nil)
        _ = answered.next(.storedLoaded(.success(stored)), at: Self.now)
        guard case .respond(.replayStored(let replayed, _, _)) = answered.next(.settlementLookedUp(.success(nil), receipt: [:]), at: Self.now) else {
            Issue.record("the answer of the earlier claim is given")
            return
        }
        #expect(replayed.status == 200)
    }

    @Test func aLocalVerificationFailureIsRefusedAndAnExpiredAuthorizationMayBeALateRetry() {
        var journey = Self.decoding()
        _ = journey.next(.proofDecoded(.proof(Self.offerAndProof().1)), at: Self.now)
        #expect(journey.next(.admitted(nil), at: Self.now).isVerifyLocally)
        #expect(journey.next(.verifiedLocally(.invalid(.signatureInvalid, detail: "bad")), at: Self.now).refusal == .signatureInvalid)

        var late = Self.decoding()
        _ = late.next(.proofDecoded(.proof(Self.offerAndProof().1)), at: Self.now)
        _ = late.next(.admitted(nil), at: Self.now)
        guard case .loadStoredResponse = late.next(.verifiedLocally(.invalid(.validBefore, detail: "expired")), at: Self.now) else {
            Issue.record("an expired authorization is looked up as a late retry")
            return
        }
    }

    @Test func aRefusedPayerALimitedPayerOrAnUnreadyRailStopBeforeTheClaim() {
        func checked(_ standing: Journey.PayerStanding) -> Journey.Action {
            var journey = Self.decoding()
            _ = journey.next(.proofDecoded(.proof(Self.offerAndProof().1)), at: Self.now)
            _ = journey.next(.admitted(nil), at: Self.now)
            _ = journey.next(.verifiedLocally(.valid(payer: Self.payer)), at: Self.now)
            return journey.next(.payerChecked(standing), at: Self.now)
        }
        let refused = checked(.init(refused: true, limited: nil, railReady: true))
        #expect(refused.denial?.status == .forbidden)
        #expect(refused.denial?.before.map(\.stage) == [.proof])
        guard case .respond(.tooMany) = checked(.init(refused: false, limited: Self.refusal(), railReady: true)) else {
            Issue.record("a payer out of its paid budget is a 429")
            return
        }
        guard case .respond(.unavailable(.facilitatorUnavailable, _, let events)) = checked(.init(refused: false, limited: nil, railReady: false)) else {
            Issue.record("no ready facilitator is a 503, never free access")
            return
        }
        #expect(events.map(\.stage) == [.proof, .verify, .facilitatorVerify])
        guard case .reserve(let reservation, let claimEvents, let alongside) = checked(.init(refused: false, limited: nil, railReady: true)) else {
            Issue.record("a good proof is claimed")
            return
        }
        #expect(alongside?.proof.key == reservation.key, "verified while it is claimed, by default")
        #expect(reservation.correlationId == "tg_offer")
        #expect(reservation.clientId == "alice")
        #expect(reservation.fingerprint == "010203")
        #expect(claimEvents.map(\.stage) == [.proof, .verify, .reserve])
    }
}
