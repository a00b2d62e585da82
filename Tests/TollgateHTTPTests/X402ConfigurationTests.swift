import Foundation
import Testing
@testable import TollgateConfiguration
import TollgateCore
import TollgateX402

/// `x402: {v1, discovery}` and the routes' `x402_v1` and `discovery` keys.
@Suite struct X402ConfigurationTests {
    static func yaml(top: String = "", route: String) -> String {
        """
        \(top)
        upstream: {url: "http://127.0.0.1:8403"}
        secrets: [{id: k1, env: S}]
        facilitators: [{url: "http://127.0.0.1:8404", networks: ["eip155:84532"]}]
        assets: [{id: usdc, network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6, eip712_name: USDC, eip712_version: "2"}]
        pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
        routes:
          - {method: GET, path: /free, resource: free, anonymous: true}
          - \(route)
        """
    }

    static func issues(_ yaml: String) -> [String: String] {
        do {
            _ = try ConfigurationLoader.parse(yaml)
            return [:]
        } catch {
            return Dictionary(error.issues.map { ($0.path, $0.message) }) { a, _ in a }
        }
    }

    @Test func theQuickstartTakesV1AndPublishesItsRoutes() throws {
        let (configuration, _) = try ConfigurationLoader.load(path: ConfigurationLoaderTests.quickstartPath)
        #expect(configuration.x402 == .init(v1: true, discovery: true))
        let records = try #require(configuration.routes.first { $0.resource == "records" })
        #expect(records.rails == nil)
        #expect(records.discovery?.method == "GET")
        #expect(records.discovery?.queryExample == .object(["limit": .integer(20)]))
        #expect(records.discovery?.outputSchema?["required"] == .array([.string("records")]))
        // Free routes are never listed.
        #expect(configuration.routes.first { $0.resource == "health" }?.discovery == nil)
    }

    @Test func readsSchemasAndExamplesAsJSON() throws {
        let (configuration, _) = try ConfigurationLoader.parse(Self.yaml(route: """
            {method: POST, path: /jobs, resource: jobs, price: "0.01", anonymous: true, x402_v1: false,
               discovery: {body_type: json, body_schema: {type: object, properties: {n: {type: integer}}}, body_example: {n: 3, label: "007", ok: true, none: null}}}
            """))
        let jobs = try #require(configuration.routes.last)
        #expect(jobs.rails == [ExactEVMRail.v2Name])
        #expect(jobs.discovery?.bodyType == "json")
        // YAML scalars keep their type; a quoted number stays text.
        #expect(jobs.discovery?.bodyExample == .object(["n": .integer(3), "label": .string("007"), "ok": .bool(true), "none": .null]))
        #expect(jobs.discovery?.takesBody == true)
    }

    @Test func discoveryFalseUnlistsARoute() throws {
        let (configuration, _) = try ConfigurationLoader.parse(Self.yaml(top: "x402: {v1: false, discovery: true}",
                                                                        route: #"{method: GET, path: /a, resource: a, price: "0.01", discovery: false}"#))
        #expect(configuration.x402 == .init(v1: false, discovery: true))
        #expect(configuration.routes.last?.discovery == nil)
    }

    /// A public route's discovery data rides in every 402's header: a large one is warned about.
    @Test func warnsWhenThe402HeaderWouldBeLarge() throws {
        let long = (0..<120).map { "f\($0): {type: string, description: \"a field with a long description\"}" }.joined(separator: ", ")
        let big = "{method: GET, path: /big, resource: big, price: \"0.01\", anonymous: true, discovery: {query_schema: {type: object, properties: {" + long + "}}}}"
        let (_, warnings) = try ConfigurationLoader.parse(Self.yaml(route: big))
        #expect(warnings.contains { $0.path == "routes[1].discovery" && $0.message.contains("KiB") })
        let (_, small) = try ConfigurationLoader.parse(Self.yaml(route: #"{method: GET, path: /a, resource: a, price: "0.01", anonymous: true}"#))
        #expect(!small.contains { $0.path.hasSuffix(".discovery") })
    }

    @Test func refusesMisplacedOrMalformedKeys() {
        let freeDiscovery = Self.issues(Self.yaml(route: #"{method: GET, path: /b, resource: b, anonymous: true, discovery: {query_example: {a: 1}}}"#))
        #expect(freeDiscovery["routes[1].discovery"]?.contains("paid route") == true)
        let freeV1 = Self.issues(Self.yaml(route: #"{method: GET, path: /b, resource: b, x402_v1: false}"#))
        #expect(freeV1["routes[1].x402_v1"]?.contains("paid route") == true)
        let unknown = Self.issues(Self.yaml(route: #"{method: GET, path: /b, resource: b, price: "0.01", discovery: {input: {}}}"#))
        #expect(unknown["routes[1].discovery.input"]?.contains("unknown key") == true)
        let notAMapping = Self.issues(Self.yaml(route: #"{method: GET, path: /b, resource: b, price: "0.01", discovery: {query_schema: [1, 2]}}"#))
        #expect(notAMapping["routes[1].discovery.query_schema"]?.contains("mapping") == true)
        let bodyOnGet = Self.issues(Self.yaml(route: #"{method: GET, path: /b, resource: b, price: "0.01", discovery: {body_example: {a: 1}}}"#))
        #expect(bodyOnGet["routes[1].discovery.body_example"]?.contains("takes no body") == true)
        let badBodyType = Self.issues(Self.yaml(route: #"{method: POST, path: /b, resource: b, price: "0.01", discovery: {body_type: xml}}"#))
        #expect(badBodyType["routes[1].discovery.body_type"] != nil)
        let word = Self.issues(Self.yaml(route: #"{method: GET, path: /b, resource: b, price: "0.01", discovery: maybe}"#))
        #expect(word["routes[1].discovery"]?.contains("expected false") == true)
        let reopened = Self.issues(Self.yaml(top: "x402: {v1: false}", route: #"{method: GET, path: /b, resource: b, price: "0.01", x402_v1: true}"#))
        #expect(reopened["routes[1].x402_v1"]?.contains("whole gateway") == true)
        let topUnknown = Self.issues(Self.yaml(top: "x402: {v3: true}", route: #"{method: GET, path: /b, resource: b, price: "0.01"}"#))
        #expect(topUnknown["x402.v3"] != nil)
    }
}
