import AsyncHTTPClient
import HTTPTypes
import Logging
import ServiceLifecycle
import TollgateConfiguration
import TollgateCore
import TollgateMCP

/// The upstream MCP server of a configuration, connected: how gated requests reach it, where everything else
/// goes, and, for a server over stdio, the service that starts it and stops it with the gateway.
public struct MCPUpstreamConnection: Sendable {
    public let upstream: any MCPUpstream
    public let passThrough: MCPResponder.PassThrough
    /// Runs beside the listener for a stdio server (starts it, stops it at shutdown); nil over HTTP.
    public let service: (any Service)?

    /// - Parameters:
    ///   - client: the client priced tool calls (and `tools/list`) go through.
    ///   - passedRequests: the client requests passed straight through go through (apart, so free traffic never holds the
    ///     paid calls' connections).
    ///   - eventStreams: the client event streams go through (apart, so open streams never hold the calls' connections).
    public init(_ configuration: MCPConfiguration, client: HTTPClient = .mcpServers, passedRequests: HTTPClient = .mcpPassedRequests,
                eventStreams: HTTPClient = .mcpEventStreams, logger: Logger) {
        switch configuration.upstream {
        case nil:
            // `tollgate mcp` refuses this before it starts; any other caller gets a clear refusal per request.
            upstream = NoMCPUpstream()
            passThrough = .none
            service = nil
        case .http(let url)?:
            upstream = MCPHTTPUpstream(url: url, client: client, timeoutSeconds: configuration.timeoutSeconds,
                                       maxResponseBytes: configuration.maxResponseBytes)
            passThrough = .http(url: url,
                                requests: MCPPassedRequests(client: passedRequests, limit: configuration.maxPassedRequests,
                                                            perCaller: configuration.maxPassedRequestsPerCaller,
                                                            timeoutSeconds: configuration.timeoutSeconds),
                                streams: MCPEventStreams(client: eventStreams, limit: configuration.maxEventStreams,
                                                         perCaller: configuration.maxEventStreamsPerCaller))
            service = nil
        case .command(let command)?:
            let stdio = MCPStdioUpstream(command: command, timeoutSeconds: configuration.timeoutSeconds,
                                         maxLineBytes: configuration.maxResponseBytes, logger: logger)
            upstream = stdio
            passThrough = .stdio(MCPStdioEndpoint(upstream: stdio))
            service = StdioServerService(upstream: stdio, logger: logger)
        }
    }
}

/// Starts a stdio MCP server with the gateway (so a broken command is seen at start, not at the first call) and
/// stops it at shutdown.
struct StdioServerService: Service {
    let upstream: MCPStdioUpstream
    let logger: Logger

    func run() async throws {
        do {
            try await upstream.ensureStarted()
        } catch {
            logger.error("MCP server not started; it is tried again on the next call", metadata: ["tollgate.error": "\(error)"])
        }
        try? await gracefulShutdown()
        await upstream.stop()
    }
}

/// The upstream of a configuration without `mcp.upstream` (tools meant to run in process).
struct NoMCPUpstream: MCPUpstream {
    func call(_ request: JSONRPCMessage, callerFields: HTTPFields, contract: HTTPFields) async throws -> MCPAnswer {
        throw TollgateError(.upstreamUnavailable, "no MCP server is configured (mcp.upstream)")
    }
}
