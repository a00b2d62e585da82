import TollgateConfiguration

/// What a configuration implies, derived from it (never a template): the flow of one request with
/// this configuration's stages, who owns each step and what it logs, the rate limits with their
/// relations, gaps and recommended numbers, the anti-patterns found, and the decisions left open.
///
/// Deterministic: no timestamps, no random ids, sets sorted, so renderings can be compared byte for
/// byte. The JSON rendering is this type encoded with sorted keys (docs/design.md describes it).
public struct DesignReport: Sendable, Hashable, Codable {
    /// Bumped when a field changes meaning or disappears (new fields do not bump it).
    public static let currentSchemaVersion = 1

    public var schemaVersion: Int
    /// The configuration file as named by the caller.
    public var source: String
    public var gateway: GatewayOverview
    public var identity: IdentityDesign
    /// In configuration order (the first match wins).
    public var routes: [RouteDesign]
    /// Networks paid routes accept, sorted.
    public var networks: [NetworkDesign]
    public var storage: StorageDesign
    /// Every step in pipeline order, inactive ones included (`active: false`).
    public var flow: [FlowStep]
    public var limits: LimitsDesign
    /// The lint findings for this configuration (`ConfigurationLint.run`), in its order.
    public var findings: [LintFinding]
    /// The general list of rules, sorted by id.
    public var rules: [DesignRule]
    public var decisions: [OpenDecision]

    /// Derives the report. `findings` defaults to `ConfigurationLint.run(configuration)`.
    public init(configuration: GatewayConfiguration, source: String, findings: [LintFinding]? = nil) {
        let routes = configuration.routes.map { RouteDesign($0, configuration: configuration) }
        let networks = NetworkDesign.all(configuration)
        let parts = DesignReportParts(gateway: GatewayOverview(configuration), identity: IdentityDesign(configuration), routes: routes,
                                      networks: networks, storage: StorageDesign(configuration))
        let findings = findings ?? ConfigurationLint.run(configuration)
        self.schemaVersion = Self.currentSchemaVersion
        self.source = source
        self.gateway = parts.gateway
        self.identity = parts.identity
        self.routes = routes
        self.networks = networks
        self.storage = parts.storage
        self.flow = FlowDerivation(configuration: configuration, routes: routes, networks: networks).steps()
        self.limits = LimitsDerivation(configuration: configuration, routes: routes, networks: networks).derive()
        self.findings = findings
        self.rules = DesignRule.generalList(findings: findings)
        self.decisions = DecisionDerivation(configuration: configuration, report: parts).derive()
    }
}
