import Foundation

/// The report as Markdown (GitHub flavour): the default rendering of `tollgate design`.
public enum MarkdownRenderer {
    public static func render(_ report: DesignReport) -> String {
        var out: [String] = []
        out.append("# Tollgate design: \(inline(report.source))")
        out.append("")
        out.append("Derived from \(code(report.source)) by `tollgate design` (report schema \(report.schemaVersion)): every stage, "
            + "number and decision below comes from this configuration.")
        out.append("")
        out.append(overview(report))
        out.append("")
        out += flowSection(report)
        out += stepsSection(report)
        out += limitsSection(report)
        out += antiPatternsSection(report)
        out += decisionsSection(report)
        return out.joined(separator: "\n") + "\n"
    }

    static func overview(_ report: DesignReport) -> String {
        let g = report.gateway
        let reached = g.mcpEndpoint.map { "serves MCP at \(code($0)) (tools priced as routes `POST /<tool>`)" } ?? "is reached as \(code(g.publicURL))"
        return "The gateway listens on \(code(g.listen)), \(reached) and protects \(code(g.upstreamURL)) "
            + "(timeout \(g.upstreamTimeoutSeconds) s): \(g.routeCount) route(s), \(g.paidRouteCount) paid. "
            + "Identity: \(report.identity.kinds.isEmpty ? "none" : report.identity.kinds.joined(separator: ", ")). "
            + "Networks: \(report.networks.isEmpty ? "none" : report.networks.map(\.network).joined(separator: ", "))."
    }

    // MARK: 1. flow

    static func flowSection(_ report: DesignReport) -> [String] {
        var out = ["## 1. Flow of one request", "", "```text", TextFlowDiagram.render(report), "```", ""]
        out += ["### Routes", "", "| route | request | description | access | price | x402 | unit · measure | consumed · settle | limits (unpaid · paid · invalid) |",
                "|---|---|---|---|---|---|---|---|---|"]
        for route in report.routes {
            let price = route.pricing.map { cell($0.priceText + " " + $0.assetName) } ?? "free"
            let unit = route.pricing.map { cell("\($0.unit) · \($0.measure)") } ?? "—"
            let moment = route.pricing.map { "\($0.consumed) · \($0.settle)" } ?? "—"
            let limits = route.pricing == nil ? "—"
                : cell(["unpaid", "paid", "invalid"].map { route.limits.text($0) }.joined(separator: " · ") + (route.limits.source == "route" ? " (own)" : ""))
            out.append("| \(cell(route.resource)) | \(code("\(route.method) \(route.path)")) | \(cell(route.description)) | \(cell(access(route))) | \(price) | \(versions(route)) | \(unit) | \(moment) | \(limits) |")
        }
        out.append("")
        out += discoverySection(report)
        let paid = report.routes.filter { $0.pricing != nil }
        if !paid.isEmpty {
            out += ["### Settlement moments", ""]
            for (settle, text) in [("after", "settle after delivery (nothing undelivered is charged)"),
                                   ("before", "settle before forwarding (not delivered → automatic pending_payout refund)")] {
                for moment in ["on_success", "on_request"] {
                    let group = paid.filter { $0.pricing?.settle == settle && $0.pricing?.consumed == moment }.map(\.resource)
                    guard !group.isEmpty else { continue }
                    out.append("- **\(text)**, consumed \(moment): \(inline(group.joined(separator: ", ")))")
                }
            }
            out.append("")
        }
        if !report.networks.isEmpty {
            out += ["### Facilitators", "", "| network | test network | routes | facilitators, in order | timeout | breaker | failover |",
                    "|---|---|---|---|---|---|---|"]
            for network in report.networks {
                let list = network.facilitators.map { code($0.url) + ($0.loopback ? " (loopback)" : "") }.joined(separator: " → ")
                let timeouts = network.facilitators.map { "\($0.timeoutSeconds) s" }.joined(separator: ", ")
                let breakers = network.facilitators.map { cell($0.breaker.description) }.joined(separator: "; ")
                out.append("| \(cell(network.network)) | \(network.testnet ? "yes" : "no") | \(cell(network.routes.joined(separator: ", "))) | "
                    + "\(list.isEmpty ? "none" : list) | \(timeouts) | \(breakers) | \(network.failover ? "yes" : "no") |")
            }
            out.append("")
        }
        out += identitySection(report)
        out += storesSection(report)
        return out
    }

