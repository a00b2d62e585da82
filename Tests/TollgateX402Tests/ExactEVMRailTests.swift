import Foundation
import HTTPTypes
import Logging
import Synchronization
import Testing
import TollgateCore
@testable import TollgateX402

/// A facilitator whose answers a test scripts.
final class ScriptedFacilitator: Facilitator {
    let name: String
    let networks: [String]
    let verifyAnswer: @Sendable () throws -> X402.VerifyResponse
    let settleAnswer: @Sendable () throws -> X402.SettleResponse
    let calls = Mutex(0)
    /// The bodies of the verify and settle requests it received.
    let bodies = Mutex<[[UInt8]]>([])

    init(name: String, networks: [String] = ["eip155:84532"], verify: @escaping @Sendable () throws -> X402.VerifyResponse = { .init(isValid: true, payer: nil) },
         settle: @escaping @Sendable () throws -> X402.SettleResponse = { .init(success: true, payer: nil, transaction: "0xabc", network: "eip155:84532") }) {
        self.name = name
        self.networks = networks
        self.verifyAnswer = verify
        self.settleAnswer = settle
    }

    func supported(logger: Logger) async throws -> X402.SupportedResponse {
        .init(kinds: networks.map { .init(x402Version: 2, scheme: "exact", network: $0) })
    }

