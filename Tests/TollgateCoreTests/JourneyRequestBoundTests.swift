import HTTPTypes
import Testing
@testable import TollgateCore

/// Proofs that echo no offer (x402 v1), driven by hand: bound to the request, the client and today's terms; and when
/// they no longer fit those terms, looked up as the retry of a purchase made earlier before being refused.
@Suite struct JourneyRequestBoundTests {
    static let now = JourneyTests.now
    static let formatRefused = Reason("invalid_x402_version")
    static let wire: RailWire = {
        var wire = ScriptedRail().wire
        wire.echoesOffers = false
        wire.formatRefused = Self.formatRefused
        wire.termsRefusals = [.valueMismatch]
        return wire
    }()

    static func journey(settings: Gateway.Settings = JourneyTests.settings(), target: String = "/datasets/prices") -> Journey {
        let request = GatewayRequest(method: .get, target: target, headerFields: [:], remoteAddress: "192.0.2.7")
        var journey = Journey(request: request, settings: Gateway.SharedSettings(settings), correlationId: "tg_first", arrivalMillis: now,
                              proofDigest: [1, 2, 3], wire: wire)
        _ = journey.next(.arrived, at: now)
        _ = journey.next(.identified(JourneyTests.alice, clientRevoked: false, incident: nil), at: now)
        _ = journey.next(.limitsPeeked(nil), at: now)
        _ = journey.next(.bodyRead(.success([])), at: now)
        _ = journey.next(.refusedProofLookedUp(nil), at: now)
        return journey
    }

    /// What a v1 proof is before binding: no offer, no asset.
    static func proof(amount: String = GatewayHarness.price.atomic, validBefore: Int64 = now / 1000 + 300, rail: String = "test") -> PaymentProof {
        var proof = TestProof(network: GatewayHarness.network, asset: "", amount: amount, payTo: GatewayHarness.payTo, payer: JourneyTests.payer,
                              nonce: "0x01", validBefore: String(validBefore), offerToken: nil).paymentProof(rail: rail)
        proof.key = ProofKey(network: GatewayHarness.network, asset: "", payer: JourneyTests.payer, nonce: "0x01")
        return proof
    }

    static let boundKey = ProofKey(network: GatewayHarness.network, asset: GatewayHarness.asset.address, payer: JourneyTests.payer, nonce: "0x01")
    static let correlationId = Journey.requestBoundCorrelationId(boundKey, client: "alice", request: "GET /datasets/prices", bodyDigest: nil)

    /// The journey carried to its local check, with the offer it was bound to.
    static func verifying(_ proof: PaymentProof = proof()) -> (Journey, PaymentProof, Offer) {
        var journey = journey()
        _ = journey.next(.proofDecoded(.proof(proof)), at: now)
        guard case .verifyLocally(let bound, let offer, atSeconds: nil) = journey.next(.admitted(nil), at: now) else {
            fatalError("expected the local check")
        }
        return (journey, bound, offer)
    }

    @Test func aProofIsBoundToTheRequestTheClientAndTodaysTerms() {
        let (_, bound, offer) = Self.verifying()
        // The asset v1 does not name comes from the route's terms; the claim key is the v2 one for this authorization.
        #expect(bound.key == Self.boundKey)
        #expect(offer.correlationId == Self.correlationId)
        #expect(offer.client == "alice" && offer.request == "GET /datasets/prices" && offer.amount == GatewayHarness.price)
        #expect(offer.expiresAt == Self.now / 1000 + 300)
        // Another client or another request is another purchase.
        #expect(Journey.requestBoundCorrelationId(Self.boundKey, client: "bob", request: "GET /datasets/prices", bodyDigest: nil) != Self.correlationId)
        #expect(Journey.requestBoundCorrelationId(Self.boundKey, client: "alice", request: "GET /datasets/history", bodyDigest: nil) != Self.correlationId)
    }

