import Foundation
import HTTPTypes
import Testing
@testable import TollgateCore

/// A 402's terms learnt once per route and filled per request (`TermsTemplate`): no value of one request may reach
/// another's terms, and a rail the template cannot follow is rendered whole.
@Suite struct TermsTemplateTests {
    static let required = HTTPField.Name("Test-Required")!
    static let plain = HTTPField.Name("Test-Plain")!

    /// A renderer shaped like x402's: base64 of JSON in one field, a plain field, a constant, and a JSON body.
    static func render(_ values: TermsTemplate.Values, seed: Int64) -> (fields: HTTPFields, body: [UInt8]) {
        var header = JSONWriter()
        header.beginObject()
        header.field("error", "Payment required")
        header.field("url", values.resourceURL)
        header.key("accepts")
        header.beginArray()
        for token in values.tokens {
            header.beginObject()
            header.field("token", token)
            header.field("amount", "10000")
            header.endObject()
        }
        header.endArray()
        header.endObject()
        var fields = HTTPFields()
        fields[required] = Base64URL.encodeStandard(header.bytes)
        fields[plain] = "cid=" + values.correlationId
        fields[.cacheControl] = "no-store"
        var body = JSONWriter()
        body.beginObject()
        body.field("client", values.client)
        body.field("correlationId", values.correlationId)
        body.field("expiresAt", values.expiresAt)
        body.field("url", values.resourceURL)
        body.endObject()
        return (fields, body.bytes)
    }

    static func values(_ index: Int, tokens: Int) -> TermsTemplate.Values {
        TermsTemplate.Values(correlationId: "tg_\(index)_\(UUID().uuidString)", client: "client \"\(index)\" \\ é\u{2}",
                             resourceURL: "https://api.example/datasets/\(index)?q=\"x\"&r=\\\(index)", expiresAt: "2026-12-05T10:0\(index % 10):00Z",
                             tokens: (0..<tokens).map { "k1.\(index)-\($0).\(String(repeating: "A", count: index % 7))" })
    }

    @Test func aLearntTemplateWritesEachRequestsOwnValuesExactlyAsTheRendererDoes() throws {
        let template = try #require(TermsTemplate.make(shapedLike: Self.values(0, tokens: 2)) { Self.render($0, seed: $1) })
        #expect(template.fields.count == 3)
        guard case .base64JSON(let name, let holed) = template.fields[0] else { Issue.record("PAYMENT-REQUIRED-like field not templated"); return }
        #expect(name == Self.required)
        #expect(holed.holes == [2, 6, 7])
        guard case .plain(_, let plain) = template.fields[1] else { Issue.record("plain field not templated"); return }
        #expect(plain.holes == [0])
        guard case .constant(let constant) = template.fields[2] else { Issue.record("constant field not kept"); return }
        #expect(constant.value == "no-store")
        #expect(template.body.holes == [1, 0, 3, 2])

        for index in 0..<20 {
            let values = Self.values(index, tokens: 2)
            let direct = Self.render(values, seed: 0)
            let filled = template.render(values)
            #expect(Array(filled.fields) == Array(direct.fields))
            #expect(filled.body == direct.body)
        }
    }

