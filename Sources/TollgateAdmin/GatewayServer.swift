import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import TollgateCore
import TollgateHTTP
import TollgateX402

/// Everything `tollgate serve` runs: a `GatewayAssembly` (rail, facilitators, upstream, audit batching) behind the
/// reverse proxy's listener (TollgateHTTP), plus the admin listener when `admin:` is configured, serving the admin
/// API and the Prometheus exposition of this instance's metrics. The store is passed in, so the same server runs
/// on SQLite and PostgreSQL.
public struct GatewayServer {
    /// The gateway's listener: the reverse proxy, or with `mcp:` in the configuration the MCP endpoint
    /// (`GatewayAssembly.mcpApplication`).
    public let application: any Service
    /// The admin API's listener; nil without an `admin:` section (or without a store that is an `AdminAPI.AdminStore`).
    public let adminApplication: Application<RouterResponder<BasicRequestContext>>?
    /// The gateway and everything beside it, shared with the Hummingbird door (`TollgateMiddleware`).
    public let assembly: GatewayAssembly
    /// What `GET /metrics` on the admin listener serves: this instance's own Prometheus registry, which `metrics`
    /// records into.
    public let exposition: MetricsExposition
    /// Everything that must run beside the listeners (audit batching, facilitator checks, janitor,
    /// operator-controls refresher).
    public var services: [any Service] { assembly.services + (mcpUpstream?.service.map { [$0] } ?? []) }
    /// The upstream MCP server of an MCP gateway; nil for the reverse proxy.
    public let mcpUpstream: MCPUpstreamConnection?
    public var gateway: Gateway { assembly.gateway }
    public var facilitators: FacilitatorPool { assembly.facilitators }
    /// Revocations and incident switches in force on this instance: the gateway reads them on every
    /// request, the admin API and the refresher write them.
    public var controls: OperatorControls { assembly.controls }
    /// This instance's metrics, recorded through swift-metrics into `exposition.registry`.
    public var metrics: GatewayMetrics { assembly.metrics }

    /// - Parameters:
    ///   - initialControls: the controls in force at start (load them from the store first, so no request is
    ///     served before revocations apply).
    ///   - adminToken: the resolved `admin.token` (`SecretResolver.adminToken`); the admin listener runs only with it.
    ///   - contractKeys: the upstream contract's keys (`SecretResolver.contractKeys`); nil derives them from `keys`.
    public init(configuration: GatewayConfiguration, keys: KeyRing, contractKeys: KeyRing? = nil, store: any GatewayStore, logger: Logger,
                facilitatorOverride: [any Facilitator]? = nil, initialControls: ControlsSnapshot = ControlsSnapshot(),
                adminToken: [UInt8]? = nil, tokens: (any TokenVerifier)? = nil, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
                onAdminRunning: @escaping @Sendable (Int) async -> Void = { _ in }) {
        let registry = PrometheusCollectorRegistry()
        let assembly = GatewayAssembly(configuration: configuration, keys: keys, contractKeys: contractKeys, store: store, logger: logger,
                                       facilitatorOverride: facilitatorOverride, initialControls: initialControls, tokens: tokens,
                                       metricsFactory: MetricsExposition.factory(recordingInto: registry))
        self.assembly = assembly
        exposition = MetricsExposition(registry: registry, metrics: assembly.metrics)
        if let admin = configuration.admin, let adminToken {
            adminApplication = Application(
                router: AdminAPI.router(store: store, controls: assembly.controls, token: adminToken,
                                        policy: AdminPolicyView(limits: configuration.limits.global, routeLimits: configuration.limits.perRoute,
                                                                spendCaps: configuration.spendCaps, quotas: configuration.quotas),
                                        metrics: exposition, storeHealth: { store.health() }, logger: logger),
                server: ListenerLimits.admin.server(),
                configuration: ListenerLimits.admin.configuration(address: .hostname(admin.listen.host, port: admin.listen.port),
                                                                  serverName: "tollgate-admin", logger: logger),
                onServerRunning: { channel in await onAdminRunning(channel.localAddress?.port ?? 0) },
                logger: logger)
        } else {
            if configuration.admin != nil {
                logger.error("admin API not started: it needs the resolved admin token")
            }
            adminApplication = nil
        }
        if let mcp = configuration.mcp {
            let upstream = MCPUpstreamConnection(mcp, logger: logger)
            mcpUpstream = upstream
            application = assembly.mcpApplication(upstream: upstream, logger: logger, onServerRunning: onServerRunning)
        } else {
            mcpUpstream = nil
            application = assembly.proxyApplication(logger: logger, onServerRunning: onServerRunning)
        }
    }
}
