import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import TollgateCore
@testable import TollgateHTTP
import TollgateMCP

/// The MCP door's sessions bound to their callers. The server's `Mcp-Session-Id` once passed through unchanged both ways:
/// a caller who learnt another's id could end that session, read its event stream, or call tools in it. Now a caller
/// receives the id tagged for itself alone, and every request naming a session is checked against its caller before
/// anything reaches the server. Callers here are told apart by API key (`analyst`, `viewer`) or have none (anonymous).
@Suite struct MCPSessionBindingTests {
    static let analyst: HTTPFields = [ClientDirectory.apiKeyField: "tg_premium_key"]
    static let viewer: HTTPFields = [ClientDirectory.apiKeyField: "tg_viewer_key"]

    @Test func aCallersOwnSessionWorksEndToEnd() async throws {
        let server = SessionMCPServer()
        try await server.run { url in
            try await MCPStack.with(upstream: url) { stack in
                let session = try await Self.initialize(stack, as: Self.analyst)
                #expect(session.hasPrefix("srv.1."), "the caller's id is the server's, tagged: \(session)")
                #expect(session.utf8.count == "srv.1".utf8.count + 23)
                #expect(session.utf8.allSatisfy { (0x21...0x7E).contains($0) })
                let fields = Self.analyst.merging([.mcpSessionId: session])

                let initialized = try await stack.post(Self.notification("notifications/initialized"), headers: fields)
                #expect(initialized.status == 202)
                let ping = try await stack.post(Self.request("ping", id: 2), headers: fields)
                #expect(ping.status == 200)
                #expect(ping.message?.id == .integer(2))
                // tools/list, which the gateway prices: the server's id in its answer comes back bound to this caller.
                let listed = try await stack.client.execute(uri: "/mcp", method: .post, headers: Self.json(fields), body: ByteBuffer(bytes: Self.request("tools/list", id: 3)))
                #expect(listed.status == .ok)
                #expect(listed.headers[.mcpSessionId] == session)
                // A paid call in the session: its terms, then the call paid.
                let terms = try #require(try await stack.call("forecast", headers: fields).terms)
                let paid = try await stack.client.execute(uri: "/mcp", method: .post, headers: Self.json(fields),
                                                          body: ByteBuffer(bytes: try Self.call("forecast", payment: MCPStack.pay(terms), id: 9)))
                #expect(paid.status == .ok)
                #expect(paid.headers[.mcpSessionId] == session)
                #expect(JSONRPCMessage.parse(paid.body.readableBytesView)?.result?["_meta"]?["x402/payment-response"]?["success"] == .bool(true))
                #expect(try await stack.transfers() == 1)
                // The event stream: the server's message for this session reaches its caller.
                let stream = try await stack.client.execute(uri: "/mcp", method: .get, headers: fields.merging([.accept: "text/event-stream"]))
                #expect(stream.status == .ok)
                #expect(String(buffer: stream.body).contains("for srv.1"))
                #expect(stream.headers[.mcpSessionId] == session)
                // And the end of the session.
                let deleted = try await stack.client.execute(uri: "/mcp", method: .delete, headers: fields)
                #expect(deleted.status == .ok)
                #expect(server.live.isEmpty)

                // The server only ever saw its own id.
                let named = server.seen.compactMap(\.session)
                #expect(!named.isEmpty)
                #expect(named.allSatisfy { $0 == "srv.1" }, "\(named)")
                #expect(server.seen.map(\.method) == ["POST", "POST", "POST", "POST", "POST", "GET", "DELETE"])
                #expect(server.seen.map(\.rpcMethod) == ["initialize", "notifications/initialized", "ping", "tools/list", "tools/call", nil, nil])
            }
        }
    }

    @Test func anotherCallerPresentingTheIdIsRefusedAndNothingReachesTheServer() async throws {
        let server = SessionMCPServer()
        try await server.run { url in
            try await MCPStack.with(upstream: url) { stack in
                let session = try await Self.initialize(stack, as: Self.analyst)
                let seen = server.seen.count

                for intruder in [Self.viewer, HTTPFields()] {
                    let fields = intruder.merging([.mcpSessionId: session])
                    let ping = try await stack.post(Self.request("ping", id: 41), headers: fields)
                    Self.expectUnknownSession(ping, id: .integer(41))
                    // A paid call in the other's session: refused before any terms.
                    let paid = try await stack.call("forecast", id: 42, headers: fields)
                    Self.expectUnknownSession(paid, id: .integer(42))
                    #expect(paid.terms == nil)
                    let notification = try await stack.post(Self.notification("notifications/initialized"), headers: fields)
                    #expect(notification.status == 404)
                    let batch = try await stack.post(Array("[\(String(decoding: Self.request("ping", id: 43), as: UTF8.self))]".utf8), headers: fields)
                    Self.expectUnknownSession(batch, id: .null)
                    let stream = try await stack.client.execute(uri: "/mcp", method: .get, headers: fields.merging([.accept: "text/event-stream"]))
                    #expect(stream.status == .notFound)
                    #expect(JSONRPCMessage.parse(stream.body.readableBytesView)?.error?["data"]?["reason"] == .string("unknown_session"))
                    let deleted = try await stack.client.execute(uri: "/mcp", method: .delete, headers: fields)
                    #expect(deleted.status == .notFound)
                }
                #expect(server.seen.count == seen, "a request in another caller's session reached the server: \(server.seen.dropFirst(seen))")
                #expect(server.live == ["srv.1"])
                #expect(try await stack.transfers() == 0)

                // The session is still its owner's.
                let ping = try await stack.post(Self.request("ping", id: 44), headers: Self.analyst.merging([.mcpSessionId: session]))
                #expect(ping.status == 200)
                #expect(ping.message?.result != nil)
            }
        }
    }

