import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import TollgateCore
import TollgateX402

/// Assembles a running gateway from a configuration: rail, facilitators, upstream, audit batching
/// and the HTTP listener, plus the admin listener when `admin:` is configured. The store is passed in,
/// so the same assembly serves SQLite and PostgreSQL.
public struct GatewayServer {
    public let application: Application<GatewayResponder>
    /// The admin API's listener; nil without an `admin:` section (or without a store that is an `AdminAPI.AdminStore`).
    public let adminApplication: Application<RouterResponder<BasicRequestContext>>?
    /// Everything that must run beside the listeners (audit batching, facilitator checks, janitor,
    /// operator-controls refresher).
    public let services: [any Service]
    public let gateway: Gateway
    public let facilitators: FacilitatorPool
    /// Revocations and incident switches in force on this instance: the gateway reads them on every
    /// request, the admin API and the refresher write them.
    public let controls: OperatorControls
    /// This instance's Prometheus metrics (its own registry), served at `GET /metrics` on the admin listener.
    public let metrics: GatewayMetrics

    /// - Parameters:
    ///   - initialControls: the controls in force at start (load them from the store first, so no request is
    ///     served before revocations apply).
    ///   - adminToken: the resolved `admin.token` (`SecretResolver.adminToken`); the admin listener runs only with it.
    ///   - contractKeys: the upstream contract's keys (`SecretResolver.contractKeys`); nil derives them from `keys`.
    public init(configuration: GatewayConfiguration, keys: KeyRing, contractKeys: KeyRing? = nil, store: any TollgateStore, logger: Logger,
                facilitatorOverride: [any Facilitator]? = nil, initialControls: ControlsSnapshot = ControlsSnapshot(),
                adminToken: [UInt8]? = nil, tokens: (any TokenVerifier)? = nil, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
                onAdminRunning: @escaping @Sendable (Int) async -> Void = { _ in }) {
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
                return .init(facilitator: HTTPFacilitator(baseURL: entry.url, timeout: .milliseconds(Int64(entry.timeoutSeconds * 1000)), headers: headers),
                             networks: Set(entry.networks), breaker: entry.breaker)
            }
        }
        let registry = PrometheusCollectorRegistry()
        let pool = FacilitatorPool(members, metrics: FacilitatorCallMetrics(registry: registry))
        let metrics = GatewayMetrics(registry: registry, routes: configuration.routes, assets: configuration.assets,
                                     facilitators: pool, controls: controls)
        self.metrics = metrics
        // The pipeline's writes go through the observed store, so the metrics see exactly what was committed.
        let observedStore = ObservedStore(store, observer: metrics)
        let rail = ExactEVMRail(assets: configuration.assets, facilitators: pool,
                                chains: configuration.settlement.rpc.mapValues { EVMChainReader(url: $0) })
        let batcher = AuditBatcher(store: observedStore, interval: .milliseconds(configuration.auditFlushMillis), logger: logger)
        let settings = Gateway.Settings(
            routes: RouteTable(configuration.routes), clients: ClientDirectory(configuration.clients), offers: OfferSigner(keys: keys),
            contract: ContractSigner(keys: contractKeys ?? keys.contractKeys()), publicURL: configuration.publicURL, unmatched: configuration.unmatched,
            retryAfterSeconds: configuration.retryAfterSeconds, limits: configuration.limits.trafficLimits(),
            invalidProofs: NegativeCache(ttlSeconds: Double(configuration.limits.invalidProofCacheSeconds)),
            idempotencyWindowSeconds: configuration.idempotencyWindowSeconds, spendCaps: configuration.spendCaps,
            quotas: configuration.quotas, payerAllowList: configuration.payerAllowList, payerDenyList: configuration.payerDenyList,
            automaticRefunds: configuration.refunds.automatic, auditsDenials: configuration.auditsDenials)
        let upstream = HTTPUpstream(baseURL: configuration.upstreamURL, timeoutSeconds: configuration.upstreamTimeoutSeconds,
                                    maxResponseBytes: configuration.maxUpstreamResponseBytes)
        gateway = Gateway(settings: settings, rail: rail, store: observedStore, audit: batcher, upstream: upstream, controls: controls, tokens: tokens,
                          logger: logger)
        facilitators = pool
        var services: [any Service] = [
            batcher,
            FacilitatorHealthService(pool: pool, expected: configuration.paidNetworks, logger: logger),
            ReservationJanitor(store: store, logger: logger),
            SettlementReconciler(gateway: gateway, interval: .seconds(configuration.settlement.reconcileIntervalSeconds), logger: logger),
        ]
        let controlStore = store as? any ControlStore & TollgateStore
        // Every instance follows the shared store, with or without its own admin listener, so a change made
        // anywhere applies here within a second.
        if let controlStore { services.append(ControlsRefresher(store: controlStore, controls: controls, logger: logger)) }
        // Audit retention runs only where the store can archive (SQLite); elsewhere every event is kept.
        if let retention = configuration.auditRetention, let retaining = store as? any AuditRetaining {
            services.append(retaining.auditRetentionService(retention, logger: logger))
        }
        if let heads = store as? any AuditHeadReading {
            services.append(AuditHeadPublisher(store: heads, file: configuration.auditHeadFile,
                                               interval: .seconds(configuration.auditHeadIntervalSeconds),
                                               onPublish: { metrics.publishedAuditHead($0) }, logger: logger))
        }
        self.services = services
        // The admin API needs the whole `AdminStore` (controls, ledger, refunds, usage): with it, every route is served.
        let adminStore = store as? any AdminAPI.AdminStore
        if let admin = configuration.admin, let adminToken, let adminStore {
            adminApplication = Application(
                router: AdminAPI.router(store: adminStore, controls: controls, token: adminToken,
                                        policy: AdminPolicyView(limits: configuration.limits.global, routeLimits: configuration.limits.perRoute,
                                                                spendCaps: configuration.spendCaps, quotas: configuration.quotas),
                                        metrics: metrics, logger: logger),
                configuration: .init(address: .hostname(admin.listen.host, port: admin.listen.port), serverName: "tollgate-admin"),
                onServerRunning: { channel in await onAdminRunning(channel.localAddress?.port ?? 0) },
                logger: logger)
        } else {
            if configuration.admin != nil {
                logger.error("admin API not started: it needs the resolved admin token and a store that holds operator controls, refunds and usage")
            }
            adminApplication = nil
        }
        application = Application(
            responder: GatewayResponder(gateway: gateway, maxRequestBodyBytes: configuration.maxRequestBodyBytes, metrics: metrics,
                                        trustedProxies: configuration.trustedProxies),
            configuration: .init(address: .hostname(configuration.listen.host, port: configuration.listen.port), serverName: "tollgate"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}
