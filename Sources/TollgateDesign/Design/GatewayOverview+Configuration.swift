import TollgateConfiguration
import TollgateCore
import TollgateX402

extension GatewayOverview {
    init(_ configuration: GatewayConfiguration) {
        self.init(
            listen: configuration.listen.description, publicURL: configuration.publicURL,
            publicURLUsesTLS: NetworkAddress.isHTTPS(configuration.publicURL), upstreamURL: HTTPOrigin.shown(configuration.upstreamURL),
            upstreamTimeoutSeconds: Int(configuration.upstreamTimeoutSeconds), maxUpstreamResponseBytes: configuration.maxUpstreamResponseBytes,
            maxRequestBodyBytes: configuration.maxRequestBodyBytes, unmatched: configuration.unmatched.rawValue,
            retryAfterSeconds: configuration.retryAfterSeconds, secretIds: configuration.secrets.map(\.id),
            routeCount: configuration.routes.count, paidRouteCount: configuration.routes.filter { $0.pricing != nil }.count)
        mcpEndpoint = configuration.mcp.map { "http://\(configuration.listen.description)\($0.path)" }
        if configuration.x402.discovery, configuration.mcp == nil { manifestURL = configuration.publicURL + ExactEVMRail.discoveryPath }
    }
}
