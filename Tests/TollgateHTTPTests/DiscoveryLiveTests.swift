import Foundation
import NIOHTTP1
import Testing
import TollgateCore
import TollgateX402

/// `/.well-known/x402` and the bazaar extension: written from the configuration, shown only to callers who may buy.
@Suite struct DiscoveryLiveTests {
    static let describedRoutes = """
          - {method: GET, path: /weather, resource: weather, price: "0.02", anonymous: true,
             discovery: {query_schema: {type: object, properties: {city: {type: string}}, required: [city]}, query_example: {city: Paris},
                         output_schema: {type: object, properties: {temperature: {type: number}}}, output_example: {temperature: 12.5}}}
          - {method: POST, path: /summaries, resource: summaries, price: "0.03", anonymous: true,
             discovery: {body_schema: {type: object, properties: {text: {type: string}}}, body_example: {text: "hello"}}}
          - {method: GET, path: /hidden, resource: hidden, price: "0.04", anonymous: true, discovery: false}
        """

    static func manifest(_ stack: LiveStack, _ headers: [(String, String)] = []) async throws -> (Exchange, JSONValue?) {
        let exchange = try await Exchange.get(stack.gatewayURL + "/.well-known/x402", headers)
        return (exchange, JSONValue.parse(Array(exchange.body.utf8)))
    }

    static func ids(_ manifest: JSONValue?) -> Set<String> {
        Set(manifest?["items"]?.array?.compactMap { $0["id"]?.string } ?? [])
    }

    @Test func theManifestListsWhatTheCallerMayBuy() async throws {
        let (_, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router, extraRoutes: Self.describedRoutes) { stack in
            let (anonymous, listed) = try await Self.manifest(stack)
            #expect(anonymous.status == 200)
            #expect(anonymous.headers["content-type"] == "application/json")
            // Anonymous callers see the anonymous paid routes only; free and opted-out routes are never listed.
            #expect(Self.ids(listed) == ["datasets", "records", "exports", "weather", "summaries"])
            #expect(listed?["resources"]?.array?.contains(.string("http://127.0.0.1:8402/datasets/*")) == true)

            let (_, withKey) = try await Self.manifest(stack, [("X-Api-Key", "tg_demo_reports_key")])
            #expect(Self.ids(withKey).isSuperset(of: ["reports", "jobs", "search", "datasets"]))
            #expect(!Self.ids(withKey).contains("health") && !Self.ids(withKey).contains("hidden"))

            let (wrongKey, _) = try await Self.manifest(stack, [("X-Api-Key", "tg_wrong")])
            #expect(wrongKey.status == 401)
            #expect(!wrongKey.body.contains("datasets"))

            let head = try await Exchange.send(.HEAD, stack.gatewayURL + "/.well-known/x402")
            #expect(head.status == 200 && head.body.isEmpty)
        }
    }

    /// The manifest's terms are the 402's: the same requirements (less the per-request signed offer) and the same
    /// bazaar extension, so no second copy of a price can drift.
    @Test func theManifestAndThe402AgreeOnTerms() async throws {
        let (_, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router, extraRoutes: Self.describedRoutes) { stack in
            let (_, listed) = try await Self.manifest(stack)
            let items = listed?["items"]?.array ?? []
            for (id, url) in [("datasets", "/datasets/prices"), ("weather", "/weather?city=Paris")] {
                let item = try #require(items.first { $0["id"] == .string(id) })
                let offer = try await Exchange.get(stack.gatewayURL + url)
                let header = try #require(offer.headers["payment-required"].flatMap(HeaderCodec.base64Bytes).flatMap(JSONValue.parse))
                var accepts = header["accepts"]?.array ?? []
                for index in accepts.indices {
                    guard case .object(var requirements) = accepts[index], case .object(var extra)? = requirements["extra"] else { continue }
                    #expect(extra["tollgate"] != nil)
                    extra["tollgate"] = nil
                    requirements["extra"] = .object(extra)
                    accepts[index] = .object(requirements)
                }
                #expect(item["accepts"] == .array(accepts))
                #expect(item["extensions"]?["bazaar"] == header["extensions"]?["bazaar"])
                #expect(item["price"] != nil)
            }
            let weather = try #require(items.first { $0["id"] == .string("weather") })
            let bazaar = try #require(weather["extensions"]?["bazaar"])
            #expect(bazaar["info"]?["input"]?["queryParams"] == .object(["city": .string("Paris")]))
            #expect(bazaar["info"]?["output"]?["example"] == .object(["temperature": .number(12.5)]))
            #expect(weather["input"]?["queryParams"]?["required"] == .array([.string("city")]))
            #expect(weather["acceptsV1"]?.array?.first?["outputSchema"]?["input"]?["method"] == .string("GET"))

            let summaries = try #require(items.first { $0["id"] == .string("summaries") })
            #expect(summaries["extensions"]?["bazaar"]?["info"]?["input"]?["bodyType"] == .string("json"))
            #expect(summaries["extensions"]?["bazaar"]?["info"]?["input"]?["body"] == .object(["text": .string("hello")]))

            let hidden = try await Exchange.get(stack.gatewayURL + "/hidden")
            #expect(hidden.status == 402)
            #expect(hidden.terms?.extensions?["bazaar"] == nil)
        }
    }

    @Test func discoveryCanBeTurnedOff() async throws {
        let (_, router) = try LiveStack.devFacilitator()
        try await LiveStack.with(facilitator: router, extraTop: "x402: {discovery: false}") { stack in
            let (exchange, _) = try await Self.manifest(stack)
            #expect(exchange.status == 404)
            let offer = try await Exchange.get(stack.gatewayURL + "/datasets/prices")
            #expect(offer.status == 402)
            #expect(offer.terms?.extensions == nil)
        }
    }
}
