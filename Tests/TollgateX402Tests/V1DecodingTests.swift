import Foundation
import HTTPTypes
import Testing
import TollgateCore
@testable import TollgateX402

/// The v1 rail reads `X-PAYMENT`; beside it the v2 rail leaves that header alone, and a request with both is read as v2.
@Suite struct V1DecodingTests {
    let fixtures = WireFixtures.shared

    func rails() -> [any PaymentRail] {
        ExactEVMRail(assets: [], facilitators: FacilitatorPool([])).rails(v1: true)
    }

    /// The SDK's v2 payment re-spelled as v1 (no `accepted`, the network named the v1 way or in CAIP-2).
    func v1Header(network: String, nonce: String? = nil, from: String? = nil) throws -> String {
        let v2 = try #require(HeaderCodec.decode(X402.PaymentPayload.self, header: fixtures.paymentSignature))
        var payload = X402V1.PaymentPayload(scheme: "exact", network: network, payload: v2.payload)
        if let nonce { payload.payload.authorization.nonce = nonce }
        if let from { payload.payload.authorization.from = from }
        return HeaderCodec.base64(JSONWriter.bytes(payload))
    }

    func decode(_ header: String, rail index: Int = 1) -> ProofDecoding {
        var fields = HTTPFields()
        fields[HTTPField.Name("X-PAYMENT")!] = header
        return rails()[index].decode(fields)
    }

    @Test(arguments: ["base-sepolia", "eip155:84532"])
    func decodesAV1PaymentWithoutAsset(network: String) throws {
        guard case .proof(let proof) = decode(try v1Header(network: network)) else {
            Issue.record("not decoded")
            return
        }
        #expect(proof.rail == ExactEVMRail.v1Name)
        #expect(proof.network == "eip155:84532")
        #expect(proof.accepted.offerToken == nil)
        // v1 names no asset: the journey takes it from the terms the proof is bound to.
        #expect(proof.key.asset.isEmpty)
        #expect(proof.key.payer == "0xaf62d1b9587fafc92d5fde7142e2aae927162bc1")
        // Passed on to the facilitator in v1, the network named the v1 way.
        let onward = try #require(proof.onwardPayload.flatMap(JSONValue.parse))
        #expect(onward["x402Version"] == .integer(1))
        #expect(onward["network"] == .string("base-sepolia"))
    }

    /// Every spelling of one authorization decodes to one key.
    @Test func spellingsOfOneAuthorizationShareAKey() throws {
        let v2 = try #require(HeaderCodec.decode(X402.PaymentPayload.self, header: fixtures.paymentSignature))
        let nonce = v2.payload.authorization.nonce
        let keys = try [
            v1Header(network: "base-sepolia"),
            v1Header(network: "eip155:84532", nonce: "0X" + nonce.dropFirst(2).uppercased()),
            v1Header(network: "base-sepolia", nonce: String(nonce.dropFirst(2)), from: v2.payload.authorization.from.lowercased()),
        ].map { header -> ProofKey? in
            if case .proof(let proof) = decode(header) { return proof.key }
            return nil
        }
        #expect(keys.allSatisfy { $0 != nil })
        #expect(Set(keys).count == 1)
    }

    @Test func theV2RailLeavesXPaymentToTheV1Rail() throws {
        let header = try v1Header(network: "base-sepolia")
        var fields = HTTPFields()
        fields[HTTPField.Name("X-PAYMENT")!] = header
        let all = rails()
        #expect(all[0].proofFingerprint(fields) == nil)
        #expect(all[1].proofFingerprint(fields) != nil)
        guard case .absent = all[0].decode(fields) else {
            Issue.record("the v2 rail read X-PAYMENT")
            return
        }
        // Both headers: the v2 rail claims the request (it comes first).
        fields[HTTPField.Name("PAYMENT-SIGNATURE")!] = fixtures.paymentSignature
        #expect(all[0].proofFingerprint(fields) != nil)
        // The v2 rail alone still refuses X-PAYMENT (a gateway with v1 off).
        let alone = ExactEVMRail(assets: [], facilitators: FacilitatorPool([]))
        var legacy = HTTPFields()
        legacy[HTTPField.Name("X-PAYMENT")!] = header
        guard case .malformed(.invalidVersion, _) = alone.decode(legacy) else {
            Issue.record("a v2-only gateway read X-PAYMENT")
            return
        }
    }

    @Test(arguments: [
        (#"{"x402Version":2,"scheme":"exact","network":"base-sepolia","payload":{}}"#, "invalid_x402_version"),
        (#"{"x402Version":1,"scheme":"exact"}"#, "invalid_payload"),
        (#"{"x402Version":1,"x402Version":1}"#, "invalid_payload"),
    ])
    func refusesMalformedV1Payloads(json: String, reason: String) {
        guard case .malformed(let found, _) = decode(HeaderCodec.base64(Array(json.utf8))) else {
            Issue.record("accepted \(json)")
            return
        }
        #expect(found.rawValue == reason)
    }

    @Test func refusesAnUnknownNetworkName() throws {
        guard case .malformed(.invalidNetwork, _) = decode(try v1Header(network: "narnia")) else {
            Issue.record("an unknown network was accepted")
            return
        }
    }

    @Test func v1NetworkNamesRoundTrip() {
        #expect(X402V1.Networks.caip2("base-sepolia") == "eip155:84532")
        #expect(X402V1.Networks.name("eip155:84532") == "base-sepolia")
        #expect(X402V1.Networks.name("eip155:31337") == "eip155:31337")
        #expect(X402V1.Networks.caip2("eip155:31337") == "eip155:31337")
        #expect(X402V1.Networks.caip2("eip155:x") == nil)
    }
}
