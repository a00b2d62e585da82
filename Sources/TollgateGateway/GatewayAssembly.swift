import CoreMetrics
import Logging
import ServiceLifecycle
import TollgateCore
import TollgateX402

/// A gateway assembled from a configuration: rail, facilitator pool, audit batching, settings, metrics and the
/// services that must run beside it. Every door builds on this one assembly: `proxyApplication` puts the reverse
/// proxy's listener in front of it (`GatewayServer` of TollgateAdmin runs that beside the admin listener for
/// `tollgate serve`), `TollgateMiddleware` puts it in front of the routes of an existing Hummingbird application,
/// `PaidTools` (TollgateMCPServer) in front of the tools of a swift-sdk MCP server. It lives apart from the
/// Hummingbird doors so that last one builds without Hummingbird. The store is passed in, so the same assembly
/// serves SQLite and PostgreSQL.
public struct GatewayAssembly: Sendable {
    public let gateway: Gateway
    public let facilitators: FacilitatorPool
    /// Revocations and incident switches in force on this instance: the gateway reads them on every
    /// request, the admin API and the refresher write them.
    public let controls: OperatorControls
    /// This instance's metrics, recorded through swift-metrics into the factory it was given.
    public let metrics: GatewayMetrics
    /// Everything that must run beside the listener (audit batching, facilitator checks, janitor, settlement
    /// reconciler, operator-controls refresher, audit retention and head publishing). Run them in the same
    /// `ServiceGroup` as the application: without the facilitator check, paid routes answer 503.
    public let services: [any Service]
    /// The configuration it was built from (body and response limits, trusted proxies, admin settings).
    public let configuration: GatewayConfiguration
    /// Binds the session ids an upstream MCP server issues to their callers (`tollgate mcp`): its key is derived from
    /// `keys` under a label of its own, so every instance sharing the secrets accepts the ids any of them issued.
    public let sessionBinder: SessionBinder

