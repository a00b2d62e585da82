import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import TollgateCore
@testable import TollgateHTTP
import TollgateMCP

/// One caller's share of the places the MCP door passes requests and event streams through. Before, one caller could
/// hold every place (64 free calls streaming keep-alives, or 256 event streams), and every other caller's handshake was
/// refused 503 until those ended. Callers are told apart by API key (`analyst`, `viewer`) or have none (anonymous).
@Suite struct MCPCallerShareTests {
    @Test func aCallerHoldingItsShareIsRefusedWhileOthersGetThrough() async throws {
        let server = StallingMCPServer(.freeKeepsAlive)
        try await server.run { url in
            // The free calls hold their places until their deadline: long enough for the test to see them all held on a
            // loaded machine.
            try await MCPStack.with(upstream: url, timeoutSeconds: 10, maxPassedRequests: 4, perCaller: .init(passedRequests: 2)) { stack in
                guard case .http(_, let requests, _) = stack.connection.passThrough else { Issue.record("not an HTTP upstream"); return }
                let analyst = MCPSessionBindingTests.analyst, viewer = MCPSessionBindingTests.viewer
                let held = Task { try await Self.callFree(2, as: analyst, stack) }
                #expect(await server.waitUntil { $0.calls == 2 })
                #expect(requests.open == 2)
                #expect(requests.callers == 1)

                // The analyst holds its share: refused, and nothing reaches the server.
                let third = try await stack.client.execute(uri: "/mcp", method: .post, headers: MCPSessionBindingTests.json(analyst),
                                                           body: MCPPassThroughBoundTests.freeCall(id: 77))
                #expect(third.status == .serviceUnavailable)
                #expect(third.headers[.retryAfter] == "5")
                let refusal = JSONRPCMessage.parse(Array(third.body.readableBytesView))
                #expect(refusal?.id == .integer(77))
                #expect(refusal?.error?["code"] == .integer(Int64(JSONRPCCode.unavailable)))
                #expect(refusal?.error?["data"]?["reason"] == .string("too_many_passed_requests_for_caller"))
                #expect(server.calls == 2)
                let ping = try await stack.post(MCPSessionBindingTests.request("ping", id: 78), headers: analyst)
                #expect(ping.status == 503)

                // Another caller, and an anonymous one, still get through.
                for other in [viewer, HTTPFields()] {
                    let answer = try await stack.post(MCPSessionBindingTests.request("ping", id: 79), headers: other)
                    #expect(answer.status == 200)
                    #expect(answer.message?.id == .integer(79))
                }

                // The viewer takes the rest of the bound: now the whole bound refuses, with its own reason.
                let viewers = Task { try await Self.callFree(2, as: viewer, stack) }
                #expect(await server.waitUntil { $0.calls == 4 })
                #expect(await MCPPassThroughBoundTests.waitUntil { requests.callers == 2 })
                let anonymous = try await stack.post(MCPSessionBindingTests.request("ping", id: 80))
                #expect(anonymous.status == 503)
                #expect(anonymous.error?["data"]?["reason"] == .string("too_many_passed_requests"))

                // Every answer ends at its deadline: the places come back, and the table is empty again.
                #expect(try await held.value.map(\.status) == [200, 200])
                #expect(try await viewers.value.map(\.status) == [200, 200])
                #expect(await MCPPassThroughBoundTests.waitUntil { requests.open == 0 && requests.callers == 0 })
                #expect(try await stack.post(MCPSessionBindingTests.request("ping", id: 81), headers: analyst).status == 200)
                #expect(await MCPPassThroughBoundTests.waitUntil { requests.open == 0 && requests.callers == 0 })
            }
        }
    }

