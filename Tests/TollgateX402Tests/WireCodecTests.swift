import Foundation
import HTTPTypes
import Testing
import TollgateCore
@testable import TollgateX402

@Suite struct WireCodecTests {
    let fixtures = WireFixtures.shared

    @Test func decodesTheSDKsPaymentRequired() throws {
        let required = try #require(HeaderCodec.decode(X402.PaymentRequired.self, header: fixtures.paymentRequired))
        #expect(required.x402Version == 2)
        #expect(required.error == "Payment required")
        let offer = try #require(required.accepts.first)
        #expect(offer.scheme == "exact")
        #expect(offer.network == "eip155:84532")
        #expect(offer.amount == "10000")
        #expect(offer.asset == "0x036CbD53842c5426634e7929541eC2318f3dCF7e")
        #expect(offer.maxTimeoutSeconds == 300)
        #expect(offer.extra?["name"] == .string("USDC"))
        #expect(offer.extra?["version"] == .string("2"))
    }

    @Test func paymentRequiredRoundTripsThroughOurEncoder() throws {
        let required = try #require(HeaderCodec.decode(X402.PaymentRequired.self, header: fixtures.paymentRequired))
        let again = try #require(HeaderCodec.decode(X402.PaymentRequired.self, header: HeaderCodec.encode(required)))
        #expect(again == required)
        // Amounts stay strings and nothing is null on the wire.
        let json = String(decoding: HeaderCodec.json(required), as: UTF8.self)
        #expect(json.contains(#""amount":"10000""#))
        #expect(!json.contains("null"))
    }

    @Test func decodesTheSDKsPaymentPayloadIntoAProof() throws {
        let rail = ExactEVMRail(assets: [], facilitators: FacilitatorPool([]))
        var fields = HTTPFields()
        fields[HTTPField.Name("PAYMENT-SIGNATURE")!] = fixtures.paymentSignature
        guard case .proof(let proof) = rail.decode(fields) else {
            Issue.record("the SDK's payment was not decoded")
            return
        }
        #expect(proof.payer == "0xaF62d1B9587FAfc92d5FdE7142e2aAE927162Bc1")
        #expect(proof.payee == "0x469603a7F51BF1327908e1Ca7eD880793D66162e")
        #expect(proof.amount == "10000")
        #expect(proof.validBefore == "1795640872")
        #expect(proof.nonce == "0x486575a55b050c6faa08ec26dcc08350b09a9efddc9edb68a9657b5d4b4c6551")
        #expect(proof.accepted.offerToken == nil)
        #expect(proof.key == ProofKey(network: "eip155:84532", asset: "0x036cbd53842c5426634e7929541ec2318f3dcf7e",
                                      payer: "0xaf62d1b9587fafc92d5fde7142e2aae927162bc1", nonce: proof.nonce))
    }

    @Test func decodesSettleResponses() throws {
        let success = try #require(HeaderCodec.decode(X402.SettleResponse.self, header: fixtures.paymentResponseSuccess))
        #expect(success.success)
        #expect(success.transaction == "0x33e9c233d98a8b82e37fd8bd6c0eb88f659f216783e147429ba665389fadb240")
        #expect(success.errorReason == nil)
        let failure = try #require(HeaderCodec.decode(X402.SettleResponse.self, header: fixtures.paymentResponseFailure))
        #expect(!failure.success)
        #expect(failure.errorReason == "invalid_exact_evm_nonce_already_used")
        #expect(failure.transaction == "")
    }

    @Test(arguments: [
        ("not base64 at all!", "invalid_payload"),
        (Data(#"{"hello":"world"}"#.utf8).base64EncodedString(), "invalid_payload"),
        (Data(#"{"x402Version":1,"payload":{}}"#.utf8).base64EncodedString(), "invalid_x402_version"),
        (String(repeating: "A", count: 20_000), "payment_header_too_large"),
    ])
    func refusesMalformedProofs(header: String, reason: String) {
        let rail = ExactEVMRail(assets: [], facilitators: FacilitatorPool([]))
        var fields = HTTPFields()
        fields[HTTPField.Name("PAYMENT-SIGNATURE")!] = header
        guard case .malformed(let found, _) = rail.decode(fields) else {
            Issue.record("accepted \(header.prefix(40))")
            return
        }
        #expect(found.rawValue == reason)
    }

    @Test func refusesTheLegacyHeader() {
        let rail = ExactEVMRail(assets: [], facilitators: FacilitatorPool([]))
        var fields = HTTPFields()
        fields[HTTPField.Name("X-PAYMENT")!] = fixtures.paymentSignature
        guard case .malformed(let reason, _) = rail.decode(fields) else {
            Issue.record("X-PAYMENT was accepted")
            return
        }
        #expect(reason == .invalidVersion)
    }
}

@Suite struct PaymentIdentifierDecodingTests {
    func decode(_ id: String) throws -> ProofDecoding {
        var payload = try #require(HeaderCodec.decode(X402.PaymentPayload.self, header: WireFixtures.shared.paymentSignature))
        payload.extensions = ["payment-identifier": .object(["info": .object(["id": .string(id)])])]
        var fields = HTTPFields()
        fields[HTTPField.Name("PAYMENT-SIGNATURE")!] = HeaderCodec.encode(payload)
        return ExactEVMRail(assets: [], facilitators: FacilitatorPool([])).decode(fields)
    }

    @Test func readsAValidIdentifier() throws {
        guard case .proof(let proof) = try decode("pay_0123456789abcdef") else { return #expect(Bool(false)) }
        #expect(proof.paymentIdentifier == "pay_0123456789abcdef")
    }

    /// What a client echoes of the 402's extensions is not passed on to the facilitator (a payer could otherwise have
    /// anything catalogued under this gateway's payee): only the idempotency key the gateway checked.
    @Test func onlyThePaymentIdentifierGoesOnToTheFacilitator() throws {
        var payload = try #require(HeaderCodec.decode(X402.PaymentPayload.self, header: WireFixtures.shared.paymentSignature))
        payload.extensions = [
            "payment-identifier": .object(["info": .object(["id": .string("pay_0123456789abcdef")])]),
            "bazaar": .object(["info": .object(["input": .object(["type": .string("http"), "method": .string("GET")])])]),
        ]
        var fields = HTTPFields()
        fields[HTTPField.Name("PAYMENT-SIGNATURE")!] = HeaderCodec.encode(payload)
        guard case .proof(let proof) = ExactEVMRail(assets: [], facilitators: FacilitatorPool([])).decode(fields) else {
            return #expect(Bool(false))
        }
        let onward = try #require(proof.onwardPayload.flatMap(JSONValue.parse))
        #expect(onward["extensions"]?["bazaar"] == nil)
        #expect(onward["extensions"]?["payment-identifier"]?["info"]?["id"] == .string("pay_0123456789abcdef"))
    }

    @Test(arguments: ["short", String(repeating: "a", count: 129), "has spaces in it here!", "ünicode-0123456789"])
    func refusesAMalformedIdentifier(id: String) throws {
        guard case .malformed(let reason, _) = try decode(id) else { return #expect(Bool(false)) }
        #expect(reason == .invalidPayload)
    }
}
