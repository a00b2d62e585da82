import TollgateConfiguration
/// Section 3 of the HTML page: configured limits, relations, gaps, recommendations, capacity, timing.
enum HTMLLimitsSection {
    static func render(_ report: DesignReport) -> [String] {
        let limits = report.limits
        let e = HTMLRenderer.e, table = HTMLRenderer.table
        var out = ["<h2>3. Rate limits</h2>"]
        out.append("<p>Counted per \(e(limits.keys.joined(separator: "; "))). GCRA: a rate sustained, a burst at once. A payer address is held "
            + "to the paid limit (\(e(limits.perPayerPaid?.description ?? "off"))). Invalid-proof cache: "
            + "\(limits.invalidProofCacheSeconds == 0 ? "off" : "\(limits.invalidProofCacheSeconds) s"). Memory: \(limits.limiterTables) table(s) × max_keys \(limits.maxKeys).</p>")
        out.append("<h3>Configured</h3>")
        out.append(table(["scope", "unpaid", "paid", "invalid", "source"], ([limits.global] + limits.routes).map {
            [e($0.scope), e($0.text("unpaid")), e($0.text("paid")), e($0.text("invalid")), e($0.source)]
        }))
        out.append("<h3>Minimum relations</h3>")
        out.append(table(["scope", "rule", "values", "holds", "why"], limits.checks.map {
            [e($0.scope), e($0.rule), e($0.values), $0.holds ? "<span class=\"yes\">yes</span>" : "<span class=\"no\">no</span>", e($0.why)]
        }))
        out.append("<h3>Missing</h3>")
        if limits.gaps.isEmpty {
            out.append("<p>Nothing missing: every paid route has unpaid, paid and invalid limits, and expensive routes have their own.</p>")
        } else {
            out.append("<ul>" + limits.gaps.map { gap in
                "<li><strong>\(e(gap.scope))</strong>: \(e(gap.message))"
                    + (gap.recommended.map { ". Recommended: <strong>\(e($0.description))</strong>" } ?? "")
                    + (gap.formula.map { " (\(e($0)))" } ?? "") + "</li>"
            }.joined() + "</ul>")
        }
        if !limits.recommendations.isEmpty {
            out.append("<h3>Recommended numbers</h3>")
            out.append(table(["scope", "class", "configured", "recommended", "status", "formula"], limits.recommendations.map {
                [e($0.scope), e($0.trafficClass), e($0.configured?.description ?? "off"), e($0.recommended.description),
                 $0.status == "ok" ? "ok" : "<span class=\"no\">\(e($0.status))</span>", e($0.formula)]
            }))
        }
        if !limits.capacity.isEmpty {
            out.append("<h3>Facilitator capacity</h3>")
            out.append(table(["facilitator", "networks", "timeout", "paid limit", "calls/s per caller", "in flight per caller", "all API clients", "breaker"],
                             limits.capacity.map { item in
                [HTMLRenderer.code(item.url), e(item.networks.joined(separator: ", ")), "\(item.timeoutSeconds) s", e(item.paidLimit?.description ?? "off"),
                 item.callsPerSecondPerCaller.map { DesignNumber.format($0) } ?? "unbounded", item.inFlightPerCaller.map(String.init) ?? "unbounded",
                 e((item.identifiedCallsPerSecond.map { "\(item.identifiedClients) × → \(DesignNumber.format($0)) calls/s" } ?? "—")
                    + (item.anonymousUnbounded ? "; anonymous: per IP prefix, no gateway-wide ceiling" : "")),
                 e(item.breaker.description)]
            }))
            out.append("<ul><li>calls/s per caller = paid rate × \(LimitsDerivation.callsPerPaidRequest) (/verify and /settle; a pending settlement asks once more)</li>"
                + "<li>in flight per caller = paid rate × \(LimitsDerivation.callsPerPaidRequest) × timeout + paid burst (Little's law with every call running to its timeout)</li></ul>")
        }
        if !limits.timing.isEmpty {
            out.append("<h3>Timing budget</h3>")
            out.append(table(["route", "verify", "upstream", "settle (+ pending)", "worst case", "max_timeout_seconds", "fits", "recommended"],
                             limits.timing.map {
                [e($0.resource), "\($0.verifySeconds) s", "\($0.upstreamSeconds) s", "\($0.settleSeconds) s", "\($0.totalSeconds) s + \($0.marginSeconds) s",
                 "\($0.maxTimeoutSeconds) s", $0.fits ? "<span class=\"yes\">yes</span>" : "<span class=\"no\">no</span>", "≥ \($0.recommendedMaxTimeoutSeconds) s"]
            }))
            out.append("<p>max_timeout_seconds ≥ Σ facilitator timeouts (verify) + upstream timeout + 2 × Σ facilitator timeouts (settle, pending) + 6 s: "
                + "the authorization must still be valid at the last /settle call.</p>")
        }
        return out
    }
}