    func verify(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.VerifyResponse {
        calls.withLock { $0 += 1 }
        bodies.withLock { $0.append(request.body) }
        return try verifyAnswer()
    }

    func settle(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.SettleResponse {
        calls.withLock { $0 += 1 }
        bodies.withLock { $0.append(request.body) }
        return try settleAnswer()
    }
}

@Suite struct ExactEVMRailTests {
    static let asset = Asset(id: "usdc", network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6,
                             eip712Name: "USDC", eip712Version: "2")
    static let payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    let logger = Logger(label: "test")
    let signer = OfferSigner(keys: KeyRing([SecretKey(id: "k1", secret: Array(repeating: 7, count: 32))!])!)

    func signedOffer(now: Int64) -> SignedOffer {
        signer.sign(Offer(correlationId: "tg_1", resource: "datasets", request: "GET /datasets/prices", bodyDigest: nil, client: "anonymous",
                          network: "eip155:84532", asset: Self.asset.address, amount: TokenAmount(atomic: "10000")!, payTo: Self.payTo,
                          unit: "request", quantity: 1, maxTimeoutSeconds: 60, expiresAt: now + 300))
    }

    /// The 402 the rail produces, paid by our payer, decoded back by the rail.
    func paidProof(_ rail: ExactEVMRail, offer: SignedOffer, now: Int64) throws -> PaymentProof {
        let fields = rail.challengeFields(PaymentChallenge(resourceURL: "http://gw/datasets/prices", description: "d", mimeType: "application/json",
                                                           offers: [offer], error: "Payment required"))
        let header = try #require(fields[HTTPField.Name("PAYMENT-REQUIRED")!])
        let required = try #require(HeaderCodec.decode(X402.PaymentRequired.self, header: header))
        #expect(required.accepts.first?.extra?["tollgate"] == .string(offer.token))
        #expect(required.accepts.first?.payTo == Self.payTo)
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        var request = HTTPFields()
        request[HTTPField.Name("PAYMENT-SIGNATURE")!] = HeaderCodec.encode(try payer.pay(required, now: now))
        guard case .proof(let proof) = rail.decode(request) else { throw ExitError() }
        return proof
    }

    struct ExitError: Error {}

    @Test func termsRoundTripThroughOurPayerAndVerifyLocally() async throws {
        let now = Int64(Date().timeIntervalSince1970)
        let rail = ExactEVMRail(assets: [Self.asset], facilitators: FacilitatorPool([]))
        let offer = signedOffer(now: now)
        let proof = try paidProof(rail, offer: offer, now: now)
        #expect(proof.accepted.offerToken == offer.token)
        guard case .valid = rail.verifyLocally(proof, offer: offer.offer, now: now) else {
            Issue.record("our own payment did not verify")
            return
        }
        var otherPayee = offer.offer
        otherPayee.payTo = "0x469603a7f51bf1327908e1ca7ed880793d66162e"
        #expect(rail.verifyLocally(proof, offer: otherPayee, now: now) != .valid(payer: proof.payer))
    }

    /// The 402 writes each offer's requirements straight into its header; they are the requirements the facilitator is
    /// sent for that offer, byte for byte, for a configured asset and for one the rail does not know.
    @Test func theTermsInA402AreTheRequirementsTheFacilitatorIsSent() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let rail = ExactEVMRail(assets: [Self.asset], facilitators: FacilitatorPool([]))
        var unknown = signedOffer(now: now).offer
        unknown.asset = "0x4200000000000000000000000000000000000006"
        unknown.payTo = Self.payTo.lowercased()
        let offers = [signedOffer(now: now), signer.sign(unknown)]
        for offer in offers {
            var writer = JSONWriter()
            rail.writeRequirements(for: offer, to: &writer)
            #expect(writer.bytes == JSONWriter.bytes(rail.requirements(for: offer)))
        }
        let fields = rail.challengeFields(PaymentChallenge(resourceURL: "http://gw/datasets/prices", description: "d", mimeType: "application/json",
                                                           offers: offers, error: "Payment required"))
        let header = try #require(fields[HTTPField.Name("PAYMENT-REQUIRED")!])
        let required = try #require(HeaderCodec.decode(X402.PaymentRequired.self, header: header))
        #expect(required.accepts == offers.map { rail.requirements(for: $0) })
        #expect(required.accepts.map(\.payTo) == [Self.payTo, Self.payTo])
        #expect(required.accepts[1].extra == ["tollgate": .string(offers[1].token)])
    }

    /// The v1 body writes each offer's requirements straight too: byte for byte what `v1Requirements` writes (no token,
    /// `extra` only for a configured asset, the discovery's v1 output schema), and what a v1 client reads back.
    @Test func theV1TermsInA402AreTheV1Requirements() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let rail = ExactEVMRail(assets: [Self.asset], facilitators: FacilitatorPool([]))
        var unknown = signedOffer(now: now).offer
        unknown.asset = "0x4200000000000000000000000000000000000006"
        unknown.network = "eip155:11155111"
        let offers = [signedOffer(now: now), signer.sign(unknown)]
        let discovery = Discovery(method: "GET", queryExample: .object(["q": .string("ACME")]), outputExample: .object(["rows": .integer(3)]))
        let schema = RawJSON(JSONValue.object(["input": .object(["type": .string("http"), "method": .string("GET")])]))
        for offer in offers {
            for outputSchema in [nil, schema] {
                var writer = JSONWriter()
                rail.writeV1Requirements(for: offer, resource: "http://gw/datasets/prices?day=1", description: "d", mimeType: "text/csv",
                                         outputSchema: outputSchema, to: &writer)
                var expected = JSONWriter()
                rail.v1Requirements(for: offer, resource: "http://gw/datasets/prices?day=1", description: "d", mimeType: "text/csv")
                    .write(to: &expected, outputSchema: outputSchema)
                #expect(writer.bytes == expected.bytes)
            }
        }
        let v1 = try #require(rail.rails(v1: true).last as? ExactEVMRail)
        let body = v1.challengeBody(PaymentChallenge(resourceURL: "http://gw/datasets/prices", description: "d", mimeType: "application/json",
                                                     offers: offers, error: "Payment required", discovery: discovery))
        let accepts = try JSONDecoder().decode([X402V1.PaymentRequirements].self, from: Data(try #require(body["accepts"]).bytes))
        #expect(accepts == offers.map { v1.v1Requirements(for: $0, resource: "http://gw/datasets/prices", description: "d", mimeType: "application/json",
                                                          discovery: discovery) })
        #expect(accepts.map(\.network) == ["base-sepolia", "sepolia"])
        #expect(accepts[0].extra == ["name": .string("USDC"), "version": .string("2")] && accepts[1].extra == nil)
        #expect(!String(decoding: try #require(body["accepts"]).bytes, as: UTF8.self).contains(offers[0].token))
    }

    @Test func closedUntilAFacilitatorSupportsTheNetwork() async throws {
        let wrongNetwork = ScriptedFacilitator(name: "a", networks: ["eip155:11155111"])
        let pool = FacilitatorPool([.init(facilitator: wrongNetwork, networks: [])])
        let rail = ExactEVMRail(assets: [Self.asset], facilitators: pool)
        #expect(!rail.isReady(network: "eip155:84532"))
        await pool.refresh(logger: logger)
        #expect(!rail.isReady(network: "eip155:84532"))
        let now = Int64(Date().timeIntervalSince1970)
        let proof = try paidProof(rail, offer: signedOffer(now: now), now: now)
        await #expect(throws: RailFailure.self) { try await rail.verify(proof, offer: signedOffer(now: now), logger: logger) }
    }

    @Test func failsOverOnTransportFailureButNotOnAVerdict() async throws {
        let down = ScriptedFacilitator(name: "down", verify: { throw RailFailure(.unreachable, "refused", authority: "down") })
        let refusing = ScriptedFacilitator(name: "refusing", verify: { .init(isValid: false, invalidReason: "insufficient_funds", payer: nil) })
        let spare = ScriptedFacilitator(name: "spare")
        let pool = FacilitatorPool([down, refusing, spare].map { .init(facilitator: $0, networks: ["eip155:84532"]) })
        await pool.refresh(logger: logger)
        let rail = ExactEVMRail(assets: [Self.asset], facilitators: pool)
        let now = Int64(Date().timeIntervalSince1970)
        let offer = signedOffer(now: now)
        let proof = try paidProof(rail, offer: offer, now: now)
        let verdict = try await rail.verify(proof, offer: offer, logger: logger)
        #expect(verdict == .invalid(Reason("insufficient_funds"), detail: "refused by the facilitator"))
        #expect(down.calls.withLock { $0 } == 1)
        #expect(refusing.calls.withLock { $0 } == 1)
        #expect(spare.calls.withLock { $0 } == 0)
    }

    @Test func everyFacilitatorDownIsAFailureNotAVerdict() async throws {
        let down = ScriptedFacilitator(name: "down", settle: { throw RailFailure(.timeout, "slow", authority: "down") })
        let pool = FacilitatorPool([.init(facilitator: down, networks: [])])
        await pool.refresh(logger: logger)
        let rail = ExactEVMRail(assets: [Self.asset], facilitators: pool)
        let now = Int64(Date().timeIntervalSince1970)
        let offer = signedOffer(now: now)
        let proof = try paidProof(rail, offer: offer, now: now)
        await #expect(throws: RailFailure.self) { try await rail.settle(proof, offer: offer, before: { _ in }, logger: logger) }
    }

    @Test func mapsSettlementOutcomes() async throws {
        let pending = ScriptedFacilitator(name: "p", settle: {
            .init(success: false, errorReason: "settlement_pending", payer: nil, transaction: "0xfeed", network: "eip155:84532")
        })
        let pool = FacilitatorPool([.init(facilitator: pending, networks: [])])
        await pool.refresh(logger: logger)
        let rail = ExactEVMRail(assets: [Self.asset], facilitators: pool)
        let now = Int64(Date().timeIntervalSince1970)
        let offer = signedOffer(now: now)
        let proof = try paidProof(rail, offer: offer, now: now)
        let settlement = try await rail.settle(proof, offer: offer, before: { _ in }, logger: logger)
        #expect(settlement.status == .pending)
        #expect(settlement.transaction == "0xfeed")
        let receipt = rail.receiptFields(settlement)[HTTPField.Name("PAYMENT-RESPONSE")!]
        let decoded = try #require(receipt.flatMap { HeaderCodec.decode(X402.SettleResponse.self, header: $0) })
        #expect(decoded.success == false)
        #expect(decoded.errorReason == "settlement_pending")
    }

    @Test func aFacilitatorVouchingForAnotherPayerIsRefused() async throws {
        let confused = ScriptedFacilitator(name: "c", verify: { .init(isValid: true, payer: "0x0000000000000000000000000000000000000001") })
        let pool = FacilitatorPool([.init(facilitator: confused, networks: [])])
        await pool.refresh(logger: logger)
        let rail = ExactEVMRail(assets: [Self.asset], facilitators: pool)
        let now = Int64(Date().timeIntervalSince1970)
        let offer = signedOffer(now: now)
        let proof = try paidProof(rail, offer: offer, now: now)
        guard case .invalid = try await rail.verify(proof, offer: offer, logger: logger) else {
            Issue.record("accepted a verdict about another payer")
            return
        }
    }
}
