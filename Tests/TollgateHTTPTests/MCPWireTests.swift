import Foundation
import HTTPTypes
import Testing
import TollgateConfiguration
import TollgateCore
import TollgateMCP

/// The pieces of the MCP door that read what others wrote: event streams, tool calls, eras and the `mcp:` section.
@Suite struct MCPWireTests {
    @Test func eventStreamsAreReadAcrossChunksAndLineEndings() {
        var events = ServerSentEvents()
        let stream = Array("event: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n: comment\n\ndata: {\"id\":2}\n\n".utf8)
        var seen: [[UInt8]] = []
        // Fed one byte at a time: an event is complete only at its blank line.
        for byte in stream { seen += events.feed([byte]) }
        #expect(seen.map { String(decoding: $0, as: UTF8.self) } == ["{\"a\":\n1}", "{\"id\":2}"])
    }

    /// The last event id and the reconnection delay a server names, which resuming a stream it closed needs: a priming
    /// event (an id, no data) counts; an id with NUL is ignored, an empty one forgets it; `retry` only as digits.
    @Test func eventStreamsKeepTheLastEventIdAndTheRetryDelay() {
        var events = ServerSentEvents()
        #expect(events.feed(Array("id: p1\nretry: 250\ndata:\n\n".utf8)) == [[]])
        #expect(events.lastEventId == "p1")
        #expect(events.retryMillis == 250)
        _ = events.feed(Array(": comment\nid:p2\ndata\n\nretry: 1.5\nid: bad\u{0}\n\n".utf8))
        #expect(events.lastEventId == "p2")
        #expect(events.retryMillis == 250)
        // An event without an id keeps the last one; a half-sent event changes nothing.
        _ = events.feed(Array("data: {}\n\nid: p3\ndata: {}".utf8))
        #expect(events.lastEventId == "p2")
        _ = events.feed(Array("\n\nid:\n\n".utf8))
        #expect(events.lastEventId == nil)
    }

    /// Lines end with CR alone too (also across chunks), a byte order mark opens a stream, an id that could not travel
    /// in a header is left out, and a stream's end drops an event its blank line did not complete, id and all.
    @Test func eventStreamsReadEveryLineEndingAndDropWhatAStreamLeftUnfinished() {
        var events = ServerSentEvents()
        var seen: [[UInt8]] = []
        for byte in Array("\u{FEFF}id: a1\rdata: {\"x\":\r\ndata: 1}\r\r".utf8) { seen += events.feed([byte]) }
        #expect(seen.map { String(decoding: $0, as: UTF8.self) } == ["{\"x\":\n1}"])
        #expect(events.lastEventId == "a1")
        _ = events.feed(Array(("id: " + String(repeating: "z", count: 2000) + "\ndata: {}\n\nid: b\u{1}c\n\n").utf8))
        #expect(events.lastEventId == "a1")
        #expect(events.feed(Array("id: a2\ndata: {\"half".utf8)).isEmpty)
        events.endOfStream()
        #expect(events.lastEventId == "a1")
        // The resumed stream replays the event whole; nothing of the half is joined to it.
        let replayed = events.feed(Array("id: a2\ndata: {\"whole\":true}\n\n".utf8))
        #expect(replayed.map { String(decoding: $0, as: UTF8.self) } == ["{\"whole\":true}"])
        #expect(events.lastEventId == "a2")
    }

