import HTTPTypes
import TollgateCore

/// An upstream MCP server's answer to one request: the JSON-RPC response and the HTTP fields that matter to the
/// caller (`Mcp-Session-Id`), empty for a server over stdio.
public struct MCPAnswer: Sendable {
    public var message: JSONRPCMessage
    public var headerFields: HTTPFields

    public init(message: JSONRPCMessage, headerFields: HTTPFields = [:]) {
        self.message = message
        self.headerFields = headerFields
    }
}

/// An upstream MCP server, as the gateway calls it for the requests it decides on (`tools/call`, `tools/list`).
public protocol MCPUpstream: Sendable {
    /// Sends one request and returns its response. `callerFields` are the caller's MCP headers (session,
    /// protocol version), `contract` the gateway's decision for a paid call. Throws `TollgateError` with
    /// `.upstreamUnavailable` when no answer came (refused connection, timeout, a server that stopped).
    func call(_ request: JSONRPCMessage, callerFields: HTTPFields, contract: HTTPFields) async throws -> MCPAnswer
}

/// Reads the JSON-RPC messages of a `text/event-stream` body: each event's `data` lines joined by newlines
/// (the server-sent events format), fed chunk by chunk, keeping the last event id and the reconnection delay a
/// server names, which resuming a stream it closed needs (`GET` with `Last-Event-ID`).
public struct ServerSentEvents: Sendable {
    private var buffer: [UInt8] = []
    /// The id of the last event completed (an event with an id and no data, a server's priming event, counts).
    public private(set) var lastEventId: String?
    /// The reconnection delay in milliseconds the stream asked for (`retry:`), if any.
    public private(set) var retryMillis: Int?

    public init() {}

    /// Appends a chunk; returns the data of every event completed by it.
    public mutating func feed(_ chunk: some Collection<UInt8>) -> [[UInt8]] {
        buffer.append(contentsOf: chunk)
        var events: [[UInt8]] = []
        while let end = Self.eventEnd(in: buffer) {
            let block = buffer[..<end.start]
            buffer.removeSubrange(..<end.next)
            var data: [UInt8] = []
            var first = true
            var id: String?
            for rawLine in block.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                var line = rawLine
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                // `field: value`, or a field alone (an empty value); a line starting with `:` is a comment.
                let colon = line.firstIndex(of: UInt8(ascii: ":"))
                guard colon != line.startIndex else { continue }
                let field = line[..<(colon ?? line.endIndex)]
                var value = colon.map { line[line.index(after: $0)...] } ?? line[line.endIndex...]
                if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
                switch String(decoding: field, as: UTF8.self) {
                case "data":
                    if !first { data.append(UInt8(ascii: "\n")) }
                    data.append(contentsOf: value)
                    first = false
                case "id" where !value.contains(0):
                    id = String(decoding: value, as: UTF8.self)
                case "retry" where !value.isEmpty && value.count <= 9 && value.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }):
                    retryMillis = Int(String(decoding: value, as: UTF8.self))
                default:
                    continue
                }
            }
            if let id { lastEventId = id.isEmpty ? nil : id }
            if !first { events.append(data) }
        }
        return events
    }

    /// Where the first event ends (a blank line, `\n\n` or `\r\n\r\n`) and where the next begins.
    private static func eventEnd(in bytes: [UInt8]) -> (start: Int, next: Int)? {
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") && bytes[index + 1] == UInt8(ascii: "\n") { return (index, index + 2) }
            if index + 3 < bytes.count, bytes[index] == UInt8(ascii: "\r"), bytes[index + 1] == UInt8(ascii: "\n"),
               bytes[index + 2] == UInt8(ascii: "\r"), bytes[index + 3] == UInt8(ascii: "\n") {
                return (index, index + 4)
            }
            index += 1
        }
        return nil
    }
}

extension HTTPField.Name {
    /// The streamable-HTTP transport's fields, named once for the door, the upstream client and the bench.
    public static let mcpSessionId = HTTPField.Name("Mcp-Session-Id")!
    public static let mcpProtocolVersion = HTTPField.Name("Mcp-Protocol-Version")!
    public static let mcpMethod = HTTPField.Name("Mcp-Method")!
    public static let mcpName = HTTPField.Name("Mcp-Name")!
}