    @Test func aRendererThatWritesAValueAnyOtherWayIsNotTemplated() {
        // Each would let the template write a value other than the one a direct rendering writes.
        let changed: [(TermsTemplate.Values, Int64) -> (fields: HTTPFields, body: [UInt8])] = [
            // The client transformed (lower-cased).
            { values, seed in var values = values; values.client = values.client.lowercased(); return Self.render(values, seed: seed) },
            // Something the template has no hole for: what the seed stands for (the request line, the expiry in seconds).
            { values, seed in var rendered = Self.render(values, seed: seed); rendered.fields[.age] = String(seed); return rendered },
            // Escaped another way (`/` as `\/`, as Foundation's JSONEncoder does by default).
            { values, seed in
                let rendered = Self.render(values, seed: seed)
                let text = String(decoding: rendered.body, as: UTF8.self).replacingOccurrences(of: "/", with: "\\/")
                return (rendered.fields, Array(text.utf8))
            },
            // A value put in a header as base64 of text (not JSON), or in a length.
            { values, seed in
                var rendered = Self.render(values, seed: seed)
                rendered.fields[.contentLength] = String(values.resourceURL.utf8.count)
                return rendered
            },
            // An empty value left out, a long one cut short.
            { values, seed in var values = values; if values.resourceURL.isEmpty { values.resourceURL = "/" }; return Self.render(values, seed: seed) },
            { values, seed in var values = values; values.client = String(values.client.prefix(100)); return Self.render(values, seed: seed) },
            // `\b` and `\f` escaped by name (as Foundation does) rather than as `\u0008`, `\u000c`.
            { values, seed in
                let rendered = Self.render(values, seed: seed)
                let text = String(decoding: rendered.body, as: UTF8.self).replacingOccurrences(of: "\\u0008", with: "\\b")
                return (rendered.fields, Array(text.utf8))
            },
        ]
        for render in changed {
            #expect(TermsTemplate.make(shapedLike: Self.values(0, tokens: 1), render: render) == nil)
        }
    }

    @Test func aMarkerFollowedByNoKnownHoleIsRefused() {
        let marker = Array("~~abc~".utf8)
        #expect(TermsTemplate.Holed(Array("x~~abc~9~y".utf8), marker: marker, holeCount: 5, escapesJSON: true) == nil)
        #expect(TermsTemplate.Holed(Array("x~~abc~~y".utf8), marker: marker, holeCount: 5, escapesJSON: true) == nil)
        #expect(TermsTemplate.Holed(Array("x~~abc~1".utf8), marker: marker, holeCount: 5, escapesJSON: true) == nil)
        let holed = TermsTemplate.Holed(Array("x~~abc~1~y~~abc~4~".utf8), marker: marker, holeCount: 5, escapesJSON: true)
        #expect(holed?.holes == [1, 4])
        #expect(holed?.literals == [Array("x".utf8), Array("y".utf8), []])
    }

    @Test func templatesAreBoundedAndKeptPerRouteMethodPriceAndPayableRails() {
        let templates = TermsTemplates(capacity: 3)
        let route = GatewayHarness.routes.routes[0]
        let pricing = GatewayHarness.pricing
        var made = 0
        func make() -> TermsTemplate? {
            made += 1
            return TermsTemplate.make(shapedLike: Self.values(0, tokens: 1)) { Self.render($0, seed: $1) }
        }
        let key = TermsTemplates.Key(route: route.identity, payable: 1)
        #expect(templates.template(key, route: route, method: .get, reason: .paymentRequired, pricing: pricing, make: make) != nil)
        #expect(templates.template(key, route: route, method: .get, reason: .paymentRequired, pricing: pricing, make: make) != nil)
        #expect(made == 1)
        // Another method (the discovery extension names it), another price: each its own.
        #expect(templates.template(key, route: route, method: .head, reason: .paymentRequired, pricing: pricing, make: make) != nil)
        var other = pricing
        other.quantity = 7
        #expect(templates.template(key, route: route, method: .get, reason: .paymentRequired, pricing: other, make: make) != nil)
        #expect(made == 3)
        // Full: further terms are rendered whole (no template, nothing learnt).
        var third = key
        third.payable = 3
        #expect(templates.template(third, route: route, method: .get, reason: .paymentRequired, pricing: pricing, make: make) == nil)
        #expect(made == 3)
        #expect(templates.count == 3)
        // What was learnt is still served.
        #expect(templates.template(key, route: route, method: .head, reason: .paymentRequired, pricing: pricing, make: make) != nil)
        #expect(made == 3)
    }

