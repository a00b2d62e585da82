import Foundation
import Testing
@testable import TollgateConfiguration
import TollgateCore

@Suite struct ConfigurationLoaderTests {
    static let quickstartPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../examples/quickstart/tollgate.yaml").standardized.path

    /// A key id travels in every offer token: one that is not printable ASCII without dots or spaces is refused when the
    /// configuration is read, not discovered when every paid request fails.
    @Test(arguments: ["clé", "k.\u{301}", "k 1", "k.1"]) func secretIdsArePrintableASCII(id: String) {
        let yaml = """
            listen: 127.0.0.1:8402
            secrets:
              - {id: "\(id)", env: TOLLGATE_SECRET}
            """
        do {
            _ = try ConfigurationLoader.parse(yaml)
            Issue.record("the key id \(id) was accepted")
        } catch {
            #expect(error.issues.contains { $0.path == "secrets[0].id" && $0.message.contains("printable ASCII") }, "\(error.issues)")
        }
    }

    @Test func loadsTheQuickstart() throws {
        let (configuration, warnings) = try ConfigurationLoader.load(path: Self.quickstartPath)
        #expect(warnings.isEmpty)
        #expect(configuration.listen == .init(host: "127.0.0.1", port: 8402))
        #expect(configuration.upstreamURL == "http://127.0.0.1:8403")
        #expect(configuration.facilitators.map(\.url) == ["http://127.0.0.1:8404"])
        let datasets = try #require(configuration.routes.first { $0.resource == "datasets" })
        #expect(datasets.allowsAnonymous)
        #expect(datasets.pricing?.accepts.first?.amount == TokenAmount(atomic: "10000"))
        #expect(datasets.pricing?.accepts.first?.asset.network == "eip155:84532")
        let reports = try #require(configuration.routes.first { $0.resource == "reports" })
        #expect(reports.scope == "reports:read")
        #expect(!reports.allowsAnonymous)
        #expect(configuration.clients.first?.apiKeySHA256 == HexString.decode(APIKeyHash.sha256Hex("tg_demo_reports_key")))
        #expect(configuration.paidNetworks == ["eip155:84532"])
    }

    @Test func reportsEveryErrorWithItsLine() throws {
        let yaml = """
            listen: nowhere
            upstream:
              url: ftp://example.com
            secrets:
              - id: k1
                value: hunter2
            facilitators:
              - url: http://127.0.0.1:8404
                networks: [eip155:84532]
            assets:
              - id: usdc
                network: eip155:84532
                address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
                decimals: 6
                eip712_name: USDC
                eip712_version: "2"
            pay_to: "0x1234"
            clients:
              - id: a
                api_key: plaintext
                api_key_sha256: nothex
            routes:
              - path: datasets
                resource: r
                price: "0.0000001"
                accepts: [usdc, euro]
                colour: blue
            """
        do {
            _ = try ConfigurationLoader.parse(yaml)
            Issue.record("a bad configuration was accepted")
        } catch {
            let byPath = Dictionary(grouping: error.issues, by: \.path)
            #expect(byPath["listen"]?.first?.line == 1)
            #expect(byPath["upstream.url"]?.first?.line == 3)
            #expect(byPath["secrets[0].value"]?.first?.line == 6)
            #expect(byPath["pay_to"]?.first?.line == 17)
            #expect(byPath["clients[0].api_key"]?.first?.line == 20)
            #expect(byPath["clients[0].api_key_sha256"]?.first?.line == 21)
            #expect(byPath["routes[0].path"]?.first?.line == 23)
            #expect(byPath["routes[0].price"]?.first?.message.contains("at most 6 decimals") == true)
            #expect(byPath["routes[0].accepts"]?.first?.message.contains("unknown asset euro") == true)
            #expect(byPath["routes[0].colour"]?.first?.line == 27)
            #expect(error.issues.count >= 10)
        }
    }

    @Test func reportsInvalidYAMLWithItsLine() {
        do {
            _ = try ConfigurationLoader.parse("listen: 127.0.0.1:8402\nroutes: [\n  - a: b\n")
            Issue.record("invalid YAML was accepted")
        } catch {
            #expect(error.issues.first?.line != nil)
            #expect(error.issues.first?.message.hasPrefix("not valid YAML") == true)
        }
    }

