import Foundation
import TollgateConfiguration
import TollgateCore

/// What the rules read (the configuration and where its keys were written) and what they report.
struct LintContext {
    let configuration: GatewayConfiguration
    private(set) var findings: [LintFinding] = []

    init(_ configuration: GatewayConfiguration) {
        self.configuration = configuration
    }

    /// The paid routes with their index in `routes`.
    var paidRoutes: [(index: Int, route: Route, pricing: Route.Pricing)] {
        configuration.routes.enumerated().compactMap { index, route in route.pricing.map { (index, route, $0) } }
    }

    /// The line of `path` (or of its closest enclosing key) when the configuration was read from a file.
    func line(_ path: String) -> Int? {
        configuration.source?.line(of: path)
    }

    /// `routes[2] (render-jobs)`.
    func name(route index: Int) -> String {
        "routes[\(index)] (\(configuration.routes[index].resource))"
    }

    /// `facilitators[0] (https://x402.example)`, without credentials, path or query.
    func name(facilitator index: Int) -> String {
        "facilitators[\(index)] (\(Self.origin(configuration.facilitators[index].url)))"
    }

    /// Scheme, host and port of a URL: what may be printed of it.
    static func origin(_ text: String) -> String {
        guard let url = URLComponents(string: text), let scheme = url.scheme, let host = url.host else { return "?" }
        return "\(scheme)://\(host.contains(":") ? "[\(host)]" : host)\(url.port.map { ":\($0)" } ?? "")"
    }

    /// Whether a URL's host is a loopback address (or 0.0.0.0, which reaches this host too).
    static func isLoopback(url text: String) -> Bool {
        guard let host = URLComponents(string: text)?.host?.lowercased() else { return false }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        return NetworkAddress.isLoopback(host: bare) || bare.hasSuffix(".localhost") || bare == "0.0.0.0" || bare == "0:0:0:0:0:0:0:1"
    }

    /// A finding of `rule` at `path`, with the rule's severity, why and fix unless given.
    mutating func report(_ rule: LintRule, at path: String, _ message: String, severity: LintSeverity? = nil, fix: String? = nil) {
        findings.append(LintFinding(rule: rule.id, severity: severity ?? rule.severity, path: path, line: line(path), message: message,
                                    why: rule.why, fix: fix ?? rule.fix))
    }
}

extension Array where Element == String {
    /// `a`, `a and b`, `a, b and c`.
    var listed: String {
        switch count {
        case 0: ""
        case 1: self[0]
        default: dropLast().joined(separator: ", ") + " and " + self[count - 1]
        }
    }
}
