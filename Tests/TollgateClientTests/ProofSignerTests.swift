import Foundation
import Testing
import TollgateCore
import TollgateX402
@testable import TollgateClient

@Suite("Proofs: what each server version reads, signed by the payer")
struct ProofSignerTests {
    static let payer = ExactEVMPayer(privateKey: Array(repeating: 7, count: 32))!

    static func check(_ payload: X402.ExactEVMPayload, offer: X402.PaymentRequirements) -> Verdict {
        ExactEVMVerifier.verify(scheme: "exact", network: offer.network, authorization: payload.authorization, signature: payload.signature,
                                expected: .init(network: offer.network, payTo: offer.payTo, amount: TokenAmount(atomic: offer.amount)!,
                                                domain: EIP712Domain(name: "USDC", version: "2", chainId: 84532,
                                                                     verifyingContract: EthereumAddress(offer.asset)!)),
                                now: Int64(Date().timeIntervalSince1970))
    }

    @Test("v2: PAYMENT-SIGNATURE echoes the offer whole and carries the purchase's payment-identifier; the signature verifies")
    func v2() throws {
        let terms = BudgetTests.terms([("10000", "eip155:84532", BudgetTests.usdc, BudgetTests.payee)])
        let choice = try Budget.standard.choose(terms, host: nil, tool: nil)[0]
        let proof = try ProofSigner(payer: Self.payer).header(choice, terms: terms, purchaseId: "pay_0123456789abcdef0123456789abcdef",
                                                              nowSeconds: Int64(Date().timeIntervalSince1970))
        #expect(proof.name == "PAYMENT-SIGNATURE")
        let payload = try #require(HeaderCodec.decode(X402.PaymentPayload.self, header: proof.value))
        #expect(payload.x402Version == 2)
        #expect(payload.accepted == choice.option.requirements)
        #expect(payload.extensions?["payment-identifier"]?["info"]?["id"] == .string("pay_0123456789abcdef0123456789abcdef"))
        #expect(X402.isValidPaymentIdentifier("pay_0123456789abcdef0123456789abcdef"))
        #expect(Self.check(payload.payload, offer: choice.option.requirements) == .valid(payer: Self.payer.address.checksummed))
    }

    @Test("v1: X-PAYMENT names the v1 network, echoes no offer, and its signature verifies")
    func v1() throws {
        let body = """
            {"x402Version":1,"accepts":[{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"10000","payTo":"\(BudgetTests.payee)",
            "maxTimeoutSeconds":60,"asset":"\(BudgetTests.usdc)","resource":"http://api.example/data","extra":{"name":"USDC","version":"2"}}]}
            """
        let terms = try #require(PaymentTerms.read(headerValue: nil, body: Array(body.utf8)))
        let choice = try Budget.standard.choose(terms, host: nil, tool: nil)[0]
        let proof = try ProofSigner(payer: Self.payer).header(choice, terms: terms, purchaseId: "pay_0123456789abcdef0123456789abcdef",
                                                              nowSeconds: Int64(Date().timeIntervalSince1970))
        #expect(proof.name == "X-PAYMENT")
        let decoded = try #require(HeaderCodec.base64Bytes(proof.value).flatMap { JSONValue.parse($0) })
        #expect(decoded["x402Version"] == .integer(1))
        #expect(decoded["network"] == .string("base-sepolia"))
        #expect(decoded["scheme"] == .string("exact"))
        #expect(decoded["accepted"] == nil)
        let inner = try JSONDecoder().decode(X402.ExactEVMPayload.self, from: Data(try #require(decoded["payload"]).canonicalBytes))
        #expect(Self.check(inner, offer: choice.option.requirements) == .valid(payer: Self.payer.address.checksummed))
    }

    @Test("the payer key: hex with or without 0x, from the environment; never from a file others can read; never printed")
    func payerKey() throws {
        let hex = String(repeating: "07", count: 32)
        for shown in ["\(Self.payer)", String(reflecting: Self.payer), { var text = ""; dump(Self.payer, to: &text); return text }()] {
            #expect(!shown.contains(hex) && !shown.contains("7, 7, 7"), "\(shown)")
            #expect(shown.contains(Self.payer.address.checksummed))
        }
        #expect(try PayerKey.load(keyFile: nil, environment: ["TOLLGATE_PAYER_KEY": "0x" + hex]).address == Self.payer.address)
        #expect(try PayerKey.load(keyFile: nil, environment: ["TOLLGATE_PAYER_KEY": " \(hex)\n"]).address == Self.payer.address)
        #expect(throws: ClientError.self) { try PayerKey.load(keyFile: nil, environment: [:]) }
        #expect(throws: ClientError.self) { try PayerKey.load(keyFile: nil, environment: ["TOLLGATE_PAYER_KEY": "0x1234"]) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-key-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: path, contents: Data(hex.utf8), attributes: [.posixPermissions: 0o644])
        do {
            _ = try PayerKey.load(keyFile: path, environment: [:])
            Issue.record("a world-readable key file was accepted")
        } catch {
            #expect(error.code == .invalidKey)
            #expect(!error.message.contains(hex))
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        #expect(try PayerKey.load(keyFile: path, environment: [:]).address == Self.payer.address)
    }
}