    @Test func paidRoutesNeedAFacilitatorForTheirNetwork() {
        let yaml = """
            upstream: {url: "http://127.0.0.1:1"}
            secrets: [{id: k1, env: X}]
            facilitators: [{url: "http://127.0.0.1:2", networks: ["eip155:11155111"]}]
            assets: [{id: u, network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", eip712_name: USDC, eip712_version: "2"}]
            pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
            routes: [{path: /a, resource: a, price: "1", anonymous: true}]
            """
        do {
            _ = try ConfigurationLoader.parse(yaml)
            Issue.record("a paid network without a facilitator was accepted")
        } catch {
            #expect(error.issues.contains { $0.message.contains("no facilitator is configured for eip155:84532") })
        }
    }

    /// A route path with `;` could never match: a segment's path parameters are left out of matching.
    @Test func aRoutePathWithParametersIsRefused() {
        let yaml = """
            upstream: {url: "http://127.0.0.1:1"}
            secrets: [{id: k1, env: X}]
            routes: [{path: "/cars;v=2/x", resource: cars, anonymous: true}]
            """
        do {
            _ = try ConfigurationLoader.parse(yaml)
            Issue.record("a route path with ; was accepted")
        } catch {
            #expect(error.issues.contains { $0.path == "routes[0].path" && $0.message.contains("must not contain ;") })
        }
    }

    /// A route path no request can have (an encoded `/`, a dot segment) is refused at load, not left never to match.
    @Test(arguments: [("/a%2Fb/x", "encoded separator"), ("/a/../b", "dot segment"), ("/a/%2e%2e/b", "dot segment"), ("/a\\b", "backslash")])
    func aRoutePathNoRequestCanHaveIsRefused(path: String, why: String) {
        let yaml = """
            upstream: {url: "http://127.0.0.1:1"}
            secrets: [{id: k1, env: X}]
            routes: [{path: '\(path)', resource: cars, anonymous: true}]
            """
        do {
            _ = try ConfigurationLoader.parse(yaml)
            Issue.record("the route path \(path) was accepted")
        } catch {
            #expect(error.issues.contains { $0.path == "routes[0].path" && $0.message.contains("no request can have this path") && $0.message.contains(why) })
        }
    }

    /// `upstream.path_case` says how routes match letter case; unstated it is `unknown`, and an MCP server's tool names
    /// are always compared exactly.
    @Test func thePathCaseIsReadAndAnMCPGatewayComparesToolNamesExactly() throws {
        func parse(_ line: String) throws(ConfigurationError) -> GatewayConfiguration {
            try ConfigurationLoader.parse("""
                upstream: {url: "http://127.0.0.1:1"\(line)}
                secrets: [{id: k1, env: X}]
                routes: [{path: "/x", resource: x, anonymous: true}]
                """).0
        }
        #expect(try parse("").upstreamPathCase == .unknown)
        #expect(try parse(", path_case: insensitive").upstreamPathCase == .insensitive)
        #expect(try parse(", path_case: sensitive").upstreamPathCase == .sensitive)
        do {
            _ = try parse(", path_case: ignore")
            Issue.record("path_case: ignore was accepted")
        } catch {
            #expect(error.issues.contains { $0.path == "upstream.path_case" && $0.message.contains("expected sensitive, insensitive or unknown") })
        }
        let mcp = try ConfigurationLoader.parse("""
            mcp: {upstream: {url: "http://127.0.0.1:1/mcp"}}
            secrets: [{id: k1, env: X}]
            """).0
        #expect(mcp.upstreamPathCase == .sensitive)
    }

