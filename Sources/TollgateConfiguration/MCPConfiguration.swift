/// The `mcp:` section: `tollgate mcp` serves an MCP endpoint in front of an upstream MCP server and charges for
/// the tools listed under `tools` (each one a route of the journey, `POST /<name>`, in `GatewayConfiguration.routes`).
public struct MCPConfiguration: Sendable, Hashable {
    /// How the upstream MCP server is reached.
    public enum Upstream: Sendable, Hashable {
        /// A streamable-HTTP endpoint (`http://127.0.0.1:8406/mcp`).
        case http(url: String)
        /// A local server spoken to over stdio: the command and its arguments, started by the gateway.
        case command([String])
    }

    /// The path of the gateway's own MCP endpoint (`/mcp`).
    public var path: String
    /// nil for a configuration used in process (`TollgateMCPServer`), where the server's own handler runs the tools.
    public var upstream: Upstream?
    /// How long one upstream call may take (a timed-out tool call is not charged).
    public var timeoutSeconds: Double
    /// The largest upstream answer the gateway reads.
    public var maxResponseBytes: Int
    /// How many event streams (`GET` of the endpoint, passed through to an HTTP server) may be open at once; past it a
    /// caller is answered 503 (with 0, no stream is offered: 405). Each holds a connection of its own to the server,
    /// apart from the tool calls'.
    public var maxEventStreams: Int
    /// How many of those one caller (an identified client, or an anonymous caller's address prefix) may hold at once.
    public var maxEventStreamsPerCaller: Int
    /// How many requests passed straight through to an HTTP server (an unpriced `tools/call`, the handshake, `DELETE`)
    /// may be open at once, each within `timeoutSeconds`, its answer's body included; past it a caller is answered 503.
    /// They hold connections of their own, apart from the paid calls'.
    public var maxPassedRequests: Int
    /// How many of those one caller (an identified client, or an anonymous caller's address prefix) may hold at once,
    /// so one caller cannot refuse every other caller's handshake.
    public var maxPassedRequestsPerCaller: Int
    /// The priced (or scoped) tools, by name, in configuration order.
    public var tools: [String]

    /// - Parameters:
    ///   - maxEventStreamsPerCaller: nil is `defaultShare(of: maxEventStreams)`.
    ///   - maxPassedRequestsPerCaller: nil is `defaultShare(of: maxPassedRequests)`.
    public init(path: String = "/mcp", upstream: Upstream?, timeoutSeconds: Double = 30, maxResponseBytes: Int = 8 << 20,
                maxEventStreams: Int = 256, maxEventStreamsPerCaller: Int? = nil, maxPassedRequests: Int = 64,
                maxPassedRequestsPerCaller: Int? = nil, tools: [String] = []) {
        self.path = path
        self.upstream = upstream
        self.timeoutSeconds = timeoutSeconds
        self.maxResponseBytes = maxResponseBytes
        self.maxEventStreams = maxEventStreams
        self.maxEventStreamsPerCaller = maxEventStreamsPerCaller ?? Self.defaultShare(of: maxEventStreams)
        self.maxPassedRequests = maxPassedRequests
        self.maxPassedRequestsPerCaller = maxPassedRequestsPerCaller ?? Self.defaultShare(of: maxPassedRequests)
        self.tools = tools
    }

    /// One caller's share of a bound when the configuration names none: a quarter, at least one (none of none).
    public static func defaultShare(of limit: Int) -> Int {
        limit > 0 ? max(1, limit / 4) : 0
    }

    /// `resource.url` of a tool's terms is `mcp://tool/<name>`, the form the x402 MCP transport's reference server uses.
    public static let resourceBase = "mcp://tool"

    /// MCP tool names: 1 to 128 of `A-Z a-z 0-9 _ - .` (the MCP specification's rule), so a name is also a path segment.
    public static func isToolName(_ name: String) -> Bool {
        (1...128).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D || byte == 0x2E
        }
    }
}
