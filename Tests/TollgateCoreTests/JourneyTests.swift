import Foundation
import HTTPTypes
import Testing
@testable import TollgateCore

/// The journey machine driven by hand, branch by branch, with no server, store, rail or upstream: each test
/// feeds what happened and checks the next action.
@Suite struct JourneyTests {
    static let now: Int64 = 1_800_000_000_000
    static let payer = "0xabc0000000000000000000000000000000000001"

    static func settings(routes: RouteTable = GatewayHarness.routes, unmatched: Gateway.UnmatchedPolicy = .deny,
                         spendCaps: [SpendCap] = [], quotas: [Quota] = []) -> Gateway.Settings {
        Gateway.Settings(routes: routes, clients: GatewayHarness.clients, offers: OfferSigner(keys: KeyRing([GatewayHarness.signingKey])!),
                         contract: ContractSigner(keys: GatewayHarness.contractKeys), publicURL: "https://api.test",
                         unmatched: unmatched, spendCaps: spendCaps, quotas: quotas)
    }

    static let alice = GatewayHarness.clients.identify([ClientDirectory.apiKeyField: GatewayHarness.aliceKey])
    static let bob = GatewayHarness.clients.identify([ClientDirectory.apiKeyField: GatewayHarness.bobKey])

    static func journey(_ target: String = "/datasets/prices", method: HTTPRequest.Method = .get, proof: Bool = false,
                        settings: Gateway.Settings = settings()) -> Journey {
        let request = GatewayRequest(method: method, target: target, headerFields: [:], remoteAddress: "192.0.2.7")
        return Journey(request: request, settings: Gateway.SharedSettings(settings), correlationId: "tg_first", arrivalMillis: now,
                       proofDigest: proof ? [1, 2, 3] : nil, wire: ScriptedRail().wire)
    }

    /// A journey carried to the point where its proof is decoded (identified as alice, admitted, body read).
    static func decoding(proof: Bool = true, settings: Gateway.Settings = settings(), target: String = "/datasets/prices") -> Journey {
        var journey = journey(target, proof: proof, settings: settings)
        _ = journey.next(.arrived, at: now)
        _ = journey.next(.identified(alice, clientRevoked: false, incident: nil), at: now)
        _ = journey.next(.limitsPeeked(nil), at: now)
        let action = journey.next(.bodyRead(.success([])), at: now)
        if proof { _ = journey.next(.refusedProofLookedUp(nil), at: now) } else { #expect(action.isDecodeProof) }
        return journey
    }

    /// An offer this gateway made to `client` for `GET target`, and a proof paying it.
    static func offerAndProof(client: String = "alice", target: String = "/datasets/prices", expiresAt: Int64 = now / 1000 + 60,
                              amount: TokenAmount = GatewayHarness.price, settings: Gateway.Settings = settings())
        -> (SignedOffer, PaymentProof) {
        let signed = settings.offers.sign(Offer(
            correlationId: "tg_offer", resource: "datasets", request: "GET \(target)", bodyDigest: nil, client: client,
            network: GatewayHarness.network, asset: GatewayHarness.asset.address, amount: amount, payTo: GatewayHarness.payTo,
            unit: "request", quantity: 1, maxTimeoutSeconds: 120, expiresAt: expiresAt))
        let proof = TestProof(network: GatewayHarness.network, asset: GatewayHarness.asset.address, amount: amount.atomic,
                              payTo: GatewayHarness.payTo, payer: payer, nonce: "0x01", validBefore: String(now / 1000 + 300),
                              offerToken: signed.token).paymentProof(rail: "test")
        return (signed, proof)
    }

    /// A journey whose proof passed every local check and was claimed; the next action asks the facilitator.
    static func claimed(settings: Gateway.Settings = settings()) -> Journey {
        var journey = decoding(settings: settings)
        let (_, proof) = offerAndProof(settings: settings)
        _ = journey.next(.proofDecoded(.proof(proof)), at: now)
        _ = journey.next(.admitted(nil), at: now)
        _ = journey.next(.verifiedLocally(.valid(payer: payer)), at: now)
        _ = journey.next(.payerChecked(.init(refused: false, limited: nil, railReady: true)), at: now)
        _ = journey.next(.reserved(.success(.reserved)), at: now)
        return journey
    }

    static func refusal() -> TrafficLimits.Refusal {
        let limits = TrafficLimits(global: .init(unpaid: RateLimit(ratePerSecond: 0.001, burst: 1)))
        _ = limits.admit(.unpaid, resource: "datasets", keys: [LimitKey("ip", "x")], now: 0)
        return limits.admit(.unpaid, resource: "datasets", keys: [LimitKey("ip", "x")], now: 0)!
    }

    // MARK: route, identify, authorize

    @Test func anUnsafePathIsRefusedBeforeAnythingElse() {
        var journey = Self.journey("/datasets/%2e%2e/admin")
        #expect(journey.next(.arrived, at: Self.now).denial?.status == .badRequest)
    }

    @Test func aPathIsNormalisedBeforeRouting() {
        var journey = Self.journey("/datasets/%70rices?x=1")
        #expect(journey.next(.arrived, at: Self.now).isIdentify)
        #expect(journey.request.target == "/datasets/prices?x=1")
    }

    /// The query is kept apart from a normalised path by bytes: a path ending in a scalar that joins the next character into
    /// one grapheme (U+0600 before `?`) once moved the query into the path.
    @Test func aNormalisedPathKeepsItsQueryApart() {
        var journey = Self.journey("/datasets/%70rices\u{0600}?x=1")
        _ = journey.next(.arrived, at: Self.now)
        #expect(journey.request.target == "/datasets/prices\u{0600}?x=1")
        #expect(journey.request.path == "/datasets/prices\u{0600}")
    }

    @Test func noRouteIsANotFoundOrAPassThrough() {
        var denied = Self.journey("/nowhere")
        #expect(denied.next(.arrived, at: Self.now).denial?.status == .notFound)
        var passed = Self.journey("/nowhere", settings: Self.settings(unmatched: .passThrough))
        #expect(passed.next(.arrived, at: Self.now).isReadBody)
        guard case .respond(.passThrough(nil, .anonymous)) = passed.next(.bodyRead(.success([])), at: Self.now) else {
            Issue.record("an unmatched request with unmatched: pass is passed through anonymously")
            return
        }
    }

    @Test func identityFailuresAre401NeverTerms() {
        var unknown = Self.journey()
        _ = unknown.next(.arrived, at: Self.now)
        let denied = unknown.next(.identified(.denied(.unknownAPIKey), clientRevoked: false, incident: nil), at: Self.now)
        #expect(denied.denial?.status == .unauthorized)
        #expect(denied.denial?.reason == .unknownAPIKey)

        var revoked = Self.journey()
        _ = revoked.next(.arrived, at: Self.now)
        #expect(revoked.next(.identified(Self.alice, clientRevoked: true, incident: nil), at: Self.now).denial?.reason == .clientRevoked)

        var anonymous = Self.journey()
        _ = anonymous.next(.arrived, at: Self.now)
        #expect(anonymous.next(.identified(.identified(.anonymous), clientRevoked: false, incident: nil), at: Self.now).denial?.reason
            == .missingCredentials)
    }