    /// `v2, v1`, or `—` for a free route.
    static func versions(_ route: RouteDesign) -> String {
        route.x402Versions.isEmpty ? "—" : route.x402Versions.map { "v\($0)" }.joined(separator: ", ")
    }

    static func discoverySection(_ report: DesignReport) -> [String] {
        guard let url = report.gateway.manifestURL else { return [] }
        let listed = report.routes.filter { $0.discovery != nil }
        var out = ["### Discovery", "", "\(code(url)) lists \(listed.count) paid route(s), each caller only those it may use "
            + "(anonymous callers: the anonymous routes); their 402s carry the same data in the bazaar extension.", ""]
        for route in listed {
            out.append("- \(inline(route.resource)) (\(cell(access(route)))): \(route.discovery?.text ?? "")")
        }
        let unlisted = report.routes.filter { $0.pricing != nil && $0.discovery == nil }.map(\.resource)
        if !unlisted.isEmpty { out.append("- not listed: \(inline(unlisted.joined(separator: ", ")))") }
        out.append("")
        return out
    }

    static func access(_ route: RouteDesign) -> String {
        var parts = [route.access]
        parts += route.actionScopes.map { "\($0.action) needs \($0.scope)" }
        if let rule = route.privateFields { parts.append("private \(rule.fields.joined(separator: ", ")) unless \(rule.scope)") }
        return parts.joined(separator: "; ")
    }

    static func identitySection(_ report: DesignReport) -> [String] {
        let identity = report.identity
        var out = ["### Identity and scopes", ""]
        out.append("- API clients: " + (identity.clients.isEmpty ? "none"
            : inline(identity.clients.map { "\($0.id) (\($0.scopes.isEmpty ? "no scopes" : $0.scopes.joined(separator: ", "))\($0.organisation.map { ", org \($0)" } ?? ""))" }
                .joined(separator: "; "))))
        out.append("- JWT: " + (identity.jwt.map { inline("issuer \($0.issuer), audience \($0.audience), keys \($0.keys.joined(separator: ", "))") } ?? "none"))
        out.append("- anonymous routes: " + (identity.anonymousRoutes.isEmpty ? "none" : inline(identity.anonymousRoutes.joined(separator: ", "))))
        let allow = identity.payerAllowList.map { "only \($0.count) allowed address(es)" } ?? "any address may pay"
        out.append("- payers: \(allow); \(identity.payerDenyList.count) denied")
        out.append("")
        if !identity.scopes.isEmpty {
            out += ["| scope | required by | held by (API clients) |", "|---|---|---|"]
            for scope in identity.scopes {
                out.append("| \(cell(scope.scope)) | \(cell(scope.requiredBy.joined(separator: ", "))) | "
                    + "\(scope.heldBy.isEmpty ? "nobody" : cell(scope.heldBy.joined(separator: ", "))) |")
            }
            out.append("")
        }
        return out
    }

