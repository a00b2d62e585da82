import Hummingbird
import Logging
import TollgateCore

/// Serves every request through the gateway pipeline (the reverse proxy of `tollgate serve`).
public struct GatewayResponder: HTTPResponder {
    public typealias Context = TollgateRequestContext

    let door: GatewayDoor

    /// - Parameters:
    ///   - metrics: counts every response by status class.
    ///   - trustedProxies: the peers allowed to name the client's address (`trusted_proxies`).
    public init(gateway: Gateway, maxRequestBodyBytes: Int, metrics: GatewayMetrics? = nil, trustedProxies: TrustedProxies = .none) {
        door = GatewayDoor(gateway: gateway, maxRequestBodyBytes: maxRequestBodyBytes, metrics: metrics, trustedProxies: trustedProxies)
    }

    /// The assembly's gateway with its configured body limit, trusted proxies and metrics.
    public init(assembly: GatewayAssembly) {
        self.init(gateway: assembly.gateway, maxRequestBodyBytes: assembly.configuration.maxRequestBodyBytes, metrics: assembly.metrics,
                  trustedProxies: assembly.configuration.trustedProxies)
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        await door.answer(request, peer: context.remoteAddress)
    }
}

extension GatewayAssembly {
    /// What the clients of the proxy's or the MCP gateway's listener may hold (`max_client_connections` and
    /// `max_client_connections_per_ip`, counted under the rate limits' IP prefixes; `client_idle_timeout_seconds`,
    /// `client_request_timeout_seconds`).
    public var clientListener: ListenerLimits {
        var limits = ListenerLimits(maxConnections: configuration.maxClientConnections, maxConnectionsPerPeer: configuration.maxClientConnectionsPerIP,
                                    idleTimeoutSeconds: configuration.clientIdleTimeoutSeconds,
                                    requestTimeoutSeconds: configuration.clientRequestTimeoutSeconds)
        limits.ipv4Bits = configuration.limits.ipv4PrefixBits
        limits.ipv6Bits = configuration.limits.ipv6PrefixBits
        limits.trustedProxies = configuration.trustedProxies
        return limits
    }

    /// The reverse proxy's listener: every request on `listen` through `GatewayResponder`. Run it in the same
    /// `ServiceGroup` as `services`.
    public func proxyApplication(logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> Application<GatewayResponder> {
        Application(
            responder: GatewayResponder(assembly: self),
            server: clientListener.server(),
            configuration: clientListener.configuration(address: .hostname(configuration.listen.host, port: configuration.listen.port),
                                                        serverName: "tollgate", logger: logger),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}
