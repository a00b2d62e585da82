import TollgateConfiguration
extension MarkdownRenderer {
    // MARK: 3. limits

    static func limitsSection(_ report: DesignReport) -> [String] {
        let limits = report.limits
        var out = ["## 3. Rate limits", ""]
        out.append("Counted per \(inline(limits.keys.joined(separator: "; "))). GCRA: a rate sustained, a burst at once. "
            + "A payer address is held to the paid limit (\(limits.perPayerPaid?.description ?? "off")). "
            + "Invalid-proof cache: \(limits.invalidProofCacheSeconds == 0 ? "off" : "\(limits.invalidProofCacheSeconds) s"). "
            + "Memory: \(limits.limiterTables) table(s) × max_keys \(limits.maxKeys).")
        out.append("")
        out += ["### Configured", "", "| scope | unpaid | paid | invalid | source |", "|---|---|---|---|---|"]
        for scope in [limits.global] + limits.routes {
            out.append("| \(cell(scope.scope)) | \(scope.text("unpaid")) | \(scope.text("paid")) | \(scope.text("invalid")) | \(scope.source) |")
        }
        out.append("")
        out += ["### Minimum relations", "", "| scope | rule | values | holds | why |", "|---|---|---|---|---|"]
        for check in limits.checks {
            out.append("| \(cell(check.scope)) | \(cell(check.rule)) | \(cell(check.values)) | \(check.holds ? "yes" : "**no**") | \(cell(check.why)) |")
        }
        out.append("")
        out += ["### Missing", ""]
        if limits.gaps.isEmpty {
            out.append("Nothing missing: every paid route has unpaid, paid and invalid limits, and expensive routes have their own.")
        }
        for gap in limits.gaps {
            var line = "- **\(inline(gap.scope))**: \(inline(gap.message))"
            if let recommended = gap.recommended { line += ". Recommended: \(recommended)" }
            if let formula = gap.formula { line += " (\(inline(formula)))" }
            out.append(line)
        }
        out.append("")
        if !limits.recommendations.isEmpty {
            out += ["### Recommended numbers", "", "| scope | class | configured | recommended | status |", "|---|---|---|---|---|"]
            for item in limits.recommendations {
                out.append("| \(cell(item.scope)) | \(item.trafficClass) | \(item.configured?.description ?? "off") | \(item.recommended) | \(item.status) |")
            }
            out.append("")
            out.append("Formulas:")
            var seen = Set<String>()
            for item in limits.recommendations where seen.insert(item.formula).inserted {
                out.append("- \(inline(item.formula))")
            }
            out.append("")
        }
        if !limits.capacity.isEmpty {
            out += ["### Facilitator capacity", "",
                    "| facilitator | networks | timeout | paid limit | calls/s per caller | in flight per caller | all API clients | breaker |",
                    "|---|---|---|---|---|---|---|---|"]
            for item in limits.capacity {
                let clients = item.identifiedCallsPerSecond.map { "\(item.identifiedClients) × → \(DesignNumber.format($0)) calls/s" } ?? "—"
                out.append("| \(code(item.url)) | \(cell(item.networks.joined(separator: ", "))) | \(item.timeoutSeconds) s | \(item.paidLimit?.description ?? "off") | "
                    + "\(item.callsPerSecondPerCaller.map { DesignNumber.format($0) } ?? "unbounded") | \(item.inFlightPerCaller.map(String.init) ?? "unbounded") | "
                    + "\(clients)\(item.anonymousUnbounded ? "; anonymous: per IP prefix, no gateway-wide ceiling" : "") | \(cell(item.breaker.description)) |")
            }
            out.append("")
            out.append("- calls/s per caller = paid rate × \(LimitsDerivation.callsPerPaidRequest) (/verify and /settle; a pending settlement asks once more)")
            out.append("- in flight per caller = paid rate × \(LimitsDerivation.callsPerPaidRequest) × timeout + paid burst (Little's law with every call running to its timeout)")
            out.append("")
        }
        if !limits.timing.isEmpty {
            out += ["### Timing budget", "", "| route | verify | upstream | settle (+ pending) | worst case | max_timeout_seconds | fits | recommended |",
                    "|---|---|---|---|---|---|---|---|"]
            for item in limits.timing {
                out.append("| \(cell(item.resource)) | \(item.verifySeconds) s | \(item.upstreamSeconds) s | \(item.settleSeconds) s | "
                    + "\(item.totalSeconds) s + \(item.marginSeconds) s | \(item.maxTimeoutSeconds) s | \(item.fits ? "yes" : "**no**") | ≥ \(item.recommendedMaxTimeoutSeconds) s |")
            }
            out.append("")
            out.append("- max_timeout_seconds ≥ Σ facilitator timeouts (verify) + upstream timeout + 2 × Σ facilitator timeouts (settle, pending) + 6 s: "
                + "the authorization must still be valid at the last /settle call")
            out.append("")
        }
        return out
    }
}
