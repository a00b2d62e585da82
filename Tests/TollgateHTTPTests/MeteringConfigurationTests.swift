import Foundation
import Testing
import TollgateConfiguration
import TollgateCore

/// The metering keys of a paid route: what they become, and every bad value reported with its key.
@Suite struct MeteringConfigurationTests {
    static func yaml(_ route: String) -> String {
        """
        upstream: {url: "http://127.0.0.1:8403"}
        secrets: [{id: k1, env: TOLLGATE_SECRET}]
        facilitators: [{url: "http://127.0.0.1:8404", networks: ["eip155:84532"]}]
        assets: [{id: usdc, network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6, eip712_name: USDC, eip712_version: "2"}]
        pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
        clients: [{id: analyst, api_key_sha256: \(APIKeyHash.sha256Hex("k")), scopes: ["r"]}]
        routes:
          - {path: /x, resource: x, price: "0.001", scope: r, \(route)}
        """
    }

    static func metering(_ route: String) throws -> Metering {
        try #require(try ConfigurationLoader.parse(yaml(route)).0.routes.first?.pricing?.metering)
    }

    /// The paths of the errors `route` causes.
    static func errors(_ route: String) -> [String] {
        do {
            _ = try ConfigurationLoader.parse(yaml(route))
            return []
        } catch {
            return error.issues.filter { $0.severity == .error }.map(\.path)
        }
    }

    @Test func rulesBecomeTheirMetering() throws {
        let records = try Self.metering("unit: record, quantity: {query: limit, max: 500, default: 10}, measure: {json_array: items}")
        #expect(records.unit == .record && records.measure == .jsonArray("items"))
        #expect(records.quantity == .query(name: "limit", defaultValue: 10, maximum: 500))
        let jobs = try Self.metering("unit: second, quantity: {body: job.seconds, max: 60}, measure: {header: X-Work-Seconds}, settle: before, consumed: on_request")
        #expect(jobs.quantity == .body(path: "job.seconds", defaultValue: nil, maximum: 60))
        #expect(jobs.measure == .header("X-Work-Seconds") && jobs.settle == .before && jobs.moment == .onRequest)
        let package = try Self.metering("package: {units: 100, name: credits}")
        #expect(package.package == Metering.Package(name: "credits", units: 100) && package.unit == .request)
        #expect(try Self.metering("package: 5").package == Metering.Package(name: "x", units: 5))
        // Bytes and seconds are measured by the gateway unless the upstream reports them.
        #expect(try Self.metering("unit: byte").measure == .bodyBytes)
        #expect(try Self.metering("unit: second").measure == .elapsedSeconds)
        #expect(try Self.metering("quantity: 3").quantity == .fixed(3))
    }

    @Test(arguments: [
        ("unit: records", "routes[0].unit"),
        ("quantity: {query: limit}", "routes[0].quantity.max"),
        ("quantity: {query: limit, body: n, max: 5}", "routes[0].quantity"),
        ("quantity: {query: limit, max: 5, default: 6}", "routes[0].quantity.default"),
        ("quantity: {max: 5}", "routes[0].quantity"),
        ("unit: record, measure: {header: \"bad header\"}", "routes[0].measure.header"),
        ("unit: record, measure: {header: X, json_array: y}", "routes[0].measure"),
        ("unit: byte, measure: {header: X-Bytes}", "routes[0].measure"),
        ("consumed: on_delivery", "routes[0].consumed"),
        ("settle: later", "routes[0].settle"),
        ("unit: package", "routes[0].unit"),
        ("package: {name: credits}", "routes[0].package.units"),
        ("package: 0", "routes[0].package"),
    ])
    func badValuesAreReportedWithTheirKey(route: String, path: String) {
        #expect(Self.errors(route).contains(path), "\(Self.errors(route))")
    }

    @Test func aPackageCannotBeSoldToAnonymousCallers() {
        let anonymous = Self.yaml("package: 10").replacingOccurrences(of: "scope: r, ", with: "anonymous: true, ")
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(anonymous) }
    }
}
