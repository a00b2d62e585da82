import Foundation
import HTTPTypes
import TollgateCore
import TollgateX402
import Yams

/// Reading `facilitators`: their URLs, timeouts, networks, headers and circuit breakers.
extension ConfigurationLoader {
    /// Headers a facilitator call's configuration may not set: they frame the request or steer its connection.
    static let framingHeaders: Set<String> = ["host", "content-length", "transfer-encoding", "connection", "keep-alive", "te",
                                               "trailer", "upgrade", "expect", "proxy-connection"]

    static func readFacilitators(_ node: Node?, _ r: inout YAMLReader) -> [GatewayConfiguration.Facilitator] {
        var result: [GatewayConfiguration.Facilitator] = []
        // Facilitators are told apart by their URLs, credentials and query aside (those are never shown).
        var shownURLs: Set<String> = []
        for (index, item) in (r.sequence(node, "facilitators") ?? []).enumerated() {
            let path = "facilitators[\(index)]"
            guard let fields = r.mapping(item, path, known: ["url", "timeout_seconds", "max_connections", "networks", "headers", "breaker"]) else { continue }
            let url = r.string(fields["url"], "\(path).url", required: true, parent: item) ?? ""
            let origin = HTTPOrigin(baseURL: url)
            if !url.isEmpty && origin == nil { r.fail(fields["url"], "\(path).url", "expected an http(s) URL with a host") }
            if !url.isEmpty, !shownURLs.insert(origin?.shown ?? url).inserted {
                r.fail(fields["url"], "\(path).url", "another facilitator has this URL (credentials and query aside)")
            }
            let timeout = Double(r.int(fields["timeout_seconds"], "\(path).timeout_seconds", range: 1...120) ?? 10)
            let maxConnections = r.int(fields["max_connections"], "\(path).max_connections", range: 1...1024) ?? 64
            let networks = r.strings(fields["networks"], "\(path).networks") ?? []
            for network in networks where !isCAIP2(network) {
                r.fail(fields["networks"], "\(path).networks", "\(network) is not a CAIP-2 network id like eip155:84532")
            }
            var headers: [String: [(String, String)]] = [:]
            if let byEndpoint = r.mapping(fields["headers"], "\(path).headers", known: ["all", "supported", "verify", "settle"]) {
                for (endpoint, value) in byEndpoint {
                    guard let pairs = value.mapping else {
                        r.fail(value, "\(path).headers.\(endpoint)", "expected a mapping of header names to values")
                        continue
                    }
                    headers[endpoint] = pairs.compactMap { key, value in
                        guard let name = key.string, let text = value.string else { return nil }
                        // Remembered so `check` can tell a `${NAME}` reference from a token written in the file.
                        let headerPath = "\(path).headers.\(endpoint).\(name)"
                        r.note(key, headerPath)
                        if isEnvironmentReference(text) { r.environmentReferences.insert(headerPath) }
                        let expanded = r.expandEnvironment(text)
                        // The value is not quoted back: it is often a credential.
                        guard HTTPField.Name(name) != nil else { r.fail(key, headerPath, "not a valid header name"); return nil }
                        guard !Self.framingHeaders.contains(name.lowercased()) else {
                            r.fail(key, headerPath, "\(name) is written by the gateway itself (it frames or routes the request)")
                            return nil
                        }
                        guard HTTPField.isValidValue(expanded) else {
                            r.fail(value, headerPath, "not a valid header value (a line break or a control character)")
                            return nil
                        }
                        return (name, expanded)
                    }
                }
            }
            var breaker = CircuitBreaker.Settings()
            if let settings = r.mapping(fields["breaker"], "\(path).breaker", known: ["failures", "slow_ms", "open_seconds"]) {
                breaker = CircuitBreaker.Settings(
                    failureThreshold: r.int(settings["failures"], "\(path).breaker.failures", range: 1...100) ?? breaker.failureThreshold,
                    slowCallMillis: Int64(r.int(settings["slow_ms"], "\(path).breaker.slow_ms", range: 10...600_000) ?? Int(breaker.slowCallMillis)),
                    openSeconds: Double(r.int(settings["open_seconds"], "\(path).breaker.open_seconds", range: 1...3600) ?? Int(breaker.openSeconds)))
            }
            result.append(.init(url: url, timeoutSeconds: timeout, networks: networks, headers: headers, breaker: breaker,
                                maxConnections: maxConnections))
        }
        return result
    }
}
