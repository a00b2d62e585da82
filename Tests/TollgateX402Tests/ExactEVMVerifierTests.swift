import Foundation
import Testing
import TollgateCore
@testable import TollgateX402

@Suite struct ExactEVMVerifierTests {
    static let usdc = EthereumAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e")!
    static let domain = EIP712Domain(name: "USDC", version: "2", chainId: 84532, verifyingContract: usdc)
    static let sdkPayee = "0x469603a7F51BF1327908e1Ca7eD880793D66162e"

    func sdkPayload(_ header: String) throws -> X402.PaymentPayload {
        try #require(HeaderCodec.decode(X402.PaymentPayload.self, header: header))
    }

    func verify(_ payload: X402.PaymentPayload, payTo: String = sdkPayee, amount: String = "10000",
                now: Int64 = WireFixtures.captureTime) -> Verdict {
        ExactEVMVerifier.verify(
            scheme: payload.accepted.scheme, network: payload.accepted.network, authorization: payload.payload.authorization,
            signature: payload.payload.signature,
            expected: .init(network: "eip155:84532", payTo: payTo, amount: TokenAmount(atomic: amount)!, domain: Self.domain), now: now)
    }

    @Test func acceptsTheSDKsSignature() throws {
        let payload = try sdkPayload(WireFixtures.shared.paymentSignature)
        #expect(verify(payload) == .valid(payer: "0xaF62d1B9587FAfc92d5FdE7142e2aAE927162Bc1"))
    }

    @Test func refusesATamperedSignature() throws {
        let payload = try sdkPayload(WireFixtures.shared.paymentSignatureTamperedR)
        guard case .invalid(let reason, _) = verify(payload) else { return #expect(Bool(false)) }
        #expect(reason == .signatureInvalid)
    }

    @Test func refusesEachTamperedField() throws {
        let original = try sdkPayload(WireFixtures.shared.paymentSignature)
        var value = original
        value.payload.authorization.value = "10001"
        var recipient = original
        recipient.payload.authorization.to = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
        var payer = original
        payer.payload.authorization.from = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        var nonce = original
        nonce.payload.authorization.nonce = "0x" + String(repeating: "ab", count: 32)

        #expect(reason(verify(value)) == .valueMismatch)
        #expect(reason(verify(value, amount: "10001")) == .signatureInvalid)
        #expect(reason(verify(recipient)) == .recipientMismatch)
        #expect(reason(verify(recipient, payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C")) == .signatureInvalid)
        #expect(reason(verify(payer)) == .signatureInvalid)
        #expect(reason(verify(nonce)) == .signatureInvalid)
    }

    @Test func enforcesTheTimeWindow() throws {
        let payload = try sdkPayload(WireFixtures.shared.paymentSignature)
        let validBefore: Int64 = 1_795_640_872
        #expect(verify(payload, now: validBefore - 6) == .valid(payer: "0xaF62d1B9587FAfc92d5FdE7142e2aAE927162Bc1"))
        #expect(reason(verify(payload, now: validBefore - 5)) == .validBefore)
        #expect(reason(verify(payload, now: validBefore + 100)) == .validBefore)
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        let offer = X402.PaymentRequirements(scheme: "exact", network: "eip155:84532", asset: Self.usdc.checksummed, amount: "10000",
                                             payTo: Self.sdkPayee, maxTimeoutSeconds: 60,
                                             extra: ["name": .string("USDC"), "version": .string("2")])
        let early = try payer.pay(offer, resource: nil, now: 1000, validAfter: 2000, validBefore: 5000)
        #expect(reason(verify(early, now: 1000)) == .validAfter)
        #expect(verify(early, now: 2000) == .valid(payer: payer.address.checksummed))
    }

    /// A server's 402 may say anything: a `maxTimeoutSeconds` near `Int.max` (which overflowed the validity sum and stopped
    /// the paying process) or beyond a day is refused, never signed.
    @Test(arguments: [Int.max, 86_401, 0, -5]) func anOfferValidTooLongIsNotSigned(maxTimeout: Int) throws {
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        let offer = X402.PaymentRequirements(scheme: "exact", network: "eip155:84532", asset: Self.usdc.checksummed, amount: "10000",
                                             payTo: Self.sdkPayee, maxTimeoutSeconds: maxTimeout,
                                             extra: ["name": .string("USDC"), "version": .string("2")])
        #expect(throws: ExactEVMPayer.Failure.self) { try payer.pay(offer, resource: nil, now: 1_750_000_000) }
        var day = offer
        day.maxTimeoutSeconds = 86_400
        #expect(try payer.pay(day, resource: nil, now: 1_750_000_000).payload.authorization.validBefore == String(1_750_000_000 + 86_400))
    }

    @Test func refusesAHighSTwin() throws {
        let payload = try sdkPayload(WireFixtures.shared.paymentSignature)
        let bytes = try #require(HexString.decodeAllowingPrefix(payload.payload.signature))
        // s' = n - s with v flipped recovers the same key, but only low-s signatures are canonical.
        let order = HexString.decodeAllowingPrefix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")!
        var s = Array(bytes[32..<64])
        var borrow = 0
        for index in stride(from: 31, through: 0, by: -1) {
            let difference = Int(order[index]) - Int(s[index]) - borrow
            s[index] = UInt8((difference + 256) % 256)
            borrow = difference < 0 ? 1 : 0
        }
        var twin = payload
        twin.payload.signature = HexString.prefixed(Array(bytes[0..<32]) + s + [bytes[64] == 27 ? 28 : 27])
        #expect(reason(verify(twin)) == .signatureInvalid)
    }

    @Test func refusesOtherSchemesAndNetworks() throws {
        var payload = try sdkPayload(WireFixtures.shared.paymentSignature)
        payload.accepted.scheme = "upto"
        #expect(reason(verify(payload)) == .invalidScheme)
        payload.accepted.scheme = "exact"
        payload.accepted.network = "eip155:8453"
        #expect(reason(verify(payload)) == .invalidNetwork)
    }

    @Test func ourPayerIsAcceptedAndEchoesUnknownExtraKeys() throws {
        let payer = try #require(ExactEVMPayer(privateKey: Secp256k1.randomPrivateKey()))
        let offer = X402.PaymentRequirements(scheme: "exact", network: "eip155:84532", asset: Self.usdc.checksummed, amount: "10000",
                                             payTo: Self.sdkPayee, maxTimeoutSeconds: 60,
                                             extra: ["name": .string("USDC"), "version": .string("2"), "tollgate": .string("k1.abc.def")])
        let payload = try payer.pay(.init(error: nil, resource: .init(url: "http://x/y"), accepts: [offer]), now: WireFixtures.captureTime)
        #expect(payload.accepted == offer)
        #expect(verify(payload) == .valid(payer: payer.address.checksummed))
        let decoded = try #require(HeaderCodec.decode(X402.PaymentPayload.self, header: HeaderCodec.encode(payload)))
        #expect(decoded.accepted.extra?["tollgate"] == .string("k1.abc.def"))
    }

    func reason(_ verdict: Verdict) -> Reason? {
        if case .invalid(let reason, _) = verdict { return reason }
        return nil
    }
}