    /// - Parameters:
    ///   - contractKeys: the upstream contract's keys (`SecretResolver.contractKeys`); nil derives them from `keys`.
    ///   - facilitatorOverride: facilitators to use instead of the configured ones (tests, the demo).
    ///   - initialControls: the controls in force at start (load them from the store first, so no request is
    ///     served before revocations apply).
    ///   - upstream: where the journey forwards when no door passes its own; nil is the configured HTTP upstream.
    ///   - metricsFactory: the swift-metrics backend of `metrics`; by default the process's `MetricsSystem.factory`
    ///     (whatever the application bootstrapped, a no-op otherwise). `GatewayServer` passes a Prometheus registry
    ///     of this instance's own, served at `GET /metrics`.
    public init(configuration: GatewayConfiguration, keys: KeyRing, contractKeys: KeyRing? = nil, store: any GatewayStore, logger: Logger,
                facilitatorOverride: [any Facilitator]? = nil, initialControls: ControlsSnapshot = ControlsSnapshot(),
                tokens: (any TokenVerifier)? = nil, upstream: (any Upstream)? = nil, metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        self.configuration = configuration
        sessionBinder = SessionBinder(secrets: keys)
        let controls = OperatorControls(initialControls)
        self.controls = controls
        let members: [FacilitatorPool.Member]
        if let facilitatorOverride {
            members = facilitatorOverride.map { .init(facilitator: $0, networks: []) }
        } else {
            members = configuration.facilitators.map { entry in
                let all = entry.headers["all"] ?? []
                let headers = HTTPFacilitator.EndpointHeaders(
                    supported: all + (entry.headers["supported"] ?? []), verify: all + (entry.headers["verify"] ?? []),
                    settle: all + (entry.headers["settle"] ?? []))
                return .init(facilitator: HTTPFacilitator(baseURL: entry.url, timeout: .milliseconds(Int64(entry.timeoutSeconds * 1000)), headers: headers,
                                                             maxConnections: entry.maxConnections),
                             networks: Set(entry.networks), breaker: entry.breaker)
            }
        }
        let pool = FacilitatorPool(members, metrics: FacilitatorCallMetrics(factory: metricsFactory))
        let metrics = GatewayMetrics(factory: metricsFactory, routes: configuration.routes, assets: configuration.assets,
                                     facilitators: pool, controls: controls, storeHealth: { store.health() })
        self.metrics = metrics
        // The pipeline's writes go through the observed store, so the metrics see exactly what was committed.
        let observedStore = ObservedStore(store, observer: metrics)
        let rail = ExactEVMRail(assets: configuration.assets, facilitators: pool,
                                chains: configuration.settlement.rpc.mapValues {
                                    EVMChainReader(url: $0, maxLogRange: Int64(configuration.settlement.rpcMaxLogRange))
                                }, publicURL: configuration.publicURL)
        // The MCP door speaks the x402 MCP transport (v2 only). The HTTP doors always have the v1 rail: with v1 turned
        // off (`x402.v1`, `x402_v1`) routes refuse it, but a retry of a v1 purchase made before is still recognised.
        let rails = rail.rails(v1: configuration.mcp == nil)
        let batcher = AuditBatcher(store: observedStore, interval: .milliseconds(configuration.auditFlushMillis), observer: metrics,
                                   logger: logger)
        var settings = Gateway.Settings(
            routes: RouteTable(configuration.routes, pathCase: configuration.upstreamPathCase), clients: ClientDirectory(configuration.clients), offers: OfferSigner(keys: keys),
            contract: ContractSigner(keys: contractKeys ?? keys.contractKeys()), publicURL: configuration.publicURL, unmatched: configuration.unmatched,
            retryAfterSeconds: configuration.retryAfterSeconds, limits: configuration.limits.trafficLimits(),
            invalidProofs: NegativeCache(ttlSeconds: Double(configuration.limits.invalidProofCacheSeconds)),
            idempotencyWindowSeconds: configuration.idempotencyWindowSeconds, spendCaps: configuration.spendCaps,
            quotas: configuration.quotas, payerAllowList: configuration.payerAllowList, payerDenyList: configuration.payerDenyList,
            automaticRefunds: configuration.refunds.automatic, auditsDenials: configuration.auditsDenials)
        if configuration.limits.sharedInvalid, let counter = store.invalidProofCounter, let limit = configuration.limits.global.invalid {
            settings.sharedInvalid = SharedInvalidBudget(counter: counter, limit: limit, maxKeys: configuration.limits.maxKeys, logger: logger)
        }
        // The x402 MCP client does not retry a call answered 503, so a copy in flight is refused rather than asked to wait.
        if configuration.mcp != nil { settings.repeatedProofs = .refused }
        settings.timings = metrics
        settings.verifiesWithClaim = configuration.settlement.verifiesWithClaim
        settings.chainNetworks = Set(configuration.settlement.rpc.keys)
        if configuration.x402.discovery && configuration.mcp == nil { settings.discoveryPath = ExactEVMRail.discoveryPath }
        let upstream = upstream ?? HTTPUpstream(baseURL: configuration.upstreamURL, timeoutSeconds: configuration.upstreamTimeoutSeconds,
                                                maxResponseBytes: configuration.maxUpstreamResponseBytes,
                                                maxConnections: configuration.upstreamMaxConnections)
        let gateway = Gateway(settings: settings, rails: rails, store: observedStore, audit: batcher, upstream: upstream, controls: controls,
                              tokens: tokens, logger: logger)
        self.gateway = gateway
        facilitators = pool
        var services: [any Service] = [
            batcher,
            // Stops after the doors (services stop in reverse order), before the batcher's last flush.
            gateway.afterResponse,
            FacilitatorHealthService(pool: pool, expected: configuration.paidNetworks, logger: logger),
            ReservationJanitor(store: store, logger: logger),
            SettlementReconciler(gateway: gateway, interval: .seconds(configuration.settlement.reconcileIntervalSeconds), jobs: store,
                                 logger: logger),
        ]
        if let renewer = gateway.claimLeaseRenewer(logger: logger) { services.append(renewer) }
        // Every instance follows the shared store, with or without its own admin listener, so a change made
        // anywhere applies here within a second.
        services.append(ControlsRefresher(store: store, controls: controls, logger: logger))
        if let retention = configuration.auditRetention {
            services.append(store.auditRetentionService(retention, logger: logger))
        }
        services.append(AuditHeadPublisher(store: store, file: configuration.auditHeadFile,
                                           interval: .seconds(configuration.auditHeadIntervalSeconds),
                                           onPublish: { metrics.publishedAuditHead($0) }, logger: logger))
        self.services = services
    }
}
