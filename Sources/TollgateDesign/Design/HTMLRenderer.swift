import Foundation

/// The report as one self-contained HTML page: inline CSS, the flow drawn as inline SVG, no script,
/// no external asset. Every value from the configuration is escaped.
public enum HTMLRenderer {
    public static func render(_ report: DesignReport) -> String {
        var body: [String] = []
        body.append("<h1>Tollgate design: \(e(report.source))</h1>")
        body.append("<p class=\"lead\">Derived from <code>\(e(report.source))</code> by <code>tollgate design</code> (report schema "
            + "\(report.schemaVersion)): every stage, number and decision below comes from this configuration.</p>")
        body.append("<p>\(e(overview(report)))</p>")
        body += flow(report)
        body += steps(report)
        body += HTMLLimitsSection.render(report)
        body += antiPatterns(report)
        body += decisions(report)
        return """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(e("Tollgate design: \(report.source)"))</title>
        <style>
        body{font:14px/1.45 ui-sans-serif,system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1d1f;margin:0 auto;max-width:1180px;padding:24px}
        h1{font-size:24px}h2{font-size:19px;margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin-top:22px}
        table{border-collapse:collapse;width:100%;margin:8px 0 16px;font-size:12.5px}th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}
        th{background:#f6f8fa}code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;background:#f6f8fa;padding:0 3px;border-radius:3px}
        .diagram{overflow-x:auto;border:1px solid #ddd;border-radius:6px;padding:8px;background:#fcfcfd}.lead{color:#555}
        .no{color:#b42318;font-weight:bold}.yes{color:#2f8f46}.inactive{color:#888}.owner{white-space:nowrap}
        .decision{border-left:3px solid #8a4fd1;padding:2px 12px;margin:12px 0}ul{margin:4px 0 8px}
        </style>
        </head>
        <body>
        \(body.joined(separator: "\n"))
        </body>
        </html>

        """
    }

    static func overview(_ report: DesignReport) -> String {
        MarkdownRenderer.overview(report).replacingOccurrences(of: "`", with: "")
    }

    // MARK: 1. flow

    static func flow(_ report: DesignReport) -> [String] {
        var out = ["<h2>1. Flow of one request</h2>", "<div class=\"diagram\">", FlowDiagramSVG.render(report), "</div>"]
        out.append("<h3>Routes</h3>")
        out.append(table(["route", "request", "access", "price", "x402", "unit · measure", "consumed · settle", "limits (unpaid · paid · invalid)"],
                         report.routes.map { route in
            [e(route.resource), code("\(route.method) \(route.path)") + "<br>" + e(route.description), e(MarkdownRenderer.access(route)),
             route.pricing.map { e("\($0.priceText) \($0.assetName)") } ?? "free", e(MarkdownRenderer.versions(route)),
             route.pricing.map { e("\($0.unit) · \($0.measure)") } ?? "—",
             route.pricing.map { e("\($0.consumed) · \($0.settle)") } ?? "—",
             route.pricing == nil ? "—" : e(["unpaid", "paid", "invalid"].map { route.limits.text($0) }.joined(separator: " · ")
                + (route.limits.source == "route" ? " (own)" : ""))]
        }))
        if let url = report.gateway.manifestURL {
            let listed = report.routes.filter { $0.discovery != nil }
            out.append("<h3>Discovery</h3>")
            out.append("<p>\(code(url)) lists \(listed.count) paid route(s), each caller only those it may use; their 402s carry the same "
                + "data in the bazaar extension.</p>")
            out.append("<ul>" + listed.map { "<li>\(e($0.resource)) (\(e(MarkdownRenderer.access($0)))): \(e($0.discovery?.text ?? ""))</li>" }.joined()
                + "</ul>")
        }
        if !report.networks.isEmpty {
            out.append("<h3>Facilitators</h3>")
            out.append(table(["network", "test network", "routes", "facilitators, in order", "timeout", "breaker", "failover"],
                             report.networks.map { network in
                [e(network.network), network.testnet ? "yes" : "no", e(network.routes.joined(separator: ", ")),
                 network.facilitators.map { code($0.url) + ($0.loopback ? " (loopback)" : "") }.joined(separator: " → "),
                 e(network.facilitators.map { "\($0.timeoutSeconds) s" }.joined(separator: ", ")),
                 e(network.facilitators.map(\.breaker.description).joined(separator: "; ")), network.failover ? "yes" : "no"]
            }))
        }
        if !report.identity.scopes.isEmpty {
            out.append("<h3>Scopes</h3>")
            out.append(table(["scope", "required by", "held by (API clients)"], report.identity.scopes.map {
                [e($0.scope), e($0.requiredBy.joined(separator: ", ")), $0.heldBy.isEmpty ? "nobody" : e($0.heldBy.joined(separator: ", "))]
            }))
        }
        return out
    }

