import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TollgateDesign
import TollgateConfiguration

/// `tollgate design`: the report derived from a configuration, and its three renderings.
///
/// Golden files live in `Fixtures/design/`: for each configuration `NAME.yaml` there, `NAME.md`, `NAME.json` and
/// `NAME.html` are the exact bytes `tollgate design` renders. After an intended change to the report (or to the
/// lint rules it includes), regenerate them and review the diff:
///
///     TOLLGATE_UPDATE_GOLDENS=1 swift test --filter DesignReportTests
///
/// That writes the goldens into the source tree (next to this file) and the run passes; rebuild and run
/// again without the variable to check them from the test bundle.
@Suite struct DesignReportTests {
    static let fixtures = ["quickstart", "dataset-agents", "record-export"]
    static let updateGoldens = ProcessInfo.processInfo.environment["TOLLGATE_UPDATE_GOLDENS"] == "1"

    // MARK: goldens

    @Test(arguments: fixtures)
    func rendersTheGoldenFiles(_ name: String) throws {
        let report = try Self.report(name)
        for format in DesignFormat.allCases {
            let rendered = format.render(report)
            let file = "\(name).\(Self.fileExtension(format))"
            if Self.updateGoldens {
                try Data(rendered.utf8).write(to: Self.sourceFixtures.appendingPathComponent(file))
                continue
            }
            let golden = try Self.fixture(file)
            #expect(rendered == golden, "\(file) differs from its golden; if the change is intended: TOLLGATE_UPDATE_GOLDENS=1 swift test --filter DesignReportTests")
        }
    }

    @Test(arguments: fixtures)
    func rendersTheSameBytesEveryTime(_ name: String) throws {
        let first = try Self.report(name), second = try Self.report(name)
        for format in DesignFormat.allCases {
            #expect(format.render(first) == format.render(second))
        }
    }

