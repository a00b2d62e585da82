import Foundation
import Logging

/// Where a `FacilitatorPool` reports each call it makes to a member facilitator. The pool stays free of any
/// metrics backend: the HTTP layer implements this with Prometheus.
public protocol FacilitatorMetricsSink: Sendable {
    /// One `supported`, `verify` or `settle` call to the facilitator labelled `facilitator` (its host:port),
    /// how long it took and whether it threw (a transport failure; a refusal is an answer, not a failure).
    func facilitatorCall(facilitator: String, operation: FacilitatorOperation, duration: Duration, failed: Bool)
}

/// The facilitator API calls, as metric label values.
public enum FacilitatorOperation: String, Sendable, Hashable, CaseIterable {
    case supported
    case verify
    case settle
}

/// A member facilitator whose calls are timed and reported to a sink.
struct MeteredFacilitator: Facilitator {
    let base: any Facilitator
    let label: String
    let sink: any FacilitatorMetricsSink

    var name: String { base.name }

    func supported(logger: Logger) async throws -> X402.SupportedResponse {
        try await measure(.supported) { try await base.supported(logger: logger) }
    }

    func verify(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.VerifyResponse {
        try await measure(.verify) { try await base.verify(request, logger: logger) }
    }

    func settle(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.SettleResponse {
        try await measure(.settle) { try await base.settle(request, logger: logger) }
    }

    private func measure<Answer>(_ operation: FacilitatorOperation, _ call: () async throws -> Answer) async throws -> Answer {
        let started = ContinuousClock.now
        do {
            let answer = try await call()
            sink.facilitatorCall(facilitator: label, operation: operation, duration: ContinuousClock.now - started, failed: false)
            return answer
        } catch {
            sink.facilitatorCall(facilitator: label, operation: operation, duration: ContinuousClock.now - started, failed: true)
            throw error
        }
    }
}

extension FacilitatorPool {
    /// A facilitator's metric label: `host:port` of its URL name (credentials, path and query dropped, the
    /// scheme's default port filled in), or the name itself, cut to 64 characters, when it is not a URL.
    public static func metricLabel(_ name: String) -> String {
        if let url = URLComponents(string: name), let host = url.host, !host.isEmpty {
            let port = url.port ?? (url.scheme?.lowercased() == "https" ? 443 : url.scheme?.lowercased() == "http" ? 80 : nil)
            let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
            let shown = bare.contains(":") ? "[\(bare)]" : bare
            return port.map { "\(shown):\($0)" } ?? shown
        }
        // Never a credential: whatever precedes an `@` goes.
        let bare = name.split(separator: "@").last.map(String.init) ?? name
        return String(bare.prefix(64))
    }
}
