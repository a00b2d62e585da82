import Foundation
import HTTPTypes
import Logging
import Testing
@testable import TollgateCore

/// A second way of being paid beside `ScriptedRail`: its own header names and reason codes. It reads proofs only
/// to refuse them, so whichever rail handled a request shows in the answer.
struct OtherRail: PaymentRail {
    static let proofField = HTTPField.Name("Other-Proof")!
    static let termsField = HTTPField.Name("Other-Terms")!
    static let refusal = Reason("other_rail_refused")

    let name = "other-rail"
    /// The networks it can take a payment on now; nil: all.
    var readyNetworks: Set<String>? = nil
    let wire = RailWire(proofFields: [proofField], exposedFields: [termsField], proofFormat: "other proof, header Other-Proof",
                        paymentHint: "or an Other-Proof", authorizationUsed: Reason("other_used"),
                        authorizationExpired: Reason("other_expired"), deterministicRefusals: [refusal])

    func challengeFields(_ challenge: PaymentChallenge) -> HTTPFields {
        [Self.termsField: challenge.offers.map(\.offer.network).joined(separator: " ")]
    }
    func decode(_ fields: HTTPFields) -> ProofDecoding {
        fields[Self.proofField] == nil ? .absent : .malformed(Self.refusal, detail: "the other rail refuses every proof")
    }
    func proofFingerprint(_ fields: HTTPFields) -> [UInt8]? { fields[Self.proofField].map { NegativeCache.key(Array($0.utf8)) } }
    func verifyLocally(_ proof: PaymentProof, offer: Offer, now: Int64) -> Verdict { .invalid(Self.refusal, detail: "never") }
    func isReady(network: String) -> Bool { readyNetworks?.contains(network) ?? true }
    func verify(_ proof: PaymentProof, offer: SignedOffer, logger: Logger) async throws -> Verdict { .invalid(Self.refusal, detail: "never") }
    func settle(_ proof: PaymentProof, offer: SignedOffer, before: @Sendable (SettlementAttempt) async throws -> Void,
                logger: Logger) async throws -> Settlement {
        throw RailFailure(.notReady, "never", authority: "other")
    }
    func resettle(_ attempt: SettlementAttempt, logger: Logger) async throws -> Settlement { throw RailFailure(.notReady, "never", authority: "other") }
    func chainAuthorization(_ key: ProofKey, payee: String, amount: String, since: Int64?, logger: Logger) async throws -> ChainAuthorization? {
        nil
    }
    func receiptFields(_ settlement: Settlement) -> HTTPFields { [:] }
}

/// Rails as a list: the offer lists every rail's terms, the proof's header picks the rail once, and every
/// rail's proof fields are kept from the backend.
@Suite struct GatewayRailsTests {
    static func gateway(_ harness: GatewayHarness) -> Gateway {
        let logger = Logger(label: "tollgate.tests") { _ in SwiftLogNoOpLogHandler() }
        return Gateway(settings: harness.gateway.settings, rails: [harness.rail, OtherRail()], store: harness.store, audit: harness.batcher,
                       upstream: harness.upstream, clock: harness.clock, controls: harness.controls, logger: logger)
    }

    static func send(_ gateway: Gateway, _ target: String, fields: HTTPFields) async -> GatewayResponse {
        var fields = fields
        fields[ClientDirectory.apiKeyField] = GatewayHarness.aliceKey
        return await gateway.handle(GatewayRequest(method: .get, target: target, headerFields: fields))
    }

    @Test func aFirstRequestGetsTheTermsOfEveryRail() async throws {
        let harness = GatewayHarness()
        let offer = await Self.send(Self.gateway(harness), "/datasets/prices", fields: [:])
        #expect(offer.status == .paymentRequired)
        #expect(offer.offerTokens.count == 1)
        #expect(offer.headerFields[OtherRail.termsField] == GatewayHarness.network)
        let exposed = try #require(offer.headerFields[.accessControlExposeHeaders])
        #expect(exposed.contains("test-terms") && exposed.contains("other-terms") && exposed.contains("tollgate-correlation-id"))
        #expect(offer.text.contains("test proof, header Test-Proof; other proof, header Other-Proof"))
    }

    @Test func theProofsHeaderPicksTheRail() async throws {
        let harness = GatewayHarness()
        let gateway = Self.gateway(harness)
        // A proof in the other rail's header is that rail's to judge: refused with its reason, never the scripted rail's.
        let other = await Self.send(gateway, "/datasets/prices", fields: [OtherRail.proofField: "anything"])
        #expect(other.status == .paymentRequired)
        #expect(other.reason == OtherRail.refusal.rawValue)
        #expect(harness.rail.verifyCalls == 0)
        // Its refusal is deterministic for that rail: the same bytes are refused again without decoding.
        let again = await Self.send(gateway, "/datasets/prices", fields: [OtherRail.proofField: "anything"])
        #expect(again.json?.reason == OtherRail.refusal.rawValue)

        // The scripted rail's proof goes through the scripted rail and is delivered.
        let offer = await Self.send(gateway, "/datasets/prices", fields: [:])
        let proof = harness.proof(offerToken: try #require(offer.offerTokens.first))
        let paid = await Self.send(gateway, "/datasets/prices", fields: [ScriptedRail.proofField: proof.header])
        #expect(paid.status == .ok)
        #expect(harness.rail.verifyCalls == 1)
        #expect(harness.rail.settleCalls == 1)
    }

    @Test func everyRailsProofFieldIsKeptFromTheBackend() async throws {
        let harness = GatewayHarness()
        let response = await Self.send(Self.gateway(harness), "/health",
                                       fields: [OtherRail.proofField: "x", ScriptedRail.proofField: "y", ScriptedRail.legacyProofField: "z"])
        #expect(response.status == .ok)
        let forwarded = try #require(harness.upstream.received.first).headerFields
        #expect(forwarded[OtherRail.proofField] == nil)
        #expect(forwarded[ScriptedRail.proofField] == nil)
        #expect(forwarded[ScriptedRail.legacyProofField] == nil)
    }

    /// Core speaks no rail's wire: no header name, no reason code of x402 in its code (comments may name them).
    @Test func coreSpellsNoX402String() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/TollgateCore").standardized
        let files = try #require(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        #expect(files.count > 50)
        for file in files {
            let code = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
                .split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }.joined(separator: "\n")
            for wireString in ["PAYMENT-SIGNATURE", "PAYMENT-REQUIRED", "PAYMENT-RESPONSE", "X-PAYMENT", "exact_evm", "x402_version"] {
                #expect(!code.contains(wireString), "\(file) spells \(wireString)")
            }
        }
    }
}