    /// The price changed after the purchase was claimed and its settlement was left in doubt: the retry is resumed
    /// (checked against the terms it signed, as of its claim), never answered with a 402 that makes the client pay again.
    @Test func aRetryAfterAPriceChangeResumesItsPurchase() {
        let (journey, bound, _) = Self.verifying(Self.proof(amount: "5000"))
        var retry = journey
        guard case .loadStoredResponse(Self.boundKey) = retry.next(.verifiedLocally(.invalid(.valueMismatch, detail: "not today's price")), at: Self.now)
        else {
            Issue.record("a terms refusal looks for the earlier purchase first")
            return
        }
        guard case .lookUpSettlement(Self.boundKey, exclusive: false) = retry.next(.storedLoaded(.success(nil)), at: Self.now) else {
            Issue.record("then its settlement")
            return
        }
        var open = JourneyRetryTests.open(.open, state: .unknown, correlationId: Self.correlationId)
        open.intent.key = Self.boundKey
        guard case .verifyLocally(let checked, let asSigned, atSeconds: let at?) = retry.next(.settlementLookedUp(.success(open), receipt: [:]), at: Self.now) else {
            Issue.record("its own claim: the proof is checked as of the claim")
            return
        }
        #expect(checked.key == bound.key)
        #expect(asSigned.amount == TokenAmount(atomic: "5000"))
        #expect(at == open.intent.createdAtMillis / 1000)
        guard case .lookUpSettlement(Self.boundKey, exclusive: true) = retry.next(.verifiedLocally(.valid(payer: JourneyTests.payer)), at: Self.now) else {
            Issue.record("and the purchase is resumed")
            return
        }

        // No earlier purchase: refused for what differs, as any proof.
        var fresh = journey
        _ = fresh.next(.verifiedLocally(.invalid(.valueMismatch, detail: "not today's price")), at: Self.now)
        _ = fresh.next(.storedLoaded(.success(nil)), at: Self.now)
        // No settlement of its own, and no claim on the proof: the original refusal.
        _ = fresh.next(.settlementLookedUp(.success(nil), receipt: [:]), at: Self.now)
        #expect(fresh.next(.claimLookedUp(.success(nil)), at: Self.now).refusal == .valueMismatch)

        // Another flow's claim (another client or request for the same authorization) is not resumed.
        var other = journey
        _ = other.next(.verifiedLocally(.invalid(.valueMismatch, detail: "not today's price")), at: Self.now)
        _ = other.next(.storedLoaded(.success(nil)), at: Self.now)
        let foreign = JourneyRetryTests.open(.open, state: .unknown, correlationId: "tg_someone_else")
        // No settlement of its own, and no claim on the proof: the original refusal.
        _ = other.next(.settlementLookedUp(.success(foreign), receipt: [:]), at: Self.now)
        #expect(other.next(.claimLookedUp(.success(nil)), at: Self.now).refusal == .valueMismatch)
    }

    /// The client chooses a v1 proof's expiry (its `validBefore`): one millions of years away, or before the epoch, is
    /// brought within the times the gateway computes with, and the payment's spend period comes from it without an
    /// overflow (which stopped the process).
    @Test func anExpiryTheClientChoseIsBoundedAndItsPeriodComputes() {
        let usual = Self.now / 1000 + 30
        for (validBefore, expiry) in [(Int64.max, Offer.latestExpiry), (9_300_000_000_000_000, Offer.latestExpiry), (usual, usual)] {
            let (journey, _, offer) = Self.verifying(Self.proof(validBefore: validBefore))
            #expect(offer.expiresAt == expiry, "validBefore \(validBefore)")
            guard case .verifyingLocally(let paid, _) = journey.state else {
                Issue.record("expected the local check")
                continue
            }
            let period = paid.periodMillis(now: Self.now)
            let issued = (usual - Int64(paid.pricing.offerValiditySeconds)) * 1000
            #expect(issued < Self.now)
            #expect(period == (validBefore == usual ? issued : Self.now), "validBefore \(validBefore)")
        }
        // Before the epoch: expired, within the times computed with all the same.
        #expect(Offer.boundedExpiry(-9_300_000_000_000_000) == 0)
    }

    /// A forged signature is refused at once: only refusals about the terms go looking for an earlier purchase.
    @Test func aBadSignatureIsRefusedWithoutLookingFurther() {
        var (journey, _, _) = Self.verifying()
        #expect(journey.next(.verifiedLocally(.invalid(.signatureInvalid, detail: "forged")), at: Self.now).refusal == .signatureInvalid)
    }

    /// A route that no longer takes the format still recognises the retry of a purchase made while it did.
    @Test func aRouteThatRefusesTheFormatStillResumesAnEarlierPurchase() {
        var datasets = GatewayHarness.datasets
        datasets.rails = ["another-rail"]
        let settings = JourneyTests.settings(routes: RouteTable([datasets]))
        var journey = Self.journey(settings: settings)
        _ = journey.next(.proofDecoded(.proof(Self.proof())), at: Self.now)
        guard case .loadStoredResponse(Self.boundKey) = journey.next(.admitted(nil), at: Self.now) else {
            Issue.record("the earlier purchase is looked for")
            return
        }
        _ = journey.next(.storedLoaded(.success(nil)), at: Self.now)
        // No settlement of its own, and no claim on the proof: the original refusal.
        _ = journey.next(.settlementLookedUp(.success(nil), receipt: [:]), at: Self.now)
        #expect(journey.next(.claimLookedUp(.success(nil)), at: Self.now).refusal == Self.formatRefused)
    }

    /// v2's expired offer presented by another client is refused as another client's, never looked up as a late retry.
    @Test func anExpiredOfferOfAnotherClientIsNotALateRetry() {
        var journey = JourneyTests.decoding()
        let (_, proof) = JourneyTests.offerAndProof(client: "bob", expiresAt: Self.now / 1000 - 10)
        _ = journey.next(.proofDecoded(.proof(proof)), at: Self.now)
        #expect(journey.next(.admitted(nil), at: Self.now).refusal == .offerClientMismatch)
    }
}
