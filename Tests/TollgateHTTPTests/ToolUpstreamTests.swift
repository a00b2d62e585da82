import HTTPTypes
import Testing
import TollgateCore
@testable import TollgateMCP

/// What a tool's answer to a paid call is to the journey: only a complete result is the work paid for.
@Suite struct ToolUpstreamTests {
    static let call = ToolCall(JSONRPCMessage(.object([
        "jsonrpc": .string("2.0"), "id": .integer(7), "method": .string("tools/call"),
        "params": .object(["name": .string("forecast"), "arguments": .object(["city": .string("Oslo")])]),
    ])))!

    static func answering(_ result: JSONValue) async throws -> UpstreamResponse {
        let upstream = ToolUpstream(call: call) { request, _, _ in .result(id: request.id ?? .null, result) }
        return try await upstream.send(UpstreamRequest(method: .post, target: "/forecast", headerFields: [:], body: []))
    }

    @Test func aCompleteResultIsADelivery() async throws {
        for result: JSONValue in [.object(["content": .array([])]), .object(["content": .array([]), "resultType": .string("complete")])] {
            let response = try await Self.answering(result)
            #expect(response.status == .ok)
            #expect(response.isFinal)
        }
    }

    /// A tool asking its caller for input (MCP 2026-07-28, multi round-trip requests) has not done the work paid for:
    /// its question goes back to the caller, never consumed (whatever the tool's terms), so the same payment pays the
    /// call that answers it.
    @Test func aQuestionToTheCallerIsPassedBackAndNeverConsumed() async throws {
        let question: JSONValue = .object(["resultType": .string("input_required"), "inputRequests": .object([:]), "requestState": .string("s1")])
        let response = try await Self.answering(question)
        #expect(!response.isFinal)
        #expect(response.status == .badGateway)
        #expect(response.headerFields[.tollgateToolOutcome] == "input-required")
        #expect(JSONRPCMessage.parse(response.body)?.result == question)
    }

    /// A task handle (or any other kind of result) is not the result: the payment would settle on the handle and the
    /// result, fetched through `tasks/result`, would be free. No answer, so nothing is charged and no handle is given.
    @Test func aTaskHandleIsNoAnswer() async throws {
        for kind in ["task", "something_else"] {
            await #expect(throws: TollgateError.self) {
                _ = try await Self.answering(.object(["resultType": .string(kind), "task": .object(["taskId": .string("t1")])]))
            }
        }
    }
}
