import Foundation
import Testing
import TollgateConfiguration
import TollgateCore
import TollgateDesign

/// Each rule fires on a minimal bad configuration, stays quiet on the fixed one, and none fires on the quickstart.
@Suite struct ConfigurationLintTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL
    static let baseSepoliaUSDC = #"{id: usdc, network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6, eip712_name: USDC, eip712_version: "2"}"#
    static let baseUSDC = #"{id: usdc, network: "eip155:8453", address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", decimals: 6, eip712_name: USD Coin, eip712_version: "2"}"#
    static let facilitator = #"{url: "https://facilitator.example", networks: ["eip155:84532"]}"#
    /// A paid route that no rule objects to.
    static let goodRoute = #"{method: GET, path: /reports/*, resource: reports, price: "0.01", unit: request, consumed: on_success, scope: reports:read}"#

    /// A small valid configuration: `routes` and `assets`/`facilitators` items, and any extra top-level YAML.
    static func yaml(routes: [String] = [goodRoute], assets: [String] = [baseSepoliaUSDC], facilitators: [String] = [facilitator],
                     extra: String = "") -> String {
        """
        listen: 127.0.0.1:8402
        upstream: {url: "http://127.0.0.1:8403", timeout_seconds: 20}
        secrets: [{id: k1, env: TOLLGATE_SECRET}]
        facilitators:
        \(facilitators.map { "  - \($0)" }.joined(separator: "\n"))
        assets:
        \(assets.map { "  - \($0)" }.joined(separator: "\n"))
        pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
        clients:
          - {id: analyst, api_key_sha256: 69c93688fc55f1d9e2333180e48f77e2f7c2a62a51cdbe041701933e2a4771f7, scopes: [reports:read]}
        routes:
        \(routes.map { "  - \($0)" }.joined(separator: "\n"))
        \(extra)
        """
    }

    static func lint(_ text: String, environment: [String: String] = [:]) throws -> [LintFinding] {
        ConfigurationLint.run(try ConfigurationLoader.parse(text, environment: environment).0)
    }

    static func rules(_ text: String, environment: [String: String] = [:]) throws -> Set<String> {
        Set(try lint(text, environment: environment).map(\.rule))
    }

    static func quickstart() throws -> GatewayConfiguration {
        try ConfigurationLoader.load(path: root.appendingPathComponent("examples/quickstart/tollgate.yaml").path).0
    }

    // MARK: The quickstart and the catalog

    @Test func theQuickstartHasNoErrors() throws {
        #expect(!ConfigurationLint.run(try Self.quickstart()).contains { $0.severity == .error })
    }

    @Test(arguments: ConfigurationLint.rules.map(\.id))
    func noRuleFiresOnTheQuickstart(rule: String) throws {
        let findings = ConfigurationLint.run(try Self.quickstart()).filter { $0.rule == rule }
        #expect(findings.isEmpty, "\(findings.map(\.message))")
    }

    @Test func theBaseConfigurationIsClean() throws {
        #expect(try Self.lint(Self.yaml()).isEmpty)
    }

    @Test func everyRuleHasAStableUniqueIdAndIsDocumented() throws {
        let ids = ConfigurationLint.rules.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(ids == ids.sorted())
        #expect(ids.allSatisfy { $0.hasPrefix("TG1") && $0.count == 5 })
        let docs = try String(contentsOf: Self.root.appendingPathComponent("docs/lint.md"), encoding: .utf8)
        for rule in ConfigurationLint.rules {
            #expect(docs.contains("## \(rule.id)"), "docs/lint.md has no section for \(rule.id)")
            #expect(!rule.title.isEmpty && !rule.why.isEmpty && !rule.fix.isEmpty && !rule.trigger.isEmpty)
        }
    }

    @Test func findingsNameTheLineAndComeMostSevereFirst() throws {
        let text = Self.yaml(routes: [#"{method: GET, path: /a, resource: a, price: "0.01", anonymous: true}"#], extra: "audit: {denials: none}")
        let findings = try Self.lint(text)
        #expect(findings.map(\.rule) == ["TG114", "TG112"])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let audit = try #require(findings[0].line)
        #expect(lines[audit - 1].contains("denials: none"))
        let route = try #require(findings[1].line)
        #expect(lines[route - 1].contains("price"))
    }

    // MARK: Authorization before payment

    @Test func tg101PaidRouteOpenToAnyKeyHolder() throws {
        let open = #"{method: GET, path: /datasets/*, resource: datasets, price: "0.01", unit: request, consumed: on_success}"#
        let findings = try Self.lint(Self.yaml(routes: [Self.goodRoute, open]))
        let finding = try #require(findings.first { $0.rule == "TG101" })
        #expect(finding.message.contains("routes[1] (datasets)"))
        #expect(finding.severity == .warning)
        // Without scopes anywhere, identification is the whole policy: no finding.
        let unscoped = Self.yaml(routes: [open]).replacingOccurrences(of: "scopes: [reports:read]", with: "scopes: []")
        #expect(!(try Self.rules(unscoped)).contains("TG101"))
    }

    @Test func tg102PaymentIsTheOnlyGateOnAWrite() throws {
        let post = #"{method: POST, path: /jobs, resource: jobs, price: "0.01", unit: request, consumed: on_success, anonymous: true}"#
        let finding = try #require(try Self.lint(Self.yaml(routes: [post])).first { $0.rule == "TG102" })
        #expect(finding.message.contains("POST"))
        // Any method, with scopes for some writes: the rest are named.
        let any = #"{path: /data/*, resource: data, price: "0.01", unit: request, consumed: on_success, anonymous: true, action_scopes: {POST: data:write, PUT: data:write, PATCH: data:write}}"#
        let partial = try #require(try Self.lint(Self.yaml(routes: [any])).first { $0.rule == "TG102" })
        #expect(partial.message.contains("DELETE") && !partial.message.contains("PATCH"))
        let gated = #"{method: POST, path: /jobs, resource: jobs, price: "0.01", unit: request, consumed: on_success, anonymous: true, action_scopes: {POST: jobs:run}}"#
        #expect(!(try Self.rules(Self.yaml(routes: [gated]))).contains("TG102"))
    }

    @Test func tg103PaidResourceAlsoFreeForScopedClients() throws {
        let free = #"{method: GET, path: /archive/*, resource: archive, scope: reports:read}"#
        let paid = #"{method: GET, path: /archive/*, resource: archive-paid, price: "0.01", unit: request, consumed: on_success, anonymous: true}"#
        let finding = try #require(try Self.lint(Self.yaml(routes: [free, paid])).first { $0.rule == "TG103" })
        #expect(finding.message.contains("routes[1] (archive-paid)") && finding.message.contains("reports:read"))
        let elsewhere = paid.replacingOccurrences(of: "/archive/*", with: "/feed/*")
        #expect(!(try Self.rules(Self.yaml(routes: [free, elsewhere]))).contains("TG103"))
    }

    @Test func tg104AnonymousPaymentsEscapeClientCaps() throws {
        let anonymous = #"{method: GET, path: /datasets/*, resource: datasets, price: "0.01", unit: request, consumed: on_success, anonymous: true}"#
        let capped = Self.yaml(routes: [anonymous], extra: #"spend_caps: [{per: client, period: day, asset: usdc, max: "1"}]"#)
        let finding = try #require(try Self.lint(capped).first { $0.rule == "TG104" })
        #expect(finding.message.contains("spend_caps[0]"))
        let quota = Self.yaml(routes: [anonymous], extra: "quotas: [{per: organisation, period: month, unit: request, max: 100}]")
        #expect(try Self.rules(quota).contains("TG104"))
        // A cap per payer does count anonymous payments.
        let perPayer = Self.yaml(routes: [anonymous], extra: #"spend_caps: [{per: payer, period: day, asset: usdc, max: "1"}]"#)
        #expect(!(try Self.rules(perPayer)).contains("TG104"))
    }

    // MARK: Limits and lifetimes

    @Test(arguments: [("unpaid", "TG105"), ("paid", "TG106"), ("invalid", "TG107")])
    func tg105To107NoLimit(trafficClass: String, rule: String) throws {
        let global = try Self.lint(Self.yaml(extra: "limits: {\(trafficClass): off}"))
        #expect(global.filter { $0.rule.hasPrefix("TG10") }.map(\.rule) == [rule])
        #expect(global.first?.path == "limits.\(trafficClass)")
        let perRoute = Self.goodRoute.replacingOccurrences(of: "}", with: ", limits: {\(trafficClass): off}}")
        let finding = try #require(try Self.lint(Self.yaml(routes: [perRoute])).first { $0.rule == rule })
        #expect(finding.path == "routes[0].limits.\(trafficClass)")
        // A route that sets its own limit is covered when the global one is off.
        let own = Self.goodRoute.replacingOccurrences(of: "}", with: ", limits: {\(trafficClass): {rate_per_second: 5, burst: 10}}}")
        #expect(!(try Self.rules(Self.yaml(routes: [own], extra: "limits: {\(trafficClass): off}"))).contains(rule))
    }

    @Test func tg108And109LongOffersAndAuthorizations() throws {
        let long = Self.goodRoute.replacingOccurrences(of: "}", with: ", offer_validity_seconds: 900, max_timeout_seconds: 600}")
        #expect(try Self.rules(Self.yaml(routes: [long])) == ["TG108", "TG109"])
        let limit = Self.goodRoute.replacingOccurrences(of: "}", with: ", offer_validity_seconds: 600, max_timeout_seconds: 300}")
        #expect(try Self.rules(Self.yaml(routes: [limit])).isEmpty)
    }

    @Test func tg118AuthorizationMayExpireBeforeSettlement() throws {
        // 10 s verify + 20 s upstream + 2 × 10 s settle + 6 s margin = 56 s, for an authorization valid 50 s.
        let short = Self.goodRoute.replacingOccurrences(of: "}", with: ", max_timeout_seconds: 50}")
        let text = Self.yaml(routes: [short])
        let finding = try #require(try Self.lint(text).first)
        #expect(finding.rule == "TG118" && finding.severity == .warning && finding.path == "routes[0].max_timeout_seconds")
        #expect(finding.message.contains("routes[0] (reports)") && finding.message.contains("valid 50 s")
            && finding.message.contains("56 s (verify 10 + upstream 20 + settle 20 + 6 s margin)"))
        #expect(finding.fix.contains("at least 56"))
        let line = try #require(finding.line)
        #expect(text.split(separator: "\n", omittingEmptySubsequences: false)[line - 1].contains("max_timeout_seconds: 50"))
        // Fixed either way: a longer authorization, or shorter timeouts.
        let fitting = Self.goodRoute.replacingOccurrences(of: "}", with: ", max_timeout_seconds: 56}")
        #expect(try Self.rules(Self.yaml(routes: [fitting])).isEmpty)
        let quick = #"{url: "https://facilitator.example", timeout_seconds: 5, networks: ["eip155:84532"]}"#
        #expect(try Self.rules(Self.yaml(routes: [short], facilitators: [quick])).isEmpty)
        // Failover sums the facilitators serving the network: 2 × 10 s verify, 40 s settle, 86 s against a stated 60 s.
        let second = #"{url: "https://other.example"}"#
        let sixty = Self.goodRoute.replacingOccurrences(of: "}", with: ", max_timeout_seconds: 60}")
        let failover = try #require(try Self.lint(Self.yaml(routes: [sixty], facilitators: [Self.facilitator, second])).first { $0.rule == "TG118" })
        #expect(failover.message.contains("valid 60 s") && failover.message.contains("86 s (verify 20 + upstream 20 + settle 40 + 6 s margin)"))
        // Unstated, max_timeout_seconds is derived from the same timeouts (86 s → 90 s), so it always fits.
        let derived = try ConfigurationLoader.parse(Self.yaml(facilitators: [Self.facilitator, second])).0
        #expect(derived.routes.first?.pricing?.maxTimeoutSeconds == 90)
        #expect(!(try Self.rules(Self.yaml(facilitators: [Self.facilitator, second]))).contains("TG118"))
        // A worst case past TG109's threshold is fixed by shorter timeouts, not a longer authorization.
        let slow = try Self.lint(Self.yaml(routes: [sixty], extra: "").replacingOccurrences(of: "timeout_seconds: 20", with: "timeout_seconds: 600"))
        // Unstated, the derived authorization covers even that (640 s); TG109 then says it is too long.
        let derivedSlow = try Self.rules(Self.yaml(extra: "").replacingOccurrences(of: "timeout_seconds: 20", with: "timeout_seconds: 600"))
        #expect(derivedSlow.contains("TG109") && !derivedSlow.contains("TG118"))
        #expect(slow.first { $0.rule == "TG118" }?.fix.contains("lower the facilitator or upstream timeouts") == true)
    }

    // MARK: Settlement

    @Test func tg110OneFacilitatorForAMainNet() throws {
        let main = #"{url: "https://facilitator.example", networks: ["eip155:8453"]}"#
        let finding = try #require(try Self.lint(Self.yaml(assets: [Self.baseUSDC], facilitators: [main])).first { $0.rule == "TG110" })
        #expect(finding.message.contains("eip155:8453 (Base)") && finding.path == "facilitators[0]")
        let second = #"{url: "https://other.example"}"#
        #expect(!(try Self.rules(Self.yaml(assets: [Self.baseUSDC], facilitators: [main, second]))).contains("TG110"))
        // A test network is left alone (the base configuration has one facilitator for Base Sepolia).
        #expect(!(try Self.rules(Self.yaml())).contains("TG110"))
    }

    @Test func tg111SettleBeforeWithoutARefundPolicy() throws {
        let before = #"{method: POST, path: /jobs, resource: jobs, price: "0.01", unit: request, consumed: on_success, scope: reports:read, settle: before}"#
        let noContact = try #require(try Self.lint(Self.yaml(routes: [before])).first { $0.rule == "TG111" })
        #expect(noContact.severity == .warning && noContact.path == "routes[0].settle")
        let off = try #require(try Self.lint(Self.yaml(routes: [before], extra: "refunds: {automatic: false}")).first { $0.rule == "TG111" })
        #expect(off.severity == .error)
        let manual = try Self.lint(Self.yaml(routes: [before], extra: "refunds: {automatic: false, payout_contact: billing@example.com}"))
        #expect(manual.first { $0.rule == "TG111" }?.severity == .warning)
        #expect(try Self.rules(Self.yaml(routes: [before], extra: "refunds: {payout_contact: billing@example.com}")).isEmpty)
    }

    @Test func tg119AWindowShorterThanTheUpstreamTimeout() throws {
        let before = #"{method: POST, path: /jobs, resource: jobs, price: "0.01", unit: request, consumed: on_success, scope: reports:read, settle: before}"#
        let refunds = "refunds: {payout_contact: billing@example.com}"
        let text = Self.yaml(routes: [before], extra: "\(refunds)\nidempotency_window_seconds: 10")
        let finding = try #require(try Self.lint(text).first { $0.rule == "TG119" })
        #expect(finding.severity == .warning && finding.path == "idempotency_window_seconds")
        #expect(finding.message.contains("routes[0] (jobs)") && finding.message.contains("up to 20 s") && finding.message.contains("is 10 s"))
        #expect(finding.fix.contains("at least 20"))
        let line = try #require(finding.line)
        #expect(text.split(separator: "\n", omittingEmptySubsequences: false)[line - 1].contains("idempotency_window_seconds: 10"))
        // As long as the upstream may run, or routes that record their intent only once the upstream answered: nothing.
        #expect(!(try Self.rules(Self.yaml(routes: [before], extra: "\(refunds)\nidempotency_window_seconds: 20"))).contains("TG119"))
        #expect(!(try Self.rules(Self.yaml(extra: "idempotency_window_seconds: 10"))).contains("TG119"))
    }

    @Test func tg116MainNetThroughALoopbackFacilitator() throws {
        let local = #"{url: "http://127.0.0.1:8404", networks: ["eip155:8453"]}"#
        let findings = try Self.lint(Self.yaml(assets: [Self.baseUSDC], facilitators: [local, #"{url: "https://other.example"}"#]))
        let finding = try #require(findings.first { $0.rule == "TG116" })
        #expect(finding.severity == .error && finding.path == "facilitators[0].url")
        // The same facilitator on a test network is the quickstart's setup.
        #expect(!(try Self.rules(Self.yaml(facilitators: [#"{url: "http://localhost:8404"}"#]))).contains("TG116"))
    }

    // MARK: Metering

    @Test func tg112And113MeteringLeftToDefaults() throws {
        let noUnit = #"{method: GET, path: /r, resource: r, price: "0.01", scope: reports:read}"#
        #expect(try Self.rules(Self.yaml(routes: [noUnit])) == ["TG112"])
        let noMoment = #"{method: GET, path: /r, resource: r, price: "0.01", unit: record, measure: {json_array: records}, scope: reports:read}"#
        let finding = try #require(try Self.lint(Self.yaml(routes: [noMoment])).first)
        #expect(finding.rule == "TG113" && finding.severity == .info)
    }

    // MARK: Audit and secrets

    @Test func tg114DenialsNotAudited() throws {
        let finding = try #require(try Self.lint(Self.yaml(extra: "audit: {denials: none}")).first)
        #expect(finding.rule == "TG114" && finding.severity == .error)
        #expect(try Self.rules(Self.yaml(extra: "audit: {denials: all}")).isEmpty)
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(Self.yaml(extra: "audit: {denials: some}")) }
    }

    @Test func tg115SecretsWrittenInTheFile() throws {
        let inline = #"{url: "https://facilitator.example", networks: ["eip155:84532"], headers: {all: {Authorization: "Bearer sk_live_123"}, settle: {X-Client: tollgate}}}"#
        let findings = try Self.lint(Self.yaml(facilitators: [inline]))
        #expect(findings.map(\.rule) == ["TG115"])
        #expect(findings[0].path == "facilitators[0].headers.all.Authorization")
        #expect(!findings[0].message.contains("sk_live_123") && !findings[0].fix.contains("sk_live_123"))
        let referenced = inline.replacingOccurrences(of: "Bearer sk_live_123", with: "${FACILITATOR_TOKEN}")
        #expect(try Self.rules(Self.yaml(facilitators: [referenced])).isEmpty)
        let partial = inline.replacingOccurrences(of: "Bearer sk_live_123", with: "Bearer ${FACILITATOR_TOKEN}")
        #expect(try Self.lint(Self.yaml(facilitators: [partial])).first?.message.contains("whole value") == true)
        let urls = [#"{url: "https://user:pw@facilitator.example", networks: ["eip155:84532"]}"#,
                    #"{url: "https://facilitator.example/?api_key=abc", networks: ["eip155:84532"]}"#]
        for url in urls {
            let finding = try #require(try Self.lint(Self.yaml(facilitators: [url])).first)
            #expect(finding.rule == "TG115" && !finding.message.contains("pw@") && !finding.message.contains("abc"))
        }
    }

    @Test func tg115DatabasePasswordWrittenInTheFile() throws {
        let inline = try #require(try Self.lint(Self.yaml(extra: #"storage: {postgres: {url: "postgres://gw:hunter2@db.example/tollgate"}}"#)).first)
        #expect(inline.rule == "TG115" && inline.path == "storage.postgres.url" && !inline.message.contains("hunter2"))
        // From the environment (the whole URL, password included) or without a password, nothing is written in the file.
        let environment = ["TOLLGATE_LINT_TEST_PG_URL": "postgres://gw:hunter2@db.example/tollgate"]
        #expect(try Self.rules(Self.yaml(extra: #"storage: {postgres: {url: "${TOLLGATE_LINT_TEST_PG_URL}"}}"#), environment: environment).isEmpty)
        #expect(try Self.rules(Self.yaml(extra: #"storage: {postgres: {url: "postgres://gw@db.example/tollgate", password_env: PGPASSWORD}}"#)).isEmpty)
    }

    // MARK: Assets

    @Test func tg117AssetDoesNotMatchTheKnownToken() throws {
        let main = [#"{url: "https://a.example", timeout_seconds: 5, networks: ["eip155:8453"]}"#,
                    #"{url: "https://b.example", timeout_seconds: 5, networks: ["eip155:8453"]}"#]
        let wrongName = Self.baseUSDC.replacingOccurrences(of: "eip712_name: USD Coin", with: "eip712_name: USDC")
        let finding = try #require(try Self.lint(Self.yaml(assets: [wrongName], facilitators: main)).first)
        #expect(finding.rule == "TG117" && finding.severity == .error && finding.path == "assets[0].eip712_name")
        #expect(finding.fix.contains("USD Coin"))
        let wrongVersion = Self.baseSepoliaUSDC.replacingOccurrences(of: #"eip712_version: "2""#, with: #"eip712_version: "1""#)
        #expect(try Self.lint(Self.yaml(assets: [wrongVersion])).map(\.path) == ["assets[0].eip712_version"])
        // The Base Sepolia address configured on Base main net is another token.
        let moved = Self.baseSepoliaUSDC.replacingOccurrences(of: "eip155:84532", with: "eip155:8453")
        #expect(try Self.lint(Self.yaml(assets: [moved], facilitators: main)).map(\.path) == ["assets[0].network"])
        #expect(try Self.rules(Self.yaml(assets: [Self.baseUSDC], facilitators: main)).isEmpty)
    }

    // MARK: What the loader remembers

    @Test func refundsAndDenialsAreRead() throws {
        let (configuration, _) = try ConfigurationLoader.parse(Self.yaml(extra: """
            refunds: {automatic: false, payout_contact: "billing@example.com"}
            audit: {denials: none}
            """))
        #expect(configuration.refunds == .init(automatic: false, payoutContact: "billing@example.com"))
        #expect(!configuration.auditsDenials)
        let defaults = try ConfigurationLoader.parse(Self.yaml()).0
        #expect(defaults.refunds.automatic && defaults.refunds.payoutContact == nil && defaults.auditsDenials)
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(Self.yaml(extra: "refunds: {payout_contact: \"\"}")) }
    }

    @Test func theSourceKnowsLinesExplicitKeysAndReferences() throws {
        let text = Self.yaml(facilitators: [#"{url: "https://f.example", headers: {verify: {X-Api-Key: "${KEY}"}}}"#])
        let source = try #require(try ConfigurationLoader.parse(text).0.source)
        #expect(source.explicitKeys(route: 0) == ["method", "path", "resource", "price", "unit", "consumed", "scope"])
        #expect(source.environmentReferences == ["facilitators[0].headers.verify.X-Api-Key"])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[try #require(source.lines["routes[0]"]) - 1].contains("/reports/*"))
        #expect(source.line(of: "routes[0].limits.paid") == source.lines["routes[0]"])
    }
}