    @Test func authorizationComesBeforeAnyPriceOrIncident() {
        var journey = Self.journey("/reports/q3")
        _ = journey.next(.arrived, at: Self.now)
        // Bob lacks `reports`; an incident is on: still a 403, never a 503 or a 402.
        let action = journey.next(.identified(Self.bob, clientRevoked: false, incident: "inc-1"), at: Self.now)
        #expect(action.denial?.status == .forbidden)
        #expect(action.denial?.extra["scope"] == "reports")

        var export = Self.journey("/datasets/prices?export=1")
        _ = export.next(.arrived, at: Self.now)
        #expect(export.next(.identified(Self.bob, clientRevoked: false, incident: nil), at: Self.now).denial?.extra["scope"] == "datasets:export")
    }

    @Test func theIncidentSwitchClosesAPaidRoute() {
        var journey = Self.journey()
        _ = journey.next(.arrived, at: Self.now)
        let action = journey.next(.identified(Self.alice, clientRevoked: false, incident: "inc-7"), at: Self.now)
        #expect(action.denial?.status == .serviceUnavailable)
        #expect(action.denial?.extra["incident"] == "inc-7")
    }

    @Test func aFreeRouteReadsItsBodyAndPassesThrough() {
        var journey = Self.journey("/health")
        _ = journey.next(.arrived, at: Self.now)
        #expect(journey.next(.identified(.identified(.anonymous), clientRevoked: false, incident: nil), at: Self.now).isReadBody)
        guard case .respond(.passThrough(let route?, _)) = journey.next(.bodyRead(.success([])), at: Self.now) else {
            Issue.record("a free route is passed through")
            return
        }
        #expect(route.resource == "health")
    }

    // MARK: admit, body, price