    /// A client chooses a metered route's quantity, and so its price; a facilitator names its refusals' reasons: under
    /// one key at most `perKey` are learnt (each kept apart by its reason and price), the rest rendered whole.
    @Test func oneKeyLearnsAtMostPerKeyReasonsAndPrices() {
        let templates = TermsTemplates(capacity: 100, perKey: 3)
        let route = GatewayHarness.routes.routes[0]
        var made = 0
        func make() -> TermsTemplate? {
            made += 1
            return TermsTemplate.make(shapedLike: Self.values(0, tokens: 1)) { Self.render($0, seed: $1) }
        }
        let refusal = TermsTemplates.Key(route: route.identity, payable: 1, refusal: true, detailed: true)
        for reason in ["invalid_a", "invalid_b", "invalid_a", "invalid_b"] {
            #expect(templates.template(refusal, route: route, method: .get, reason: Reason(reason), pricing: GatewayHarness.pricing, make: make) != nil)
        }
        #expect(made == 2)
        var quoted = GatewayHarness.pricing
        quoted.quantity = 2
        #expect(templates.template(refusal, route: route, method: .get, reason: Reason("invalid_a"), pricing: quoted, make: make) != nil)
        #expect(made == 3)
        // Full under this key: a fourth reason or price is rendered whole; another key (no detail of its own) is not full.
        quoted.quantity = 3
        #expect(templates.template(refusal, route: route, method: .get, reason: Reason("invalid_a"), pricing: quoted, make: make) == nil)
        #expect(templates.template(refusal, route: route, method: .get, reason: Reason("invalid_c"), pricing: GatewayHarness.pricing, make: make) == nil)
        #expect(made == 3)
        var undetailed = refusal
        undetailed.detailed = false
        #expect(templates.template(undetailed, route: route, method: .get, reason: Reason("invalid_a"), pricing: GatewayHarness.pricing, make: make) != nil)
        #expect(made == 4)
        #expect(templates.count == 4)
    }

    /// Which rail can take which accepted asset now: the offers, the rails named and the template's key follow it.
    @Test func readinessNamesOnlyWhatCanBePaidNow() throws {
        let harness = GatewayHarness()
        let mainnet = Asset(id: "usdc-mainnet", network: "eip155:8453", address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", decimals: 6,
                            eip712Name: "USD Coin", eip712Version: "2")
        let accepts = [GatewayHarness.pricing.accepts[0], Route.Acceptance(asset: mainnet, amount: GatewayHarness.price, payTo: GatewayHarness.payTo)]
        let rails: [any PaymentRail] = [harness.rail, OtherRail(readyNetworks: [mainnet.network])]
        var route = GatewayHarness.routes.routes[0]

        let all = Readiness(rails: rails, route: route, accepts: accepts)
        #expect(all.payableAccepts(accepts).map(\.asset.id) == [GatewayHarness.asset.id, "usdc-mainnet"])
        #expect(all.payableRails(rails, accepts: accepts).map { "\($0.rail.name) \($0.networks.sorted())" }
            == ["test-rail [\"eip155:8453\", \"\(GatewayHarness.network)\"]", "other-rail [\"eip155:8453\"]"])
        #expect(all.bits == 0b1011)

        harness.rail.update { $0.ready = false }
        let otherOnly = Readiness(rails: rails, route: route, accepts: accepts)
        #expect(otherOnly.payableAccepts(accepts).map(\.asset.id) == ["usdc-mainnet"])
        #expect(otherOnly.payableRails(rails, accepts: accepts).map(\.rail.name) == ["other-rail"])
        #expect(otherOnly.bits == 0b1000)