    @Test func aToolCallTakesThePaymentAsObjectOrTextAndKeepsTheRestOfItsMeta() throws {
        let payload = JSONValue.object(["x402Version": .integer(2), "payload": .object(["signature": .string("0x01")])])
        let asText = JSONValue.string(String(decoding: payload.canonicalBytes, as: UTF8.self))
        for sent in [payload, asText] {
            let message = JSONRPCMessage(.object([
                "jsonrpc": .string("2.0"), "id": .integer(3), "method": .string("tools/call"),
                "params": .object(["name": .string("forecast"), "arguments": .object(["b": .integer(1), "a": .integer(2)]),
                                   "_meta": .object(["x402/payment": sent, "io.modelcontextprotocol/protocolVersion": .string("2026-07-28")])]),
            ]))
            let call = try #require(ToolCall(message))
            #expect(call.payment == payload)
            #expect(call.era == .perRequest)
            #expect(String(decoding: call.argumentBytes, as: UTF8.self) == #"{"a":2,"b":1}"#)
            // Upstream the payment is gone, the era's stamp stays.
            let meta = try #require(call.upstreamMessage.params?["_meta"]?.object)
            #expect(meta["x402/payment"] == nil)
            #expect(meta["io.modelcontextprotocol/protocolVersion"] == .string("2026-07-28"))
        }
        let notACall = JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "method": .string("tools/call"), "params": .object(["name": .string("x")])]))
        #expect(ToolCall(notACall) == nil)
        #expect(JSONRPCMessage.parse(Array(#"{"jsonrpc":"1.0","id":1}"#.utf8)) == nil)
        #expect(JSONRPCMessage.parse(Array("[1]".utf8)) == nil)
    }

    /// `Mcp-Method` and `Mcp-Name` must name what the body names, byte for byte; absent, they are not required.
    @Test func theRoutingFieldsMustMirrorTheBody() throws {
        let call = try #require(JSONRPCMessage.parse(Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"forecast"}}"#.utf8)))
        let read = try #require(JSONRPCMessage.parse(Array(#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a"}}"#.utf8)))
        func mismatch(_ message: JSONRPCMessage, _ fields: [HTTPField.Name: String]) -> Bool {
            var headers = HTTPFields()
            for (name, value) in fields { headers[name] = value }
            return MCPRoutingHeaders.mismatch(of: message, fields: headers) != nil
        }
        #expect(!mismatch(call, [:]))
        #expect(!mismatch(call, [.mcpMethod: "tools/call", .mcpName: "forecast"]))
        #expect(!mismatch(call, [.mcpMethod: "tools/call", .mcpName: "=?base64?Zm9yZWNhc3Q=?="]))
        #expect(!mismatch(read, [.mcpMethod: "resources/read", .mcpName: "file:///a"]))
        #expect(mismatch(call, [.mcpMethod: "tools/list"]))
        #expect(mismatch(call, [.mcpName: "echo"]))
        #expect(mismatch(call, [.mcpName: "Forecast"]))
        #expect(mismatch(read, [.mcpName: "file:///b"]))
        // Broken or non-canonical base64 (trailing bits set) never matches.
        #expect(mismatch(call, [.mcpName: "=?base64?Zm9yZWNhc3R=?="]))
        #expect(mismatch(call, [.mcpName: "=?base64?not base64?="]))
        // Canonically equivalent is not the same: a K written as the Kelvin sign is another name to the server.
        let kelvin = try #require(JSONRPCMessage.parse(Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"Kelvin"}}"#.utf8)))
        #expect(mismatch(kelvin, [.mcpName: "=?base64?\(Data("\u{212A}elvin".utf8).base64EncodedString())?="]))
        // A byte order mark is part of the name, as it is to the server.
        #expect(mismatch(call, [.mcpName: "=?base64?\(Data("\u{FEFF}forecast".utf8).base64EncodedString())?="]))
    }

    /// Names go into `Mcp-Name` as the MCP SDKs write them, so that the gateway (and the SDKs' servers) read back
    /// exactly the name of the body: visible ASCII as it is, anything HTTP would trim or mangle in base64.
    @Test func aNameIsWrittenToItsFieldAsTheSDKsWriteItAndReadBackExactly() throws {
        let verbatim = ["forecast", "get_weather-2", "", "=?base64?", "a?="]
        let wrapped = [" padded ", "trailing ", "météo", "tab\there", "=?base64?Zm9v?=", "\u{FEFF}forecast", "line\nbreak"]
        for name in verbatim { #expect(MCPRoutingHeaders.encoded(name) == name) }
        for name in wrapped {
            let field = MCPRoutingHeaders.encoded(name)
            #expect(field.hasPrefix("=?base64?") && field.hasSuffix("?="), "\(name)")
            #expect(field.utf8.allSatisfy { (0x21...0x7E).contains($0) }, "\(name)")
        }
        for name in verbatim + wrapped {
            let message = JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "method": .string("tools/call"),
                                                  "params": .object(["name": .string(name)])]))
            var fields = HTTPFields()
            fields[.mcpMethod] = "tools/call"
            fields[.mcpName] = MCPRoutingHeaders.encoded(name)
            #expect(MCPRoutingHeaders.mismatch(of: message, fields: fields) == nil, "\(name)")
        }
        // The SDK's own encoding of "météo" (Python: base64.b64encode("météo".encode())).
        #expect(MCPRoutingHeaders.encoded("météo") == "=?base64?bcOpdMOpbw==?=")
    }

    @Test func theEraIsTheHeadersElseTheStamps() {
        let bare = JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(1), "method": .string("ping")]))
        #expect(MCPEra.of(bare) == .handshake)
        #expect(MCPEra.of(bare, fields: [.mcpProtocolVersion: "2025-06-18"]) == .handshake)
        #expect(MCPEra.of(bare, fields: [.mcpProtocolVersion: "2026-07-28"]) == .perRequest)
        #expect(MCPEra.perRequest.finished(.object([:])) == .object(["resultType": .string("complete")]))
        #expect(MCPEra.handshake.finished(.object([:])) == .object([:]))
    }

    static let base = """
    listen: 127.0.0.1:0
    secrets: [{id: t1, env: TEST_SECRET}]
    facilitators: [{url: "http://127.0.0.1:9", networks: ["eip155:84532"]}]
    assets: [{id: usdc, network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6, eip712_name: USDC, eip712_version: "2"}]
    pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

    """

    @Test func theMCPSectionMakesEachToolARoute() throws {
        let (configuration, _) = try ConfigurationLoader.parse(Self.base + """
        mcp:
          upstream: {command: [tollgate, sample-mcp, --stdio], timeout_seconds: 7}
          tools:
            - {name: forecast, price: "0.01", anonymous: true}
            - {name: report.v2, price: "0.05", unit: record, quantity: {body: days, max: 10}, anonymous: true}
        """)
        let mcp = try #require(configuration.mcp)
        #expect(mcp.upstream == .command(["tollgate", "sample-mcp", "--stdio"]))
        #expect(mcp.tools == ["forecast", "report.v2"])
        #expect(configuration.routes.map(\.resource) == ["tool:forecast", "tool:report.v2"])
        #expect(configuration.routes[0].pricing?.unit == "call")
        #expect(configuration.routes[0].method == .post)
        #expect(configuration.routes[1].pricing?.metering.pricesPerUnit == true)
        #expect(configuration.upstreamURL == "stdio: tollgate sample-mcp --stdio")
        #expect(configuration.upstreamTimeoutSeconds == 7)
        #expect(mcp.maxEventStreams == 256)
        let bounded = try ConfigurationLoader.parse(Self.base + "mcp: {upstream: {url: \"http://x/mcp\", max_event_streams: 0}}").0
        #expect(bounded.mcp?.maxEventStreams == 0)
        #expect(mcp.maxPassedRequests == 64)
        let passed = try ConfigurationLoader.parse(Self.base + "mcp: {upstream: {url: \"http://x/mcp\", max_passed_requests: 8}}").0
        #expect(passed.mcp?.maxPassedRequests == 8)
        // One caller's share: a quarter of each bound unless named, at least one.
        #expect(mcp.maxPassedRequestsPerCaller == 16)
        #expect(mcp.maxEventStreamsPerCaller == 64)
        #expect(passed.mcp?.maxPassedRequestsPerCaller == 2)
        let small = try ConfigurationLoader.parse(Self.base + "mcp: {upstream: {url: \"http://x/mcp\", max_passed_requests: 3, max_event_streams: 2}}").0
        #expect(small.mcp?.maxPassedRequestsPerCaller == 1)
        #expect(small.mcp?.maxEventStreamsPerCaller == 1)
        let shares = try ConfigurationLoader.parse(Self.base + """
            mcp: {upstream: {url: "http://x/mcp", max_passed_requests_per_caller: 64, max_event_streams_per_caller: 5}}
            """).0
        #expect(shares.mcp?.maxPassedRequestsPerCaller == 64)
        #expect(shares.mcp?.maxEventStreamsPerCaller == 5)
        // Without an upstream the tools run in process (TollgateMCPServer); `tollgate mcp` refuses such a file.
        let (inProcess, _) = try ConfigurationLoader.parse(Self.base + "mcp: {tools: [{name: forecast, price: \"0.01\", anonymous: true}]}")
        #expect(inProcess.mcp?.upstream == nil)
        #expect(inProcess.routes.map(\.resource) == ["tool:forecast"])
    }

    @Test func aMistakeInTheMCPSectionIsReportedWithItsPlace() {
        let cases: [(String, String)] = [
            ("mcp: {upstream: {url: \"http://x/mcp\"}, tools: [{name: \"a b\", price: \"0.01\", anonymous: true}]}", "mcp.tools[0].name"),
            ("mcp: {upstream: {url: \"http://x/mcp\", command: [a]}}", "mcp.upstream"),
            ("mcp: {upstream: {url: \"http://x/mcp\"}, tools: [{name: a, method: GET}]}", "mcp.tools[0].method"),
            ("mcp: {upstream: {url: \"http://x/mcp\"}, tools: [{name: a, price: \"0.01\", anonymous: true}, {name: a, price: \"0.02\", anonymous: true}]}", "mcp.tools[1].name"),
            ("mcp: {upstream: {url: \"http://x/mcp\"}}\nroutes: []", "routes"),
            ("mcp: {upstream: {url: \"http://x/mcp\", max_event_streams: -1}}", "mcp.upstream.max_event_streams"),
            // 0 would refuse every handshake: the door would serve nothing but priced calls nobody can set up.
            ("mcp: {upstream: {url: \"http://x/mcp\", max_passed_requests: 0}}", "mcp.upstream.max_passed_requests"),
            ("mcp: {upstream: {url: \"http://x/mcp\", max_passed_requests_per_caller: 0}}", "mcp.upstream.max_passed_requests_per_caller"),
            // A share above the whole bound means nothing: the file says something it does not do.
            ("mcp: {upstream: {url: \"http://x/mcp\", max_passed_requests: 8, max_passed_requests_per_caller: 9}}",
             "mcp.upstream.max_passed_requests_per_caller"),
            ("mcp: {upstream: {url: \"http://x/mcp\", max_event_streams_per_caller: 257}}", "mcp.upstream.max_event_streams_per_caller"),
            ("mcp: {upstream: {url: \"http://x/mcp\", max_event_streams_per_caller: 1.5}}", "mcp.upstream.max_event_streams_per_caller"),
        ]
        for (yaml, path) in cases {
            #expect(throws: ConfigurationError.self, "\(path)") { try ConfigurationLoader.parse(Self.base + yaml) }
            do {
                _ = try ConfigurationLoader.parse(Self.base + yaml)
            } catch {
                #expect(error.issues.contains { $0.path == path }, "\(path): \(error.issues)")
            }
        }
    }
}