    @Test func theBudgetConsultedDependsOnWhetherAProofIsPresent() {
        var unpaid = Self.journey()
        _ = unpaid.next(.arrived, at: Self.now)
        guard case .peekLimits(let probes) = unpaid.next(.identified(Self.alice, clientRevoked: false, incident: nil), at: Self.now) else {
            Issue.record("limits are consulted before the body")
            return
        }
        #expect(probes.map(\.trafficClass) == [.unpaid])
        #expect(probes[0].keys == [LimitKey("client", "alice"), LimitKey("ip", GatewayHarness().gateway.settings.limits.ipPrefix("192.0.2.7"))])

        var paid = Self.journey(proof: true)
        _ = paid.next(.arrived, at: Self.now)
        guard case .peekLimits(let withProof) = paid.next(.identified(Self.alice, clientRevoked: false, incident: nil), at: Self.now) else {
            Issue.record("limits are consulted before the body")
            return
        }
        // The invalid-proof budget first (the client's own), then the paid one.
        #expect(withProof.map(\.trafficClass) == [.invalid, .paid])
        #expect(withProof[0].keys == [LimitKey("client", "alice")])
        guard case .respond(.tooMany) = paid.next(.limitsPeeked(Self.refusal()), at: Self.now) else {
            Issue.record("an exhausted budget is a 429")
            return
        }
    }

    @Test func aBodyTooLargeIs413() {
        var journey = Self.journey()
        _ = journey.next(.arrived, at: Self.now)
        _ = journey.next(.identified(Self.alice, clientRevoked: false, incident: nil), at: Self.now)
        _ = journey.next(.limitsPeeked(nil), at: Self.now)
        #expect(journey.next(.bodyRead(.failure(.init("over 1 MiB"))), at: Self.now).denial?.status == .contentTooLarge)
    }

    @Test func aProofRefusedMomentsAgoIsRefusedWithoutDecoding() {
        var journey = Self.journey(proof: true)
        _ = journey.next(.arrived, at: Self.now)
        _ = journey.next(.identified(Self.alice, clientRevoked: false, incident: nil), at: Self.now)
        _ = journey.next(.limitsPeeked(nil), at: Self.now)
        guard case .lookUpRefusedProof([1, 2, 3]) = journey.next(.bodyRead(.success([])), at: Self.now) else {
            Issue.record("a request with a proof asks the negative cache first")
            return
        }
        guard case .respond(.refuse(_, let reason, _, _, _, _)) = journey.next(.refusedProofLookedUp(.signatureInvalid), at: Self.now) else {
            Issue.record("a known refused proof is refused again")
            return
        }
        #expect(reason == .signatureInvalid)
    }

    // MARK: proof

    @Test func noProofIsA402WithinTheUnpaidBudget() {
        var journey = Self.decoding(proof: false)
        guard case .admit(let probe) = journey.next(.proofDecoded(.absent), at: Self.now) else {
            Issue.record("no proof spends the unpaid budget")
            return
        }
        #expect(probe.trafficClass == .unpaid)
        guard case .respond(.offer(_, let reason, _)) = journey.next(.admitted(nil), at: Self.now) else {
            Issue.record("then a 402")
            return
        }
        #expect(reason == .paymentRequired)

        var limited = Self.decoding(proof: false)
        _ = limited.next(.proofDecoded(.absent), at: Self.now)
        guard case .respond(.tooMany) = limited.next(.admitted(Self.refusal()), at: Self.now) else {
            Issue.record("an exhausted unpaid budget is a 429")
            return
        }
    }

    @Test func anUndecodableProofIsRefusedAsSuch() {
        var journey = Self.decoding()
        guard case .respond(.refuseMalformed(_, let reason, _)) = journey.next(.proofDecoded(.malformed(.invalidPayload, detail: "x")), at: Self.now) else {
            Issue.record("an undecodable proof is counted and answered with a 402")
            return
        }
        #expect(reason == .invalidPayload)
    }

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

        var cheaper = Self.decoding()
        _ = cheaper.next(.proofDecoded(.proof(Self.offerAndProof(amount: TokenAmount(atomic: "1")!).1)), at: Self.now)
        #expect(cheaper.next(.admitted(nil), at: Self.now).refusal == .offerTermsMismatch)
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

