import Hummingbird
import Logging
import ServiceLifecycle
import TollgateCore
import TollgateX402

/// Assembles a running gateway from a configuration: rail, facilitators, upstream, audit batching
/// and the HTTP listener. The store is passed in, so the same assembly serves SQLite and PostgreSQL.
public struct GatewayServer {
    public let application: Application<GatewayResponder>
    /// Everything that must run beside the listener (audit batching, facilitator checks, janitor).
    public let services: [any Service]
    public let gateway: Gateway
    public let facilitators: FacilitatorPool

    public init(configuration: GatewayConfiguration, keys: KeyRing, store: any TollgateStore, logger: Logger,
                facilitatorOverride: [any Facilitator]? = nil, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) {
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
                             networks: Set(entry.networks))
            }
        }
        let pool = FacilitatorPool(members)
        let rail = ExactEVMRail(assets: configuration.assets, facilitators: pool)
        let batcher = AuditBatcher(store: store, interval: .milliseconds(configuration.auditFlushMillis), logger: logger)
        let settings = Gateway.Settings(
            routes: RouteTable(configuration.routes), clients: ClientDirectory(configuration.clients), offers: OfferSigner(keys: keys),
            contract: ContractSigner(keys: keys), publicURL: configuration.publicURL, unmatched: configuration.unmatched,
            retryAfterSeconds: configuration.retryAfterSeconds, limits: configuration.limits.trafficLimits(),
            invalidProofs: NegativeCache(ttlSeconds: Double(configuration.limits.invalidProofCacheSeconds)),
            idempotencyWindowSeconds: configuration.idempotencyWindowSeconds, spendCaps: configuration.spendCaps)
        let upstream = HTTPUpstream(baseURL: configuration.upstreamURL, timeoutSeconds: configuration.upstreamTimeoutSeconds,
                                    maxResponseBytes: configuration.maxUpstreamResponseBytes)
        gateway = Gateway(settings: settings, rail: rail, store: store, audit: batcher, upstream: upstream, logger: logger)
        facilitators = pool
        services = [
            batcher,
            FacilitatorHealthService(pool: pool, expected: configuration.paidNetworks, logger: logger),
            ReservationJanitor(store: store, logger: logger),
        ]
        application = Application(
            responder: GatewayResponder(gateway: gateway, maxRequestBodyBytes: configuration.maxRequestBodyBytes),
            configuration: .init(address: .hostname(configuration.listen.host, port: configuration.listen.port), serverName: "tollgate"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}
