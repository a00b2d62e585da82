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
        /// Connections open to it at most; calls beyond wait for one, within their timeout.
        public var maxConnections: Int
        public init(url: String, timeoutSeconds: Double, networks: [String], headers: [String: [(String, String)]],
                    breaker: CircuitBreaker.Settings = .init(), maxConnections: Int = 64) {
            self.breaker = breaker
            self.maxConnections = maxConnections
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
    /// Connections the proxy keeps open to the upstream at most (`upstream.max_connections`); requests beyond wait for one.
    public var upstreamMaxConnections = 64
    /// How the upstream compares letter case in paths (`upstream.path_case`), and so how routes match them.
    public var upstreamPathCase: PathCase = .unknown
    public var maxRequestBodyBytes: Int
    /// Client connections the listener holds at most (`max_client_connections`); beyond, new ones wait to be accepted.
    public var maxClientConnections = 1024
    /// Of those, the connections one client network (an IP prefix, as `limits` counts them) may hold
    /// (`max_client_connections_per_ip`); trusted proxies are not counted.
    public var maxClientConnectionsPerIP = 128
    /// A request (head and body) must arrive whole within this long of its head (`client_request_timeout_seconds`).
    public var clientRequestTimeoutSeconds = 60
    /// A client connection idle this long, or whose client reads none of its answer for this long, is closed
    /// (`client_idle_timeout_seconds`).
    public var clientIdleTimeoutSeconds = 60
    public var secrets: [SecretSource]
    /// The upstream contract's own keys; empty: derived from `secrets` (`KeyRing.contractKeys()`).
    public var contractSecrets: [SecretSource] = []
    public var sqlitePath: String
    /// `storage.postgres`: the PostgreSQL store instead of SQLite (issue 12: migrations only so far); nil: SQLite.
    public var postgres: PostgresStoreConfiguration? = nil
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
    /// `storage.sync: full` (the default): every commit synced, shared by the group committer.
    public var durableStorage = true
    /// Where the audit head is appended (`audit.head_file`; nil: only logged and exported as a metric), and how often.
    public var auditHeadFile: String?
    public var auditHeadIntervalSeconds = 60
    /// The last seq of an audit chain written before it was keyed (`audit.unkeyed_through_seq`, default 0: every event is
    /// keyed). `audit verify` refuses an unkeyed event past it: a chain rewritten from its start without the audit key
    /// links and recomputes, and only this says it should not be unkeyed.
    public var auditUnkeyedThroughSeq: Int64 = 0
    /// The load balancers allowed to name the client's address (`trusted_proxies`); none by default.
    public var trustedProxies: TrustedProxies = .none
    /// The MCP gateway (`mcp:`), for `tollgate mcp`; nil for the reverse proxy.
    public var mcp: MCPConfiguration?

    /// What the gateway serves, as logs may show it: the upstream's URL without credentials or query (`?api_key=`,
    /// `user:secret@`), or an MCP server's program without its arguments (`--token …`).
    public var upstreamShown: String {
        switch mcp?.upstream {
        case .http(let url)?: HTTPOrigin.shown(url)
        case .command(let command)?: command.first ?? ""
        case nil: HTTPOrigin.shown(upstreamURL)
        }
    }
    /// How settlements in doubt are resolved (`settlement:`).
    public var settlement = Settlement()

    public struct Settlement: Sendable, Hashable {
        /// Seconds between reconciliation passes (one also runs at start-up).
        public var reconcileIntervalSeconds = 30
        /// EVM JSON-RPC URLs per network, read to resolve a settlement the facilitator cannot tell.
        public var rpc: [String: String] = [:]
        /// Blocks one `eth_getLogs` asks those nodes for at most (`rpc_max_log_range`): hosted nodes refuse wider ranges.
        public var rpcMaxLogRange = Int(EVMChainReader.defaultMaxLogRange)
        /// Whether the facilitator's `/verify` is sent while the proof's claim is committed (`verify_with_claim`).
        public var verifiesWithClaim = true
        public init() {}
    }
    /// Audit retention (`audit:`): events older than `retentionDays` are archived, then deleted; nil keeps every event.
    public var auditRetention: AuditRetention? = nil
    /// `audit.denials`: whether refusals off the paid path (401, 403, 404, 429…) are audited. Paid-path
    /// refusals are always recorded.
    public var auditsDenials: Bool = true
    /// `x402`: which versions clients may pay in, and whether the gateway publishes what it sells.
    public var x402 = X402Settings()

    public struct X402Settings: Sendable, Hashable {
        /// Whether x402 v1 clients (`X-PAYMENT`, terms in the 402's body) may pay (routes may still refuse it).
        public var v1: Bool
        /// Whether `/.well-known/x402` is served and 402s carry the bazaar extension.
        public var discovery: Bool
        public init(v1: Bool = true, discovery: Bool = true) {
            self.v1 = v1
            self.discovery = discovery
        }
    }
    /// What happens to payments settled before an answer that was then not delivered (`refunds:`).
    public var refunds: Refunds = .init()
    /// Where each key was written; nil for a configuration built in code.
    public var source: Source? = nil

    /// The `refunds:` section: the policy for `settle: before` routes whose answer was not delivered.
    public struct Refunds: Sendable, Hashable {
        /// Record a `pending_payout` refund automatically (the default); false holds the payment for manual review.
        public var automatic: Bool
        /// Who pays out pending refunds (a team, a mailbox, a queue), for people reading the configuration.
        public var payoutContact: String?
        public init(automatic: Bool = true, payoutContact: String? = nil) {
            self.automatic = automatic
            self.payoutContact = payoutContact
        }
    }

    /// Facts about the file a configuration was read from, which the model itself does not keep.
    public struct Source: Sendable, Hashable {
        /// The line of every key and list item, by key path: `routes[2]`, `routes[2].settle`, `facilitators[0].headers.all.Authorization`.
        public var lines: [String: Int]
        /// Key paths of facilitator header values written as `${NAME}` (expanded from the environment at load time).
        public var environmentReferences: Set<String>
        public init(lines: [String: Int] = [:], environmentReferences: Set<String> = []) {
            self.lines = lines
            self.environmentReferences = environmentReferences
        }

        /// The keys written under `routes[index]` (`price`, `unit`, `consumed`…), as opposed to defaults.
        public func explicitKeys(route index: Int) -> Set<String> {
            let prefix = "routes[\(index)]."
            return Set(lines.keys.compactMap { path in
                guard path.hasPrefix(prefix) else { return nil }
                let key = path.dropFirst(prefix.count)
                return key.contains(".") || key.contains("[") ? nil : String(key)
            })
        }

        /// The line of `path`, or of the closest enclosing key or item that has one.
        public func line(of path: String) -> Int? {
            var current = Substring(path)
            while !current.isEmpty {
                if let line = lines[String(current)] { return line }
                guard let cut = current.lastIndex(where: { $0 == "." || $0 == "[" }) else { return nil }
                current = current[..<cut]
            }
            return nil
        }
    }

    /// Networks that some paid route accepts.
    public var paidNetworks: Set<String> {
        Set(routes.flatMap { $0.pricing?.accepts.map(\.asset.network) ?? [] })
    }
}

extension [GatewayConfiguration.Facilitator] {
    /// The facilitators that serve `network` (those that list it, or list no network at all), with their index,
    /// in configuration order: `FacilitatorNetworks`' rule.
    public func serving(_ network: String) -> [(index: Int, facilitator: GatewayConfiguration.Facilitator)] {
        FacilitatorNetworks.serving(network, among: self, configured: \.networks)
    }
}