        var offerUsed = Self.reserving()
        #expect(offerUsed.next(.reserved(.success(.offerAlreadyUsed(state: .settled))), at: Self.now).refusal == .offerAlreadyUsed)
    }

    // MARK: facilitator, holds, forward, settle

    @Test func theFacilitatorsRefusalOrSilenceGivesTheClaimBack() {
        var refused = Self.claimed()
        guard case .respond(.release(_, let events, then: .refuse(_, .signatureInvalid, _, _, _, true))) =
            refused.next(.facilitatorAnswered(.success(.invalid(.signatureInvalid, detail: "no"))), at: Self.now) else {
            Issue.record("a refused proof is released and answered with a fresh 402")
            return
        }
        #expect(events.map(\.stage) == [AuditEvent.Stage.facilitatorVerify])
        var silent = Self.claimed()
        guard case .respond(.release(_, _, then: .unavailable(.facilitatorUnavailable, _, _))) =
            silent.next(.facilitatorAnswered(.failure(.init("timeout"))), at: Self.now) else {
            Issue.record("a silent facilitator is a 503 and the claim is given back")
            return
        }
    }

    @Test func spendIsHeldAgainstCapsAndAnExceededCapChargesNothing() {
        let cap = SpendCap(subject: .client, period: .day, network: GatewayHarness.network, asset: GatewayHarness.asset.address.lowercased(),
                           maximum: TokenAmount(atomic: "15000")!)
        let settings = Self.settings(spendCaps: [cap])
        var journey = Self.claimed(settings: settings)
        guard case .holdSpend(let holds, "tg_offer") = journey.next(.facilitatorAnswered(.success(.valid(payer: Self.payer))), at: Self.now) else {
            Issue.record("a capped payment holds spend before forwarding")
            return
        }
        #expect(holds.map(\.subject) == ["client:alice"])
        guard case .respond(.release(_, _, then: .deny(let denial))) = journey.next(.spendHeld(.success(holds[0])), at: Self.now) else {
            Issue.record("an exceeded cap releases the claim")
            return
        }
        #expect(denial.reason == .spendCapExceeded)
        #expect(denial.status == .forbidden)

        var failing = Self.claimed(settings: settings)
        _ = failing.next(.facilitatorAnswered(.success(.valid(payer: Self.payer))), at: Self.now)
        guard case .respond(.release(_, _, then: .unavailable(.storeUnavailable, _, _))) = failing.next(.spendHeld(.failure(.init("x"))), at: Self.now) else {
            Issue.record("a hold that cannot be recorded is a 503")
            return
        }
    }

    static let settled = Settlement(status: .settled, transaction: "0xtx", network: GatewayHarness.network, payer: payer)
    static let receipt: HTTPFields = [HTTPField.Name("Receipt")!: "r"]

    /// A journey on a `settle: before` route, its proof claimed, verified and about to be settled.
    static func settlingFirst(automaticRefunds: Bool = true) -> (Journey, Journey.Action) {
        var route = GatewayHarness.datasets
        route.pricing?.metering = Metering(settle: .before)
        var settings = settings(routes: RouteTable([route]))
        settings.automaticRefunds = automaticRefunds
        var journey = claimed(settings: settings)
        let action = journey.next(.facilitatorAnswered(.success(.valid(payer: payer))), at: now)
        return (journey, action)
    }

    @Test func settleBeforeSettlesRecordsThenForwards() {
        var (journey, action) = Self.settlingFirst()
        guard case .settle(_, let intent, _) = action else {
            Issue.record("settle: before settles first")
            return
        }
        #expect(intent.response == nil && intent.metering == nil)
        guard case .record(_, let payment, nil, nil, delivery: nil, let events) = journey.next(.settleAnswered(.answered(Self.settled, attempt: nil), receipt: Self.receipt),
                                                                              at: Self.now) else {
            Issue.record("the settlement is recorded before anything is forwarded")
            return
        }
        #expect(payment.transaction == "0xtx")
        #expect(events.last?.stage == .settle)
        guard case .forward = journey.next(.recorded(true), at: Self.now) else {
            Issue.record("then the request is forwarded")
            return
        }
        let answer = UpstreamResponse(status: .ok, headerFields: [:], body: Array("rows".utf8))
        guard case .recordDelivery(_, let stored, _, _, let deliveryEvents) = journey.next(.upstreamAnswered(.success(answer), elapsedMillis: 2), at: Self.now) else {
            Issue.record("a delivered answer's delivery is recorded")
            return
        }
        #expect(stored?.body == answer.body)
        #expect(deliveryEvents.map(\.stage) == [.forward, .meter, .respond])
        guard case .respond(.delivered(let response)) = journey.next(.recorded(true), at: Self.now) else {
            Issue.record("then served with the receipt")
            return
        }
        #expect(response.headerFields[HTTPField.Name("Receipt")!] == "r")
    }

    @Test func settleBeforeRefundsWhatIsNotDelivered() {
        var (journey, _) = Self.settlingFirst()
        _ = journey.next(.settleAnswered(.answered(Self.settled, attempt: nil), receipt: Self.receipt), at: Self.now)
        _ = journey.next(.recorded(true), at: Self.now)
        guard case .refund(let request?, let events) = journey.next(.upstreamAnswered(.failure(.init("down")), elapsedMillis: 1), at: Self.now) else {
            Issue.record("a settled request that was not delivered is refunded")
            return
        }
        #expect(request.automatic && request.correlationId == "tg_offer")
        // Only while nothing delivered it: a held-up owner's refund never lands after another instance's retry delivered it.
        #expect(request.onlyIfUndelivered)
        #expect(events.last?.stage == .forward)
        let refund = Refund(id: "rf_1", correlationId: "tg_offer", kind: .payout, state: .pendingPayout, clientId: "alice", payer: Self.payer,
                            resource: "datasets", amount: "10000", asset: "usdc", network: GatewayHarness.network, unit: "request",
                            reason: "not delivered", actor: "tollgate", automatic: true, createdAtMillis: Self.now)
        let denial = journey.next(.refunded(.success(refund)), at: Self.now).denial
        #expect(denial?.status == .badGateway)
        #expect(denial?.fields[.tollgateRefund] == "rf_1")
        #expect(denial?.detail.contains("refund rf_1") == true)

        var manual = Self.settlingFirst(automaticRefunds: false).0
        _ = manual.next(.settleAnswered(.answered(Self.settled, attempt: nil), receipt: Self.receipt), at: Self.now)
        _ = manual.next(.recorded(true), at: Self.now)
        guard case .refund(nil, _) = manual.next(.upstreamAnswered(.failure(.init("down")), elapsedMillis: 1), at: Self.now) else {
            Issue.record("with automatic refunds off no refund is recorded")
            return
        }
        #expect(manual.next(.refunded(nil), at: Self.now).denial?.extra["refund"] == "manual_review")
    }

    static func forwarding() -> Journey {
        var journey = claimed()
        let action = journey.next(.facilitatorAnswered(.success(.valid(payer: payer))), at: now)
        guard case .forward(let contract) = action else { fatalError("expected forward, got \(action)") }
        precondition(contract.client == "alice" && contract.correlationId == "tg_offer")
        return journey
    }

    @Test func whatIsNotDeliveredIsNotCharged() {
        var silent = Self.forwarding()
        guard case .respond(.release(_, let events, then: .deny(let denial))) =
            silent.next(.upstreamAnswered(.failure(.init("refused")), elapsedMillis: 3), at: Self.now) else {
            Issue.record("an upstream that does not answer is not charged")
            return
        }
        #expect(denial.status == .badGateway)
        #expect(events.last?.reason == "upstream_unavailable")

        var failing = Self.forwarding()
        let answer = UpstreamResponse(status: .internalServerError, headerFields: [:], body: [])
        guard case .respond(.release(_, let failEvents, then: .passedOn(let passed, _, _, _))) =
            failing.next(.upstreamAnswered(.success(answer), elapsedMillis: 3), at: Self.now) else {
            Issue.record("a failing upstream's answer is passed on uncharged")
            return
        }
        #expect(passed.status == .internalServerError)
        #expect(failEvents.last?.details["settled"] == "false")
    }

    /// A journey whose paid answer was delivered by the upstream; the next action settles it.
    static func settling() -> (Journey, Journey.Action) {
        var journey = forwarding()
        let answer = UpstreamResponse(status: .ok, headerFields: [.contentType: "application/json"], body: Array(#"{"p":1}"#.utf8))
        let action = journey.next(.upstreamAnswered(.success(answer), elapsedMillis: 3), at: now)
        return (journey, action)
    }

    static let attempt = SettlementAttempt(authority: "http://facilitator.test", request: Array("body".utf8))

    @Test func aDeliveredAnswerIsSettledWithItsIntentRecordedThenServedWithItsReceipt() {
        var (journey, action) = Self.settling()
        guard case .settle(_, let intent, let events) = action else {
            Issue.record("a delivered answer is settled")
            return
        }
        // The intent keeps the answer, so a settlement resolved later can still deliver it.
        #expect(intent.response?.body == Array(#"{"p":1}"#.utf8))
        #expect(intent.metering?.usage.quantity == 1)
        #expect(intent.correlationId == "tg_offer")
        #expect(events.last?.stage == .forward)
        guard case .record(_, let payment, let stored, _, delivery: let recordedDelivery?, let recordEvents) =
            journey.next(.settleAnswered(.answered(Self.settled, attempt: Self.attempt), receipt: Self.receipt), at: Self.now) else {
            Issue.record("a settled payment is recorded before it is served")
            return
        }
        #expect(payment.transaction == "0xtx")
        #expect(stored?.correlationId == "tg_offer")
        // The events before the intent were committed with it: only what follows is recorded now.
        #expect(recordEvents.map(\.stage) == [.settle, .meter, .respond])
        guard case .respond(.delivered(let response)) = journey.next(.recorded(true), at: Self.now) else {
            Issue.record("a recorded payment is served")
            return
        }
        #expect(response.headerFields[HTTPField.Name("Receipt")!] == "r")
        // The door is told which recorded delivery it carries: only its loss may reopen the flow.
        #expect(response.settledDelivery?.correlationId == "tg_offer")
        #expect(response.settledDelivery?.token == recordedDelivery)
    }

    @Test func anUnrecordedSettlementIsNotServed() {
        var (journey, _) = Self.settling()
        _ = journey.next(.settleAnswered(.answered(Self.settled, attempt: Self.attempt), receipt: [:]), at: Self.now)
        guard case .respond(.notRecorded("0xtx", delivery: false)) = journey.next(.recorded(false), at: Self.now) else {
            Issue.record("nothing unrecorded is served")
            return
        }
    }

    @Test func aSettlementNeverSentIsReleasedAndOneInDoubtIsHeld() {
        var suspended = Self.settling().0
        guard case .respond(.release(_, _, then: .deny(let incident))) = suspended.next(.settleAnswered(.suspended(incident: "inc-9"), receipt: [:]),
                                                                                        at: Self.now) else {
            Issue.record("an incident switched on in flight settles nothing and releases the claim")
            return
        }
        #expect(incident.extra["incident"] == "inc-9")

        var unreachable = Self.settling().0
        guard case .respond(.release(_, _, then: .deny(let down))) =
            unreachable.next(.settleAnswered(.railFailed(ScriptedRail.outage, intentRecorded: false), receipt: [:]), at: Self.now) else {
            Issue.record("a facilitator never reached: nothing was sent, the claim is released")
            return
        }
        #expect(down.reason == .facilitatorUnavailable)

        var lost = Self.settling().0
        guard case .respond(.finishClaim(_, .unknown, let events, then: .deny(let unknown))) =
            lost.next(.settleAnswered(.railFailed(ScriptedRail.lostAnswer, intentRecorded: true), receipt: [:]), at: Self.now) else {
            Issue.record("a lost answer holds the claim as unknown, never released, never a 402")
            return
        }
        #expect(unknown.status == .serviceUnavailable)
        #expect(events.map(\.reason) == ["settlement_unknown"])

        var unrecorded = Self.settling().0
        guard case .respond(.release(_, _, then: .deny(let store))) =
            unrecorded.next(.settleAnswered(.intentNotRecorded(.init("disk"), intentRecorded: false), receipt: [:]), at: Self.now) else {
            Issue.record("an intent that cannot be recorded is never sent; the claim is released")
            return
        }
        #expect(store.reason == .storeUnavailable)
    }

    @Test func aPendingSettlementIsAskedOnceMoreThenHeld() {
        var journey = Self.settling().0
        let pending = Settlement(status: .pending, transaction: "0xp", network: GatewayHarness.network, payer: Self.payer)
        guard case .resettle(let attempt) = journey.next(.settleAnswered(.answered(pending, attempt: Self.attempt), receipt: [:]), at: Self.now) else {
            Issue.record("a pending settlement is asked again with the same attempt")
            return
        }
        #expect(attempt == Self.attempt)
        guard case .respond(.finishClaim(_, .pending, let events, _)) =
            journey.next(.settleAnswered(.answered(pending, attempt: Self.attempt), receipt: [:]), at: Self.now) else {
            Issue.record("still pending: held, never asked a third time")
            return
        }
        #expect(events.map(\.reason) == ["settlement_pending", "settlement_pending"])

        var lostOnRetry = Self.settling().0
        _ = lostOnRetry.next(.settleAnswered(.answered(pending, attempt: Self.attempt), receipt: [:]), at: Self.now)
        guard case .respond(.finishClaim(_, .unknown, let lostEvents, _)) =
            lostOnRetry.next(.settleAnswered(.railFailed(ScriptedRail.lostAnswer, intentRecorded: true), receipt: [:]), at: Self.now) else {
            Issue.record("a resettle that gets no answer is unknown")
            return
        }
        #expect(lostEvents.map(\.reason) == ["settlement_pending", "settlement_unknown"])
    }

    /// The facilitator answered pending, then could not be reached for the second ask: the first `/settle` was sent and
    /// accepted, so the claim is held for the reconciler, never released (which deleted the claim and its intent, and
    /// told the client that nothing was charged).
    @Test func aPendingSettlementWhoseSecondAskFindsNoFacilitatorIsHeldNotReleased() {
        let pending = Settlement(status: .pending, transaction: "0xp", network: GatewayHarness.network, payer: Self.payer)
        for unreachable in [ScriptedRail.outage, RailFailure(.notReady, "no connection free", authority: "f")] {
            #expect(!unreachable.reachedAuthority)
            var journey = Self.settling().0
            _ = journey.next(.settleAnswered(.answered(pending, attempt: Self.attempt), receipt: [:]), at: Self.now)
            guard case .respond(.finishClaim(_, .unknown, let events, _)) =
                journey.next(.settleAnswered(.railFailed(unreachable, intentRecorded: true), receipt: [:]), at: Self.now) else {
                Issue.record("a pending settlement left without a claim (\(unreachable))")
                continue
            }
            #expect(events.map(\.reason) == ["settlement_pending", "settlement_unknown"])
        }
    }

    @Test func aRefusedSettlementEndsTheClaimWithTheRailsReceipt() {
        var journey = Self.settling().0
        let failed = Settlement(status: .failed, transaction: "", network: GatewayHarness.network, payer: Self.payer,
                                errorReason: "insufficient_funds", errorMessage: "no funds")
        guard case .respond(.finishClaim(_, .failed, let events, then: .settlementRefused(let receipt))) =
            journey.next(.settleAnswered(.answered(failed, attempt: Self.attempt), receipt: Self.receipt), at: Self.now) else {
            Issue.record("a refused settlement ends the claim and answers 402 with the receipt")
            return
        }
        #expect(events.map(\.reason) == ["insufficient_funds", "settlement_failed"])
        #expect(receipt == Self.receipt)
    }

    /// A refusal is the end of a claim only when it proves nothing moved. A reason that is no x402 code (a facilitator's
    /// unexpected error after it may have sent the transfer), or, on the second ask after `pending`, a refusal the
    /// first attempt landing would itself cause (the nonce used, the window passed, the balance spent), holds the claim
    /// as unknown with a 503 "do not pay again": a 402 would make a stock client pay a second time.
    @Test func aRefusalThatDoesNotProveNothingMovedHoldsTheClaim() {
        func failed(_ reason: String) -> Settlement {
            Settlement(status: .failed, transaction: "", network: GatewayHarness.network, payer: Self.payer, errorReason: reason, errorMessage: "m")
        }
        let pending = Settlement(status: .pending, transaction: "0xp", network: GatewayHarness.network, payer: Self.payer)
        let nonceUsed = "invalid_exact_evm_nonce_already_used"
        let cases: [(reason: String, afterPending: Bool, held: Bool)] = [
            ("unexpected_settle_error", false, true),
            ("settlement_failed", false, true),
            ("insufficient_funds", false, false),
            ("invalid_exact_evm_payload_signature", false, false),
            // First sent and told "used": spent elsewhere (a replay of an authorization used at another gateway).
            (nonceUsed, false, false),
            (nonceUsed, true, true),
            ("invalid_exact_evm_payload_authorization_valid_before", true, true),
            ("insufficient_funds", true, true),
            ("invalid_exact_evm_payload_signature", true, false),
        ]
        for (reason, afterPending, held) in cases {
            var journey = Self.settling().0
            if afterPending {
                guard case .resettle = journey.next(.settleAnswered(.answered(pending, attempt: Self.attempt), receipt: [:]), at: Self.now) else {
                    Issue.record("pending is asked again")
                    continue
                }
            }
            let next = journey.next(.settleAnswered(.answered(failed(reason), attempt: Self.attempt), receipt: Self.receipt), at: Self.now)
            switch next {
            case .respond(.finishClaim(_, .unknown, let events, then: .deny(let denial))) where held:
                #expect(denial.status == .serviceUnavailable && denial.reason == .settlementUnknown, "\(reason)")
                #expect(denial.detail.contains("do not pay again"))
                #expect(events.last?.reason == Reason.settlementUnknown.rawValue && events.last?.details["refusal"] == reason)
            case .respond(.finishClaim(_, .failed, _, then: .settlementRefused)) where !held:
                break
            default:
                Issue.record("\(reason) after pending \(afterPending): expected \(held ? "held as unknown" : "failed"), got \(next)")
            }
        }
    }

    // MARK: package balances

    /// A journey on a package route whose request carries no proof: the next action spends the paid budget.
    static func prepaid() -> Journey {
        var route = GatewayHarness.datasets
        route.pricing?.metering = Metering(package: Metering.Package(name: "credits", units: 10))
        var journey = decoding(proof: false, settings: settings(routes: RouteTable([route])))
        guard case .admit(let probe) = journey.next(.proofDecoded(.absent), at: now), probe.trafficClass == .paid else {
            fatalError("a client on a package route spends its paid budget first")
        }
        return journey
    }

    @Test func aPackageBalancePaysWithoutA402() {
        var journey = Self.prepaid()
        guard case .holdUnits(let hold, _) = journey.next(.admitted(nil), at: Self.now) else {
            Issue.record("units are held before forwarding")
            return
        }
        #expect(hold.clientId == "alice" && hold.package == "credits" && hold.units == 1)
        guard case .forward(let contract) = journey.next(.unitsHeld(.success(.held(remaining: 4))), at: Self.now) else {
            Issue.record("held units let the request through")
            return
        }
        #expect(contract.amount == "package credits" && contract.payer == "")
        let answer = UpstreamResponse(status: .ok, headerFields: [:], body: Array("rows".utf8))
        guard case .finishUnits(_, let consumed, let usage?, let events) = journey.next(.upstreamAnswered(.success(answer), elapsedMillis: 1), at: Self.now) else {
            Issue.record("the consumed units are spent with the usage")
            return
        }
        #expect(consumed == 1 && usage.source == .package)
        #expect(events.map(\.stage) == [.forward, .meter, .respond])
        guard case .respond(.delivered(let response)) = journey.next(.unitsSpent(true), at: Self.now) else {
            Issue.record("a recorded spend is served")
            return
        }
        #expect(response.headerFields[.tollgatePackageBalance] == "4 request")

        var unrecorded = Self.prepaid()
        _ = unrecorded.next(.admitted(nil), at: Self.now)
        _ = unrecorded.next(.unitsHeld(.success(.held(remaining: 4))), at: Self.now)
        _ = unrecorded.next(.upstreamAnswered(.success(answer), elapsedMillis: 1), at: Self.now)
        #expect(unrecorded.next(.unitsSpent(false), at: Self.now).denial?.status == .serviceUnavailable)
    }

    @Test func aBalanceThatDoesNotCoverTheRequestIsOfferedThePackage() {
        var journey = Self.prepaid()
        _ = journey.next(.admitted(nil), at: Self.now)
        guard case .admit(let probe) = journey.next(.unitsHeld(.success(.insufficient(balance: 0))), at: Self.now) else {
            Issue.record("then the unpaid budget, as for any request without a proof")
            return
        }
        #expect(probe.trafficClass == .unpaid)
        guard case .respond(.offer(_, .paymentRequired, let detail?)) = journey.next(.admitted(nil), at: Self.now) else {
            Issue.record("a 402 offering the package")
            return
        }
        #expect(detail.contains("buy 10 more"))
    }

    @Test func aPrepaidRequestNotDeliveredSpendsNothing() {
        var journey = Self.prepaid()
        _ = journey.next(.admitted(nil), at: Self.now)
        _ = journey.next(.unitsHeld(.success(.held(remaining: 4))), at: Self.now)
        guard case .finishUnits(_, 0, nil, _) = journey.next(.upstreamAnswered(.failure(.init("down")), elapsedMillis: 1), at: Self.now) else {
            Issue.record("nothing is spent when the upstream does not answer")
            return
        }
        // Even if that release cannot be recorded (the hold stays: nothing is given away), the answer is the 502.
        #expect(journey.next(.unitsSpent(false), at: Self.now).denial?.status == .badGateway)
    }

    @Test func anInputOutOfTurnIsA503NotACrash() {
        var journey = Self.journey()
        #expect(journey.next(.recorded(true), at: Self.now).denial?.status == .serviceUnavailable)
    }

    /// docs/architecture.md shows the list of stages as it is: a stage added, renamed or reworded here must be there too.
    @Test func theArchitectureDocumentListsTheStagesAsTheyAre() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/architecture.md").standardized
        let text = try String(contentsOf: docs, encoding: .utf8)
        let table = "| stage | title | what it decides |\n|---|---|---|\n"
            + JourneyStage.all.map { "| `\($0.id)` | \($0.title) | \($0.summary) |\n" }.joined()
        #expect(text.contains(table))
    }

    @Test func everyStageOfTheMachineIsListedOnce() {
        let ids = JourneyStage.all.map(\.id)
        #expect(Set(ids).count == ids.count)
        for stage in [AuditEvent.Stage.route, .identify, .authorize, .admit, .proof, .verify, .reserve, .facilitatorVerify, .decide,
                      .forward, .settle, .meter, .respond] {
            #expect(JourneyStage.all.contains { $0.audit == stage }, "\(stage) is a stage of the journey")
        }
    }
}

extension Journey.Action {
    var denial: Journey.Denial? {
        if case .respond(.deny(let denial)) = self { return denial }
        return nil
    }

    /// The reason a proof was refused with a fresh 402.
    var refusal: Reason? {
        if case .respond(.refuse(_, let reason, _, _, _, _)) = self { return reason }
        return nil
    }

    var isIdentify: Bool { if case .identify = self { true } else { false } }
    var isReadBody: Bool { if case .readBody = self { true } else { false } }
    var isDecodeProof: Bool { if case .decodeProof = self { true } else { false } }
    var isVerifyLocally: Bool { if case .verifyLocally = self { true } else { false } }
}
