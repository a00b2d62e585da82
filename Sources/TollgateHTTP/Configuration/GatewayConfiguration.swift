import TollgateCore
import TollgateX402

/// Everything `tollgate serve` needs, as read from one YAML file (docs/configuration.md).
public struct GatewayConfiguration: Sendable {
    public struct Listen: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// Parses `host:port` (IPv6 in brackets). nil when malformed.
        public init?(_ text: String) {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self.init(host: host, port: port)
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// Where a secret comes from: an environment variable or a file (never the configuration itself).
    public struct SecretSource: Sendable, Hashable {
        public enum Origin: Sendable, Hashable {
            case environment(String)
            case file(String)
        }

        public var id: String
        public var origin: Origin
        public init(id: String, origin: Origin) {
            self.id = id
            self.origin = origin
        }
    }

    public struct Facilitator: Sendable {
        public var url: String
        public var timeoutSeconds: Double
        public var networks: [String]
        /// Extra headers per endpoint: keys `all`, `supported`, `verify`, `settle`.
        public var headers: [String: [(String, String)]]
        public var breaker: CircuitBreaker.Settings
        public init(url: String, timeoutSeconds: Double, networks: [String], headers: [String: [(String, String)]],
                    breaker: CircuitBreaker.Settings = .init()) {
            self.breaker = breaker
            self.url = url
            self.timeoutSeconds = timeoutSeconds
            self.networks = networks
            self.headers = headers
        }
    }

    public var listen: Listen
    public var publicURL: String
    public var upstreamURL: String
    public var upstreamTimeoutSeconds: Double
    public var maxUpstreamResponseBytes: Int
    public var maxRequestBodyBytes: Int
    public var secrets: [SecretSource]
    public var sqlitePath: String
    public var auditFlushMillis: Int
    public var facilitators: [Facilitator]
    public var assets: [Asset]
    public var payTo: String?
    public var clients: [ClientRecord]
    public var routes: [Route]
    public var unmatched: Gateway.UnmatchedPolicy
    /// The admin API (`admin:`); nil when the section is absent, and then no admin listener runs.
    public var admin: AdminConfiguration? = nil
    public var retryAfterSeconds: Int
    /// Rate limits per traffic class (global and per route) and the invalid-proof cache.
    public var limits: LimitsConfiguration = .defaults
    /// Spend ceilings per client or payer.
    public var spendCaps: [SpendCap] = []
    /// Metering-unit ceilings per client or organisation.
    public var quotas: [Quota] = []
    /// Static payer lists (runtime revocations go through the admin API).
    public var payerAllowList: Set<String>?
    public var payerDenyList: Set<String> = []
    /// Bearer JWTs as identities.
    public var jwt: JWTSettings?

    /// Where JWT keys come from and what the tokens must say.
    public struct JWTSettings: Sendable, Hashable {
        public var issuer: String
        public var audience: String
        public var jwksFile: String?
        public var pemFile: String?
    }
    /// How long a delivered paid response is kept for its client's retries.
    public var idempotencyWindowSeconds: Int = 3600
    /// Audit retention (`audit:`): events older than `retentionDays` are archived, then deleted; nil keeps every event.
    public var auditRetention: AuditRetention? = nil

    /// Networks that some paid route accepts.
    public var paidNetworks: Set<String> {
        Set(routes.flatMap { $0.pricing?.accepts.map(\.asset.network) ?? [] })
    }
}
