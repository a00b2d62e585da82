import Synchronization
import TollgateCore

/// A small MCP server to put behind `tollgate mcp` in the quickstart, the demo and the tests, in both protocol
/// eras: `echo` (free), `forecast` (priced by the quickstart) and `fail` (always a tool error). It counts how
/// often each tool ran, so a test can check that one payment ran a tool once.
public final class SampleMCPServer: Sendable {
    public static let serverInfo: JSONValue = .object(["name": .string("tollgate-sample-mcp"), "version": .string("1.0.0")])
    private let executions = Mutex<[String: Int]>([:])

    public init() {}

    /// How often each tool ran.
    public var executionCounts: [String: Int] { executions.withLock { $0 } }

    /// The answer to one message in `era`; nil for a notification.
    public func handle(_ message: JSONRPCMessage, era: MCPEra) -> JSONRPCMessage? {
        guard message.isRequest, let method = message.method else {
            return message.isNotification ? nil : .error(id: message.id, code: JSONRPCCode.invalidRequest, message: "expected a request")
        }
        let id = message.id ?? .null
        switch method {
        case "initialize":
            let requested = message.params?["protocolVersion"]?.string ?? ""
            return .result(id: id, .object([
                "protocolVersion": .string(MCPEra.handshakeVersions.contains(requested) ? requested : "2025-11-25"),
                "capabilities": .object(["tools": .object(["listChanged": .bool(false)])]),
                "serverInfo": Self.serverInfo,
            ]))
        case "server/discover":
            return .result(id: id, .object([
                "supportedVersions": .array([.string(MCPEra.perRequestVersion)]),
                "capabilities": .object(["tools": .object(["listChanged": .bool(false)])]),
                "resultType": .string("complete"), "ttlMs": .integer(0), "cacheScope": .string("private"),
                "_meta": .object(["io.modelcontextprotocol/serverInfo": Self.serverInfo]),
            ]))
        case "ping":
            return .result(id: id, era.finished(.object([:])))
        case "tools/list":
            var result: [String: JSONValue] = ["tools": .array(Self.tools)]
            if era == .perRequest {
                result["ttlMs"] = .integer(0)
                result["cacheScope"] = .string("private")
            }
            return .result(id: id, era.finished(.object(result)))
        case "tools/call":
            guard let name = message.params?["name"]?.string else {
                return .error(id: id, code: JSONRPCCode.invalidParams, message: "tools/call needs a tool name")
            }
            let arguments = message.params?["arguments"]?.object ?? [:]
            guard let result = run(name, arguments) else {
                return .error(id: id, code: JSONRPCCode.invalidParams, message: "Unknown tool: \(name)")
            }
            return .result(id: id, era.finished(result))
        default:
            return .error(id: id, code: JSONRPCCode.methodNotFound, message: "Method not found: \(method)")
        }
    }

    private func run(_ name: String, _ arguments: [String: JSONValue]) -> JSONValue? {
        let structured: JSONValue
        var isError = false
        switch name {
        case "echo":
            structured = .object(["echo": arguments["text"] ?? .string("")])
        case "forecast":
            let city = arguments["city"]?.string ?? "Lisbon"
            structured = .object(["city": .string(city), "forecast": .string("sunny"), "tempC": .integer(21), "source": .string("tollgate-sample-mcp")])
        case "fail":
            structured = .object(["error": .string("the forecast service is down")])
            isError = true
        default:
            return nil
        }
        executions.withLock { $0[name, default: 0] += 1 }
        return .object([
            "content": .array([.object(["type": .string("text"), "text": .string(String(decoding: structured.canonicalBytes, as: UTF8.self))])]),
            "structuredContent": structured,
            "isError": .bool(isError),
        ])
    }

    static let tools: [JSONValue] = [
        tool("echo", "Echoes its text (free)", properties: ["text": .object(["type": .string("string")])]),
        tool("forecast", "Weather forecast for a city (paid)", properties: ["city": .object(["type": .string("string")])]),
        tool("fail", "A paid tool whose service is down: always a tool error (never charged)", properties: [:]),
    ]

    static func tool(_ name: String, _ description: String, properties: [String: JSONValue]) -> JSONValue {
        .object([
            "name": .string(name), "description": .string(description),
            "inputSchema": .object(["type": .string("object"), "properties": .object(properties)]),
        ])
    }
}