    /// Unstated letter case and a route whose own spelling an earlier route matches ignoring case: every request to it
    /// would be refused, so the loader says so; stated, nothing is said.
    @Test func aRouteItsLetterCaseWouldRefuseIsWarnedOf() throws {
        func warnings(_ pathCase: String) throws -> [ConfigurationIssue] {
            try ConfigurationLoader.parse("""
                upstream: {url: "http://127.0.0.1:1"\(pathCase)}
                secrets: [{id: k1, env: X}]
                routes: [{path: "/docs/*", resource: docs, anonymous: true}, {path: "/Docs/Internal/*", resource: internal, anonymous: true},
                         {path: "/health", resource: health, anonymous: true}]
                """).warnings
        }
        let unstated = try warnings("")
        #expect(unstated.contains { $0.path == "routes[1].path" && $0.message.contains("ambiguous_path") && $0.message.contains("/docs/*") })
        #expect(!unstated.contains { $0.path == "routes[0].path" || $0.path == "routes[2].path" })
        #expect(!(try warnings(", path_case: sensitive")).contains { $0.message.contains("ambiguous_path") })
    }

    /// The upstream as `serve` logs it: credentials and query written in its URL (lint warns of them) are never shown.
    @Test func theUpstreamIsShownWithoutItsSecrets() throws {
        let yaml = """
            upstream: {url: "https://svc:UPSTREAM_PASSWORD@api.internal:8443/v1/?api_key=UPSTREAM_KEY"}
            secrets: [{id: k1, env: X}]
            routes: []
            """
        let configuration = try ConfigurationLoader.parse(yaml).0
        #expect(configuration.upstreamShown == "https://api.internal:8443/v1")
    }

