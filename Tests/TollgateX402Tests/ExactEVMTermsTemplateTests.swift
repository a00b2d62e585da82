import Foundation
import HTTPTypes
import Testing
@testable import TollgateCore
@testable import TollgateX402

/// The x402 rails' terms (v2 `PAYMENT-REQUIRED`, v1 body `accepts`, discovery extensions) are learnt as a template once
/// per route and price, and every 402 filled from it is byte for byte the one the rails render whole.
@Suite struct ExactEVMTermsTemplateTests {
    static let sepolia = Asset(id: "usdc-sepolia", network: "eip155:11155111", address: "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238", decimals: 6,
                               eip712Name: "USDC", eip712Version: "2")
    let signer = OfferSigner(keys: KeyRing([SecretKey(id: "k1", secret: Array(repeating: 7, count: 32))!])!)

    func terms() throws -> (Gateway.Terms, [Route.Acceptance]) {
        let rail = ExactEVMRail(assets: [ExactEVMRailTests.asset, Self.sepolia], facilitators: FacilitatorPool([]), publicURL: "https://gw.example")
        let accepts = [Route.Acceptance(asset: ExactEVMRailTests.asset, amount: TokenAmount(atomic: "10000")!, payTo: ExactEVMRailTests.payTo),
                       Route.Acceptance(asset: Self.sepolia, amount: TokenAmount(atomic: "20000")!, payTo: ExactEVMRailTests.payTo.lowercased())]
        let pricing = Route.Pricing(price: "0.01", accepts: accepts, unit: "request", quantity: 1, offerValiditySeconds: 300, maxTimeoutSeconds: 60)
        let route = Route(method: .get, path: try #require(PathPattern("/datasets/*")), resource: "datasets", description: "Daily \"market\" datasets",
                          mimeType: "application/json", scope: nil, allowsAnonymous: true, pricing: pricing)
        let discovery = Discovery(method: "GET", queryExample: .object(["q": .string("ACME")]), outputExample: .object(["rows": .integer(3)]))
        let networks: Set<String> = [ExactEVMRailTests.asset.network, Self.sepolia.network]
        let terms = Gateway.Terms(route: route, pricing: pricing, payable: rail.rails(v1: true).map { ($0, networks) }, accepts: accepts,
                                  reason: .paymentRequired, discovery: discovery)
        return (terms, accepts)
    }

    func offers(_ accepts: [Route.Acceptance], values: TermsTemplate.Values, request: String) -> [SignedOffer] {
        accepts.map { acceptance in
            signer.sign(Offer(correlationId: values.correlationId, resource: "datasets", request: request, bodyDigest: nil, client: values.client,
                              network: acceptance.asset.network, asset: acceptance.asset.address, amount: acceptance.amount,
                              payTo: acceptance.payTo, unit: "request", quantity: 1, maxTimeoutSeconds: 60, expiresAt: 1_800_000_000))
        }
    }

    @Test func everyFilledTemplateIsTheRenderedTermsByteForByte() throws {
        let (terms, accepts) = try terms()
        let shape = TermsTemplate.Values(correlationId: "c", client: "a", resourceURL: "u", expiresAt: "e", tokens: ["t0", "t1"])
        let template = try #require(TermsTemplate.make(shapedLike: shape) { values, seed in
            Gateway.renderTerms(terms, offers: Gateway.standIns(for: offers(accepts, values: values, request: "GET /"), values: values, seed: seed),
                                values: values)
        })
        // PAYMENT-REQUIRED is base64 of JSON with holes; the correlation id header is plain.
        #expect(template.fields.contains { if case .base64JSON(.x402PaymentRequired, _) = $0 { true } else { false } })
        #expect(template.fields.contains { if case .plain(.tollgateCorrelationId, _) = $0 { true } else { false } })

        for (index, target) in ["/datasets/prices", "/datasets/prices?day=2&q=%22x%22", "/datasets/é/\u{7f}"].enumerated() {
            var values = TermsTemplate.Values(correlationId: "tg_\(index)_\(UUID().uuidString)", client: index == 1 ? "key:\"bob\"" : "anonymous",
                                              resourceURL: "https://gw.example" + target, expiresAt: "2027-01-15T08:00:0\(index)Z", tokens: [])
            let signed = offers(accepts, values: values, request: "GET " + target)
            values.tokens = signed.map(\.token)
            let direct = Gateway.renderTerms(terms, offers: signed, values: values)
            let filled = template.render(values)
            #expect(Array(filled.fields) == Array(direct.fields))
            #expect(filled.body == direct.body)

            // What an x402 client reads: this request's resource and the tokens of its own offers, in order.
            let header = try #require(filled.fields[.x402PaymentRequired])
            let required = try #require(HeaderCodec.decode(X402.PaymentRequired.self, header: header))
            #expect(required.resource.url == values.resourceURL)
            #expect(required.accepts.map { $0.extra?[X402.offerExtraKey]?.string } == values.tokens)
            #expect(required.accepts.map(\.amount) == ["10000", "20000"])
            let v1 = try JSONDecoder().decode(V1Body.self, from: Data(filled.body))
            #expect(v1.accepts.map(\.resource) == [values.resourceURL, values.resourceURL])
            #expect(v1.client == values.client && v1.correlationId == values.correlationId)
        }
    }

    struct V1Body: Decodable {
        var accepts: [X402V1.PaymentRequirements]
        var client: String
        var correlationId: String
    }
}
