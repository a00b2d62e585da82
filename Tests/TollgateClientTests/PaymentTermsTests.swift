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

    /// Terms a server (or a proxy between) wrote with a member twice read two ways: this client would pay one reading,
    /// another reader would show the other. They are not terms; the same text without the repeat is.
    @Test("terms with a repeated member are refused, in the v2 header and in a v1 body")
    func repeatedMember() throws {
        let offer = #"{"scheme":"exact","network":"eip155:84532","asset":"\#(BudgetTests.usdc)","amount":"10000","payTo":"\#(BudgetTests.payee)","maxTimeoutSeconds":60}"#
        let clean = #"{"x402Version":2,"resource":{"url":"http://api.example/data"},"accepts":[\#(offer)]}"#
        #expect(PaymentTerms.read(headerValue: HeaderCodec.base64(Array(clean.utf8)), body: [])?.options.first?.amount == TokenAmount(atomic: "10000"))
        let twice = clean.replacingOccurrences(of: #""amount":"10000""#, with: #""amount":"1","amount":"10000""#)
        #expect(PaymentTerms.read(headerValue: HeaderCodec.base64(Array(twice.utf8)), body: []) == nil)
        let payeeTwice = clean.replacingOccurrences(of: #""resource":"#, with: #""x402Version":2,"resource":"#)
        #expect(PaymentTerms.read(headerValue: HeaderCodec.base64(Array(payeeTwice.utf8)), body: []) == nil)

        let v1 = #"{"x402Version":1,"accepts":[{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"10000","payTo":"\#(BudgetTests.payee)","asset":"\#(BudgetTests.usdc)"}]}"#
        #expect(PaymentTerms.read(headerValue: nil, body: Array(v1.utf8))?.options.count == 1)
        let v1Twice = v1.replacingOccurrences(of: #""payTo":"#, with: #""payTo":"0x0000000000000000000000000000000000000001","payTo":"#)
        #expect(PaymentTerms.read(headerValue: nil, body: Array(v1Twice.utf8)) == nil)
    }

    /// The hand reader reads terms as the synthesized `Decodable` does: nulls as absent, extensions and extra whole, a
    /// member of another type refusing the whole.
    @Test("the strict reader and JSONDecoder read the same terms", arguments: [
        #"{"x402Version":2,"error":null,"resource":{"url":"u","description":null},"accepts":[],"extensions":{"bazaar":{"info":[1,{"a":true}]}}}"#,
        #"{"x402Version":2.0,"resource":{"url":"u","mimeType":"application/json"},"accepts":[{"scheme":"exact","network":"n","asset":"a","amount":"1","payTo":"p","maxTimeoutSeconds":60,"extra":{"name":"USDC"}}]}"#,
        #"{"x402Version":2,"resource":{"url":"u"},"accepts":[{"scheme":"exact","network":"n","asset":"a","amount":1,"payTo":"p","maxTimeoutSeconds":60}]}"#,
        #"{"x402Version":2,"resource":{"url":"u"},"accepts":{}}"#,
        #"{"x402Version":2,"accepts":[]}"#,
        #"{"x402Version":"2","resource":{"url":"u"},"accepts":[]}"#,
    ])
    func readersAgree(text: String) {
        let byHand = StrictJSON.tree(Array(text.utf8)).flatMap(X402.PaymentRequired.init(json:))
        let decoded = try? JSONDecoder().decode(X402.PaymentRequired.self, from: Data(text.utf8))
        #expect(byHand == decoded)
    }
}
