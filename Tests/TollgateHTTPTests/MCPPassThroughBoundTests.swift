import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import TollgateCore
@testable import TollgateHTTP
import TollgateMCP

/// Requests the MCP door passes straight through (here an unpriced `tools/call`) can no longer starve paid calls. Before,
/// they went through the paid calls' client (64 connections to the server), uncounted, with a deadline that ended at the
/// response head: an anonymous caller opening 64 POSTs to a free tool that streams keep-alives took every connection,
/// and each paid call waited for one until it failed `upstream_unavailable`. The bounds are loose (20 s for a 4 s
/// deadline: the whole suite on two cores delays a timer by ten seconds at times); without the deadline a free call
/// lasts as long as the scripted server keeps its stream up, 30 s, and the server, not the gateway, ends it.
@Suite struct MCPPassThroughBoundTests {
    @Test func freeStreamsHoldingEveryConnectionLeaveThePaidCallsTheirOwn() async throws {
        let server = StallingMCPServer(.freeKeepsAlive)
        try await server.run { url in
            try await MCPStack.with(upstream: url, timeoutSeconds: 4, perCaller: .whole(passedRequests: 64)) { stack in
                // As many free calls as the paid calls' client opens connections to one server, all kept alive.
                let count = 64
                let started = ContinuousClock.now
                let free = Task { try await Self.callFree(count, stack) }
                #expect(await server.waitUntil { $0.calls == count }, "the free calls did not all reach the server")

                let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
                let paid = try await stack.call("forecast", payment: payment, id: 900)
                #expect(paid.receipt?["success"] == .bool(true), "\(String(describing: paid.message))")
                #expect(try await stack.transfers() == 1)

                // The free calls end at their deadline, their streams cut, and the gateway closes their connections.
                let answers = try await free.value
                #expect(ContinuousClock.now - started < .seconds(20), "a free call outlived its 4 s deadline")
                #expect(answers.count == count)
                #expect(answers.allSatisfy { $0.status == 200 && $0.body.hasPrefix(": ping") })
                #expect(await server.waitUntil { $0.closedByClient == count }, "a free stream was never closed by the gateway")
                guard case .http(_, let requests, _) = stack.connection.passThrough else { Issue.record("not an HTTP upstream"); return }
                #expect(await Self.waitUntil { requests.open == 0 })
            }
        }
    }

    @Test func requestsPastTheBoundAreRefusedWithRetryAfter() async throws {
        let server = StallingMCPServer(.freeKeepsAlive)
        try await server.run { url in
            try await MCPStack.with(upstream: url, timeoutSeconds: 3, maxPassedRequests: 2, perCaller: .whole(passedRequests: 2)) { stack in
                guard case .http(_, let requests, _) = stack.connection.passThrough else { Issue.record("not an HTTP upstream"); return }
                let free = Task { try await Self.callFree(2, stack) }
                #expect(await server.waitUntil { $0.calls == 2 })
                #expect(requests.open == 2)

                let third = try await stack.client.execute(uri: "/mcp", method: .post, headers: Self.fields, body: Self.freeCall(id: 77))
                #expect(third.status == .serviceUnavailable)
                #expect(third.headers[.retryAfter] == "5")
                let refusal = JSONRPCMessage.parse(Array(third.body.readableBytesView))
                #expect(refusal?.id == .integer(77))
                #expect(refusal?.error?["code"] == .integer(Int64(JSONRPCCode.unavailable)))
                #expect(refusal?.error?["data"]?["reason"] == .string("too_many_passed_requests"))
                #expect(server.calls == 2, "the refused call reached the server")
                // A paid call still goes through.
                let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
                #expect(try await stack.call("forecast", payment: payment).receipt?["success"] == .bool(true))

                // Both end at the deadline: their places come back, and the next request is passed on.
                #expect(try await free.value.map(\.status) == [200, 200])
                #expect(await Self.waitUntil { requests.open == 0 })
                let ping = JSONValue.object(["jsonrpc": .string("2.0"), "id": .integer(5), "method": .string("ping")])
                let next = try await stack.post(ping.canonicalBytes)
                #expect(next.status == 200)
                #expect(next.message?.id == .integer(5))
            }
        }
    }

    // MARK: helpers

    static let fields: HTTPFields = [.contentType: "application/json", .accept: "application/json, text/event-stream"]

    static func freeCall(id: Int64) -> ByteBuffer {
        let call = JSONValue.object([
            "jsonrpc": .string("2.0"), "id": .integer(id), "method": .string("tools/call"),
            "params": .object(["name": .string("free"), "arguments": .object([:])]),
        ])
        return ByteBuffer(bytes: call.canonicalBytes)
    }

    /// Calls the unpriced tool `count` times at once; returns when every answer has ended.
    static func callFree(_ count: Int, _ stack: MCPStack) async throws -> [MCPServerConnectionTests.StreamAnswer] {
        try await withThrowingTaskGroup(of: MCPServerConnectionTests.StreamAnswer.self) { group in
            for index in 0..<count {
                group.addTask {
                    let answer = try await stack.client.execute(uri: "/mcp", method: .post, headers: fields, body: freeCall(id: Int64(index)))
                    return .init(status: Int(answer.status.code), body: String(buffer: answer.body))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    /// Waits up to 10 s for `condition`.
    static func waitUntil(_ condition: () -> Bool) async -> Bool {
        let end = ContinuousClock.now + .seconds(10)
        while !condition(), ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(20)) }
        return condition()
    }
}