    @Test(arguments: fixtures)
    func jsonReadsBackAsTheSameReport(_ name: String) throws {
        let report = try Self.report(name)
        let json = JSONRenderer.render(report)
        #expect(try JSONRenderer.parse(json) == report)
        // Sorted keys: the top level in alphabetical order.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["schemaVersion"] as? Int == DesignReport.currentSchemaVersion)
        let keys = ["decisions", "findings", "flow", "gateway", "identity", "limits", "networks", "routes", "rules", "schemaVersion", "source", "storage"]
        #expect(object.keys.sorted() == keys)
        let positions = keys.map { json.range(of: "\n  \"\($0)\" :")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
    }

    // MARK: derived from the configuration

    @Test func stepsFollowThePipelineOrder() throws {
        let report = try Self.report("quickstart")
        #expect(report.flow.map(\.id) == [
            "intake", "route", "identify", "authorize", "incident", "quantity",
            "package_balance", "admit_unpaid", "offer", "client_signs",
            "admit_invalid", "decode", "admit_paid", "offer_check", "local_verify", "payer_lists", "admit_payer", "reserve",
            "facilitator_verify", "spend_caps", "settle_before", "forward", "consumption", "private_fields", "settle", "meter", "respond",
        ])
        // What the quickstart does not use is marked, not dropped.
        #expect(report.flow.first { $0.id == "spend_caps" }?.active == false)
        #expect(report.flow.first { $0.id == "settle_before" }?.active == true)
        #expect(report.flow.first { $0.id == "package_balance" }?.active == true)
        let agents = try Self.report("dataset-agents")
        #expect(agents.flow.first { $0.id == "spend_caps" }?.active == true)
        #expect(agents.flow.first { $0.id == "settle_before" }?.active == false)
        #expect(agents.flow.first { $0.id == "spend_caps" }?.configuration.contains("spend cap 25 usdc-base per client per day") == true)
    }

    @Test func aChangedLimitChangesTheNumbers() throws {
        let text = try Self.fixture("quickstart.yaml")
        let original = "paid: {rate_per_second: 20, burst: 40}"
        #expect(text.contains(original))
        let before = try Self.report(text: text, source: "quickstart.yaml")
        let after = try Self.report(text: text.replacingOccurrences(of: original, with: "paid: {rate_per_second: 7, burst: 14}"), source: "quickstart.yaml")

        #expect(before.limits.global.paid == RateFigure(ratePerSecond: 20, burst: 40))
        #expect(after.limits.global.paid == RateFigure(ratePerSecond: 7, burst: 14))
        #expect(after.limits.perPayerPaid == RateFigure(ratePerSecond: 7, burst: 14))
        // unpaid = 2 × paid, invalid = paid ÷ 10 (burst ÷ 4).
        let unpaid = try #require(after.limits.recommendations.first { $0.scope == "global" && $0.trafficClass == "unpaid" })
        #expect(unpaid.recommended == RateFigure(ratePerSecond: 14, burst: 28))
        let invalid = try #require(after.limits.recommendations.first { $0.scope == "global" && $0.trafficClass == "invalid" })
        #expect(invalid.recommended == RateFigure(ratePerSecond: 0.7, burst: 3))
        // The invalid budget (5/s, burst 20) is now larger than the paid one in burst.
        #expect(before.limits.checks.first { $0.id == "invalid_le_paid" }?.holds == true)
        #expect(after.limits.checks.first { $0.id == "invalid_le_paid" }?.holds == false)
        // The facilitator's load follows: 7/s × 2 calls, 7 × 2 × 10 s + 14 in flight.
        #expect(after.limits.capacity.first?.callsPerSecondPerCaller == 14)
        #expect(after.limits.capacity.first?.inFlightPerCaller == 154)

        let markdown = MarkdownRenderer.render(after)
        #expect(markdown.contains("global 7/s, burst 14"))
        #expect(markdown.contains("| global | unpaid | 50/s, burst 100 | 14/s, burst 28 | ok |"))
        #expect(!markdown.contains("20/s, burst 40"))
        #expect(MarkdownRenderer.render(before) != markdown)
    }

    @Test func aMissingInvalidProofLimitIsListed() throws {
        let text = try Self.fixture("quickstart.yaml")
        let original = "invalid: {rate_per_second: 5, burst: 20}"
        #expect(text.contains(original))
        let report = try Self.report(text: text.replacingOccurrences(of: original, with: "invalid: off"), source: "quickstart.yaml")
        let gap = try #require(report.limits.gaps.first { $0.kind == "invalid" })
        #expect(gap.scope == "global")
        // Recommended from the paid limit that is configured: 20/s ÷ 10, burst 40 ÷ 4.
        #expect(gap.recommended == RateFigure(ratePerSecond: 2, burst: 10))
        #expect(report.limits.global.invalid == nil)
        #expect(MarkdownRenderer.render(report).contains("- **global**: no invalid-proof limit"))
        #expect(report.limits.recommendations.contains { $0.scope == "global" && $0.trafficClass == "invalid" && $0.status == "set" })

        // The export fixture switches it off globally; its export route has limits of its own, still without one.
        let export = try Self.report("record-export")
        #expect(export.limits.gaps.contains { $0.kind == "invalid" && $0.scope == "global" })
        #expect(export.limits.gaps.contains { $0.kind == "invalid" && $0.scope == "record-export" })
        // …and a paid limit above the unpaid one on that route breaks the ordering.
        #expect(export.limits.checks.contains { $0.id == "paid_le_unpaid" && $0.scope == "record-export" && !$0.holds })
        // With every limit in place, nothing is missing but the expensive route's own limits.
        let quickstart = try Self.report("quickstart")
        #expect(quickstart.limits.gaps.map(\.kind) == ["route_limits"])
        #expect(quickstart.limits.gaps.first?.scope == "render-jobs")
    }

    @Test func theTimingBudgetFollowsTheTimeouts() throws {
        let quickstart = try Self.report("quickstart")
        let datasets = try #require(quickstart.limits.timing.first { $0.resource == "datasets" })
        // 10 s verify + 30 s upstream + 2 × 10 s settle, + 6 s left on arrival.
        #expect(datasets.totalSeconds == 60)
        #expect(datasets.fits == false)
        #expect(datasets.recommendedMaxTimeoutSeconds == 66)
        // Two facilitators in failover: 5 s + 8 s per call.
        let agents = try Self.report("dataset-agents")
        let records = try #require(agents.limits.timing.first { $0.resource == "dataset-records" })
        #expect(records.verifySeconds == 13)
        #expect(records.totalSeconds == 13 + 20 + 26)
        #expect(records.fits)
    }

    @Test func decisionsComeFromTheConfiguration() throws {
        let quickstart = try Self.report("quickstart").decisions.map(\.id)
        #expect(quickstart.contains("admin_listener"))
        #expect(quickstart.contains("spend_caps"))
        #expect(quickstart.contains("audit_retention"))
        #expect(quickstart.contains("development_facilitator"))
        #expect(quickstart.contains("package_expiry"))
        // The quickstart names who pays refunds out.
        #expect(!quickstart.contains("pending_payouts"))

        let agents = try Self.report("dataset-agents").decisions.map(\.id)
        #expect(!agents.contains("admin_listener"))
        #expect(!agents.contains("spend_caps"))
        #expect(!agents.contains("audit_retention"))
        #expect(!agents.contains("facilitator_failover"))
        #expect(agents.contains("identity_source"))
        #expect(agents.contains("upstream_contract"))

        let export = try Self.report("record-export").decisions.map(\.id)
        #expect(export.contains("pending_payouts"))
        #expect(export.contains("unmatched_pass"))
        #expect(export.contains("proxy_addresses"))
        #expect(export.contains("facilitator_failover"))
    }

    @Test func theAuditColumnFollowsAuditAndRefundSettings() throws {
        let text = try Self.fixture("quickstart.yaml")
        let original = "refunds:\n  automatic: true\n"
        #expect(text.contains(original))
        let changed = text.replacingOccurrences(of: original, with: "refunds:\n  automatic: false\n") + "\naudit: {denials: none}\n"
        let before = try Self.report("quickstart"), after = try Self.report(text: changed, source: "quickstart.yaml")
        func audit(_ report: DesignReport, _ id: String) -> [String] {
            report.flow.first { $0.id == id }?.audit.map(\.description) ?? []
        }
        #expect(audit(before, "identify").contains("identify denied unknown_api_key"))
        #expect(audit(after, "identify").isEmpty)
        #expect(audit(after, "admit_paid").isEmpty)
        // Refusals of a request carrying a proof are recorded whatever audit.denials says.
        #expect(audit(after, "payer_lists").contains("decide denied payer_revoked"))
        #expect(audit(before, "settle_before").contains("refund ok automatic_refund"))
        #expect(!audit(after, "settle_before").contains("refund ok automatic_refund"))
        #expect(after.storage.auditDenials == "none")
        #expect(after.storage.refunds.automatic == false)
        #expect(after.decisions.contains { $0.id == "pending_payouts" && $0.title == "Who reviews held payments" })
    }

    @Test func lintFindingsAndEveryRuleAreIncluded() throws {
        let report = try Self.report("record-export")
        #expect(report.findings == ConfigurationLint.run(try Self.configuration("record-export")))
        #expect(report.rules.map(\.id) == ConfigurationLint.rules.map(\.id).sorted())
        for finding in report.findings {
            #expect(report.rules.first { $0.id == finding.rule }?.fired == true)
        }
    }

    @Test func facilitatorHeaderValuesNeverAppear() throws {
        let report = try Self.report("dataset-agents")
        #expect(report.networks.first?.facilitators.first?.headerEndpoints == ["all"])
        for format in DesignFormat.allCases {
            #expect(!format.render(report).contains("PRIMARY_FACILITATOR_TOKEN"))
        }
    }

    /// Credentials or a query written in the upstream's or a facilitator's URL (lint says not to, but the report is still
    /// rendered, and meant to be shared) appear in no rendering: each URL is shown as scheme, host, port and path.
    @Test func credentialsInURLsNeverAppear() throws {
        let text = try Self.fixture("quickstart.yaml")
            .replacingOccurrences(of: "  url: http://127.0.0.1:8403", with: "  url: http://user:UPSTREAM_PASSWORD@127.0.0.1:8403/v1?api_key=UPSTREAM_KEY")
            .replacingOccurrences(of: "  - url: http://127.0.0.1:8404", with: "  - url: https://FACILITATOR_USER:pw@facilitator.example/x402?key=FACILITATOR_KEY")
        let report = try Self.report(text: text, source: "secrets.yaml")
        #expect(report.gateway.upstreamURL == "http://127.0.0.1:8403/v1")
        for format in DesignFormat.allCases {
            let rendered = format.render(report)
            for secret in ["UPSTREAM_PASSWORD", "UPSTREAM_KEY", "FACILITATOR_USER", "FACILITATOR_KEY"] {
                #expect(!rendered.contains(secret), "\(format) shows \(secret)")
            }
            #expect(rendered.contains("facilitator.example/x402"), "\(format) names the facilitator")
        }
    }

    // MARK: HTML and SVG

    @Test(arguments: fixtures)
    func theDiagramIsWellFormedXML(_ name: String) throws {
        let report = try Self.report(name)
        let svg = FlowDiagramSVG.render(report)
        #expect(Self.parsesAsXML(svg))
        let html = HTMLRenderer.render(report)
        let start = try #require(html.range(of: "<svg"))
        let end = try #require(html.range(of: "</svg>"))
        let embedded = String(html[start.lowerBound..<end.upperBound])
        #expect(embedded == svg.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(Self.parsesAsXML(embedded))
        // Boxes are laid out from the active steps, with this configuration's labels.
        for step in report.flow where step.active {
            #expect(svg.contains(">\(MarkupEscaping.html(step.title)) · \(step.owner.rawValue)<"), "no box for \(step.id)")
        }
    }

    @Test func theHTMLPageIsSelfContained() throws {
        let html = HTMLRenderer.render(try Self.report("quickstart"))
        #expect(html.hasPrefix("<!doctype html>"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("<link"))
        #expect(!html.contains("src="))
        #expect(!html.contains("@import"))
        #expect(html.contains("<style>"))
    }

    @Test func textFromTheConfigurationIsEscaped() throws {
        let text = try Self.fixture("quickstart.yaml")
        let original = "description: Daily market datasets (JSON records)"
        #expect(text.contains(original))
        let hostile = "description: \"<script>alert('x')</script> & <b>bold</b>\""
        let report = try Self.report(text: text.replacingOccurrences(of: original, with: hostile), source: "<evil>.yaml")
        let html = HTMLRenderer.render(report)
        #expect(!html.contains("<script>"))
        #expect(!html.contains("<b>bold"))
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"))
        #expect(html.contains("<h1>Tollgate design: &lt;evil&gt;.yaml</h1>"))
        #expect(Self.parsesAsXML(FlowDiagramSVG.render(report)))
        let markdown = MarkdownRenderer.render(report)
        #expect(!markdown.contains("<script>"))
        #expect(markdown.contains("&lt;script&gt;"))
        // JSON keeps the text as it is (it is data, not markup).
        #expect(try JSONRenderer.parse(JSONRenderer.render(report)).routes[0].description == "<script>alert('x')</script> & <b>bold</b>")
    }

    @Test func anMCPGatewayIsDescribedAsOne() throws {
        let report = try Self.report(text: """
            listen: 127.0.0.1:8405
            secrets: [{id: k1, env: TOLLGATE_SECRET}]
            facilitators: [{url: "http://127.0.0.1:8404", networks: ["eip155:84532"]}]
            assets: [{id: usdc, network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6, eip712_name: USDC, eip712_version: "2"}]
            pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
            mcp:
              upstream: {url: "http://127.0.0.1:8406/mcp"}
              tools: [{name: forecast, price: "0.01", anonymous: true}]
            """, source: "mcp.yaml")
        #expect(report.gateway.mcpEndpoint == "http://127.0.0.1:8405/mcp")
        #expect(report.gateway.upstreamURL == "http://127.0.0.1:8406/mcp")
        let text = TextFlowDiagram.render(report)
        #expect(text.contains(#"no _meta["x402/payment"]"#))
        #expect(text.contains(#"_meta["x402/payment-response"] receipt"#))
        #expect(!text.contains("PAYMENT-SIGNATURE"))
        // The tools are the resources, and no lint rule about HTTP writes applies to them.
        #expect(report.routes.map(\.resource) == ["tool:forecast"])
        #expect(!report.findings.contains { $0.rule == "TG102" })
    }

    @Test func escapingCoversMarkupCharacters() {
        #expect(MarkupEscaping.html("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;")
        #expect(MarkupEscaping.html("bell\u{07}") == "bell ")
        #expect(MarkupEscaping.cell("a|b\nc") == "a\\|b c")
        #expect(MarkupEscaping.inline("<x>") == "&lt;x&gt;")
        // Code spans never render HTML: left as written there.
        #expect(MarkupEscaping.inline("set `a: <b>` or <c>") == "set `a: <b>` or &lt;c&gt;")
        #expect(MarkupEscaping.inline("odd ` <d>") == "odd ` &lt;d&gt;")
    }

    @Test func numbersPrintTheSameEverywhere() {
        #expect(DesignNumber.format(20) == "20")
        #expect(DesignNumber.format(1.6666) == "1.67")
        #expect(DesignNumber.format(0.5) == "0.5")
        #expect(DesignNumber.bytes(1 << 20) == "1048576 (1 MiB)")
        #expect(DesignNumber.seconds(3600) == "3600 s (1 h)")
        #expect(RateFigure(ratePerSecond: 20, burst: 40).scaled(1.0 / 12) == RateFigure(ratePerSecond: 1.67, burst: 4))
    }

    // MARK: helpers

    static func fileExtension(_ format: DesignFormat) -> String {
        switch format {
        case .markdown: "md"
        case .json: "json"
        case .html: "html"
        }
    }

    /// The fixtures as copied into the test bundle.
    static func fixture(_ file: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: file, withExtension: nil, subdirectory: "Fixtures/design"),
                               "missing Fixtures/design/\(file)")
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The fixtures in the source tree, where goldens are regenerated.
    static var sourceFixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/design")
    }

    static func configuration(_ name: String) throws -> GatewayConfiguration {
        try ConfigurationLoader.parse(try fixture("\(name).yaml"), file: "\(name).yaml").0
    }

    static func report(_ name: String) throws -> DesignReport {
        DesignReport(configuration: try configuration(name), source: "\(name).yaml")
    }

    static func report(text: String, source: String) throws -> DesignReport {
        DesignReport(configuration: try ConfigurationLoader.parse(text, file: source).0, source: source)
    }

    static func parsesAsXML(_ text: String) -> Bool {
        let parser = XMLParser(data: Data(text.utf8))
        return parser.parse()
    }
}
