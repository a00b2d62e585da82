import Foundation
import Testing
import TollgateConfiguration
import TollgateCore
import TollgateDesign

/// `tollgate init`'s generator against golden files: each answer set in Fixtures/init produces exactly the
/// `.golden.yaml` next to it, which loads and passes the lint with no error. Regenerate the goldens with
/// `TOLLGATE_UPDATE_GOLDENS=1 swift test --filter InitGeneratorTests` and review the diff.
@Suite struct InitGeneratorTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/init")
    /// Golden mode: a fixed key per client, so the hashes in the goldens never change.
    static let generator = InitGenerator { "tg_golden_key_\($0)" }

    static let answerSets = ["dataset-agents.answers.yaml", "mcp-tool.answers.json", "record-export.answers.yaml"]

    static func generate(_ answersFile: String) throws -> InitGenerator.Output {
        let answers = try InitAnswersFile.load(path: fixtures.appendingPathComponent(answersFile).path)
        return generator.generate(try InitPlan(answers))
    }

    @Test(arguments: answerSets)
    func producesTheGoldenFile(_ answersFile: String) throws {
        let output = try Self.generate(answersFile)
        let name = String(answersFile.prefix { $0 != "." })
        let golden = Self.fixtures.appendingPathComponent("\(name).golden.yaml")
        if ProcessInfo.processInfo.environment["TOLLGATE_UPDATE_GOLDENS"] == "1" {
            try output.yaml.write(to: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(output.yaml == expected, "regenerate with TOLLGATE_UPDATE_GOLDENS=1 and review the diff")
    }

    /// The whole chain for each answer set: answers → configuration → `tollgate design` (Markdown), against a golden.
    @Test(arguments: answerSets)
    func designsTheGeneratedConfiguration(_ answersFile: String) throws {
        let name = String(answersFile.prefix { $0 != "." })
        let (configuration, _) = try ConfigurationLoader.parse(try Self.generate(answersFile).yaml, file: "\(name).golden.yaml")
        let markdown = MarkdownRenderer.render(DesignReport(configuration: configuration, source: "\(name).golden.yaml"))
        let golden = Self.fixtures.appendingPathComponent("\(name).design.md")
        if ProcessInfo.processInfo.environment["TOLLGATE_UPDATE_GOLDENS"] == "1" {
            try markdown.write(to: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(markdown == expected, "regenerate with TOLLGATE_UPDATE_GOLDENS=1 and review the diff")
    }

    @Test(arguments: answerSets)
    func loadsAndPassesTheLint(_ answersFile: String) throws {
        let output = try Self.generate(answersFile)
        let (configuration, _) = try ConfigurationLoader.parse(output.yaml, file: answersFile)
        let findings = ConfigurationLint.run(configuration)
        #expect(!findings.contains { $0.severity == .error || $0.rule == "TG118" }, "\(findings.map { "\($0.rule) \($0.path): \($0.message)" })")
        // Not even a warning: the generated timeouts and authorization lifetime fit their own timing budget.
        #expect(findings.isEmpty, "\(findings.map { "\($0.rule) \($0.path): \($0.message)" })")
        #expect(configuration.routes.allSatisfy { $0.pricing != nil })
        let timing = DesignReport(configuration: configuration, source: answersFile).limits.timing
        #expect(!timing.isEmpty && timing.allSatisfy(\.fits))
    }

    @Test func theAuthorizationOutlivesTheGeneratedTimeouts() throws {
        // One facilitator: 10 + 30 + 20 + 6 = 66 s, rounded up to 70; two in failover: 96 s → 100.
        #expect(InitTimeouts(facilitators: 1).maxTimeoutSeconds == 70)
        #expect(InitTimeouts(facilitators: 2).maxTimeoutSeconds == 100)
        #expect(InitTimeouts(facilitators: 2).budget.worstCaseSeconds == 96)
        // Eight still fit in 300 s (276 → 280); nine would need 306 s, so the timeouts drop to 5 s and 20 s: 161 → 170.
        #expect(InitTimeouts(facilitators: 8).maxTimeoutSeconds == 280 && !InitTimeouts(facilitators: 8).lowered)
        let nine = InitTimeouts(facilitators: 9)
        #expect(nine.lowered && nine.facilitatorSeconds == 5 && nine.upstreamSeconds == 20 && nine.maxTimeoutSeconds == 170)

        var answers = try InitAnswersFile.load(path: Self.fixtures.appendingPathComponent("dataset-agents.answers.yaml").path)
        answers.failures.facilitators = (1...9).map { "https://f\($0).example" }
        let yaml = Self.generator.generate(try InitPlan(answers)).yaml
        #expect(yaml.contains("not the usual 30 s") && yaml.contains("not the usual 10 s"))
        let (configuration, _) = try ConfigurationLoader.parse(yaml)
        #expect(configuration.upstreamTimeoutSeconds == 20 && configuration.facilitators.allSatisfy { $0.timeoutSeconds == 5 })
        #expect(configuration.routes.allSatisfy { $0.pricing?.maxTimeoutSeconds == 170 })
        let findings = ConfigurationLint.run(configuration)
        #expect(findings.isEmpty, "\(findings.map { "\($0.rule) \($0.path): \($0.message)" })")
    }

    @Test func datasetAgentsAreAnonymousPayersWithLimits() throws {
        let (configuration, _) = try ConfigurationLoader.parse(try Self.generate("dataset-agents.answers.yaml").yaml)
        let route = try #require(configuration.routes.first)
        #expect(route.allowsAnonymous && route.scope == nil)
        #expect(route.pricing?.price == "0.01" && route.pricing?.metering.unit == .request)
        #expect(route.pricing?.accepts.first?.asset.network == "eip155:84532")
        #expect(configuration.clients.isEmpty)
        #expect(configuration.limits.global.unpaid?.burst == 100)
        #expect(configuration.spendCaps.first?.subject == .payer)
        #expect(configuration.facilitators.map(\.url) == ["http://127.0.0.1:8404", "https://x402.org/facilitator"])
        #expect(configuration.auditRetention?.retentionDays == 90 && configuration.auditsDenials)
        #expect(configuration.admin != nil)
    }

    @Test func theMCPToolSettlesBeforePerSecondForKeyHolders() throws {
        let output = try Self.generate("mcp-tool.answers.json")
        let (configuration, _) = try ConfigurationLoader.parse(output.yaml)
        let route = try #require(configuration.routes.first)
        #expect(route.method.map { String(describing: $0) } == "POST" && route.path.description == "/mcp")
        #expect(!route.allowsAnonymous && route.scope == "tools:call")
        let metering = try #require(route.pricing?.metering)
        #expect(metering.unit == .second && metering.settle == .before && metering.measure == .header("X-Work-Seconds"))
        #expect(metering.quantity == .body(path: "params.arguments.max_seconds", defaultValue: 30, maximum: 300))
        #expect(configuration.refunds.automatic && configuration.refunds.payoutContact == "billing@example.com")
        #expect(configuration.clients.map(\.id) == ["crm-sync", "ops-agent"])
        #expect(configuration.clients.first?.organisation == "acme")
        #expect(configuration.quotas.first?.unit == "second")
    }

    @Test func theRecordExportCountsRecordsAndHidesPrivateFields() throws {
        let (configuration, _) = try ConfigurationLoader.parse(try Self.generate("record-export.answers.yaml").yaml)
        let route = try #require(configuration.routes.first)
        let metering = try #require(route.pricing?.metering)
        #expect(metering.unit == .record && metering.measure == .jsonArray("records"))
        #expect(metering.quantity == .query(name: "limit", defaultValue: 100, maximum: 1000))
        #expect(route.privateFields == Route.PrivateFields(scope: "exports:pii", fields: ["email", "phone"]))
        #expect(route.actionScopes == ["?all": "exports:bulk"])
        #expect(configuration.jwt?.issuer == "https://idp.example.com/")
        #expect(route.pricing?.accepts.first?.asset.eip712Name == "USD Coin")
        #expect(configuration.admin?.listen.port == 9405)
    }

    @Test func onlyTheKeyHashIsWritten() throws {
        let output = try Self.generate("mcp-tool.answers.json")
        #expect(output.keys.map(\.client) == ["crm-sync", "ops-agent"])
        for key in output.keys {
            #expect(!output.yaml.contains(key.key))
            #expect(output.yaml.contains(APIKeyHash.sha256Hex(key.key)))
        }
        #expect(!output.yaml.contains("value:"))
    }

    @Test func randomKeysAreLongAndDistinct() {
        let first = InitGenerator.randomKey("a"), second = InitGenerator.randomKey("a")
        #expect(first != second)
        #expect(first.hasPrefix("tg_") && first.count == 67)
    }
}
