import Foundation

/// The flow of one request as monospaced text: the common steps, the branch to the 402 and back,
/// and the paid path, each step with this configuration's settings. Inactive steps are left out.
public enum TextFlowDiagram {
    public static func render(_ report: DesignReport) -> String {
        let steps = report.flow.filter(\.active)
        let width = (steps.map(\.title.count).max() ?? 10) + 2
        func line(_ prefix: String, _ step: FlowStep) -> String {
            // Labels line up whatever the lane's indentation.
            let pad = max(1, width + 2 - prefix.count - step.title.count + 1)
            let title = step.title + String(repeating: " ", count: pad)
            let labels = step.configuration.joined(separator: " · ")
            return MarkupEscaping.code("\(prefix)▼ \(title)\(labels)").trimmingTrailingSpaces
        }
        let proof = report.gateway.proofCarrier
        var lines = ["client ── \(report.gateway.mcpEndpoint ?? report.gateway.publicURL) ──▶"]
        lines += steps.filter { $0.lane == .common }.map { line("  ", $0) }
        let unpaid = steps.filter { $0.lane == .noProof }
        let paid = steps.filter { $0.lane == .proof }
        if !unpaid.isEmpty || !paid.isEmpty {
            lines.append("  ├─ no \(proof)")
            lines += unpaid.map { line("  │  ", $0) }
            lines.append("  │  └──▶ the client retries with \(proof) ──┐")
            lines.append("  ├─ \(proof) ◀────────────────────────────┘")
            lines += paid.map { line("  ", $0) }
            lines.append("  ▶ client: the answer + \(report.gateway.receiptCarrier) receipt, Tollgate-Correlation-Id")
        } else {
            lines.append("  ▶ forwarded free to \(report.gateway.upstreamURL)")
        }
        lines.append("")
        lines.append(MarkupEscaping.code("stores: SQLite \(report.storage.sqlitePath) (claims, ledger, balances, caps, audit chain)"
            + " · in memory: \(report.limits.limiterTables) rate-limit table(s) × \(report.limits.maxKeys) keys, invalid-proof cache"))
        lines.append("every step ──▶ audit log (correlation id)")
        return lines.joined(separator: "\n")
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var copy = self
        while copy.last == " " { copy.removeLast() }
        return copy
    }
}
