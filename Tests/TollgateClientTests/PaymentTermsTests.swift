import Foundation
import Testing
import TollgateCore
import TollgateX402
@testable import TollgateClient

@Suite("Terms of a 402: the v2 header, a v1 body, and garbage")
struct PaymentTermsTests {
    @Test("a v2 PAYMENT-REQUIRED header is read whole; the header wins over a body")
    func v2Header() throws {
        let required = X402.PaymentRequired(error: "payment_required", resource: .init(url: "http://api.example/data"), accepts: [
            X402.PaymentRequirements(scheme: "exact", network: "eip155:84532", asset: BudgetTests.usdc, amount: "10000", payTo: BudgetTests.payee,
                                     maxTimeoutSeconds: 60, extra: ["name": .string("USDC"), "version": .string("2"), "tollgate": .string("offer")]),
        ])
        let terms = try #require(PaymentTerms.read(headerValue: HeaderCodec.encode(required), body: Array(#"{"x402Version":1,"accepts":[]}"#.utf8)))
        #expect(terms.version == 2)
        #expect(terms.error == "payment_required")
        #expect(terms.options.first?.requirements == required.accepts.first)
        #expect(terms.options.first?.v1Network == nil)
    }

    @Test("a v1 body: v1 network names become CAIP-2, maxAmountRequired the amount; unknown networks are left out")
    func v1Body() throws {
        let body = """
            {"x402Version":1,"error":"X-PAYMENT header is required","accepts":[
              {"scheme":"exact","network":"base-sepolia","maxAmountRequired":"10000","resource":"http://api.example/data",
               "description":"data","mimeType":"application/json","payTo":"\(BudgetTests.payee)","maxTimeoutSeconds":60,
               "asset":"\(BudgetTests.usdc)","extra":{"name":"USDC","version":"2"}},
              {"scheme":"exact","network":"no-such-chain","maxAmountRequired":"1","payTo":"0x1","asset":"0x2"}]}
            """
        let terms = try #require(PaymentTerms.read(headerValue: nil, body: Array(body.utf8)))
        #expect(terms.version == 1)
        #expect(terms.options.count == 1)
        #expect(terms.options.first?.network == "eip155:84532")
        #expect(terms.options.first?.v1Network == "base-sepolia")
        #expect(terms.options.first?.amount == TokenAmount(atomic: "10000"))
        #expect(terms.resource?.url == "http://api.example/data")
    }

    @Test("no terms in a 402: nil, never a crash", arguments: [
        (nil, ""), ("not base64!", "{}"), (HeaderCodec.base64(Array("[1,2]".utf8)), "[]"), (nil, #"{"x402Version":3,"accepts":[]}"#),
        (nil, #"{"x402Version":1,"accepts":[]}"#), (nil, String(repeating: "[", count: 10_000)),
    ] as [(String?, String)])
    func garbage(header: String?, body: String) {
        #expect(PaymentTerms.read(headerValue: header, body: Array(body.utf8)) == nil)
    }
}
