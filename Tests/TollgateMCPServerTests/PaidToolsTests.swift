import Foundation
import MCP
import Testing
import TollgateCore
import TollgateGateway
import TollgateDevFacilitator
import TollgateMCP
import TollgateX402

/// The in-process door end to end: a swift-sdk client calls a swift-sdk server whose handler `PaidTools` wraps,
/// with a real gateway and the development facilitator behind it.
@Suite struct PaidToolsTests {
    @Test func unpaidCallIsAnsweredWithTheTerms() async throws {
        try await InProcessStack.with { stack in
            let result = try await stack.call("forecast")
            #expect(result.isError == true)
            let terms = try InProcessStack.terms(result)
            #expect(terms.resource.url == "mcp://tool/forecast")
            #expect(terms.accepts.first?.amount == "10000")
            #expect(terms.accepts.first?.network == InProcessStack.network)
            // The same terms as JSON text, for clients that read only `content`.
            guard case .text(let text, _, _)? = result.content.first else { Issue.record("no text content"); return }
            #expect(text.contains("mcp://tool/forecast"))
            #expect(await stack.tools.runs("forecast") == 0)
        }
    }

    @Test func paidCallRunsTheToolOnceAndCarriesItsReceipt() async throws {
        try await InProcessStack.with { stack in
            let (payment, payer) = try InProcessStack.pay(try await stack.call("forecast"))
            let before = try await stack.balance(payer)
            let result = try await stack.call("forecast", payment: payment)
            #expect(result.isError != true)
            #expect(result.structuredContent == .object(["city": .string("Oslo"), "tool": .string("forecast")]))
            guard case .text(let text, _, _)? = result.content.first else { Issue.record("no text content"); return }
            #expect(text == "forecast for Oslo")
            let receipt = try #require(InProcessStack.receipt(result))
            #expect(receipt["success"] == .bool(true))
            #expect(receipt["payer"]?.stringValue?.lowercased() == payer.lowercased())
            #expect(try await stack.balance(payer) == before - InProcessStack.price)
            // The tool ran once and never saw the payment.
            #expect(await stack.tools.runs("forecast") == 1)
            #expect(await stack.tools.seen.last?._meta?[ToolCall.paymentKey] == nil)
            // What the gateway decided reaches the tool in process, never from what the caller sent.
            let decided = try #require(await stack.tools.decided.last ?? nil)
            #expect(decided.payer?.lowercased() == payer.lowercased())
            #expect(decided.clientId == "anonymous")
            #expect(decided.correlationId.hasPrefix("tg_"))
            #expect(decided.isCharged)
        }
    }

    @Test func replayedPaymentIsRefusedAndTheToolDoesNotRunAgain() async throws {
        try await InProcessStack.with { stack in
            let (payment, payer) = try InProcessStack.pay(try await stack.call("forecast"))
            _ = try await stack.call("forecast", payment: payment)
            let replay = try await stack.call("forecast", payment: payment)
            #expect(replay.isError == true)
            #expect(try InProcessStack.terms(replay).error == "invalid_exact_evm_nonce_already_used")
            #expect(await stack.tools.runs("forecast") == 1)
            #expect(try await stack.balance(payer) == stack.facilitator.ledger.defaultBalance - InProcessStack.price)
        }
    }

    /// A tool whose terms charge every answer (`consumed: on_request`) throws its own JSON-RPC error: the call is charged,
    /// so the caller must see the receipt; the SDK's errors carry no data, so it comes back as an `isError` result with the
    /// receipt in `_meta`, never an error that reads as "not charged".
    @Test func aChargedToolErrorCarriesItsReceipt() async throws {
        try await InProcessStack.with { stack in
            let (payment, payer) = try InProcessStack.pay(try await stack.call("billed"))
            let result = try await stack.call("billed", payment: payment)
            #expect(result.isError == true)
            guard case .text(let text, _, _)? = result.content.first else { Issue.record("no text content"); return }
            #expect(text.contains("no such city"))
            let receipt = try #require(InProcessStack.receipt(result))
            #expect(receipt["success"] == .bool(true))
            #expect(try await stack.balance(payer) == stack.facilitator.ledger.defaultBalance - InProcessStack.price)
            #expect(await stack.tools.runs("billed") == 1)
        }
    }

