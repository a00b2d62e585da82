import Foundation
import Testing

/// `tollgate check` and `tollgate design` on the fixture configurations.
@Suite struct CheckAndDesignTests {
    @Test func checkRejectsABrokenConfigurationWithEveryProblemAndItsLine() async throws {
        let broken = try GatewayFixture.fixture("broken.yaml").path
        let run = await CommandRun.tollgate("check", "-c", broken)
        #expect(run.status == 2, "a file that cannot be loaded exits 2")
        #expect(run.output.isEmpty, "nothing is reported as OK: \(run.output)")
        // Every problem, not only the first, each with its line and key path.
        #expect(run.error == """
            \(broken): 4 error(s)
              line 3: error: listen: expected host:port, e.g. 127.0.0.1:8402
              line 12: error: routes[0].pay_to: a paid route needs pay_to (here or at the top level)
              line 15: error: routes[0].accepts: unknown asset usdc-nowhere
              line 3: error: facilitators: paid routes need at least one facilitator

            """)
    }

    @Test func checkPassesTheFixtureGatewayAndCountsItsParts() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let text = await fixture.tollgate("check")
        #expect(text.status == 0, "\(text.output)\(text.error)")
        #expect(text.output.hasPrefix("\(fixture.config): OK — 2 route(s), 1 paid, 0 client(s), 1 facilitator(s)\n"), "\(text.output)")
        #expect(text.output.contains("\nlint passed: "), "\(text.output)")

        let json = await fixture.tollgate("check", "--format", "json")
        #expect(json.status == 0)
        let report = try json.json()
        #expect(report["ok"] as? Bool == true)
        #expect(report["routes"] as? Int == 2 && report["paidRoutes"] as? Int == 1 && report["facilitators"] as? Int == 1)
        #expect(report["file"] as? String == fixture.config)
    }

    @Test func designRendersTheFixtureGatewayInEachFormat() async throws {
        let fixture = try await GatewayFixture()
        defer { fixture.remove() }
        let markdown = await fixture.tollgate("design")
        #expect(markdown.status == 0, "\(markdown.error)")
        #expect(markdown.output.hasPrefix("# Tollgate design: \(fixture.config)\n"), "\(markdown.output.prefix(200))")
        for section in ["## 1. Flow of one request", "## 3. Rate limits", "### Timing budget", "## 5. Open decisions before launch"] {
            #expect(markdown.output.contains(section), "missing \(section)")
        }
        #expect(markdown.output.contains("datasets"))

        let json = await fixture.tollgate("design", "--format", "json")
        #expect(json.status == 0)
        #expect(try json.json()["decisions"] is [Any], "the report as JSON, decisions included")

        // --output writes the same bytes as standard output would carry, and nothing else is printed.
        let file = fixture.directory.appendingPathComponent("design.html").path
        let html = await fixture.tollgate("design", "--format", "html", "-o", file)
        #expect(html.status == 0 && html.output.isEmpty)
        let written = try String(contentsOfFile: file, encoding: .utf8)
        #expect(written.hasPrefix("<!doctype html>"))
        #expect(written == (await fixture.tollgate("design", "--format", "html")).output)
    }

    @Test func designRefusesAnUnknownFormat() async throws {
        let run = await CommandRun.tollgate("design", "-c", try GatewayFixture.fixture("gateway.yaml").path, "--format", "pdf")
        #expect(run.status == 64, "a usage error")
        #expect(run.error.contains("--format must be one of: markdown, json, html"), "\(run.error)")
        #expect(run.output.isEmpty)
    }
}