    /// A facilitator's connections are bounded (`max_connections`), and a header that would split the request (a line
    /// break, from the file or from the environment) is refused when the file is read, its value never quoted back.
    @Test func facilitatorConnectionsAndHeaders() throws {
        func yaml(_ facilitator: String) -> String {
            """
            upstream: {url: "http://127.0.0.1:1"}
            secrets: [{id: k1, env: X}]
            facilitators: [\(facilitator)]
            assets: [{id: u, network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", eip712_name: USDC, eip712_version: "2"}]
            pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
            routes: [{path: /a, resource: a, price: "1", anonymous: true}]
            """
        }
        // An upstream answer is held in one buffer: a limit past 2 GiB is refused rather than left to crash on.
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.parse(yaml(#"{url: "http://127.0.0.1:2"}"#).replacingOccurrences(
                of: #"upstream: {url: "http://127.0.0.1:1"}"#, with: #"upstream: {url: "http://127.0.0.1:1", max_response_bytes: 5000000000}"#))
        }
        let parsed = try ConfigurationLoader.parse(yaml(#"{url: "http://127.0.0.1:2", max_connections: 8}"#)).0
        #expect(parsed.facilitators.map(\.maxConnections) == [8])
        #expect(parsed.upstreamMaxConnections == 64)
        let upstreamBound = #"upstream: {url: "http://127.0.0.1:1", max_connections: 3}"#
        #expect(try ConfigurationLoader.parse(yaml(#"{url: "http://127.0.0.1:2"}"#).replacingOccurrences(
            of: #"upstream: {url: "http://127.0.0.1:1"}"#, with: upstreamBound)).0.upstreamMaxConnections == 3)
        for refusedUpstream in [#"{url: "http://127.0.0.1:1", max_connections: 0}"#, #"{url: "http://127.0.0.1:1/#part"}"#,
                                #"{url: "http://127.0.0.1:70000"}"#] {
            #expect(throws: ConfigurationError.self) {
                try ConfigurationLoader.parse(yaml(#"{url: "http://127.0.0.1:2"}"#).replacingOccurrences(
                    of: #"upstream: {url: "http://127.0.0.1:1"}"#, with: "upstream: \(refusedUpstream)"))
            }
        }
        #expect(try ConfigurationLoader.parse(yaml(#"{url: "http://127.0.0.1:2"}"#)).0.facilitators.map(\.maxConnections) == [64])
        // Never `setenv` in a test: another test starting a process at that moment reads a half-written `environ`.
        let environment = ["TOLLGATE_TEST_SPLIT_HEADER": "Bearer a\r\nX-Injected: 1"]
        let refused: [(String, String)] = [
            (#"{url: "http://127.0.0.1:2", max_connections: 0}"#, "facilitators[0].max_connections"),
            (#"{url: "http://127.0.0.1:2", headers: {all: {Authorization: "${TOLLGATE_TEST_SPLIT_HEADER}"}}}"#, "facilitators[0].headers.all.Authorization"),
            (#"{url: "http://127.0.0.1:2", headers: {verify: {"Bad Name": "x"}}}"#, "facilitators[0].headers.verify.Bad Name"),
            (#"{url: "http://127.0.0.1:2/#part"}"#, "facilitators[0].url"),
            (#"{url: "http://127.0.0.1:2", headers: {all: {Content-Length: "0"}}}"#, "facilitators[0].headers.all.Content-Length"),
            (#"{url: "http://127.0.0.1:2", headers: {settle: {connection: close}}}"#, "facilitators[0].headers.settle.connection"),
            (#"{url: "http://a:1@127.0.0.1:2"}, {url: "http://127.0.0.1:2/?k=v"}"#, "facilitators[1].url"),
        ]
        for (facilitator, path) in refused {
            do {
                _ = try ConfigurationLoader.parse(yaml(facilitator), environment: environment)
                Issue.record("\(facilitator) was accepted")
            } catch {
                #expect(error.issues.map(\.path) == [path])
                #expect(!error.issues.contains { $0.message.contains("Injected") })
            }
        }
    }

    @Test func secretsComeFromTheEnvironmentOrAFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-secret-\(UUID().uuidString)").path
        try (String(repeating: "ab", count: 32) + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let ring = try SecretResolver.keyRing([.init(id: "new", origin: .environment("SECRET")), .init(id: "old", origin: .file(file))],
                                              environment: ["SECRET": "a-long-enough-secret-value"])
        #expect(ring.current.id == "new")
        #expect(ring.key(id: "old") != nil)
        #expect(throws: ConfigurationError.self) { try SecretResolver.keyRing([.init(id: "k", origin: .environment("MISSING"))], environment: [:]) }
        #expect(throws: ConfigurationError.self) { try SecretResolver.keyRing([.init(id: "k", origin: .environment("S"))], environment: ["S": "short"]) }
    }
}

/// Numbers in a configuration that would have stopped `tollgate serve` or `check` with an arithmetic trap are refused
/// with the key's path: rates whose windows do not fit an `Int`, and YAML 1.1 base-60 whole numbers (`1:0:0:…`), which
/// Yams builds with unchecked multiplications.
@Suite struct HostileConfigurationNumbersTests {
    static func quickstart(limits: String) throws -> String {
        let text = try String(contentsOfFile: ConfigurationLoaderTests.quickstartPath, encoding: .utf8)
        let head = try #require(text.range(of: "\nlimits:")).lowerBound
        return String(text[..<head]) + "\nlimits: " + limits + "\n"
    }

    func issues(_ yaml: String) -> [ConfigurationIssue] {
        do {
            _ = try ConfigurationLoader.parse(yaml, environment: ["TOLLGATE_SECRET": String(repeating: "ab", count: 32)])
            return []
        } catch {
            return error.issues
        }
    }

    @Test(arguments: ["1e-19", "1e19", ".inf", ".nan", "10000000000000000000", "0", "-3"])
    func ratesOutsideTheLimiterRangeAreRefused(rate: String) throws {
        let found = issues(try Self.quickstart(limits: "{unpaid: {rate_per_second: \(rate)}}"))
        #expect(found.contains { $0.path == "limits.unpaid.rate_per_second" && $0.message.contains("from 0.000001 to 1000000") }, "\(found)")
    }

    @Test(arguments: ["1:0:0:0:0:0:0:0:0:0:0", "9223372036854775807:0", "!!int 1:0:0:0:0:0:0:0:0:0:0", "1:30"])
    func baseSixtyWholeNumbersAreRefused(number: String) throws {
        let found = issues(try Self.quickstart(limits: "{unpaid: {rate_per_second: 5, burst: \(number)}}"))
        #expect(found.contains { $0.path == "limits.unpaid.burst" && $0.message.contains("whole number") }, "\(found)")
        // A route's quantity, read apart from the other numbers.
        let route = try Self.quickstart(limits: "{}").replacingOccurrences(of: "    max_timeout_seconds: 60\n",
                                                                          with: "    max_timeout_seconds: 60\n    quantity: \(number)\n")
        let quantity = issues(route)
        #expect(quantity.contains { $0.path.hasSuffix(".quantity") && $0.message.contains("whole number") }, "\(quantity)")
    }
}