    @Test func anUntaggedOrAlteredIdIsRefused() async throws {
        let server = SessionMCPServer()
        try await server.run { url in
            try await MCPStack.with(upstream: url) { stack in
                let session = try await Self.initialize(stack, as: Self.analyst)
                let seen = server.seen.count
                let bytes = Array(session.utf8)
                var forged = ["srv.1", String(session.dropLast()), session + "x", "srv.2" + session.dropFirst(5)]
                // One character changed: in the id, at the tag's first, middle and last.
                for index in [0, bytes.count - 22, bytes.count - 11, bytes.count - 1] {
                    var changed = bytes
                    changed[index] = bytes[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
                    forged.append(String(decoding: changed, as: UTF8.self))
                }
                for id in forged {
                    let fields = Self.analyst.merging([.mcpSessionId: id])
                    Self.expectUnknownSession(try await stack.post(Self.request("ping", id: 5), headers: fields), id: .integer(5))
                    let deleted = try await stack.client.execute(uri: "/mcp", method: .delete, headers: fields)
                    #expect(deleted.status == .notFound, "\(id)")
                    let stream = try await stack.client.execute(uri: "/mcp", method: .get, headers: fields.merging([.accept: "text/event-stream"]))
                    #expect(stream.status == .notFound, "\(id)")
                }
                #expect(server.seen.count == seen, "a forged id reached the server: \(server.seen.dropFirst(seen))")
                #expect(server.live == ["srv.1"])
            }
        }
    }

    @Test func aCallerIsWhoTheJourneyWouldSayItIs() async throws {
        try await MCPStack.with { stack in
            let gateway = stack.assembly.gateway
            #expect(await gateway.callerKey(Self.analyst, remoteAddress: "203.0.113.7") == "client:analyst")
            #expect(await gateway.callerKey(Self.analyst, remoteAddress: "198.51.100.1") == "client:analyst")
            #expect(await gateway.callerKey(Self.viewer, remoteAddress: "203.0.113.7") == "client:viewer")
            // Anonymous, and a key the gateway does not know, are the address as `limits` counts it (/32, /64 here): an
            // anonymous caller whose address changes is another caller, and loses its sessions.
            let anonymous = await gateway.callerKey([:], remoteAddress: "203.0.113.7")
            #expect(anonymous.hasPrefix("ip:"))
            #expect(await gateway.callerKey([ClientDirectory.apiKeyField: "tg_unknown"], remoteAddress: "203.0.113.7") == anonymous)
            #expect(await gateway.callerKey([:], remoteAddress: "203.0.113.8") != anonymous)
            #expect(await gateway.callerKey([:], remoteAddress: "2001:db8::1") == gateway.callerKey([:], remoteAddress: "2001:db8::2"))
        }
    }

    // MARK: helpers

    /// Opens a session as `caller`; returns the id the caller received.
    static func initialize(_ stack: MCPStack, as caller: HTTPFields) async throws -> String {
        let params: JSONValue = .object([
            "protocolVersion": .string("2025-11-25"), "capabilities": .object([:]),
            "clientInfo": .object(["name": .string("attacker-test"), "version": .string("1")]),
        ])
        let body = JSONValue.object(["jsonrpc": .string("2.0"), "id": .integer(1), "method": .string("initialize"), "params": params])
        let answer = try await stack.client.execute(uri: "/mcp", method: .post, headers: json(caller), body: ByteBuffer(bytes: body.canonicalBytes))
        #expect(answer.status == .ok)
        return try #require(answer.headers[.mcpSessionId])
    }

    static func expectUnknownSession(_ answer: MCPStack.Answer, id: JSONValue?, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(answer.status == 404, sourceLocation: sourceLocation)
        #expect(answer.message?.id == id, sourceLocation: sourceLocation)
        #expect(answer.error?["code"] == .integer(Int64(JSONRPCCode.invalidRequest)), sourceLocation: sourceLocation)
        #expect(answer.error?["data"]?["reason"] == .string("unknown_session"), sourceLocation: sourceLocation)
    }

    static func json(_ fields: HTTPFields) -> HTTPFields {
        fields.merging([.contentType: "application/json", .accept: "application/json, text/event-stream"])
    }

    static func request(_ method: String, id: Int64) -> [UInt8] {
        JSONValue.object(["jsonrpc": .string("2.0"), "id": .integer(id), "method": .string(method)]).canonicalBytes
    }

    static func notification(_ method: String) -> [UInt8] {
        JSONValue.object(["jsonrpc": .string("2.0"), "method": .string(method)]).canonicalBytes
    }

    static func call(_ tool: String, payment: JSONValue, id: Int64) throws -> [UInt8] {
        JSONValue.object([
            "jsonrpc": .string("2.0"), "id": .integer(id), "method": .string("tools/call"),
            "params": .object(["name": .string(tool), "arguments": .object([:]), "_meta": .object([ToolCall.paymentKey: payment])]),
        ]).canonicalBytes
    }
}

extension HTTPFields {
    /// These fields with `other`'s set over them.
    func merging(_ other: HTTPFields) -> HTTPFields {
        var merged = self
        for field in other { merged[field.name] = field.value }
        return merged
    }
}
