import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TollgateCore
import TollgateMCP

/// The MCP door, attacked from the caller's side: a tool runs once per payment, whatever the spelling of the
/// payment, the arguments, the tool, the number of copies or the failure of the tool or its server.
@Suite struct MCPGatewayTests {
    @Test func anUnpaidCallGetsTermsBoundToTheToolAndTheToolNeverRuns() async throws {
        try await MCPStack.with { stack in
            let answer = try await stack.call("forecast", .object(["city": .string("Oslo")]))
            #expect(answer.status == 200)
            let terms = try #require(answer.terms)
            #expect(terms["resource"]?["url"] == .string("mcp://tool/forecast"))
            #expect(terms["accepts"]?.array?.first?["amount"] == .string("10000"))
            // The same terms as JSON text in content[0], for clients that read text.
            let text = try #require(answer.result?["content"]?.array?.first?["text"]?.string)
            #expect(JSONValue.parse(Array(text.utf8)) == terms)
            #expect(stack.executions("forecast") == 0)
            #expect(try await stack.transfers() == 0)
        }
    }

    @Test func aPaidCallRunsTheToolOnceAndAReplayIsRefused() async throws {
        try await MCPStack.with { stack in
            let city = JSONValue.object(["city": .string("Oslo")])
            let payment = try MCPStack.pay(try #require(try await stack.call("forecast", city).terms))
            let paid = try await stack.call("forecast", city, payment: payment)
            #expect(paid.result?["isError"] == .bool(false))
            #expect(paid.result?["structuredContent"]?["city"] == .string("Oslo"))
            #expect(paid.receipt?["success"] == .bool(true))
            #expect(stack.executions("forecast") == 1)
            #expect(try await stack.transfers() == 1)

            // The same payment again, then written as JSON text with its keys in another order.
            let replay = try await stack.call("forecast", city, payment: payment)
            #expect(replay.terms?["error"] == .string("invalid_exact_evm_nonce_already_used"))
            let respelled = JSONValue.string(String(decoding: payment.canonicalBytes, as: UTF8.self))
            let again = try await stack.call("forecast", .object(["city": .string("Oslo")]), payment: respelled)
            #expect(again.terms?["error"] == .string("invalid_exact_evm_nonce_already_used"))
            #expect(stack.executions("forecast") == 1)
            #expect(try await stack.transfers() == 1)
        }
    }

    /// An answer lost on its way back (a connection that broke, a proxy that dropped it) is paid for: the identified
    /// caller sending the same payment again gets the same result, with the same receipt, and the tool does not run
    /// again. Anyone else presenting that payment (a captured copy) is refused.
    @Test func anIdentifiedCallerReplayingItsPaymentGetsTheSameResultNotASecondRun() async throws {
        try await MCPStack.with { stack in
            let key: HTTPFields = [HTTPField.Name("X-Api-Key")!: "tg_premium_key"]
            let payment = try MCPStack.pay(try #require(try await stack.call("echo", headers: key).terms))
            let paid = try await stack.call("echo", payment: payment, headers: key)
            #expect(paid.receipt?["success"] == .bool(true))
            let replay = try await stack.call("echo", payment: payment, headers: key)
            #expect(replay.terms == nil)
            #expect(replay.result?["content"] == paid.result?["content"])
            #expect(replay.receipt == paid.receipt)
            let stranger = try await stack.call("echo", payment: payment)
            #expect(stranger.error != nil || stranger.terms != nil)
            #expect(stranger.result?["content"] != paid.result?["content"])
            #expect(stack.executions("echo") == 1)
            #expect(try await stack.transfers() == 1)
        }
    }

    @Test func aPaymentBuysOnlyTheCallItWasOfferedFor() async throws {
        try await MCPStack.with { stack in
            let oslo = JSONValue.object(["city": .string("Oslo")])
            let payment = try MCPStack.pay(try #require(try await stack.call("forecast", oslo).terms))
            // Other arguments, another tool at the same price: refused before anything runs.
            let otherCity = try await stack.call("forecast", .object(["city": .string("Paris")]), payment: payment)
            #expect(otherCity.terms?["error"] == .string("offer_resource_mismatch"))
            let otherTool = try await stack.call("fail", oslo, payment: payment)
            #expect(otherTool.terms != nil)
            #expect(stack.executions("forecast") == 0 && stack.executions("fail") == 0)
            // The arguments with their keys in another order are the same call.
            let reordered = try await stack.post(Array(#"{"params":{"arguments":{"city":"Oslo"},"_meta":{"x402/payment":"#.utf8) + payment.canonicalBytes
                                                 + Array(#"},"name":"forecast"},"method":"tools/call","id":"a","jsonrpc":"2.0"}"#.utf8))
            #expect(reordered.receipt?["success"] == .bool(true))
            #expect(reordered.message?.id == .string("a"))
            #expect(try await stack.transfers() == 1)
        }
    }

    @Test func aFailingToolIsNotChargedAndItsAuthorizationStaysUnspent() async throws {
        try await MCPStack.with { stack in
            let payment = try MCPStack.pay(try #require(try await stack.call("fail").terms))
            let failed = try await stack.call("fail", payment: payment)
            #expect(failed.result?["isError"] == .bool(true))
            #expect(failed.result?["structuredContent"]?["error"] == .string("the forecast service is down"))
            #expect(failed.receipt == nil)
            #expect(try await stack.transfers() == 0)
            // Not consumed: the same authorization reaches the tool again (and is again not charged).
            let retried = try await stack.call("fail", payment: payment)
            #expect(retried.result?["structuredContent"]?["error"] == .string("the forecast service is down"))
            #expect(stack.executions("fail") == 2)
            #expect(try await stack.transfers() == 0)
        }
    }

    @Test func tenCopiesOfOnePaidCallRunTheToolOnce() async throws {
        try await MCPStack.with { stack in
            let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
            let answers = try await withThrowingTaskGroup(of: MCPStack.Answer.self) { group in
                for index in 0..<10 { group.addTask { try await stack.call("forecast", payment: payment, id: Int64(index)) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.filter { $0.receipt?["success"] == .bool(true) }.count == 1)
            // In flight, a copy is refused as such (nothing is taken yet); after the delivery, as a used authorization.
            let reasons = answers.map { $0.terms?["error"] }
            let inFlight = reasons.filter { $0 == JSONValue.string("payment_in_progress") }.count
            let used = reasons.filter { $0 == JSONValue.string("invalid_exact_evm_nonce_already_used") }.count
            #expect(inFlight + used == 9)
            #expect(inFlight >= 1)
            #expect(stack.executions("forecast") == 1)
            #expect(try await stack.transfers() == 1)
        }
    }

    @Test func authorizationComesBeforeTerms() async throws {
        try await MCPStack.with { stack in
            let anonymous = try await stack.call("echo", .object(["text": .string("hi")]))
            #expect(anonymous.error?["code"] == .integer(Int64(JSONRPCCode.unauthorized)))
            #expect(anonymous.terms == nil)
            let withoutScope = try await stack.call("echo", headers: [HTTPField.Name("X-Api-Key")!: "tg_viewer_key"])
            #expect(withoutScope.error?["code"] == .integer(Int64(JSONRPCCode.forbidden)))
            #expect(withoutScope.error?["data"]?["correlationId"]?.string?.hasPrefix("tg_") == true)
            let premium = try await stack.call("echo", headers: [HTTPField.Name("X-Api-Key")!: "tg_premium_key"])
            #expect(premium.terms?["accepts"]?.array?.first?["amount"] == .string("20000"))
            #expect(stack.executions("echo") == 0)
        }
    }

    @Test func toolsListCarriesThePricesAndUnpricedToolsPassThrough() async throws {
        try await MCPStack.with { stack in
            let list = try await stack.post(Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.utf8))
            let tools = try #require(list.result?["tools"]?.array)
            let forecast = try #require(tools.first { $0["name"] == .string("forecast") })
            #expect(forecast["_meta"]?["x402/price"] == .string("$0.01"))
            #expect(forecast["_meta"]?["x402/accepts"]?.array?.first?["scheme"] == .string("exact"))
            #expect(forecast["_meta"]?["x402/accepts"]?.array?.first?["extra"]?["tollgate"] == nil)
            // A gateway without `echo` priced would pass it through; here `ping` and an unknown method do.
            let ping = try await stack.post(Array(#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#.utf8))
            #expect(ping.result == .object([:]))
            let unknown = try await stack.post(Array(#"{"jsonrpc":"2.0","id":3,"method":"nothing/here"}"#.utf8))
            #expect(unknown.error?["code"] == .integer(Int64(JSONRPCCode.methodNotFound)))
        }
    }

    @Test func theRequestEraOfEachCallIsAnsweredInKind() async throws {
        try await MCPStack.with { stack in
            let stamped = try await stack.post(Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"forecast","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#.utf8),
                                               headers: [.mcpProtocolVersion: "2026-07-28"])
            #expect(stamped.result?["resultType"] == .string("complete"))
            #expect(stamped.terms != nil)
            let handshake = try await stack.call("forecast")
            #expect(handshake.result?["resultType"] == nil)
            // A caller that takes only an event stream gets its answer as one event.
            let streamed = try await stack.client.execute(
                uri: "/mcp", method: .post, headers: [.contentType: "application/json", .accept: "text/event-stream"],
                body: ByteBuffer(bytes: Array(#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"forecast"}}"#.utf8)))
            #expect(streamed.headers[.contentType] == "text/event-stream")
            var events = ServerSentEvents()
            let data = try #require(events.feed(streamed.body.readableBytesView).first)
            #expect(JSONRPCMessage.parse(data)?.id == .integer(5))
        }
    }

    @Test func badInputGetsAClearAnswerNeverA500() async throws {
        try await MCPStack.with { stack in
            for garbage: JSONValue in [.string("xyz"), .integer(5), .object(["x402Version": .integer(2)]), .array([])] {
                let answer = try await stack.call("forecast", payment: garbage)
                #expect(answer.status == 200)
                #expect(answer.terms?["error"]?.string?.isEmpty == false, "\(garbage)")
            }
            let notJSON = try await stack.post(Array("not json".utf8))
            #expect(notJSON.status < 500)
            let batch = try await stack.post(Array(#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"forecast"}}]"#.utf8))
            #expect(batch.error?["code"] == .integer(Int64(JSONRPCCode.invalidRequest)))
            // Without an id (a notification) too: a batch carrying a priced call is never passed on.
            let notifications = try await stack.post(Array(#"[{"jsonrpc":"2.0","method":"tools/call","params":{"name":"forecast"}},{"jsonrpc":"2.0","method":"ping"}]"#.utf8))
            #expect(notifications.error?["code"] == .integer(Int64(JSONRPCCode.invalidRequest)))
            // A priced call written as a notification (no id) can never be paid, so it never reaches the tool.
            let notification = try await stack.post(Array(#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"forecast","arguments":{}}}"#.utf8))
            #expect(notification.status == 202)
            #expect(stack.executions("forecast") == 0)
        }
    }

    /// A tool whose terms charge every answer (`consumed: on_request`) answers a tool error: the payment settles, and
    /// the error passed back says so (the receipt in `_meta`), so the paying client knows it paid.
    @Test func aChargedToolErrorCarriesItsReceipt() async throws {
        try await MCPStack.with(failTool: #"{name: fail, price: "0.01", anonymous: true, consumed: on_request}"#) { stack in
            let payment = try MCPStack.pay(try #require(try await stack.call("fail").terms))
            let answer = try await stack.call("fail", payment: payment)
            #expect(answer.result?["isError"] == .bool(true))
            #expect(answer.terms == nil)
            #expect(answer.receipt?["success"] == .bool(true))
            #expect(try await stack.transfers() == 1)
        }
    }

    /// Run as a task (MCP 2025-11-25), a call answers with a task handle and gives its result later through
    /// `tasks/result`, which passes the gateway unpriced: a paid call asking for it is refused before anything is
    /// verified or settled, and its tool does not run.
    @Test func aPaidCallAskedToRunAsATaskIsRefusedAndNotCharged() async throws {
        try await MCPStack.with { stack in
            let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
            let params: JSONValue = .object(["name": .string("forecast"), "arguments": .object([:]), "task": .object(["ttl": .integer(60_000)]),
                                             "_meta": .object([ToolCall.paymentKey: payment])])
            let message = JSONValue.object(["jsonrpc": .string("2.0"), "id": .integer(3), "method": .string("tools/call"), "params": params])
            let answer = try await stack.post(message.canonicalBytes)
            #expect(answer.error?["code"] == .integer(Int64(JSONRPCCode.invalidParams)))
            #expect(stack.executions("forecast") == 0)
            #expect(try await stack.transfers() == 0)
            // The same payment, the call made without `task`, pays and runs.
            let paid = try await stack.call("forecast", payment: payment)
            #expect(paid.result != nil && paid.terms == nil)
            #expect(stack.executions("forecast") == 1)
        }
    }

    /// A body two JSON parsers read two ways is refused by the gateway, never passed on as it came: Foundation keeps a
    /// repeated member's first value and the MCP Python SDK's pydantic its last, and pydantic reads `NaN`, `Infinity`
    /// and `1e400`, which Foundation refuses. Passed on, `{"name":"unpriced","name":"forecast"}` was a free tool to the
    /// gateway and the priced `forecast` to such a server. The upstream here is unreachable, so anything passed on
    /// would come back "unavailable"; the free call at the end shows that it would.
    @Test func aBodyTwoParsersReadTwoWaysIsRefusedAndNeverPassedOn() async throws {
        try await MCPStack.with(upstream: "http://127.0.0.1:9/mcp") { stack in
            let call = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"#
            // Arrays in the arguments: with the message, its params and the arguments, `levels` levels in all.
            func nested(_ levels: Int) -> String { String(repeating: "[", count: levels - 3) + String(repeating: "]", count: levels - 3) }
            let ambiguous = [
                call + #""unpriced","name":"forecast","arguments":{}}}"#,
                call + #""forecast","name":"unpriced","arguments":{}}}"#,
                #"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"forecast","arguments":{}}}"#,
                #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"unpriced","arguments":{}},"params":{"name":"forecast","arguments":{}}}"#,
                call + #""unpriced","arguments":{"text":NaN}}}"#,
                call + #""unpriced","arguments":{"text":Infinity}}}"#,
                call + #""unpriced","arguments":{"text":1e400}}}"#,
                call + #""unpriced","arguments":{"text":"# + nested(JSONRPCMessage.maxDepth + 1) + "}}}",
                "[" + call + #""unpriced","name":"forecast","arguments":{}}}]"#,
                "",
            ]
            for body in ambiguous {
                let answer = try await stack.post(Array(body.utf8))
                #expect(answer.status == 400, "\(body.prefix(120))")
                #expect(answer.error?["code"] == .integer(Int64(JSONRPCCode.parseError)), "\(body.prefix(120))")
            }
            // One level less deep is read, and a free call is passed on (here: to a server that does not answer).
            let passed = try await stack.post(Array((call + #""unpriced","arguments":{"text":"# + nested(JSONRPCMessage.maxDepth) + "}}}").utf8))
            #expect(passed.error?["code"] == .integer(Int64(JSONRPCCode.unavailable)))
        }
    }

    /// A member spelt another way is read by a lenient server (Go's `encoding/json` folds case, `ſ` to `s`, `K` to `k`;
    /// some Go SDK versions ignored a trailing NUL) and not by the gateway: `Name` was a call of no tool here, passed on
    /// unpriced, and of the priced tool there. Refused, never passed on; so is one object that is not JSON-RPC 2.0. The
    /// upstream is unreachable, so anything passed on would come back "unavailable".
    @Test func aMemberSpeltAnotherWayIsRefusedAndNeverPassedOn() async throws {
        try await MCPStack.with(upstream: "http://127.0.0.1:9/mcp") { stack in
            let lookalikes = [
                #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"forecast","arguments":{}}}"#,
                #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"unpriced","NAME":"forecast","arguments":{}}}"#,
                #"{"jsonrpc":"2.0","id":1,"method":"tools/call","Params":{"name":"forecast","arguments":{}}}"#,
                #"{"jsonrpc":"2.0","id":1,"Method":"tools/call","params":{"name":"forecast","arguments":{}}}"#,
                #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name\u0000":"forecast","arguments":{}}}"#,
                #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"forecast","arguments":{},"argument\u017f":{"city":"x"}}}"#,
                #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"unpriced","tas\u212a":{}}}"#,
                #"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"forecast","arguments":{}}}]"#,
            ]
            for body in lookalikes {
                let answer = try await stack.post(Array(body.utf8))
                #expect(answer.status == 400, "\(body)")
                // A NUL in a member name is no strict JSON to the gateway's reader already.
                let codes = [JSONRPCCode.invalidRequest, JSONRPCCode.parseError].map { JSONValue.integer(Int64($0)) }
                #expect(answer.error?["code"].map(codes.contains) == true, "\(body)")
            }
            for notJSONRPC in [#"{"JSONRPC":"2.0","id":1,"method":"tools/call","params":{"name":"forecast"}}"#,
                               #"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"forecast"}}"#] {
                let answer = try await stack.post(Array(notJSONRPC.utf8))
                #expect(answer.status == 400, "\(notJSONRPC)")
                #expect(answer.error?["code"] == .integer(Int64(JSONRPCCode.invalidRequest)), "\(notJSONRPC)")
            }
            // Members that are no protocol member, whatever their case, are the caller's: passed on.
            let free = try await stack.post(Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"unpriced","arguments":{"Name":"x","City":"Oslo"}}}"#.utf8))
            #expect(free.error?["code"] == .integer(Int64(JSONRPCCode.unavailable)))
        }
    }

    /// The routing fields (`Mcp-Method`, `Mcp-Name`) name the call the body names, or nothing is forwarded: a server or
    /// a balancer that routed on them would run a tool the gateway did not price. The upstream is unreachable, so
    /// anything forwarded would come back "unavailable".
    @Test func routingFieldsThatNameAnotherCallAreRefusedAndNeverPassedOn() async throws {
        try await MCPStack.with(upstream: "http://127.0.0.1:9/mcp") { stack in
            for (tool, fields) in [("unpriced", [HTTPField.Name.mcpMethod: "tools/call", .mcpName: "forecast"]),
                                   ("forecast", [.mcpMethod: "tools/call", .mcpName: "unpriced"]),
                                   ("unpriced", [.mcpMethod: "ping"])] {
                let answer = try await stack.call(tool, headers: HTTPFields(fields.map { HTTPField(name: $0.key, value: $0.value) }))
                #expect(answer.status == 400)
                #expect(answer.error?["code"] == .integer(Int64(MCPRoutingHeaders.mismatchCode)), "\(tool) \(fields)")
                #expect(answer.message?.id == .integer(7))
            }
            // On a body that is not one message (a batch), routing fields route nothing the gateway read: refused.
            let batch = Array(#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"unpriced","arguments":{}}}]"#.utf8)
            let batched = try await stack.post(batch, headers: [.mcpMethod: "tools/call", .mcpName: "forecast"])
            #expect(batched.status == 400)
            #expect(batched.error?["code"] == .integer(Int64(MCPRoutingHeaders.mismatchCode)))
            // Fields that agree (as the official client sends them, base64 or not) change nothing.
            let agreeing = try await stack.call("forecast", headers: [.mcpMethod: "tools/call", .mcpName: "=?base64?Zm9yZWNhc3Q=?="])
            #expect(agreeing.terms != nil)
        }
    }

    /// A priced call is sent on written again from what the gateway read, so a number that writing again would change
    /// (beyond 64 bits, beyond a double's precision) is refused before any terms: the tool would otherwise run with
    /// other arguments than those paid for. A free call passes on as it came, its numbers untouched (the upstream here
    /// is unreachable, so it comes back "unavailable").
    /// The other way: a paid result is written again with its receipt, so a result holding a number that writing again
    /// would change is no answer (not charged, the authorization left unspent), never a result delivered altered.
    @Test func aResultWhoseNumbersCannotBeCarriedExactlyIsNotCharged() async throws {
        let router = Router()
        router.post("/mcp") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let id = JSONValue.parse(body.readableBytesView)?["id"].map { String(decoding: $0.canonicalBytes, as: UTF8.self) } ?? "null"
            let answer = #"{"jsonrpc":"2.0","id":"# + id + #","result":{"content":[],"structuredContent":{"n":12345678901234567891}}}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: answer)))
        }
        try await Listener.with(router) { port in
            // A paying client reads the answer and writes nothing: it takes it (sending its proof again for an answer
            // paid for would find it no better).
            let call = JSONRPCMessage(.object(["jsonrpc": .string("2.0"), "id": .integer(3), "method": .string("tools/call"),
                                               "params": .object(["name": .string("forecast")])]))
            let reader = MCPHTTPUpstream(url: "http://127.0.0.1:\(port)/mcp", timeoutSeconds: 5, maxResponseBytes: 1 << 20, requiresExactNumbers: false)
            #expect(try await reader.call(call, callerFields: [:], contract: [:]).message.result != nil)
            let gatewaySide = MCPHTTPUpstream(url: "http://127.0.0.1:\(port)/mcp", timeoutSeconds: 5, maxResponseBytes: 1 << 20)
            await #expect(throws: TollgateError.self) { _ = try await gatewaySide.call(call, callerFields: [:], contract: [:]) }
            try await MCPStack.with(upstream: "http://127.0.0.1:\(port)/mcp") { stack in
                let city = JSONValue.object(["city": .string("Oslo")])
                let payment = try MCPStack.pay(try #require(try await stack.call("forecast", city).terms))
                let paid = try await stack.call("forecast", city, payment: payment)
                #expect(paid.result == nil)
                #expect(paid.error?["code"] == .integer(Int64(JSONRPCCode.unavailable)))
                #expect(try await stack.transfers() == 0)
            }
        }
    }

    @Test func aPricedCallWhoseNumbersCannotBeCarriedExactlyIsRefused() async throws {
        try await MCPStack.with(upstream: "http://127.0.0.1:9/mcp") { stack in
            for number in ["18446744073709551615", "0.30000000000000001", "12345678901234567890123"] {
                let body = #"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"forecast","arguments":{"n":"# + number + "}}}"
                let answer = try await stack.post(Array(body.utf8))
                #expect(answer.status == 400, "\(number)")
                #expect(answer.error?["code"] == .integer(Int64(JSONRPCCode.invalidParams)), "\(number)")
                #expect(answer.message?.id == .integer(4))
                #expect(answer.terms == nil)
            }
            // An id beyond 64 bits is itself such a number: echoed from the tree it would not match the request, so the
            // refusal names no id.
            for id in ["18446744073709551616", "12345678901234567890123", "1.5"] {
                let body = #"{"jsonrpc":"2.0","id":"# + id + #","method":"tools/call","params":{"name":"forecast","arguments":{"n":0.30000000000000001}}}"#
                let answer = try await stack.post(Array(body.utf8))
                #expect(answer.status == 400, "\(id)")
                #expect(answer.error?["code"] == .integer(Int64(JSONRPCCode.invalidParams)), "\(id)")
                #expect(answer.message?.value["id"] == .null, "\(id)")
            }
            // A tools/list is written again too.
            let listing = try await stack.post(Array(#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{"n":18446744073709551615}}}"#.utf8))
            #expect(listing.error?["code"] == .integer(Int64(JSONRPCCode.invalidParams)))
            let exact = #"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"forecast","arguments":{"n":0.1,"m":9223372036854775807}}}"#
            #expect(try await stack.post(Array(exact.utf8)).terms != nil)
            let free = #"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"unpriced","arguments":{"n":18446744073709551615}}}"#
            #expect(try await stack.post(Array(free.utf8)).error?["code"] == .integer(Int64(JSONRPCCode.unavailable)))
        }
    }

    /// A server that refuses connections costs a paying caller nothing (the call's minute-long timeout is not waited out:
    /// connecting gives up after 5 s, `theServersClientGivesUpConnectingAfterFiveSeconds`).
    @Test func anUnreachableServerCostsNothing() async throws {
        try await MCPStack.with(upstream: "http://127.0.0.1:9/mcp", timeoutSeconds: 60) { stack in
            let payment = try MCPStack.pay(try #require(try await stack.call("forecast").terms))
            let answer = try await stack.call("forecast", payment: payment)
            #expect(answer.error?["code"] == .integer(Int64(JSONRPCCode.unavailable)))
            #expect(answer.receipt == nil)
            #expect(try await stack.transfers() == 0)
        }
    }

    /// The MCP door's client (`HTTPClient.mcpServers`): no tracing spans, and connecting to a server that refuses gives
    /// up after 5 s (AsyncHTTPClient's shared client tried for 90, longer than a call's timeout, and then reported the
    /// last refusal, so only the configuration tells the two apart); the call fails with the refusal.
    @Test func theServersClientGivesUpConnectingAfterFiveSeconds() async throws {
        let configuration = HTTPClient.Configuration.mcpServers
        #expect(configuration.timeout.connect == .seconds(5))
        #expect(configuration.connectionPool.retryConnectionEstablishment)
        #expect(configuration.tracing.tracer == nil)
        let message = try #require(JSONRPCMessage.parse(Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"forecast"}}"#.utf8)))
        let dead = MCPHTTPUpstream(url: "http://127.0.0.1:9/mcp", timeoutSeconds: 60, maxResponseBytes: 1 << 20)
        let refused = await #expect(throws: TollgateError.self) { try await dead.call(message, callerFields: [:], contract: [:]) }
        #expect(refused?.code == .upstreamUnavailable)
        #expect(refused?.message.lowercased().contains("refused") == true, "\(refused?.message ?? "")")
    }
}
