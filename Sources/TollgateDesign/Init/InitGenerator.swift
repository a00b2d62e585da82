import TollgateCore

/// Writes the configuration `tollgate init` designed: YAML text with a comment on every section, that
/// `ConfigurationLoader` loads and `ConfigurationLint` accepts. Secrets are never written: the HMAC secret
/// and the admin token are named environment variables, and each API client's key is generated here,
/// returned once for the operator, and only its SHA-256 is written.
public struct InitGenerator: Sendable {
    /// Makes the API key of one client (its id is passed). Random by default; tests inject a fixed one.
    public var makeKey: @Sendable (String) -> String

    public init(makeKey: @escaping @Sendable (String) -> String = InitGenerator.randomKey) {
        self.makeKey = makeKey
    }

    /// `tg_` and 32 random bytes in hex.
    public static func randomKey(_ client: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return "tg_" + HexString.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// An API key generated for a client: shown once, never stored.
    public struct GeneratedKey: Sendable, Hashable {
        public var client: String
        public var key: String
    }

    public struct Output: Sendable, Hashable {
        /// The configuration file's text.
        public var yaml: String
        /// The keys to hand to the API clients, in the order of `clients`.
        public var keys: [GeneratedKey]
    }

    public func generate(_ plan: InitPlan) -> Output {
        var writer = InitYAMLWriter()
        let keys = plan.clients.map { GeneratedKey(client: $0.id, key: makeKey($0.id)) }
        writeHeader(plan, &writer)
        writeGateway(plan, &writer)
        writeIdentity(plan, keys: keys, &writer)
        writeAssets(plan, &writer)
        writeRoutes(plan, &writer)
        writeLimits(plan, &writer)
        writeAudit(plan, &writer)
        writeFailures(plan, &writer)
        return Output(yaml: writer.text, keys: keys)
    }
}