    @Test func aCallerHoldingItsStreamsIsRefusedWhileOthersOpenTheirs() async throws {
        let held = HeldStreams()
        defer { held.endAll() }
        // Four streams in all, one per caller by default (a quarter).
        try await MCPStack.with(maxEventStreams: 4, eventStream: held.respond) { stack in
            guard case .http(_, _, let streams) = stack.connection.passThrough else { Issue.record("not an HTTP upstream"); return }
            #expect(streams.perCaller == 1)
            let first = Task { try await stack.client.execute(uri: "/mcp", method: .get, headers: [.accept: "text/event-stream"]) }
            await MCPServerConnectionTests.waitUntil { held.opened == 1 }

            let second = try await stack.client.execute(uri: "/mcp", method: .get, headers: [.accept: "text/event-stream"])
            #expect(second.status == .serviceUnavailable)
            #expect(second.headers[.retryAfter] == "5")
            #expect(JSONValue.parse(Array(second.body.readableBytesView))?["error"] == .string("too_many_event_streams_for_caller"))
            #expect(held.opened == 1)

            let other = Task {
                try await stack.client.execute(uri: "/mcp", method: .get,
                                               headers: MCPSessionBindingTests.analyst.merging([.accept: "text/event-stream"]))
            }
            await MCPServerConnectionTests.waitUntil { held.opened == 2 }
            #expect(held.opened == 2)
            #expect(streams.callers == 2)

            held.endAll()
            #expect(try await first.value.status == .ok)
            #expect(try await other.value.status == .ok)
            await MCPServerConnectionTests.waitUntil { streams.open == 0 }
            #expect(streams.open == 0)
            #expect(streams.callers == 0)
        }
    }

    @Test func aFloodOfDistinctCallersKeepsTheTableBounded() {
        let places = MCPPlaces(limit: 8, perCaller: 2)
        var held: [MCPPlaces.Place] = []
        var refused = 0
        for index in 0..<10_000 {
            do {
                held.append(try places.take(for: "ip:10.\(index >> 16 & 255).\(index >> 8 & 255).\(index & 255)/32"))
            } catch {
                refused += 1
            }
            #expect(places.callers <= 8)
        }
        #expect(held.count == 8)
        #expect(refused == 10_000 - 8)
        #expect(places.callers == 8)
        // Given back, every entry goes: nothing is kept for a caller holding nothing.
        held.removeAll()
        #expect(places.taken == 0)
        #expect(places.callers == 0)

        // One caller, many requests in turn: one entry at most, none once they end.
        for _ in 0..<1000 {
            let one = try? places.take(for: "client:analyst")
            let two = try? places.take(for: "client:analyst")
            #expect(one != nil && two != nil)
            #expect((try? places.take(for: "client:analyst")) == nil)
            #expect(places.callers == 1)
            withExtendedLifetime((one, two)) {}
        }
        #expect(places.callers == 0)
        #expect(places.taken(by: "client:analyst") == 0)
    }

    @Test func aCallerAtItsShareIsToldSoWhileOthersStillGetPlaces() {
        let places = MCPPlaces(limit: 3, perCaller: 1)
        do {
            let a = try? places.take(for: "a"), b = try? places.take(for: "b")
            #expect(throws: MCPPlaces.Refusal.callerFull) { try places.take(for: "a") }
            let c = try? places.take(for: "c")
            #expect(c != nil)
            // The whole bound reached: everyone is refused, and told that, whatever they hold.
            #expect(throws: MCPPlaces.Refusal.full) { try places.take(for: "d") }
            #expect(throws: MCPPlaces.Refusal.full) { try places.take(for: "a") }
            withExtendedLifetime((a, b, c)) {}
        }
        #expect(places.callers == 0)
        #expect(places.taken == 0)
    }

    /// Calls the unpriced tool `count` times at once as `caller`; returns when every answer has ended.
    static func callFree(_ count: Int, as caller: HTTPFields, _ stack: MCPStack) async throws -> [MCPServerConnectionTests.StreamAnswer] {
        try await withThrowingTaskGroup(of: MCPServerConnectionTests.StreamAnswer.self) { group in
            for index in 0..<count {
                group.addTask {
                    let answer = try await stack.client.execute(uri: "/mcp", method: .post, headers: MCPSessionBindingTests.json(caller),
                                                                body: MCPPassThroughBoundTests.freeCall(id: Int64(index)))
                    return .init(status: Int(answer.status.code), body: String(buffer: answer.body))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }
}
