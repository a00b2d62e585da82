import Foundation
import Logging
import Testing
import TollgateCore
@testable import TollgateX402

/// A facilitator's free text reaches the paying client (the 402's detail, the receipt) and the audit log: what its
/// exception said, a hosted node's key included, is not passed on.
@Suite struct FacilitatorTextTests {
    let logger = Logger(label: "test")
    let base = ExactEVMRailTests()

    static let leaking = "HTTPSConnectionPool(host='base-mainnet.g.alchemy.com'): 429 for url: https://base-mainnet.g.alchemy.com/v2/"
        + "sk_live_SECRET123?apikey=SECRET456 (retry later)\r\nX-Injected: yes"

    @Test func urlsKeepTheirOriginOnlyAndControlCharactersAreSpaces() throws {
        let shown = try #require(FacilitatorText.shown(Self.leaking))
        #expect(!shown.contains("SECRET"))
        #expect(shown.contains("url: https://base-mainnet.g.alchemy.com (retry later)"))
        #expect(!shown.contains("\r") && !shown.contains("\n"))
        #expect(FacilitatorText.shown("failed at wss://user:pw@node.example:8546/ws, then http://10.0.0.1/x")
                == "failed at wss://node.example:8546, then http://10.0.0.1")
        #expect(FacilitatorText.shown("odd ://not-a-url and https://a.example/k") == "odd ://not-a-url and https://a.example")
        #expect(FacilitatorText.shown(nil) == nil)
        #expect(FacilitatorText.shown("insufficient balance") == "insufficient balance")
    }

    @Test func aLongTextIsCut() throws {
        let shown = try #require(FacilitatorText.shown(String(repeating: "x", count: 100_000)))
        #expect(shown.count == FacilitatorText.maxCharacters + 1)
        #expect(shown.hasSuffix("…"))
    }

    /// Through the rail: the verify refusal's detail and the failed settlement's message (which the receipt carries).
    @Test func theRailPassesOnNoFacilitatorSecret() async throws {
        let facilitator = ScriptedFacilitator(
            name: "leaky", verify: { .init(isValid: false, invalidReason: "invalid_exact_evm_payload_signature", invalidMessage: Self.leaking, payer: nil) },
            settle: { .init(success: false, errorReason: "invalid_exact_evm_payload_signature", errorMessage: Self.leaking, payer: nil, transaction: "",
                            network: "eip155:84532") })
        let pool = FacilitatorPool([.init(facilitator: facilitator, networks: ["eip155:84532"], breaker: .init())])
        await pool.refresh(logger: logger)
        let rail = ExactEVMRail(assets: [ExactEVMRailTests.asset], facilitators: pool)
        let now = Int64(Date().timeIntervalSince1970)
        let offer = base.signedOffer(now: now)
        let proof = try base.paidProof(rail, offer: offer, now: now)

        guard case .invalid(_, let detail) = try await rail.verify(proof, offer: offer, logger: logger) else {
            Issue.record("the refusal was not taken")
            return
        }
        #expect(!detail.contains("SECRET") && !detail.contains("\n"))
        let settlement = try await rail.settle(proof, offer: offer, before: { _ in }, logger: logger)
        #expect(settlement.status == .failed)
        let message = try #require(settlement.errorMessage)
        #expect(!message.contains("SECRET") && message.contains("https://base-mainnet.g.alchemy.com"))
        let receipt = rail.receiptFields(settlement).map(\.value).joined()
        let decoded = receipt.split(separator: " ").compactMap { Data(base64Encoded: String($0)) }.map { String(decoding: $0, as: UTF8.self) }.joined()
        #expect(!receipt.contains("SECRET") && !decoded.contains("SECRET"))
    }
}
