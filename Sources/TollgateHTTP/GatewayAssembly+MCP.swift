import Hummingbird
import Logging
import TollgateCore
import TollgateMCP

extension GatewayAssembly {
    /// The MCP gateway's listener (`tollgate mcp`): the configuration's `mcp:` endpoint through `MCPResponder`,
    /// in front of `upstream`. Run it beside `services` (and `upstream`'s own service for a stdio server).
    public func mcpApplication(upstream: MCPUpstreamConnection, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> Application<MCPResponder> {
        let mcp = configuration.mcp ?? MCPConfiguration(upstream: .http(url: configuration.upstreamURL))
        let gate = MCPToolGate(gateway: gateway, tools: RouteTable(configuration.routes))
        let responder = MCPResponder(gate: gate, upstream: upstream.upstream, passThrough: upstream.passThrough, path: mcp.path,
                                     maxRequestBodyBytes: configuration.maxRequestBodyBytes, metrics: metrics,
                                     trustedProxies: configuration.trustedProxies, sessions: sessionBinder, logger: logger)
        return Application(
            responder: responder,
            server: clientListener.server(),
            configuration: clientListener.configuration(address: .hostname(configuration.listen.host, port: configuration.listen.port),
                                                        serverName: "tollgate-mcp", logger: logger),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}
