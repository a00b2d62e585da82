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