    @Test func toolErrorIsNotChargedAndThePaymentStillWorks() async throws {
        try await InProcessStack.with { stack in
            let (payment, payer) = try InProcessStack.pay(try await stack.call("flaky"))
            let failed = try await stack.call("flaky", payment: payment)
            #expect(failed.isError == true)
            guard case .text(let text, _, _)? = failed.content.first else { Issue.record("no text content"); return }
            #expect(text == "the service is down")
            #expect(InProcessStack.receipt(failed) == nil)
            #expect(try await stack.balance(payer) == stack.facilitator.ledger.defaultBalance)
            // Nothing was taken: the same payment buys the call once the tool answers.
            let paid = try await stack.call("flaky", payment: payment)
            #expect(paid.isError != true)
            #expect(InProcessStack.receipt(paid)?["success"] == .bool(true))
            #expect(try await stack.balance(payer) == stack.facilitator.ledger.defaultBalance - InProcessStack.price)
            #expect(await stack.tools.runs("flaky") == 2)
        }
    }

    @Test func toolThatThrowsGivesAnErrorAndIsNotCharged() async throws {
        try await InProcessStack.with { stack in
            let (payment, payer) = try InProcessStack.pay(try await stack.call("broken"))
            let error = await #expect(throws: MCPError.self) { try await stack.call("broken", payment: payment) }
            #expect(error?.code == JSONRPCCode.unavailable)
            #expect(await stack.tools.runs("broken") == 1)
            #expect(try await stack.balance(payer) == stack.facilitator.ledger.defaultBalance)
        }
    }

    @Test func toolsOwnMCPErrorIsPassedBackAndNotCharged() async throws {
        try await InProcessStack.with { stack in
            let (payment, payer) = try InProcessStack.pay(try await stack.call("invalid", city: "Atlantis"))
            let error = await #expect(throws: MCPError.self) { try await stack.call("invalid", city: "Atlantis", payment: payment) }
            #expect(error == .invalidParams("no such city: Atlantis"))
            #expect(try await stack.balance(payer) == stack.facilitator.ledger.defaultBalance)
        }
    }

    @Test func freeToolPassesStraightThrough() async throws {
        try await InProcessStack.with { stack in
            let result = try await stack.call("echo", city: "Bergen")
            #expect(result.isError != true)
            #expect(result._meta == nil)
            #expect(result.structuredContent == .object(["city": .string("Bergen"), "tool": .string("echo")]))
            #expect(await stack.tools.runs("echo") == 1)
        }
    }

    @Test func concurrentCopiesOfOnePaidCallRunTheToolOnce() async throws {
        try await InProcessStack.with { stack in
            let (payment, payer) = try InProcessStack.pay(try await stack.call("slow"))
            let results = try await withThrowingTaskGroup(of: CallTool.Result.self) { group in
                for _ in 0..<4 { group.addTask { try await stack.call("slow", payment: payment) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter { InProcessStack.receipt($0)?["success"] == .bool(true) }.count == 1)
            // The copies are refused while the first call runs (fresh terms, nothing taken twice), not as used
            // authorizations: the first call may yet fail to settle.
            let refused = results.filter { $0.isError == true }
            #expect(refused.count == 3)
            for copy in refused { #expect(try InProcessStack.terms(copy).error == "payment_in_progress") }
            #expect(await stack.tools.runs("slow") == 1)
            #expect(try await stack.balance(payer) == stack.facilitator.ledger.defaultBalance - InProcessStack.price)
        }
    }

    @Test func scopedToolRefusesCallersWithoutCredentialsBeforeAnyTerms() async throws {
        try await InProcessStack.with { stack in
            let error = await #expect(throws: MCPError.self) { try await stack.call("report") }
            #expect(error?.code == JSONRPCCode.unauthorized)
            // With the client's key (through `identity`), the terms come.
            let offer = try await stack.call("report", apiKey: InProcessStack.apiKey)
            #expect(try InProcessStack.terms(offer).resource.url == "mcp://tool/report")
            #expect(await stack.tools.runs("report") == 0)
        }
    }

    @Test func toolListCarriesPricesOfPricedToolsOnly() async throws {
        try await InProcessStack.with { stack in
            let (tools, _) = try await stack.client.listTools()
            let forecast = try #require(tools.first { $0.name == "forecast" })
            #expect(forecast._meta?[MCPToolList.priceKey] == .string("$0.01"))
            let accepts = try #require(forecast._meta?[MCPToolList.acceptsKey]?.arrayValue)
            #expect(accepts.first?.objectValue?["amount"] == .string("10000"))
            #expect(forecast.inputSchema == .object(["type": .string("object")]))
            #expect(tools.first { $0.name == "echo" }?._meta == nil)
        }
    }
}
