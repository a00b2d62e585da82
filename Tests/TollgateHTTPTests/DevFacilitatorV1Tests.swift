import Foundation
import Logging
import Testing
import TollgateCore
import TollgateDevFacilitator
import TollgateX402

/// The development facilitator speaks x402 v1 as well: v1 kinds named the v1 way, v1 bodies verified and settled
/// with the same checks and the same ledger as v2.
@Suite struct DevFacilitatorV1Tests {
    static let v1Requirements = X402V1.PaymentRequirements(
        scheme: "exact", network: "base-sepolia", maxAmountRequired: "2500", resource: "http://127.0.0.1:8402/datasets/prices",
        description: "prices", mimeType: "application/json", payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", maxTimeoutSeconds: 60,
        asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", extra: ["name": .string("USDC"), "version": .string("2")])

    static func v1Body(_ payer: ExactEVMPayer, requirements: X402V1.PaymentRequirements = v1Requirements, topLevelVersion: Bool = true) throws -> X402.FacilitatorRequest {
        let signed = try payer.pay(try #require(requirements.v2), resource: nil, now: Int64(Date().timeIntervalSince1970))
        let payload = X402V1.PaymentPayload(scheme: "exact", network: requirements.network, payload: signed.payload)
        let request = X402.FacilitatorRequest(v1Payload: JSONWriter.bytes(payload), requirements: requirements)
        guard !topLevelVersion else { return request }
        // Older v1 clients sent the body without the top-level version.
        let prefix = Array(#"{"x402Version":1,"#.utf8)
        #expect(request.body.starts(with: prefix))
        return X402.FacilitatorRequest(body: Array("{".utf8) + request.body.dropFirst(prefix.count))
    }

    @Test func listsV1KindsByTheirV1Names() async throws {
        let ledger = try DevLedger(path: FileManager.default.temporaryDirectory.appendingPathComponent("dev-\(UUID().uuidString)/l.sqlite").path)
        let facilitator = try DevFacilitator(networks: ["eip155:84532", "eip155:31337"], ledger: ledger)
        let kinds = try await facilitator.supported(logger: Logger(label: "test")).kinds
        #expect(kinds.contains(.init(x402Version: 2, scheme: "exact", network: "eip155:84532")))
        #expect(kinds.contains(.init(x402Version: 2, scheme: "exact", network: "eip155:31337")))
        #expect(kinds.contains(.init(x402Version: 1, scheme: "exact", network: "base-sepolia")))
        // v1 never named the local chain: no v1 kind for it.
        #expect(!kinds.contains { $0.x402Version == 1 && $0.network.contains("31337") })
    }

    @Test(arguments: [true, false])
    func verifiesAndSettlesAV1BodyOnce(topLevelVersion: Bool) async throws {
        let (facilitator, _) = try LiveStack.devFacilitator()
        let logger = Logger(label: "test")
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        let request = try Self.v1Body(payer, topLevelVersion: topLevelVersion)
        #expect(request.contents()?.x402Version == 1)
        #expect(request.contents()?.paymentRequirements.network == "eip155:84532")
        #expect(try await facilitator.verify(request, logger: logger).isValid)
        let settled = try await facilitator.settle(request, logger: logger)
        #expect(settled.success)
        #expect(settled.network == "base-sepolia")
        let again = try await facilitator.settle(request, logger: logger)
        #expect(again.errorReason == "invalid_exact_evm_nonce_already_used")
        #expect(try await facilitator.ledger.transferCount() == 1)
    }

    @Test func refusesAV1BodyThatDoesNotHold() async throws {
        let (facilitator, _) = try LiveStack.devFacilitator()
        let logger = Logger(label: "test")
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        // Signed for 2500, presented against requirements of 5000.
        let signed = try Self.v1Body(payer)
        var higher = Self.v1Requirements
        higher.maxAmountRequired = "5000"
        let payload = try #require(JSONValue.parse(signed.body)?["paymentPayload"])
        let mismatched = X402.FacilitatorRequest(v1Payload: JSONWriter.bytes(payload), requirements: higher)
        #expect(try await facilitator.verify(mismatched, logger: logger).invalidReason == "invalid_exact_evm_payload_authorization_value_mismatch")
        // A payload naming another network than its requirements.
        var mainNet = Self.v1Requirements
        mainNet.network = "base"
        let other = X402.FacilitatorRequest(v1Payload: JSONWriter.bytes(payload), requirements: mainNet)
        #expect(try await facilitator.verify(other, logger: logger).isValid == false)
        #expect(try await facilitator.ledger.transferCount() == 0)
    }
}