    static func storesSection(_ report: DesignReport) -> [String] {
        let storage = report.storage
        var out = ["### Stores", ""]
        out.append("- SQLite \(code(storage.sqlitePath)): proof claims, payments ledger, refunds, package balances, spend and quota holds, the hash-chained audit log")
        out.append("- audit: unpaid-path events committed within \(storage.auditFlushMillis) ms; paid-path events before the response")
        out.append("- audit retention: " + (storage.auditRetention.map {
            inline("\($0.days) days, then archived to \($0.archiveDirectory) (every \($0.intervalSeconds) s)")
        } ?? "none (every event is kept)"))
        out.append("- idempotent retries: \(DesignNumber.seconds(storage.idempotencyWindowSeconds))")
        out.append("- admin listener: " + (storage.admin.map {
            inline("\($0.listen)\($0.loopback ? " (loopback)" : " (remote)"), token from \($0.token)")
        } ?? "none"))
        out.append("- in memory, per instance: \(report.limits.limiterTables) rate-limit table(s) of up to \(report.limits.maxKeys) keys, "
            + "the invalid-proof cache (\(report.limits.invalidProofCacheSeconds) s)")
        out.append("")
        return out
    }

    // MARK: 2. steps

    static func stepsSection(_ report: DesignReport) -> [String] {
        var out = ["## 2. Steps, owners, checks and audit", "",
                   "| # | step | journey stage | owner | checks | this configuration | refusals | logged (stage outcome reason) |",
                   "|---|---|---|---|---|---|---|---|"]
        for (index, step) in report.flow.enumerated() {
            let name = step.active ? step.title : "\(step.title) (not used)"
            let logged = step.audit.isEmpty ? "nothing" : step.audit.map { code($0.description) }.joined(separator: "<br>")
            out.append("| \(index + 1) | \(cell(name)) | \(cell(step.stageLabel)) | \(step.owner.rawValue) | \(cell(step.checks.joined(separator: "; "))) | "
                + "\(cell(step.configuration.joined(separator: "; "))) | \(cell(step.refusals.joined(separator: "; "))) | \(logged) |")
        }
        out.append("")
        return out
    }

    // MARK: 4. anti-patterns

    static func antiPatternsSection(_ report: DesignReport) -> [String] {
        var out = ["## 4. Anti-patterns", "", "### Found in this configuration", ""]
        if report.findings.isEmpty {
            out.append("No finding.")
        } else {
            out += ["| rule | severity | where | message | why | fix |", "|---|---|---|---|---|---|"]
            for finding in report.findings {
                let place = (finding.path.isEmpty ? "file" : finding.path) + (finding.line.map { " (line \($0))" } ?? "")
                out.append("| \(cell(finding.rule)) | \(finding.severity.rawValue) | \(cell(place)) | \(cell(finding.message)) | "
                    + "\(cell(finding.why)) | \(cell(finding.fix)) |")
            }
        }
        out += ["", "### General list", ""]
        if report.rules.isEmpty {
            out.append("No rule is published yet.")
        } else {
            out += ["| rule | severity | title | fired here |", "|---|---|---|---|"]
            for rule in report.rules {
                out.append("| \(cell(rule.id)) | \(rule.severity.rawValue) | \(cell(rule.title)) | \(rule.fired ? "yes" : "no") |")
            }
        }
        out.append("")
        return out
    }

    // MARK: 5. decisions

    static func decisionsSection(_ report: DesignReport) -> [String] {
        var out = ["## 5. Open decisions before launch", ""]
        if report.decisions.isEmpty { out += ["None.", ""] }
        for (index, decision) in report.decisions.enumerated() {
            out.append("### 5.\(index + 1) \(inline(decision.title))")
            out.append("")
            out.append(inline(decision.question))
            out.append("")
            out += decision.facts.map { "- \(inline($0))" }
            out.append("")
            out.append("Options: " + decision.options.map(inline).joined(separator: "; ") + ".")
            out.append("")
        }
        return out
    }

    // MARK: escaping

    static func cell(_ text: String) -> String { MarkupEscaping.cell(text) }
    static func inline(_ text: String) -> String { MarkupEscaping.inline(text) }

    /// A code span (inside a table: pipes escaped too).
    static func code(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "|", with: "\\|")
        return flat.contains("`") ? "`` \(flat) ``" : "`\(flat)`"
    }
}