        // A route that takes one rail only never names the other, ready or not.
        harness.rail.update { $0.ready = true }
        route.rails = ["other-rail"]
        let restricted = Readiness(rails: rails, route: route, accepts: accepts)
        #expect(restricted.payableRails(rails, accepts: accepts).map(\.rail.name) == ["other-rail"])
        route.rails = ["no-such-rail"]
        let closed = Readiness(rails: rails, route: route, accepts: accepts)
        #expect(closed.payableAccepts(accepts).isEmpty && closed.payableRails(rails, accepts: accepts).isEmpty && closed.bits == 0)
        // Past 64 rail and asset pairs there is no key (rendered whole), and the answer is the same.
        let many = Array(repeating: accepts[1], count: 40)
        let wide = Readiness(rails: rails, route: GatewayHarness.routes.routes[0], accepts: many)
        #expect(wide.bits == nil)
        #expect(wide.payableAccepts(many).count == 40)
    }

    @Test func eachTemplatedOfferCarriesItsOwnRequestClientAndFlow() async throws {
        let harness = GatewayHarness()
        let first = await harness.send("/datasets/prices?day=1")
        let second = await harness.send("/datasets/prices?day=2", apiKey: GatewayHarness.bobKey)
        let third = await harness.send("/datasets/prices?day=3")
        #expect(harness.gateway.termsTemplates.count == 1)

        for (response, client, target) in [(first, "alice", "/datasets/prices?day=1"), (second, "bob", "/datasets/prices?day=2"),
                                           (third, "alice", "/datasets/prices?day=3")] {
            #expect(response.status == .paymentRequired)
            let correlationId = try #require(response.correlationId)
            #expect(response.json?.correlationId == correlationId)
            #expect(response.json?.client == client)
            #expect(response.text.contains(target + "\""))
            #expect(response.headerFields[ScriptedRail.challengeErrorField] == "Payment required")
            let offer = try harness.offers.verify(try #require(response.offerTokens.first)).get()
            #expect(offer.correlationId == correlationId)
            #expect(offer.client == client)
            #expect(offer.request == "GET " + target)
        }
        #expect(Set([first, second, third].compactMap(\.correlationId)).count == 3)
    }

    /// A refused proof is answered with fresh terms from a template too: each names the refused flow, its own fresh
    /// offer's flow and its own detail, whoever sent it.
    @Test func refusalsAreTemplatedAndEachNamesItsOwnFlowsAndDetail() async throws {
        let harness = GatewayHarness()
        var fresh: Set<String> = []
        for (index, (apiKey, client)) in [(GatewayHarness.aliceKey, "alice"), (GatewayHarness.bobKey, "bob"), (GatewayHarness.aliceKey, "alice")].enumerated() {
            let (offer, proof) = try await harness.offerAndProof(apiKey: apiKey, nonce: "0x0\(index + 1)")
            let detail = "recovered \"another\" address #\(index)"
            // Two reasons, alternating: each refusal's terms state its own (templates are kept apart by reason).
            let reason = index == 1 ? Reason("test_other_refusal") : .signatureInvalid
            harness.rail.update { $0.localVerdict = .invalid(reason, detail: detail) }
            let response = await harness.send("/datasets/prices", apiKey: apiKey, proof: proof)
            harness.rail.update { $0.localVerdict = .valid(payer: "") }

            #expect(response.status == .paymentRequired)
            #expect(response.correlationId == offer.correlationId)
            #expect(response.json?.correlationId == offer.correlationId)
            #expect(response.json?.detail == detail)
            #expect(response.json?.client == client)
            #expect(response.reason == reason.rawValue)
            #expect(response.headerFields[ScriptedRail.challengeErrorField] == reason.rawValue)
            let next = try #require(response.json?.offerCorrelationId)
            #expect(next != offer.correlationId)
            let token = try harness.offers.verify(try #require(response.offerTokens.first)).get()
            #expect(token.correlationId == next && token.client == client)
            fresh.insert(next)
        }
        #expect(fresh.count == 3)
        // One template for the first 402s, one for each reason of refusal.
        #expect(harness.gateway.termsTemplates.count == 3)
    }

    @Test func aRailThatCannotBePaidNowChangesTheTerms() async throws {
        let harness = GatewayHarness()
        #expect(await harness.send("/datasets/prices").status == .paymentRequired)
        harness.rail.update { $0.ready = false }
        #expect(await harness.send("/datasets/prices").status == .serviceUnavailable)
        harness.rail.update { $0.ready = true }
        let again = await harness.send("/datasets/prices")
        #expect(again.status == .paymentRequired)
        #expect(again.offerTokens.count == 1)
    }
}