    // MARK: 2. steps

    static func steps(_ report: DesignReport) -> [String] {
        ["<h2>2. Steps, owners, checks and audit</h2>",
         table(["#", "step", "journey stage", "owner", "checks", "this configuration", "refusals", "logged (stage outcome reason)"],
               report.flow.enumerated().map { index, step in
            [String(index + 1), step.active ? e(step.title) : "<span class=\"inactive\">\(e(step.title)) (not used)</span>", e(step.stageLabel),
             "<span class=\"owner\">\(step.owner.rawValue)</span>", list(step.checks), list(step.configuration), list(step.refusals),
             step.audit.isEmpty ? "nothing" : step.audit.map { code($0.description) }.joined(separator: "<br>")]
        })]
    }

    // MARK: 4. anti-patterns

    static func antiPatterns(_ report: DesignReport) -> [String] {
        var out = ["<h2>4. Anti-patterns</h2>", "<h3>Found in this configuration</h3>"]
        if report.findings.isEmpty {
            out.append("<p>No finding.</p>")
        } else {
            out.append(table(["rule", "severity", "where", "message", "why", "fix"], report.findings.map { finding in
                [e(finding.rule), finding.severity.rawValue,
                 e((finding.path.isEmpty ? "file" : finding.path) + (finding.line.map { " (line \($0))" } ?? "")),
                 e(finding.message), e(finding.why), e(finding.fix)]
            }))
        }
        out.append("<h3>General list</h3>")
        if report.rules.isEmpty {
            out.append("<p>No rule is published yet.</p>")
        } else {
            out.append(table(["rule", "severity", "title", "fired here"], report.rules.map {
                [e($0.id), $0.severity.rawValue, e($0.title), $0.fired ? "<span class=\"no\">yes</span>" : "no"]
            }))
        }
        return out
    }

    // MARK: 5. decisions

    static func decisions(_ report: DesignReport) -> [String] {
        var out = ["<h2>5. Open decisions before launch</h2>"]
        if report.decisions.isEmpty { out.append("<p>None.</p>") }
        for (index, decision) in report.decisions.enumerated() {
            out.append("<div class=\"decision\" id=\"decision-\(e(decision.id))\"><h3>5.\(index + 1) \(e(decision.title))</h3>"
                + "<p><strong>\(e(decision.question))</strong></p>\(list(decision.facts))"
                + "<p>Options: \(e(decision.options.joined(separator: "; "))).</p></div>")
        }
        return out
    }

    // MARK: helpers

    static func e(_ text: String) -> String { MarkupEscaping.html(text) }

    static func code(_ text: String) -> String { "<code>\(e(text))</code>" }

    static func list(_ items: [String]) -> String {
        items.isEmpty ? "—" : "<ul>" + items.map { "<li>\(e($0))</li>" }.joined() + "</ul>"
    }

    /// A table; `rows` hold cell HTML (already escaped).
    static func table(_ headers: [String], _ rows: [[String]]) -> String {
        "<table><thead><tr>" + headers.map { "<th>\(e($0))</th>" }.joined() + "</tr></thead><tbody>\n"
            + rows.map { "<tr>" + $0.map { "<td>\($0)</td>" }.joined() + "</tr>" }.joined(separator: "\n") + "\n</tbody></table>"
    }
}
