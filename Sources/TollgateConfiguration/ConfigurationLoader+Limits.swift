import TollgateCore
import Yams

extension ConfigurationLoader {
    static let classKeys: Set<String> = ["unpaid", "paid", "invalid"]

    /// Reads `limits` (top level) and every `routes[i].limits` (or, for an MCP gateway, `mcp.tools[i].limits`).
    static func readLimits(_ node: Node?, routes: Node?, tools: Bool = false, _ r: inout YAMLReader) -> LimitsConfiguration {
        var result = LimitsConfiguration.defaults
        if let fields = r.mapping(node, "limits", known: classKeys.union(["max_keys", "ipv4_prefix", "ipv6_prefix", "invalid_proof_cache_seconds",
                                                                      "shared_invalid"])) {
            result.global = readClasses(fields, path: "limits", base: result.global, &r)
            result.maxKeys = r.int(fields["max_keys"], "limits.max_keys", range: 1000...10_000_000) ?? result.maxKeys
            result.ipv4PrefixBits = r.int(fields["ipv4_prefix"], "limits.ipv4_prefix", range: 8...32) ?? result.ipv4PrefixBits
            result.ipv6PrefixBits = r.int(fields["ipv6_prefix"], "limits.ipv6_prefix", range: 16...128) ?? result.ipv6PrefixBits
            result.invalidProofCacheSeconds = r.int(fields["invalid_proof_cache_seconds"], "limits.invalid_proof_cache_seconds", range: 0...3600)
                ?? result.invalidProofCacheSeconds
            result.sharedInvalid = r.bool(fields["shared_invalid"], "limits.shared_invalid") ?? false
            if result.sharedInvalid, result.global.invalid == nil {
                r.fail(fields["shared_invalid"], "limits.shared_invalid", "needs limits.invalid: the shared budget is that limit, counted for every instance together")
            }
        }
        guard case .sequence(let items)? = routes else { return result }
        for (index, item) in items.enumerated() {
            let named = item.mapping?["resource"]?.string ?? (tools ? item.mapping?["name"]?.string.map { "tool:\($0)" } : nil)
            guard let limits = item.mapping?["limits"], let resource = named else { continue }
            let path = "\(tools ? "mcp.tools" : "routes")[\(index)].limits"
            guard let fields = r.mapping(limits, path, known: classKeys) else { continue }
            result.perRoute[resource] = readClasses(fields, path: path, base: result.global, &r)
        }
        return result
    }

    /// Each class is `{rate_per_second: N, burst: M}`, or `off`.
    private static func readClasses(_ fields: [String: Node], path: String, base: TrafficLimits.ClassLimits,
                                    _ r: inout YAMLReader) -> TrafficLimits.ClassLimits {
        var result = base
        for name in classKeys.sorted() {
            guard let node = fields[name] else { continue }
            let limit: RateLimit?
            if node.string == "off" {
                limit = nil
            } else if let rate = r.mapping(node, "\(path).\(name)", known: ["rate_per_second", "burst"]) {
                let perSecond = rate["rate_per_second"].flatMap { $0.float } ?? 0
                let burst = r.int(rate["burst"], "\(path).\(name).burst", range: 1...1_000_000)
                    ?? (RateLimit.rates.contains(perSecond) ? max(1, Int(perSecond.rounded(.up))) : 1)
                limit = RateLimit(ratePerSecond: perSecond, burst: burst)
                if limit == nil {
                    r.fail(rate["rate_per_second"] ?? node, "\(path).\(name).rate_per_second",
                           "expected a number of requests per second from 0.000001 to 1000000")
                }
            } else {
                continue
            }
            switch name {
            case "unpaid": result.unpaid = limit
            case "paid": result.paid = limit
            default: result.invalid = limit
            }
        }
        return result
    }
}
